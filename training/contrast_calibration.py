"""Requested vs produced lesion contrast of brain-mri, and the calibration map that corrects it:
python3 training/contrast_calibration.py <sample|fit|report> (see training/README.md, "Contrast calibration").

sample --label before|below|above|after
                             DDIM samples of the shipped ONNX weights (recovered into torch; the golden
                             fixture checks they compute the same function) at the manifest's defaults over
                             GRID_CONTRASTS x lesion pathologies x FIT_GEOMETRIES geometries ("after": SEEDS);
                             "below" feeds the same geometries, from
                             the same noise, the values BELOW_FED under the field's floor (the condition's slot
                             past 0, inside ENCODED_RANGE), "above" the values ABOVE_FED over its ceiling (the
                             slot past 1); "after" encodes each request through the manifest's
                             calibration map (calibrated_value, the rule src/models/condition.ts applies), on
                             other geometries and noise. Images and conditions go to training/data/contrast-<label>.npz.
fit                          Measures the "before", "below" and "above" samples with contrast_meter and writes the monotone
                             piecewise-linear map requested -> encoded (encoded within ENCODED_RANGE, the map's
                             encodedRange): pooled, per pathology, and per pathology along the lesion radius
                             (byValue.across: one map per RADIUS_BANDS band of the geometries, training/README
                             section 17), into the manifest (lesionContrast's `calibration`) and
                             training/reports/brain-mri-contrast-calibration.json.
report                       Measures "after" and adds the before/after tables to the report, and the meter's reading
                             of the renderer's own images of the "after" requests ("afterRenders": the floor an
                             exact model would score); both read again by the sharper meter of version 2
                             ("judged": contrast_meter.py, which the map was not fitted to).
beyond                       What the model draws when fed contrasts below the field's floor (BEYOND_FED; the
                             condition's slot set past 0): the question that led to ENCODED_RANGE (training/README
                             sections 11 and 13). Writes training/reports/brain-mri-contrast-beyond.json; changes no
                             manifest.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import contrast_meter  # noqa: E402
from procedural import brain  # noqa: E402
from rareforge_train import diffusion, from_onnx, package  # noqa: E402
from rareforge_train.domains import BRAIN  # noqa: E402
from rareforge_train.served import calibrated_value  # noqa: E402,F401  (the rule src/models/condition.ts applies)

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(TRAINING_DIR, "data")
REPORT = os.path.join(TRAINING_DIR, "reports", "brain-mri-contrast-calibration.json")
MANIFEST = os.path.join(package.MODELS_DIR, "brain-mri", "model.json")
FIELD = "lesionContrast"
GRID_CONTRASTS = [0.25, 0.4, 0.55, 0.7, 0.85, 1.0]
PATHOLOGIES = ["tumour", "haemorrhage", "lesions"]
SEEDS = 12             # geometries per pathology in "after" (the held-out check)
# geometries per pathology in "before" (and "below"/"above", which feed the same ones): enough that each third of a
# pathology's radius range holds SEEDS of them, since the map is fitted per radius band (RADIUS_BANDS)
FIT_GEOMETRIES = 36
RADIUS_BANDS = 3
SAMPLE_SEED = 17
# "after" draws other geometries and noise than "before" (which the map was fitted on): a held-out check.
SAMPLE_SEEDS = {"before": SAMPLE_SEED, "below": SAMPLE_SEED, "above": SAMPLE_SEED, "after": SAMPLE_SEED + 1000}
# what the map may feed the model: below the field's floor 0.25 too, where the model, fed the floor, still draws
# ~0.4 (section 11's `beyond`: its contrast keeps falling down to -0.2, the lowest value measured there)
BELOW_FED = [-0.2, 0.0, 0.1]
# and above its ceiling 1.0, where "lesions" fed 1.0 drew 0.81 at guidance 1.5 (training/README section 14)
ABOVE_FED = [1.15, 1.3]
ENCODED_RANGE = [-0.2, 1.3]
# each extra label: the grid contrast whose geometries it feeds again, and the values it feeds them
EXTRA_FEEDS = {"below": (0, BELOW_FED), "above": (-1, ABOVE_FED)}


def field_of(manifest, name=FIELD):
    return next(f for f in manifest["condition"]["fields"] if f["name"] == name)


def load_model():
    model = diffusion.build_denoiser(BRAIN)
    example, inputs, outputs, axes = package.export_signature("diffusion", BRAIN)
    model = from_onnx.recover(model, os.path.join(package.MODELS_DIR, "brain-mri", "denoiser.onnx"),
                              example, inputs, outputs, axes, package.OPSET)
    error = from_onnx.fixture_error("brain-mri", "diffusion", model, package.FIXTURES_DIR)
    if error > 1e-4:
        raise RuntimeError(f"recovered brain-mri differs from its golden fixture by {error:.2e}")
    return model


def grid_requests(seed=SAMPLE_SEED, geometries=SEEDS):
    """Per pathology `geometries` lesion geometries (drawn as the renderer draws them), each requested at every grid
    contrast."""
    rng = np.random.default_rng(seed)
    out = []
    for pathology in PATHOLOGIES:
        for seed in range(geometries):
            geometry = BRAIN.draw(rng, pathology=pathology)
            out += [{**geometry, FIELD: c, "seed": seed} for c in GRID_CONTRASTS]
    return out


@torch.no_grad()
def ddim_images(model, conditions, keys, defaults, batch, progress=None, feedback=None):
    """DDIM samples at the manifest's defaults, 0..1 [N, 64, 64], of conditions (torch [N, D]); each from the noise
    keyed by keys[i] = (seed, pathology, index), so one geometry is sampled from the same noise at every contrast.
    progress(done) after each batch. feedback: (manifest, requests) to sample with the manifest's feedback, as served."""
    images = []
    meters = contrast_meter.readers() if feedback else None
    for start in range(0, len(keys), batch):
        part = keys[start:start + batch]
        noise = torch.stack([torch.randn((1, 64, 64), generator=torch.Generator().manual_seed(
            seed * 100003 + PATHOLOGIES.index(pathology) * 1000 + index)) for seed, pathology, index in part])
        refine = None
        if feedback:
            manifest, requests = feedback
            params = [{k: v for k, v in r.items() if k != "seed"} for r in requests[start:start + len(part)]]
            refine = diffusion.feedback_refine(manifest, params, meters)
        x = diffusion.ddim_sample(model, noise, conditions[start:start + len(part)], steps=defaults["steps"],
                                  guidance=defaults["guidance"], refine=refine)
        images.append(((x.clamp(-1, 1) + 1) / 2).numpy()[:, 0])
        if progress:
            progress(start + len(part))
    return np.concatenate(images)


