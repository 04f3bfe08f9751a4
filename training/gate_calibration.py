"""Calibrates a critic's realism gate (issue 17 item 5): python3 training/gate_calibration.py <critic> [...]

The gate refuses a sample when the critic's probability for a requested categorical value is below that
value's floor, when the critic sees an object and its box overlaps the requested one less than the requested
class's box floor (an object the critic cannot see has no box: an unlit pedestrian in fog at night differs from
the empty road by a few grey levels, and would otherwise hold every pedestrian's box floor at 0),
or when a scalar outside the box is off by more than its tolerance for the requested class (src/detection/critic.ts judgeRealism,
critic.json `gate`). The floors are chosen here from the critic's behaviour on exact renders of the requests
users make (the scenario library's own ranges, per condition cell), so that few renders are refused, and among
the floors that keep the renders' refusals under budget, the ones that refuse the most renders that do not
show what was asked (another class in the requested box, the object elsewhere, another weather or time of day,
another contrast): the gate's power, reported beside its false refusals.

Two disjoint sets of requests and renders: calibration (seed 1701) chooses, held-out (seed 1702) reports.
Budgets on the calibration set: CAL_OVERALL overall and CAL_CELL in every cell, below issue 17's bars
(<= 3 % overall, <= 10 % per cell on exact renders) so the held-out figures keep a margin.

  --checkpoint DIR   judge with a training checkpoint (best.pt / last.pt) instead of the shipped package
  --apply            write the gate into models/<critic>/critic.json (only while its files are the report's)
Writes training/reports/<critic>-gate.json and .md.
"""
import argparse
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import look as look_module  # noqa: E402
from rareforge_train import library, package, perception  # noqa: E402
from rareforge_train.domains import PACKAGES  # noqa: E402

REPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")
SEEDS = {"calibration": 1701, "heldOut": 1702}
# Requests per cell and set. "<= 10 % in every cell" is judged on the held-out set's per-cell shares, so the cell size
# bounds what that check can tell: with 48 per cell, a gate that refuses 3 % of every one of the road grid's 84 cells
# shows some cell over 10 % in 70 % of held-out draws (96: 5 %) (measurement_noise(); the report states it for its own sizes).
PER_CELL = {"road": 96, "brain": 192}   # the brain library has 10 cells, the road grid 84
# Calibration budgets, well under the targets: floors chosen for the most power sit at the edge of the budget on
# the calibration set, and a cell moves by a few renders between seeds (brain-critic 1.2.0 at 2 % / 6.25 %
# and 48 per cell: 1.25 % refused on the calibration set, 3.3 % held-out, one cell at 12.5 %; at 1.5 % / 4.5 % and 96
# per cell: the faint-low-contrast-lesion/tumour cell 4 of 96 on the calibration set, 10 of 96 held-out).
CAL_OVERALL, CAL_CELL = 0.015, 0.045
TARGET_OVERALL, TARGET_CELL = 0.03, 0.10
PROBABILITY_FLOORS = [0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1, 0.07, 0.05, 0.03, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0]
IOU_FLOORS = [0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, 0.15, 0.1, 0.05, 0.02, 0.0]
SCALAR_TOLERANCES = [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0]


# ---- requests: every condition cell at the library's ranges ----------------------------------------------
def requests(domain, per_cell, seed):
    if domain.name == "road":
        return [(condition, cell) for condition, _, cell in library.road_cells(domain.layout, per_cell, seed)]
    return library.brain_cells(per_cell, seed)


# ---- renders that show what was asked, and renders that do not ---------------------------------------------
def _moved(domain, p, rng):
    """The request's object moved so that it does not overlap the requested box."""
    box = domain.box_of(p)
    w, h = box[2], box[3]
    for _ in range(100):
        if domain.name == "road":
            cx, cy = rng.uniform(w / 2, 1 - w / 2), rng.uniform(max(0.5, 0.49 + h / 2), min(0.82, 0.99 - h / 2))
            q = {**p, "hazardCx": float(cx), "hazardCy": float(cy)}
        else:
            r = p["lesionRadius"]
            cx, cy = rng.uniform(0.3 + r, 0.7 - r), rng.uniform(0.3 + r, 0.7 - r)
            q = {**p, "lesionX": float(cx), "lesionY": float(cy)}
        if box_iou(domain.box_of(q), box) == 0.0:
            return q
    return None


# Road: the share of requests that also get a render with another weather and one with another time of day (the
# gate refuses all of them at every floor so far; a quarter keeps the road run's critic passes at 3.5 per request).
ATTRIBUTE_WRONG_SHARE = 0.25


def wrong_versions(domain, p, rng):
    """[(kind, rendered params)] of p that a good gate refuses: another class, the object elsewhere, and (road)
    another weather and time of day, (brain) another contrast."""
    layout, field = domain.layout, domain.class_field
    values = layout.field(field)["values"]
    others = [v for v in values if v != p[field]]
    out = [("class", {**p, field: others[rng.integers(len(others))]})]
    if p[field] != "none":
        moved = _moved(domain, p, rng)
        if moved is not None:
            out.append(("place", moved))
    if domain.name == "road":
        if rng.random() < ATTRIBUTE_WRONG_SHARE:
            for name in ("weather", "timeOfDay"):
                vs = [v for v in layout.field(name)["values"] if v != p[name]]
                out.append((name, {**p, name: vs[rng.integers(len(vs))]}))
    elif p[field] != "none":
        lo, hi = layout.field("lesionContrast")["range"]
        far = [c for c in np.linspace(lo, hi, 7) if abs(c - p["lesionContrast"]) >= 0.4 * (hi - lo)]
        out.append(("lesionContrast", {**p, "lesionContrast": float(far[rng.integers(len(far))])}))
    return out


def box_iou(a, b):
    """IoU of two (cx, cy, w, h) boxes, as evaluate.py measures it."""
    return float(perception.box_iou(torch.tensor(a), torch.tensor(b)))


def softmax(logits):
    e = np.exp(logits - logits.max())
    return e / e.sum()


@torch.no_grad()
def critic_reads(critic, domain, params, seed, look=None, at=None, batch=256):
    """Per rendered param set (the i-th rendered from np.random.default_rng([seed, i])): the critic's decoded
    values, the probability of every categorical value and the raw output vector; with the critic's look
    (look.Shipped) and the requests the renders answer (at), also the look's logits where the gate reads it (each
    requested object's place; for a request of no object, with the look's confirm, the box the critic sees where it
    names one: look.Shipped.places) and the class reading there, critic and look combined."""
    layout, out = domain.layout, []
    for i in range(0, len(params), batch):
        chunk = params[i:i + batch]
        x = torch.from_numpy(np.stack([np.round(domain.render(p, np.random.default_rng([seed, i + j])) * 255)
                                       for j, p in enumerate(chunk)]).astype(np.float32) / 127.5 - 1.0)
        y = critic(x).numpy()
        seen = [layout.decode(vec) for vec in y]
        looked, places = [None] * len(chunk), [None] * len(chunk)
        if look is not None:
            places = look.places(at[i:i + len(chunk)], seen)
            asked = [j for j, place in enumerate(places) if place is not None]
            if asked:
                for j, lg in zip(asked, look.logits_at(x[asked], [places[j] for j in asked])):
                    looked[j] = lg
        for j, (vec, lg) in enumerate(zip(y, looked)):
            probs = {}
            for f in layout.fields:
                if f["kind"] == "categorical":
                    probs[f["name"]] = dict(zip(f["values"], softmax(vec[f["offset"]:f["offset"] + f["width"]]).tolist()))
            read = {"values": seen[j], "probs": probs, "vector": [float(v) for v in vec]}
            if lg is not None:
                read["lookLogits"] = [float(v) for v in lg]
                critic_sees = np.array([[probs[domain.class_field][v] for v in look_module.VALUES]])
                read["atPlace"] = look.combine(critic_sees, softmax(lg)[None], [places[j]])[0]
            out.append(read)
    return out