def encode_fed(request, fed):
    """The condition vector of request with lesionContrast's slot fed `fed`: (fed - lo) / (hi - lo) of the field's
    range, below 0 for a value under its floor (src/models/condition.ts encodeCondition)."""
    lo, hi = BRAIN.layout.field(FIELD)["range"]
    vec = BRAIN.layout.encode({**request, FIELD: lo})
    vec[BRAIN.layout.field(FIELD)["offset"]] = (fed - lo) / (hi - lo)
    return vec


@torch.no_grad()
def sample(label, batch=36):
    manifest = json.load(open(MANIFEST))
    defaults, field = manifest["defaults"], field_of(manifest)
    if defaults["sampler"] != "ddim":
        raise RuntimeError(f"the manifest's default sampler is {defaults['sampler']}; this script samples DDIM")
    use_map = label == "after"
    if use_map and not field.get("calibration"):
        raise RuntimeError("--label after needs a calibration map in the manifest (run fit first)")
    seed = SAMPLE_SEEDS[label]
    requests = grid_requests(seed, SEEDS if use_map else FIT_GEOMETRIES)
    if label in EXTRA_FEEDS:   # each geometry once per value past the range's end (requested: that end, what it stands for)
        end, feeds = GRID_CONTRASTS[EXTRA_FEEDS[label][0]], EXTRA_FEEDS[label][1]
        requests = [{**r, FIELD: end} for r in requests if r[FIELD] == end for _ in feeds]
        encoded = [fed for _ in range(len(requests) // len(feeds)) for fed in feeds]
    else:
        encoded = [calibrated_value(field, r[FIELD], r) if use_map else r[FIELD] for r in requests]
    conditions = torch.from_numpy(np.stack([encode_fed(r, e) for r, e in zip(requests, encoded)]))
    # "after" is sampled as served: through the map and, where the manifest has it, the feedback
    feedback = (manifest, requests) if use_map and field.get("feedback") else None
    images = ddim_images(load_model(), conditions, [(seed, r["pathology"], r["seed"]) for r in requests], defaults,
                         batch, lambda done: print(f"{time.strftime('%H:%M:%S')} {label}: sampled {done}/{len(requests)}", flush=True),
                         feedback)
    os.makedirs(DATA_DIR, exist_ok=True)
    np.savez(os.path.join(DATA_DIR, f"contrast-{label}.npz"), images=images,
             requests=np.array(requests, dtype=object), encoded=np.array(encoded),
             settings=np.array(defaults, dtype=object), feedback=np.array(field.get("feedback") if use_map else None, dtype=object))


def load(label):
    path = os.path.join(DATA_DIR, f"contrast-{label}.npz")
    if not os.path.exists(path):
        raise SystemExit(f"no '{label}' samples ({os.path.relpath(path, package.REPO)}): "
                         f"run python3 training/contrast_calibration.py sample --label {label} first")
    data = np.load(path, allow_pickle=True)
    return data["images"], list(data["requests"]), data["encoded"], data["settings"].item()


def measure(images, requests, meter):
    return np.array([meter.measure(img, r["pathology"], r["lesionX"], r["lesionY"], r["lesionRadius"])
                     for img, r in zip(images, requests)])


def render_grid(requests):
    """The renderer's own images of the grid requests (the meter's bias at exactly these geometries)."""
    rng = np.random.default_rng(SAMPLE_SEED + 1)
    return np.stack([brain.render({k: v for k, v in r.items() if k != "seed"}, rng)[0] for r in requests])


def table(requests, measured, encoded=None, encoded_range=ENCODED_RANGE):
    """Requested vs produced: per pathology x requested contrast (n, mean, sd), and MAE overall / per pathology / per level;
    with encoded (the value each request was fed), which requests the map could serve within encoded_range (the map's
    encodedRange)."""
    req = np.array([r[FIELD] for r in requests])
    kinds = np.array([r["pathology"] for r in requests])
    err = measured - req
    out = {"n": int(len(req)), "mae": round(float(np.abs(err).mean()), 4), "bias": round(float(err.mean()), 4),
           "maeOfCellMeans": None, "byPathology": {}, "byRequested": {}, "cells": []}
    cell_errors = []
    for p in PATHOLOGIES:
        m = kinds == p
        out["byPathology"][p] = {"n": int(m.sum()), "mae": round(float(np.abs(err[m]).mean()), 4), "bias": round(float(err[m].mean()), 4)}
        for c in GRID_CONTRASTS:
            mc = m & np.isclose(req, c)
            cell = {"pathology": p, "requested": c, "n": int(mc.sum()), "producedMean": round(float(measured[mc].mean()), 4),
                    "producedSd": round(float(measured[mc].std()), 4), "mae": round(float(np.abs(err[mc]).mean()), 4)}
            if encoded is not None:
                cell["encoded"] = round(float(np.asarray(encoded)[mc][0]), 4)
            out["cells"].append(cell)
            cell_errors.append(abs(cell["producedMean"] - c))
    for c in GRID_CONTRASTS:
        mc = np.isclose(req, c)
        out["byRequested"][f"{c:.2f}"] = {"n": int(mc.sum()), "producedMean": round(float(measured[mc].mean()), 4),
                                          "mae": round(float(np.abs(err[mc]).mean()), 4), "bias": round(float(err[mc].mean()), 4)}
    out["maeOfCellMeans"] = round(float(np.mean(cell_errors)), 4)
    if encoded is not None:
        # Requests the map could serve: their encoded value lies strictly inside the encoded range (at its floor the
        # model draws more contrast than asked whatever it is fed, at its ceiling less).
        def inside(e):
            return (e > encoded_range[0] + 1e-9) & (e < encoded_range[1] - 1e-9)
        served = inside(np.asarray(encoded))
        served_cells = [c for c in out["cells"] if inside(c["encoded"])]
        out["servedRequests"] = {"n": int(served.sum()), "mae": round(float(np.abs(err[served]).mean()), 4),
                                 "bias": round(float(err[served].mean()), 4),
                                 "maeOfCellMeans": round(float(np.mean([abs(c["producedMean"] - c["requested"]) for c in served_cells])), 4),
                                 "cells": len(served_cells)}
    return out


def monotone(values):
    """Pool-adjacent-violators: the closest non-decreasing sequence (least squares)."""
    blocks = [[v, 1] for v in values]
    i = 0
    while i < len(blocks) - 1:
        if blocks[i][0] > blocks[i + 1][0]:
            (a, na), (b, nb) = blocks[i], blocks[i + 1]
            blocks[i:i + 2] = [[(a * na + b * nb) / (na + nb), na + nb]]
            i = max(i - 1, 0)
        else:
            i += 1
    return [v for v, n in blocks for _ in range(n)]


def fit_map(fed, pathologies, measured, lo, hi, pathology=None, keep=None):
    """Requested -> encoded: the inverse of the (monotone) produced-vs-fed curve (fed: the value each sample was fed,
    at FEEDS), at the grid's contrasts, for one pathology or pooled over all (and only the samples `keep` marks);
    requests the model cannot reach within [lo, hi] (the encoded range) are clamped to its ends."""
    keep = np.array([pathology is None or p == pathology for p in pathologies]) & (True if keep is None else keep)
    produced = monotone([float(measured[keep & np.isclose(fed, c)].mean()) for c in FEEDS])
    # np.interp needs increasing x: nudge ties apart (they come from pooled violators).
    xs = np.array(produced) + np.arange(len(produced)) * 1e-6
    points = [[c, round(float(np.clip(np.interp(c, xs, FEEDS), lo, hi)), 4)] for c in GRID_CONTRASTS]
    return points, [round(p, 4) for p in produced]


FEEDS = BELOW_FED + GRID_CONTRASTS + ABOVE_FED   # every value fed in "before", "below" and "above"
ACROSS = "lesionRadius"


def radius_bands(radii, pathologies, pathology, bands=RADIUS_BANDS, keep=None):
    """The pathology's fitted geometries (those `keep` marks) split into `bands` bands of equal count by radius: per
    band, the mask of its samples (every fed value of its geometries) and its median radius, where its map is placed."""
    own = np.array([p == pathology for p in pathologies]) & (True if keep is None else keep)
    edges = np.quantile(np.unique(radii[own]), np.linspace(0, 1, bands + 1))
    out = []
    for b in range(bands):
        upper = radii <= edges[b + 1] if b == bands - 1 else radii < edges[b + 1]
        mask = own & (radii >= edges[b]) & upper
        out.append((mask, float(np.median(np.unique(radii[mask])))))
    return out


def fit_across(fed, pathologies, radii, measured, lo, hi):
    """Per pathology, a map per radius band (radius_bands), placed at the band's median radius: the runtime
    interpolates between them by the request's radius (byValue.across; src/models/condition.ts calibratedValue).
    The model's contrast response depends on the lesion's size (brain-mri 1.2.0: haemorrhage of radius under 0.06
    drawn +0.04 too strong, over 0.1 0.05 too faint through one map per pathology; training/README section 17)."""
    maps, produced = {}, {}
    for p in PATHOLOGIES:
        fitted = [(fit_map(fed, pathologies, measured, lo, hi, pathology=p, keep=mask), at) for mask, at in radius_bands(radii, pathologies, p)]
        maps[p] = {"at": [round(at, 4) for _, at in fitted], "points": [points for (points, _), _ in fitted]}
        produced[p] = [{"at": round(at, 4), "producedByFed": dict(zip([f"{c:.2f}" for c in FEEDS], pr))} for (_, pr), at in fitted]
    return {"field": ACROSS, "maps": maps}, produced


def fit():
    images, requests, encoded, settings = load("before")
    meter = contrast_meter.ContrastMeter()
    measured = measure(images, requests, meter)
    fed, kinds, every = [np.asarray(encoded, np.float64)], [r["pathology"] for r in requests], [measured]
    radii = [np.array([r[ACROSS] for r in requests])]
    for label in EXTRA_FEEDS:
        extra_images, extra_requests, extra_fed, extra_settings = load(label)
        if extra_settings != settings:
            raise SystemExit(f"the '{label}' samples were drawn at {extra_settings}, the 'before' ones at {settings}: sample both again")
        fed.append(np.asarray(extra_fed, np.float64))
        kinds += [r["pathology"] for r in extra_requests]
        radii.append(np.array([r[ACROSS] for r in extra_requests]))
        every.append(measure(extra_images, extra_requests, meter))
    manifest = json.load(open(MANIFEST))
    fed, every, radii = np.concatenate(fed), np.concatenate(every), np.concatenate(radii)
    points, produced = fit_map(fed, kinds, every, *ENCODED_RANGE)
    by_pathology = {p: fit_map(fed, kinds, every, *ENCODED_RANGE, pathology=p) for p in PATHOLOGIES}
    across, produced_across = fit_across(fed, kinds, radii, every, *ENCODED_RANGE)
    renders = render_grid(requests)
    calibration = {"points": points, "byValue": {"field": "pathology", "points": {p: m for p, (m, _) in by_pathology.items()},
                                                 "across": across},
                   "encodedRange": ENCODED_RANGE,
                   # the model's response to the field depends on the guidance scale (training/README.md section 14):
                   # the map serves the sampling it was measured at, which must stay the manifest's defaults
                   "measuredAt": {"sampler": settings["sampler"], "steps": int(settings["steps"]), "guidance": float(settings["guidance"])},
                   "measuredBy": "training/contrast_meter.py (pixel meter; validity in report.meter)",
                   "command": "python3 training/contrast_calibration.py sample --label before && "
                              "python3 training/contrast_calibration.py sample --label below && "
                              "python3 training/contrast_calibration.py sample --label above && "
                              "python3 training/contrast_calibration.py fit",
                   "report": os.path.relpath(REPORT, package.REPO)}
    report = {
        "settings": settings, "grid": {"contrasts": GRID_CONTRASTS, "pathologies": PATHOLOGIES, "seedsPerCell": FIT_GEOMETRIES,
                                       "radiusBands": RADIUS_BANDS},
        "meter": {"heldOut": contrast_meter.validity(meter, 300, augmented=False),
                  "heldOutAugmented": contrast_meter.validity(meter, 300, augmented=True),
                  "gridRenders": table(requests, measure(renders, requests, meter))},
        "before": table(requests, measured, encoded),
        "producedByFed": {"pooled": dict(zip([f"{c:.2f}" for c in FEEDS], produced)),
                          **{p: dict(zip([f"{c:.2f}" for c in FEEDS], pr)) for p, (_, pr) in by_pathology.items()},
                          "byRadius": produced_across},
        "calibration": {"files": {manifest["denoiser"]["file"]: manifest["files"][manifest["denoiser"]["file"]]}, "fields": {FIELD: calibration}},
    }
    json.dump(report, open(REPORT, "w"), indent=1)
    manifest["condition"]["fields"] = package.calibrated_fields("brain-mri", manifest["condition"]["fields"], manifest["files"])
    json.dump(manifest, open(MANIFEST, "w"), indent=2)
    print(json.dumps({"points": points, "byPathology": {p: m for p, (m, _) in by_pathology.items()}, "before": report["before"]["byPathology"], "meter": report["meter"]["gridRenders"]["byPathology"]}, indent=1))


def report():
    images, requests, encoded, settings = load("after")
    meter = contrast_meter.ContrastMeter()
    measured = measure(images, requests, meter)
    data = json.load(open(REPORT))
    if settings != data["settings"]:
        raise SystemExit(f"the 'after' samples were drawn at {settings}, the map was fitted at {data['settings']}: sample 'after' again")
    # served within the range of the map the "after" samples were fed through (the manifest's; it may have been fitted
    # with another ENCODED_RANGE than this script's)
    encoded_range = (field_of(json.load(open(MANIFEST))).get("calibration") or {}).get("encodedRange") or ENCODED_RANGE
    data["after"] = table(requests, measured, encoded, encoded_range)
    # the feedback the "after" samples were held by (None: the map alone)
    data["afterFeedback"] = np.load(os.path.join(DATA_DIR, "contrast-after.npz"), allow_pickle=True)["feedback"].item()
    # The meter's own error on the renderer's images of the same held-out requests: what an exact model would score
    # (the meter reads contrast from pixels, within report.meter's error), the floor under data["after"].
    renders = render_grid(requests)
    data["afterRenders"] = table(requests, measure(renders, requests, meter))
    # The same read by the sharper meter of version 2, which the map was not fitted to (its floor is lower).
    judge = contrast_meter.ContrastMeter(contrast_meter.WEIGHTS_2)
    data["judged"] = {
        "by": "training/contrast_meter.py version 2 (reports/contrast-meter-2.npz): the map was fitted with version 1",
        "meter": {"heldOut": contrast_meter.validity(judge, 300, augmented=False),
                  "heldOutAugmented": contrast_meter.validity(judge, 300, augmented=True)},
        "after": table(requests, measure(images, requests, judge), encoded, encoded_range),
        "afterRenders": table(requests, measure(renders, requests, judge))}
    json.dump(data, open(REPORT, "w"), indent=1)
    brief = ("mae", "maeOfCellMeans", "byPathology")
    print(json.dumps({**{k: data["after"][k] for k in ("n", "mae", "bias", "maeOfCellMeans", "byPathology", "byRequested")},
                      "renders": {k: data["afterRenders"][k] for k in brief},
                      "judged": {k: {f: data["judged"][k][f] for f in brief} for k in ("after", "afterRenders")},
                      "judgeHeldOut": {k: data["judged"]["meter"][k]["mae"] for k in ("heldOut", "heldOutAugmented")}}, indent=1))


def crossval(bands=RADIUS_BANDS, folds=2):
    """One map per pathology against maps along the radius (fit_across with `bands` bands), chosen on the fitting set:
    the geometries of "before"/"below"/"above" split into `folds` folds; each map is fitted on the other folds and
    read on a held-out geometry through that geometry's own produced-vs-fed curve (the same noise fed every value in
    FEEDS), at the value the map feeds it; per pathology and meter (version 1 fits the map, version 2 judges), the
    mean |produced - requested|."""
    sets = [load(label) for label in ["before", *EXTRA_FEEDS]]
    requests = [r for _, reqs, _, _ in sets for r in reqs]
    fed = np.concatenate([np.asarray(enc, np.float64) for _, _, enc, _ in sets])
    kinds = [r["pathology"] for r in requests]
    radii = np.array([r[ACROSS] for r in requests])
    geometry = np.array([r["seed"] for r in requests])
    out = {"bands": bands, "folds": folds}
    for version, weights in ((1, contrast_meter.WEIGHTS), (2, contrast_meter.WEIGHTS_2)):
        meter = contrast_meter.ContrastMeter(weights)
        measured = np.concatenate([measure(images, reqs, meter) for images, reqs, _, _ in sets])
        out[f"version{version}"] = {}
        for p in PATHOLOGIES:
            errors = {"onePerPathology": [], "alongRadius": []}
            of_p = np.array([k == p for k in kinds])
            for fold in range(folds):
                train = geometry % folds != fold
                single, _ = fit_map(fed, kinds, measured, *ENCODED_RANGE, pathology=p, keep=train)
                fitted = [(fit_map(fed, kinds, measured, *ENCODED_RANGE, pathology=p, keep=mask)[0], at)
                          for mask, at in radius_bands(radii, kinds, p, bands, keep=train)]
                calibration = {"points": single, "encodedRange": ENCODED_RANGE,
                               "byValue": {"field": "pathology", "points": {p: single}}}
                along = {**calibration, "byValue": {**calibration["byValue"], "across": {"field": ACROSS, "maps": {
                    p: {"at": [at for _, at in fitted], "points": [points for points, _ in fitted]}}}}}
                for g in sorted(set(geometry[~train & of_p])):
                    own = (geometry == g) & of_p
                    order = np.argsort(fed[own])
                    xs, ys, radius = fed[own][order], measured[own][order], radii[own][0]
                    for c in GRID_CONTRASTS:
                        for name, cal in (("onePerPathology", calibration), ("alongRadius", along)):
                            value = calibrated_value({"range": [GRID_CONTRASTS[0], GRID_CONTRASTS[-1]], "calibration": cal}, c,
                                                     {"pathology": p, ACROSS: radius})
                            errors[name].append(abs(float(np.interp(value, xs, ys)) - c))
            out[f"version{version}"][p] = {k: round(float(np.mean(v)), 4) for k, v in errors.items()}
    print(json.dumps(out, indent=1))


BEYOND_FED = [0.25, 0.1, 0.0, -0.2]
BEYOND_SEEDS, BEYOND_SEED = 6, 4242
BEYOND_REPORT = os.path.join(TRAINING_DIR, "reports", "brain-mri-contrast-beyond.json")


# Feedback candidates (fromStep, strength, feather, maxRatio, classes (None: every pathology); docs/model-package.md
# "Feedback"), each sampled on the fitting set's geometries and noise ("before": FIT_GEOMETRIES per pathology) through
# the shipped map. Written to the manifest: the one with the lowest per-sample MAE by the judge (meter version 2: the
# runtime reads version 1) among those under which brain-critic's pathology accuracy on the same samples falls by at
# most FEEDBACK_MAX_PATHOLOGY_LOSS (2 samples in 216) for every pathology it holds, against no feedback: a lesion held
# to a faint request must still read as its pathology (training/README.md section 18: held at full strength, faint
# multi-focus lesions read as lesions less often).
FEEDBACK_CANDIDATES = [(0.4, 1.0, 0.15, 2.0, None), (0.2, 1.0, 0.15, 2.0, None), (0.6, 1.0, 0.15, 2.0, None),
                       (0.0, 1.0, 0.15, 2.0, None), (0.4, 0.5, 0.15, 2.0, None), (0.4, 1.0, 0.3, 2.0, None),
                       (0.4, 1.0, 0.15, 3.0, None), (0.6, 1.0, 0.15, 2.0, ("tumour", "haemorrhage")),
                       (0.4, 1.0, 0.15, 2.0, ("tumour", "haemorrhage"))]
FEEDBACK_MAX_PATHOLOGY_LOSS = 0.01
FEEDBACK_REPORT = os.path.join(TRAINING_DIR, "reports", "brain-mri-contrast-feedback.json")
FEEDBACK_COMMAND = "python3 training/contrast_calibration.py feedback"


def feedback_spec(candidate):
    from_step, strength, feather, max_ratio, classes = candidate
    # the meter's one-hot stays over every pathology (its input); `classes` says which samples it holds
    return {**contrast_meter.FEATURE_SPEC, "fromStep": from_step, "strength": strength, "maxRatio": max_ratio, "feather": feather,
            **({"holds": list(classes)} if classes else {}),
            "measuredBy": "training/contrast_calibration.py feedback: candidates judged by training/contrast_meter.py version 2 "
                          "(contrast) and brain-critic (pathology) on the calibration's fitting set",
            "command": FEEDBACK_COMMAND, "report": os.path.relpath(FEEDBACK_REPORT, package.REPO)}


def brain_critic():
    """brain-critic as the realism gate's whole-image verdict reads it (training/evaluate.py's judge), from its package."""
    from rareforge_train import perception
    checkpoint = os.path.join(TRAINING_DIR, "checkpoints", "brain-critic")
    if not os.path.exists(os.path.join(checkpoint, "last.pt")):
        from_onnx.checkpoint_from_package("brain-critic", checkpoint)
    critic, _, _ = perception.load_trained("critic", BRAIN, checkpoint)
    version = json.load(open(os.path.join(package.MODELS_DIR, "brain-critic", "critic.json")))["version"]
    return critic.eval(), f"brain-critic {version}"


@torch.no_grad()
def judge_pathology(critic, images, params):
    """The critic's pathology accuracy on images (0..1 [N, 64, 64]), overall and per requested pathology."""
    found = [BRAIN.layout.decode(v)["pathology"] for v in critic(torch.from_numpy(images[:, None] * 2 - 1).float()).numpy()]
    ok = np.array([f == p["pathology"] for f, p in zip(found, params)])
    kinds = np.array([p["pathology"] for p in params])
    return {"accuracy": round(float(ok.mean()), 4), "byValue": {k: round(float(ok[kinds == k].mean()), 4) for k in PATHOLOGIES}}


def feedback(batch=36):
    """Samples the fitting set through the shipped map with no feedback and with each FEEDBACK_CANDIDATES setting
    (cached per setting in training/data), judges each, writes the best into the manifest with the meter
    (models/brain-mri/contrast-meter.onnx, contrast_meter.export) and the report; then `sample --label after` and
    `report` measure it on the held-out set."""
    manifest = json.load(open(MANIFEST))
    defaults, field = manifest["defaults"], field_of(manifest)
    if not field.get("calibration"):
        raise SystemExit("feedback acts on top of the calibration map: run fit first")
    requests = grid_requests(SAMPLE_SEED, FIT_GEOMETRIES)
    encoded = [calibrated_value(field, r[FIELD], r) for r in requests]
    conditions = torch.from_numpy(np.stack([encode_fed(r, e) for r, e in zip(requests, encoded)]))
    keys = [(SAMPLE_SEED, r["pathology"], r["seed"]) for r in requests]
    meter, judge = contrast_meter.ContrastMeter(), contrast_meter.ContrastMeter(contrast_meter.WEIGHTS_2)
    critic, critic_version = brain_critic()
    params = [{k: v for k, v in r.items() if k != "seed"} for r in requests]
    # what a cached candidate must have been sampled with: the weights, the defaults and the map
    sampled_with = {**defaults, "map": field["calibration"], "denoiserSha256": manifest["files"][manifest["denoiser"]["file"]]}
    model = load_model()
    rows = []
    for candidate in [None] + FEEDBACK_CANDIDATES:
        tag = "none" if candidate is None else "-".join(f"{v:g}" for v in candidate[:4]) + ("-" + "-".join(candidate[4]) if candidate[4] else "")
        path = os.path.join(DATA_DIR, f"contrast-feedback-{tag}.npz")
        trial = json.loads(json.dumps(manifest))
        if candidate is not None:
            field_of(trial)["feedback"] = feedback_spec(candidate)
        cached = np.load(path, allow_pickle=True) if os.path.exists(path) else None
        if cached is not None and cached["settings"].item() == sampled_with:
            images = cached["images"]
        else:
            start = time.time()
            images = ddim_images(model, conditions, keys, defaults, batch,
                                 lambda done: print(f"{time.strftime('%H:%M:%S')} feedback {tag}: sampled {done}/{len(requests)}", flush=True),
                                 (trial, requests) if candidate is not None else None)
            print(f"{tag}: {time.time() - start:.0f} s", flush=True)
            os.makedirs(DATA_DIR, exist_ok=True)
            np.savez(path, images=images, settings=np.array(sampled_with, dtype=object))
        verdict = judge_pathology(critic, images, params)
        row = {"setting": None if candidate is None else dict(zip(["fromStep", "strength", "feather", "maxRatio", "holds"], candidate)),
               "judged": table(requests, measure(images, requests, judge)), "meter": table(requests, measure(images, requests, meter)),
               "pathology": verdict}
        rows.append(row)
        print(json.dumps({"setting": tag, "judge": row["judged"]["mae"], "meter": row["meter"]["mae"],
                          "byPathology": {p: v["mae"] for p, v in row["judged"]["byPathology"].items()},
                          "pathology": verdict["accuracy"], "pathologyByValue": verdict["byValue"]}), flush=True)
    before = rows[0]["pathology"]["byValue"]

    def keeps_pathology(row):
        held = row["setting"]["holds"] or PATHOLOGIES
        return all(row["pathology"]["byValue"][p] >= before[p] - FEEDBACK_MAX_PATHOLOGY_LOSS - 1e-9 for p in held)
    for row in rows[1:]:
        row["keepsPathology"] = keeps_pathology(row)
    allowed = [r for r in rows[1:] if r["keepsPathology"]]
    if not allowed:
        raise SystemExit(f"every candidate costs some pathology it holds more than {FEEDBACK_MAX_PATHOLOGY_LOSS} of accuracy: the manifest is unchanged")
    best = min(allowed, key=lambda r: r["judged"]["mae"])
    chosen = tuple(best["setting"][k] for k in ("fromStep", "strength", "feather", "maxRatio", "holds"))
    contrast_meter.export(os.path.join(os.path.dirname(MANIFEST), contrast_meter.METER_FILE))
    manifest = json.load(open(MANIFEST))
    manifest["files"][contrast_meter.METER_FILE] = package.sha256(os.path.join(os.path.dirname(MANIFEST), contrast_meter.METER_FILE))
    spec = feedback_spec(chosen)
    field_of(manifest)["feedback"] = spec
    with open(MANIFEST, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")
    report = {"command": FEEDBACK_COMMAND, "settings": defaults, "denoiserSha256": manifest["files"][manifest["denoiser"]["file"]],
              "meterSha256": manifest["files"][contrast_meter.METER_FILE],
              "set": f"the fitting set: {FIT_GEOMETRIES} geometries per pathology x {GRID_CONTRASTS} (seed {SAMPLE_SEED}), through the map",
              "chosenBy": (f"lowest per-sample MAE by the judge (training/contrast_meter.py version 2) among the settings under which "
                           f"{critic_version}'s pathology accuracy falls at most {FEEDBACK_MAX_PATHOLOGY_LOSS} below no feedback's "
                           f"for every pathology held"),
              "chosen": best["setting"], "candidates": rows, "feedback": {FIELD: spec}}
    json.dump(report, open(FEEDBACK_REPORT, "w"), indent=1)
    print(json.dumps({"chosen": best["setting"], "judge": best["judged"]["mae"], "none": rows[0]["judged"]["mae"]}))
    feedback_fixture()


FEEDBACK_FIXTURE = os.path.join(package.REPO, "test", "fixtures", "brain-mri", "feedback")


@torch.no_grad()
def feedback_fixture(seed=5):
    """test/fixtures/brain-mri/feedback/: the meter's features and readings of augmented renders (served.meter_features,
    the torch meter), and 10-step guided DDIM trajectories of three requests with and without the manifest's feedback,
    from the PyTorch reference; test/diffusion/feedback.test.ts holds src/diffusion/feedback.ts to them."""
    from rareforge_train import served
    manifest = json.load(open(MANIFEST))
    spec = field_of(manifest).get("feedback")
    if not spec:
        raise SystemExit("the manifest has no feedback: run feedback first")
    os.makedirs(FEEDBACK_FIXTURE, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, circles, classes = [], [], []
    for pathology in PATHOLOGIES:
        for _ in range(2):
            cond = brain.draw_condition(rng, pathology)
            images.append(contrast_meter.augment(brain.render(cond, rng)[0], rng).astype(np.float32))
            circles.append([cond["lesionX"], cond["lesionY"], cond["lesionRadius"]])
            classes.append(PATHOLOGIES.index(pathology))
    features = np.stack([served.meter_features(img.astype(np.float64), c, k, spec) for img, c, k in zip(images, circles, classes)])
    meters = contrast_meter.readers()
    readings = meters[spec["meter"]](features)
    package.write_f32(os.path.join(FEEDBACK_FIXTURE, "images.f32"), np.stack(images))
    package.write_f32(os.path.join(FEEDBACK_FIXTURE, "features.f32"), features)
    # trajectories: a faint haemorrhage, a mid tumour, strong lesions, each geometry drawn as the renderer draws it
    field = field_of(manifest)
    params = [{**BRAIN.draw(rng, pathology=p), FIELD: c} for p, c in (("haemorrhage", 0.3), ("tumour", 0.55), ("lesions", 0.85))]
    conditions = np.stack([served.served_vector(BRAIN.layout, manifest["condition"]["fields"], p) for p in params]).astype(np.float32)
    noise = torch.randn((len(params), 1, 64, 64), generator=torch.Generator().manual_seed(seed))
    model, guidance, steps = load_model(), manifest["defaults"]["guidance"], 10
    cond = torch.from_numpy(conditions)
    final = diffusion.ddim_sample(model, noise, cond, steps=steps, guidance=guidance,
                                  refine=diffusion.feedback_refine(manifest, params, meters))
    plain = diffusion.ddim_sample(model, noise, cond, steps=steps, guidance=guidance)
    for name, tensor in (("noise", noise), ("conditions", conditions), ("final", final), ("plain", plain)):
        package.write_f32(os.path.join(FEEDBACK_FIXTURE, f"{name}.f32"), tensor)
    golden = {"model": "brain-mri", "denoiserSha256": manifest["files"][manifest["denoiser"]["file"]],
              "meterSha256": manifest["files"][spec["meter"]], "field": FIELD, "feedback": spec,
              "meter": {"images": "images.f32", "shape": [len(images), 64, 64], "circles": circles, "classes": classes,
                        "features": "features.f32", "width": int(features.shape[1]), "readings": [float(v) for v in readings]},
              "trajectory": {"sampler": "ddim", "steps": steps, "guidance": guidance, "parameters": params,
                             "noise": "noise.f32", "conditions": "conditions.f32", "final": "final.f32", "plain": "plain.f32",
                             "fedContrast": [calibrated_value(field, p[FIELD], p) for p in params]}}
    json.dump(golden, open(os.path.join(FEEDBACK_FIXTURE, "golden.json"), "w"), indent=1)
    print(json.dumps({"written": os.path.relpath(FEEDBACK_FIXTURE, package.REPO), "readings": golden["meter"]["readings"],
                      "feedbackMoved": float((final - plain).abs().max())}))


@torch.no_grad()
def beyond(batch=24):
    """Per pathology BEYOND_SEEDS geometries, each sampled from the same noise at every fed value in BEYOND_FED
    (the range's floor and below it: the condition slot (fed - lo) / (hi - lo) goes negative), measured by the meter."""
    manifest = json.load(open(MANIFEST))
    defaults, (lo, hi) = manifest["defaults"], field_of(manifest)["range"]
    slot = BRAIN.layout.field(FIELD)["offset"]
    rng = np.random.default_rng(BEYOND_SEED)
    rows = []
    for pathology in PATHOLOGIES:
        for seed in range(BEYOND_SEEDS):
            geometry = BRAIN.draw(rng, pathology=pathology)
            rows += [({**geometry, FIELD: lo}, fed, seed) for fed in BEYOND_FED]
    conditions = np.stack([BRAIN.layout.encode(r) for r, _, _ in rows])
    conditions[:, slot] = [(fed - lo) / (hi - lo) for _, fed, _ in rows]
    images = ddim_images(load_model(), torch.from_numpy(conditions),
                         [(BEYOND_SEED, r["pathology"], seed) for r, _, seed in rows], defaults, batch)
    measured = measure(images, [r for r, _, _ in rows], contrast_meter.ContrastMeter())
    out = {"command": "python3 training/contrast_calibration.py beyond", "settings": defaults, "range": [lo, hi],
           "seedsPerCell": BEYOND_SEEDS, "producedByFed": {}}
    for pathology in PATHOLOGIES:
        out["producedByFed"][pathology] = {}
        for fed in BEYOND_FED:
            m = np.array([r["pathology"] == pathology and f == fed for r, f, _ in rows])
            out["producedByFed"][pathology][f"{fed:g}"] = {"mean": round(float(measured[m].mean()), 4),
                                                          "sd": round(float(measured[m].std()), 4)}
    json.dump(out, open(BEYOND_REPORT, "w"), indent=1)
    print(json.dumps(out["producedByFed"], indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sample", "fit", "report", "beyond", "crossval", "feedback", "fixture"])
    parser.add_argument("--label", choices=["before", "below", "above", "after"], default="before")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bands", type=int, default=RADIUS_BANDS, help="crossval: radius bands of the maps along the radius")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    {"sample": lambda: sample(args.label), "fit": fit, "report": report, "beyond": beyond,
     "crossval": lambda: crossval(args.bands), "feedback": feedback,
     "fixture": feedback_fixture}[args.command]()


if __name__ == "__main__":
    main()