# ---- the gate, as judgeRealism applies it ----------------------------------------------------------------
def judge_parts(domain, request, read):
    """What the gate needs from one judged render: p(requested) per categorical field, the box IoU of the critic's
    box read as the requested class's (the calibrated gate; None when no object was requested or the critic sees
    none: whether the object is there at all is then the class floor's question) and as the argmax gate reads it
    (0 when the critic sees none), and each scalar's error as a fraction of its range."""
    layout, field = domain.layout, domain.class_field
    p_req = {f["name"]: read["probs"][f["name"]][request[f["name"]]] for f in layout.fields if f["kind"] == "categorical"}
    box = domain.box_of(request)
    if "atPlace" in read:   # the class where the gate reads the look (Shipped.places): critic and look combined
        p_req[field] = float(read["atPlace"][look_module.VALUES.index(request[field])])
    iou = iou_argmax = None
    scalars = {}
    if box is not None:
        seen = domain.box_of(read["values"])
        iou_argmax = 0.0 if seen is None else box_iou(box, seen)
        if seen is not None:   # the box floor holds when the critic sees an object (see the module doc)
            iou = box_iou(box, domain.box_of({**read["values"], field: request[field]}))
        for name in perception.attribute_scalars(domain):
            lo, hi = layout.field(name)["range"]
            scalars[name] = abs(read["values"][name] - request[name]) / (hi - lo)
    return {"p": p_req, "iou": iou, "iouArgmax": iou_argmax, "scalars": scalars}


def tolerance_of(gate, name, requested_class):
    """A scalar's tolerance for a request of this class (critic.json: one number, or one per class)."""
    tol = gate.get("scalarTolerance", {}).get(name)
    return tol.get(requested_class) if isinstance(tol, dict) else tol


def refused_by(gate, request, parts, field_class):
    """The fields the gate refuses this render for (empty: valid)."""
    reasons = []
    for name, p in parts["p"].items():
        floor = gate["fields"].get(name, {}).get(request[name])
        if floor is not None and p < floor:
            reasons.append(name)
    if parts["iou"] is not None:
        floor = gate["boxMinIoU"].get(request[field_class])
        if floor is not None and parts["iou"] < floor:
            reasons.append("box")
    for name, err in parts["scalars"].items():
        tol = tolerance_of(gate, name, request[field_class])
        if tol is not None and err > tol:
            reasons.append(name)
    return reasons


def rates(domain, gate, rows):
    """rows: [(request, cell, parts)] -> refused share overall, per cell, per class value, and reasons."""
    field = domain.class_field
    per_cell, per_class, reasons = {}, {}, {}
    refused = 0
    for request, cell, parts in rows:
        why = refused_by(gate, request, parts, field)
        r = bool(why)
        refused += r
        per_cell.setdefault(cell, []).append(r)
        per_class.setdefault(request[field], []).append(r)
        for w in why:
            reasons[w] = reasons.get(w, 0) + 1
    return {"n": len(rows), "refused": round(refused / max(1, len(rows)), 4),
            "byCell": {k: round(float(np.mean(v)), 4) for k, v in per_cell.items()},
            "byClass": {k: round(float(np.mean(v)), 4) for k, v in per_class.items()},
            "reasons": dict(sorted(reasons.items(), key=lambda kv: -kv[1]))}


def choose(domain, exact, wrong):
    """Floors per requested value, strongest first, within the calibration budgets (see module doc)."""
    layout, field = domain.layout, domain.class_field
    gate = {"rule": "requested-probability", "fields": {}, "boxMinIoU": {}, "scalarTolerance": {}}
    # 1. the other categorical fields (weather, time of day): per value, the highest floor that refuses at most
    #    a quarter of the cell budget of that value's renders
    for f in layout.fields:
        if f["kind"] != "categorical" or f["name"] == field:
            continue
        gate["fields"][f["name"]] = {}
        for v in f["values"]:
            ps = np.array([parts["p"][f["name"]] for req, _, parts in exact if req[f["name"]] == v])
            gate["fields"][f["name"]][v] = next((fl for fl in PROBABILITY_FLOORS if np.mean(ps < fl) <= CAL_CELL / 4), 0.0)
    # 2. scalar tolerances, per requested class (the critic reads lesion contrast better on a tumour than on
    #    scattered small lesions): the tightest that refuses at most a quarter of the cell budget of that class's renders
    scalar_names = sorted({n for _, _, parts in exact for n in parts["scalars"]})
    for name in scalar_names:
        gate["scalarTolerance"][name] = {}
        for value in layout.field(field)["values"]:
            errors = np.array([parts["scalars"][name] for req, _, parts in exact if req[field] == value and name in parts["scalars"]])
            if len(errors):
                gate["scalarTolerance"][name][value] = next((t for t in SCALAR_TOLERANCES if np.mean(errors > t) <= CAL_CELL / 4), 1.0)
    # 3. per requested class: the (class floor, box floor) pair with the most power on wrong renders of that
    #    class (another class in its box, the object moved away) whose refusals of exact renders stay in budget
    gate["fields"][field] = {}
    for value in layout.field(field)["values"]:
        ex = [r for r in exact if r[0][field] == value]
        wr = [(r, c, p) for r, c, p, kind in wrong if r[field] == value and kind in ("class", "place")]
        has_box = domain.box_of(ex[0][0]) is not None
        best = None
        for fl in PROBABILITY_FLOORS:
            for bf in (IOU_FLOORS if has_box else [None]):
                trial = {**gate, "fields": {**gate["fields"], field: {value: fl}},
                         "boxMinIoU": ({value: bf} if bf is not None else {})}
                cal = rates(domain, trial, ex)
                if cal["refused"] > CAL_OVERALL or max(cal["byCell"].values()) > CAL_CELL:
                    continue
                power = rates(domain, trial, wr)["refused"]
                key = (power, fl, bf or 0.0)
                if best is None or key > best[0]:
                    best = (key, fl, bf)
        if best is None:
            best = ((0.0, 0.0, 0.0), 0.0, 0.0 if has_box else None)
        gate["fields"][field][value] = best[1]
        if best[2] is not None:
            gate["boxMinIoU"][value] = best[2]
    return gate


def power(domain, gate, wrong):
    """Share of wrong renders refused, per kind of wrongness (and per requested class for class and place)."""
    out = {}
    for kind in sorted({w[3] for w in wrong}):
        rows = [(r, c, p) for r, c, p, k in wrong if k == kind]
        res = rates(domain, gate, rows)
        out[kind] = {"n": res["n"], "refused": res["refused"], "byClass": res["byClass"]}
    return out


def argmax_rates(domain, rows_exact, reads_exact):
    """The gate before calibration (judgeRealism's fixed defaults): refused on any categorical argmax mismatch,
    a box IoU under 0.3 or a scalar off by more than 0.25 of its range."""
    field = domain.class_field
    per_cell, refused = {}, []
    for (request, cell, parts), read in zip(rows_exact, reads_exact):
        seen = {**read["values"], **({field: look_module.VALUES[int(read["atPlace"].argmax())]} if "atPlace" in read else {})}
        r = any(seen[f] != request[f] for f in domain.categorical_attributes)
        if parts["iouArgmax"] is not None and parts["iouArgmax"] < 0.3:
            r = True
        if any(err > 0.25 for err in parts["scalars"].values()):
            r = True
        refused.append(r)
        per_cell.setdefault(cell, []).append(r)
    return {"n": len(refused), "refused": round(float(np.mean(refused)), 4),
            "maxCell": round(max(float(np.mean(v)) for v in per_cell.values()), 4)}


def measurement_noise(per_cell, cells, rate=0.03, bar=TARGET_CELL):
    """Probability that a gate refusing `rate` of every cell's renders shows at least one of `cells` cells of
    `per_cell` over `bar` (independent binomial cells): what the per-cell check can tell at this size."""
    over = int(np.floor(bar * per_cell)) + 1                  # refusals that put a cell over the bar
    tail = sum(math.comb(per_cell, k) * rate ** k * (1 - rate) ** (per_cell - k) for k in range(over, per_cell + 1))
    return 1 - (1 - tail) ** cells


FAINT = 0.05   # an object that changes no pixel by this much (13 grey levels) is called faint


def by_visibility(domain, gate, exact, seed):
    """Exact renders refused, split by how visible the requested object is in its render (the generator's
    visibility(): the largest pixel change the object makes): faint objects (an unlit pedestrian far off in fog at
    night) are ones no judge can confirm on a 64-pixel frame."""
    groups = {"none requested": [], f"faint (< {FAINT})": [], "visible": []}
    for i, row in enumerate(exact):
        v = domain.generator.visibility(row[0], [seed, i])
        key = "none requested" if v is None else (f"faint (< {FAINT})" if v < FAINT else "visible")
        groups[key].append(row)
    out = {}
    for k, rows in groups.items():
        res = rates(domain, gate, rows) if rows else None
        out[k] = {"n": len(rows), "refused": res and res["refused"], "maxCell": res and max(res["byCell"].values())}
    return out


MIRROR_CASES, MIRROR_MARGIN = 160, 1e-4


def mirror_cases(domain, gate, judged, reads):
    """Held-out cases for test/detection/critic.test.ts, which decodes each raw critic vector and judges it
    against its request with judgeRealism: the TypeScript gate must refuse exactly what refused_by refuses here
    (the rule lives in both languages; this pins them together). Half refused, half valid where there are
    enough; none within MIRROR_MARGIN of a floor, where float32 and float64 could disagree."""
    field = domain.class_field

    def margin(request, parts):
        gaps = [abs(p - gate["fields"][name][request[name]]) for name, p in parts["p"].items()
                if request[name] in gate["fields"].get(name, {})]
        if parts["iou"] is not None and request[field] in gate["boxMinIoU"]:
            gaps.append(abs(parts["iou"] - gate["boxMinIoU"][request[field]]))
        tolerances = {name: tolerance_of(gate, name, request[field]) for name in parts["scalars"]}
        gaps += [abs(err - tolerances[name]) for name, err in parts["scalars"].items() if tolerances[name] is not None]
        return min(gaps, default=1.0)

    refused, valid = [], []
    for (request, parts), read in zip(judged, reads):
        if margin(request, parts) < MIRROR_MARGIN:
            continue
        why = refused_by(gate, request, parts, field)
        case = {"request": {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in request.items()},
                "vector": read["vector"], **({"look": read["lookLogits"]} if "lookLogits" in read else {}),
                "refusedBy": sorted(why)}
        (refused if why else valid).append(case)
    rng = np.random.default_rng(SEEDS["heldOut"])
    pick = lambda cases, n: [cases[i] for i in sorted(rng.choice(len(cases), min(n, len(cases)), replace=False))]
    half = MIRROR_CASES // 2
    return pick(refused, half) + pick(valid, MIRROR_CASES - min(half, len(refused)))


def load_critic(name, domain, checkpoint):
    if checkpoint:
        model, _, _ = perception.load_trained("critic", domain, checkpoint)
        return model
    from rareforge_train import from_onnx
    with tempfile.TemporaryDirectory() as tmp:
        model = from_onnx.checkpoint_from_package(name, tmp)
    return model.eval()


def markdown(report):
    lines = [f"# Realism gate of {report['critic']}: calibration on exact renders (issue 17 item 5)", "",
             f"Reproduce: `{report['command']}`", "",
             f"Requests: every condition cell at the scenario library's ranges, {report['perCell']} per cell and set; "
             f"floors chosen on the calibration set (seed {SEEDS['calibration']}), figures below on the held-out set "
             f"(seed {SEEDS['heldOut']}). At {report['perCell']} per cell, a gate that refuses 3 % of every cell's renders "
             f"would show some cell over 10 % in {report['perCellNoise'] * 100:.1f} % of held-out draws (measurement_noise)."
             + (" The class of a requested object is read at the requested place: the critic's and its look's "
                "(training/look.py) distributions combined; a request for no object is judged by the whole-frame critic"
                + (", and where that names an object, by the critic and the look combined at the critic's own box "
                   "(critic.json look.confirm)." if isinstance(report.get("look"), dict) and report["look"].get("confirm") else ".")
                if report.get("look") else ""), "",
             "| | exact renders refused (overall) | worst cell | cells over 10 % | target |", "|---|---|---|---|---|"]
    ho, before = report["heldOut"]["exact"], report["heldOut"]["argmaxGate"]
    over = sum(v > TARGET_CELL for v in ho["byCell"].values())
    lines.append(f"| calibrated gate | {ho['refused'] * 100:.1f} % | {max(ho['byCell'].values()) * 100:.1f} % | {over} of {len(ho['byCell'])} | ≤ 3 %, ≤ 10 % every cell |")
    lines.append(f"| argmax gate (before: judgeRealism defaults) | {before['refused'] * 100:.1f} % | {before['maxCell'] * 100:.1f} % | | |")
    if "byVisibility" in report["heldOut"]:
        lines += ["", "Exact renders (held-out) by how visible the requested object is: the largest change it makes to any "
                  "pixel against the same scene without it", "", "| object | n | refused | worst cell |", "|---|---|---|---|"]
        for k, v in report["heldOut"]["byVisibility"].items():
            if v["n"]:
                lines.append(f"| {k} | {v['n']} | {v['refused'] * 100:.1f} % | {v['maxCell'] * 100:.1f} % |")
    lines += ["", "Power: share of renders that do not show the request that the calibrated gate refuses", "",
              "| rendered instead | n | refused |", "|---|---|---|"]
    for kind, res in report["heldOut"]["power"].items():
        lines.append(f"| {kind} | {res['n']} | {res['refused'] * 100:.1f} % |")
    gate, field = report["gate"], report["classField"]
    scalars = sorted(gate.get("scalarTolerance", {}))
    lines += ["", "Per requested class (held-out): exact renders refused / wrong-class renders refused / moved-object renders refused"
              + (f"; tolerance of {', '.join(scalars)} as a fraction of its range" if scalars else ""), "",
              "| class | floor p(requested) | box IoU floor | " + "".join(f"{n} tolerance | " for n in scalars)
              + "exact refused | another class refused | moved refused |", "|---|---|---|" + "---|" * len(scalars) + "---|---|---|"]
    for value, fl in gate["fields"][field].items():
        p = report["heldOut"]["power"]
        tolerances = "".join(f"{'—' if tol is None else tol} | " for tol in (tolerance_of(gate, n, value) for n in scalars))
        lines.append(f"| {value} | {fl} | {gate['boxMinIoU'].get(value, '—')} | {tolerances}{ho['byClass'].get(value, 0) * 100:.1f} % | "
                     f"{p.get('class', {}).get('byClass', {}).get(value, 0) * 100:.1f} % | "
                     + (f"{p['place']['byClass'].get(value, 0) * 100:.1f} %" if 'place' in p and value in p['place']['byClass'] else "—") + " |")
    lines += ["", "Exact renders refused per cell (held-out):", "", "| cell | refused |", "|---|---|"]
    for cell, v in ho["byCell"].items():
        lines.append(f"| {cell} | {v * 100:.1f} %{' ✗' if v > TARGET_CELL else ''} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("critic", choices=[n for n, (k, _) in PACKAGES.items() if k == "critic"])
    parser.add_argument("--checkpoint")
    parser.add_argument("--per-cell", type=int, help=f"requests per condition cell and set (default {PER_CELL})")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--apply", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    _, domain = PACKAGES[args.critic]
    args.per_cell = args.per_cell or PER_CELL[domain.name]
    critic = load_critic(args.critic, domain, args.checkpoint)
    look = look_module.shipped(args.critic)
    sets = {}
    for split, seed in SEEDS.items():
        reqs = requests(domain, args.per_cell, seed)
        rng = np.random.default_rng(seed)
        wrong = [(kind, q, p, cell) for p, cell in reqs for kind, q in wrong_versions(domain, p, rng)]
        reads = critic_reads(critic, domain, [p for p, _ in reqs] + [q for _, q, _, _ in wrong], seed, look=look,
                             at=[p for p, _ in reqs] + [p for _, _, p, _ in wrong])
        exact = [(p, cell, judge_parts(domain, p, read)) for (p, cell), read in zip(reqs, reads)]
        wrong_rows = [(p, cell, judge_parts(domain, p, read), kind) for (kind, _, p, cell), read in zip(wrong, reads[len(reqs):])]
        sets[split] = (exact, wrong_rows, reads)
        print(f"{split}: {len(exact)} exact renders, {len(wrong_rows)} wrong ones judged", flush=True)
    gate = choose(domain, sets["calibration"][0], sets["calibration"][1])
    manifest_path = os.path.join(package.MODELS_DIR, args.critic, "critic.json")
    manifest = json.load(open(manifest_path))
    command = f"python3 training/gate_calibration.py {args.critic}" + (f" --checkpoint {args.checkpoint}" if args.checkpoint else "")
    report = {"critic": args.critic, "classField": domain.class_field, "command": command, "perCell": args.per_cell,
              "seeds": SEEDS, "budgets": {"calibrationOverall": CAL_OVERALL, "calibrationCell": CAL_CELL,
                                          "targetOverall": TARGET_OVERALL, "targetCell": TARGET_CELL},
              "perCellNoise": round(measurement_noise(args.per_cell, len({c for _, c, _ in sets["heldOut"][0]})), 4),
              "files": manifest["files"] if not args.checkpoint else None, "look": look.weight if look is not None else None, "gate": gate}
    for split, (exact, wrong_rows, reads) in sets.items():
        report[split] = {"exact": rates(domain, gate, exact), "power": power(domain, gate, wrong_rows),
                         "argmaxGate": argmax_rates(domain, exact, reads[:len(exact)])}
        if hasattr(domain.generator, "visibility"):
            report[split]["byVisibility"] = by_visibility(domain, gate, exact, SEEDS[split])
    exact, wrong_rows, reads = sets["heldOut"]
    report["mirrorCases"] = mirror_cases(domain, gate, [(p, parts) for p, _, parts in exact]
                                         + [(p, parts) for p, _, parts, _ in wrong_rows], reads)
    ho = report["heldOut"]["exact"]
    report["meetsTarget"] = ho["refused"] <= TARGET_OVERALL and max(ho["byCell"].values()) <= TARGET_CELL
    os.makedirs(REPORTS, exist_ok=True)
    base = package.gate_report_path(args.critic)[:-len(".json")] + ("-candidate" if args.checkpoint else "")
    json.dump(report, open(base + ".json", "w"), indent=1)
    open(base + ".md", "w").write(markdown(report))
    print(markdown(report).split("Per requested class")[0], flush=True)
    if args.apply:
        if args.checkpoint:
            raise SystemExit("--apply needs the shipped package (no --checkpoint)")
        apply(args.critic)


def apply(name):
    """Writes the gate of training/reports/<name>-gate.json into models/<name>/critic.json."""
    manifest_path = os.path.join(package.MODELS_DIR, name, "critic.json")
    manifest = json.load(open(manifest_path))
    gate = package.calibrated_gate(name, manifest["files"])
    if gate is None:
        raise SystemExit(f"{package.gate_report_path(name)} was measured on other files than {manifest_path}'s")
    manifest["gate"] = gate
    json.dump(manifest, open(manifest_path, "w"), indent=2)
    print(f"wrote the gate into {os.path.relpath(manifest_path, package.REPO)}")


if __name__ == "__main__":
    main()
