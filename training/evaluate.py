"""Evaluates one diffusion package with its critic and detector: python3 training/evaluate.py <road-hazards|brain-mri>

0. Know the judge: the critic's own accuracy (per attribute, median box IoU) on held-out generator
   images, as rendered and with its training blur/noise; a critic is a valid judge of the model only
   if it is accurate there. `evaluate.py <road-critic|brain-critic>` runs this step alone.
1. Guidance sweep: a small balanced grid sampled at each candidate guidance (DDIM, 25 steps);
   the best (mean attribute accuracy + median box IoU) becomes the package default, and the
   package and its fixtures are re-exported with it.
2. >= 512 samples over a balanced grid of conditions at the shipped defaults; the critic judges
   each attribute and finds the box; the same conditions rendered by the generator give the
   critic's ceiling.
3. The detector's recall and precision on held-out generator images, by condition.
Writes training/reports/<package>-eval.json, sample grids (PNG), and the evaluation sections
of model.json, detector.json and critic.json.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

import contrast_meter  # noqa: E402
import look as look_module  # noqa: E402
from rareforge_train import diffusion, from_onnx, library, package, perception  # noqa: E402
from rareforge_train.domains import EVAL_SEED, PACKAGES  # noqa: E402
from rareforge_train.served import served_vector  # noqa: E402

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
REPORTS_DIR = os.path.join(TRAINING_DIR, "reports")
CHECKPOINTS = os.path.join(TRAINING_DIR, "checkpoints")
GUIDANCE_CANDIDATES = [1.5, 3.0, 5.0]
STEPS = 25
SIBLINGS = {"road-hazards": ("road-detector", "road-critic"), "brain-mri": ("brain-detector", "brain-critic")}
CRITICS = {critic: model for model, (_, critic) in SIBLINGS.items()}
HELD_OUT = 2000          # held-out generator images (seed EVAL_SEED) for the critic's and the detector's own figures
TARGETS = {"attributeAccuracy": 0.95, "medianBoxIoU": 0.6}
# Issue 17's acceptance: the road critic on held-out renders, and the road model at the library's ranges.
ISSUE17_CRITIC_TARGETS = {"perCategoricalField": 0.97, "medianBoxIoU": 0.85, "mismatchedHazard": 0.90}
ISSUE17_MODEL_TARGETS = {"hazard": 0.90, "hazardEveryClass": 0.80, "hazardEveryCell": 0.70, "medianBoxIoU": 0.8,
                         "minSamplesPerCell": 12}
# Sections of a critic's `evaluation` that its own held-out figures leave in place: the look's (look.py) and the
# diffusion model's generator grid (apply_report below).
CRITIC_SECTIONS_KEPT = ("look", "evaluationGrid")


def balanced_grid(domain, per_cell, rng):
    """Every combination of the categorical attributes, per_cell draws each (box etc. drawn freely)."""
    layout = domain.layout
    if domain.name == "road":
        cells = [{"hazard": h, "weather": w, "time_of_day": t} for h in layout.field("hazard")["values"]
                 for w in layout.field("weather")["values"] for t in layout.field("timeOfDay")["values"]]
    else:
        cells = [{"pathology": p} for p in layout.field("pathology")["values"]]
    return [domain.draw(rng, **cell) for cell in cells for _ in range(per_cell)]


def sweep_grid(domain, rng):
    """A smaller balanced grid for the guidance sweep (CPU budget): road, every hazard x weather
    pair with the time of day cycling (28); brain, 8 draws per pathology (32)."""
    layout = domain.layout
    if domain.name == "road":
        times = layout.field("timeOfDay")["values"]
        cells = [{"hazard": h, "weather": w, "time_of_day": times[(i + j) % len(times)]}
                 for i, h in enumerate(layout.field("hazard")["values"]) for j, w in enumerate(layout.field("weather")["values"])]
        return [domain.draw(rng, **cell) for cell in cells]
    return [domain.draw(rng, pathology=p) for p in layout.field("pathology")["values"] for _ in range(8)]


def sample_images(model, domain, params, guidance, seed, batch=48, manifest=None, first_index=0):
    """DDIM samples for params, each from noise keyed by (seed, index), params[0] at index first_index (a slice of a
    grid gets the grid's noise); returns model space [-1,1]. manifest: the package's, so calibrated scalars are fed
    their map's value and fields with feedback are held by it, as the product serves them."""
    fields = manifest["condition"]["fields"] if manifest else ()
    conditions = torch.from_numpy(np.stack([served_vector(domain.layout, fields, p) for p in params]))
    meters = contrast_meter.readers() if any(f.get("feedback") for f in fields) else None
    out = []
    for start in range(0, len(params), batch):
        n = min(batch, len(params) - start)
        noise = torch.stack([torch.randn((domain.channels, 64, 64), generator=torch.Generator().manual_seed(seed * 100003 + first_index + start + i))
                             for i in range(n)])
        refine = diffusion.feedback_refine(manifest, params[start:start + n], meters) if meters else None
        out.append(diffusion.ddim_sample(model, noise, conditions[start:start + n], steps=STEPS, guidance=guidance, refine=refine))
        print(f"{time.strftime('%H:%M:%S')}   sampled {start + n}/{len(params)} at guidance {guidance}", flush=True)
    return torch.cat(out).clamp(-1, 1)


def render_images(domain, params, seed):
    rng = np.random.default_rng(seed)
    imgs = np.stack([np.round(domain.render(p, rng) * 255) for p in params]).astype(np.uint8)
    return torch.from_numpy(imgs).float() / 127.5 - 1.0


@torch.no_grad()
def judge(critic, domain, images, params):
    """Critic's verdict per attribute and the requested-vs-found box IoU."""
    predicted = critic(images).numpy()
    attributes = domain.categorical_attributes
    correct = {a: [] for a in attributes}
    per_value = {a: {} for a in attributes}
    ious, ious_by_class, contrast_err = [], {}, []
    by_condition = {}
    for p, vec in zip(params, predicted):
        found = domain.layout.decode(vec)
        for a in attributes:
            ok = found[a] == p[a]
            correct[a].append(ok)
            per_value[a].setdefault(p[a], []).append(ok)
        for group, key in condition_groups(domain, p).items():
            if group != domain.class_field:
                by_condition.setdefault(group, {}).setdefault(key, []).append(found[domain.class_field] == p[domain.class_field])
        requested_box = domain.box_of(p)
        if requested_box is not None:
            found_box = domain.box_of({**found, domain.class_field: p[domain.class_field]})
            ious.append(float(perception.box_iou(torch.tensor(requested_box), torch.tensor(found_box))))
            ious_by_class.setdefault(p[domain.class_field], []).append(ious[-1])
            if "lesionContrast" in p:
                contrast_err.append(abs(found["lesionContrast"] - p["lesionContrast"]))
    result = {
        "attributeAccuracy": {a: round(float(np.mean(v)), 4) for a, v in correct.items()},
        "accuracyByValue": {a: {k: round(float(np.mean(v)), 4) for k, v in d.items()} for a, d in per_value.items()},
        "medianBoxIoU": round(float(np.median(ious)), 4) if ious else None,
        "medianBoxIoUByClass": {k: round(float(np.median(v)), 4) for k, v in ious_by_class.items()},
        "boxesJudged": len(ious),
        "samples": len(params),
        f"{domain.class_field}AccuracyByCondition": {g: {k: round(float(np.mean(v)), 4) for k, v in sorted(d.items())}
                                                    for g, d in by_condition.items()},
    }
    if contrast_err:
        result["lesionContrastMeanAbsError"] = round(float(np.mean(contrast_err)), 4)
    return result


def meets(verdict):
    return (min(verdict["attributeAccuracy"].values()) >= TARGETS["attributeAccuracy"]
            and (verdict["medianBoxIoU"] or 0) >= TARGETS["medianBoxIoU"])


def know_the_judge(critic, domain, critic_name, images_uint8, params, log):
    """The critic on held-out generator images, as rendered and with the blur/noise it was trained
    with (model samples are softer than renders); writes its report and critic.json's evaluation."""
    x = torch.from_numpy(images_uint8).float() / 127.5 - 1.0
    rendered = judge(critic, domain, x, params)
    augmented = judge(critic, domain, perception.augment_for_critic(x, torch.Generator().manual_seed(EVAL_SEED)), params)
    log(f"critic on held-out generator images: {rendered['attributeAccuracy']} IoU {rendered['medianBoxIoU']}")
    log(f"  with training blur/noise: {augmented['attributeAccuracy']} IoU {augmented['medianBoxIoU']}")
    figures = {"heldOutGeneratorImages": len(params), "seed": EVAL_SEED, "rendered": rendered,
               "withTrainingAugmentation": augmented, "bar": TARGETS, "validJudge": meets(rendered)}
    if domain.name == "road":
        # Issue 17: is the class read from the pixels? The same held-out seed with every box of one
        # shape kind: natural (the class's typical box), the scenario library's ranges, and
        # "mismatched" (another class's typical box), as rendered and with the sample-like augmentation.
        figures["byBoxShape"] = {}
        for shape in ("natural", "library", "mismatched"):
            imgs, ps = domain.dataset(len(params), EVAL_SEED, shape=shape)
            xs = torch.from_numpy(imgs).float() / 127.5 - 1.0
            r = judge(critic, domain, xs, ps)
            a = judge(critic, domain, perception.augment_like_samples(xs, torch.Generator().manual_seed(EVAL_SEED)), ps)
            figures["byBoxShape"][shape] = {"rendered": r, "withSampleLikeAugmentation": a}
            log(f"  {shape} boxes: {r['attributeAccuracy']} IoU {r['medianBoxIoU']}; augmented {a['attributeAccuracy']} IoU {a['medianBoxIoU']}")
        mismatched = figures["byBoxShape"]["mismatched"]["rendered"]
        figures["issue17Targets"] = ISSUE17_CRITIC_TARGETS
        figures["meetsIssue17"] = {
            "perCategoricalField": min(rendered["attributeAccuracy"].values()) >= ISSUE17_CRITIC_TARGETS["perCategoricalField"],
            "medianBoxIoU": (rendered["medianBoxIoU"] or 0) >= ISSUE17_CRITIC_TARGETS["medianBoxIoU"],
            "mismatchedHazard": mismatched["attributeAccuracy"]["hazard"] >= ISSUE17_CRITIC_TARGETS["mismatchedHazard"]}
    else:
        # Where users ask: every (medical scenario, pathology) cell of the library, drawn as the service draws it and
        # rendered exactly (critic_at_library.py reads other critics and the model's samples the same way).
        cells = library.brain_cells(LIBRARY_RENDERS_PER_CELL, LIBRARY_RENDER_SEED)
        renders = render_images(domain, [c for c, _ in cells], LIBRARY_RENDER_SEED)
        figures["byLibraryCell"] = {"seed": LIBRARY_RENDER_SEED, "perCell": LIBRARY_RENDERS_PER_CELL,
                                    "renders": library_cell_reading(critic, domain, renders, [n for _, n in cells])}
        worst = min((v["read"], k) for k, v in figures["byLibraryCell"]["renders"].items())
        log(f"  library cells, exact renders: {figures['byLibraryCell']['renders']['all']['read']} (worst {worst[1]} {worst[0]})")
    report_path = os.path.join(REPORTS_DIR, f"{critic_name}-eval.json")
    json.dump({"critic": critic_name, "command": f"python3 training/evaluate.py {critic_name}", **figures},
              open(report_path, "w"), indent=2)
    rel = os.path.relpath(report_path, os.path.dirname(TRAINING_DIR))
    update_manifest(os.path.join(package.MODELS_DIR, critic_name, "critic.json"), {
        "report": rel, "heldOutGeneratorImages": len(params),
        "attributeAccuracy": rendered["attributeAccuracy"], "accuracyByValue": rendered["accuracyByValue"],
        "medianBoxIoU": rendered["medianBoxIoU"], "medianBoxIoUByClass": rendered["medianBoxIoUByClass"],
        "withTrainingAugmentation": {"attributeAccuracy": augmented["attributeAccuracy"],
                                     "medianBoxIoU": augmented["medianBoxIoU"]},
        "bar": TARGETS, "validJudge": figures["validJudge"],
        **({"libraryCellRenders": {k: v["read"] for k, v in figures["byLibraryCell"]["renders"].items()}}
           if "byLibraryCell" in figures else {})}, keep=CRITIC_SECTIONS_KEPT)
    return figures


LIBRARY_RENDER_SEED, LIBRARY_RENDERS_PER_CELL = 1703, 128    # the gate calibrates on 1701 and reports on 1702


def library_cell_reading(critic, domain, images, cells):
    """Per library cell ("scenario/pathology"): the share of images the critic reads as the cell's pathology, n, and
    what the rest were read as; "all": over every image."""
    found = [domain.layout.decode(v)["pathology"] for v in perception.read_batched(critic, images).numpy()]
    out = {}
    for cell in dict.fromkeys(cells):
        wanted, got = cell.split("/")[1], [f for f, c in zip(found, cells) if c == cell]
        out[cell] = {"read": round(float(np.mean([g == wanted for g in got])), 4), "n": len(got),
                     "misreadAs": dict(Counter(g for g in got if g != wanted))}
    out["all"] = {"read": round(float(np.mean([f == c.split("/")[1] for f, c in zip(found, cells)])), 4), "n": len(found)}
    return out


def nms(boxes, scores, iou_threshold):
    order, keep = np.argsort(-scores), []
    while len(order):
        i = order[0]
        keep.append(i)
        if len(order) == 1:
            break
        ious = perception.box_iou(torch.from_numpy(boxes[i][None]), torch.from_numpy(boxes[order[1:]])).numpy()
        order = order[1:][ious < iou_threshold]
    return keep


@torch.no_grad()
def detections(detector, domain, images_uint8, score_threshold=0.25, iou_threshold=0.45):
    """Post-processing the runtime does: best class per prediction, threshold, per-class NMS."""
    out = detector(perception.detector_input(images_uint8, domain)).numpy()     # [B, 4+C, N]
    results = []
    for pred in out:
        boxes, scores = pred[:4].T, pred[4:].T
        cls, best = scores.argmax(1), scores.max(1)
        keep = best >= score_threshold
        found = []
        for c in np.unique(cls[keep]):
            idx = np.where(keep & (cls == c))[0]
            for k in nms(boxes[idx].astype(np.float32), best[idx], iou_threshold):
                found.append((int(c), boxes[idx[k]], float(best[idx[k]])))
        results.append(found)
    return results


def condition_groups(domain, p):
    """The conditions a detection figure is broken down by."""
    groups = {}
    for a in domain.categorical_attributes:
        groups[a] = p[a]
    box = domain.box_of(p)
    if box is not None:
        side = np.sqrt(box[2] * box[3]) * 64
        groups["objectSize"] = "small (<8 px)" if side < 8 else ("medium (8-16 px)" if side < 16 else "large (>=16 px)")
    if "lesionContrast" in p and box is not None:
        groups["lesionContrast"] = "low (<0.5)" if p["lesionContrast"] < 0.5 else "high (>=0.5)"
    return groups


def detector_figures(detector, domain, images_uint8, params, match_iou=0.5):
    """Recall (found objects / objects) and precision (true detections / detections) by condition."""
    found = detections(detector, domain, images_uint8)
    tallies = {}

    def tally(group, key, field, amount):
        t = tallies.setdefault(group, {}).setdefault(key, {"objects": 0, "found": 0, "detections": 0, "trueDetections": 0})
        t[field] += amount

    for p, dets in zip(params, found):
        box = domain.box_of(p)
        true = 0
        if box is not None:
            gt_class = domain.classes.index(p[domain.class_field])
            gt = torch.tensor([v * 64 for v in box])
            true = int(any(c == gt_class and float(perception.box_iou(torch.from_numpy(b.astype(np.float32)), gt)) >= match_iou
                           for c, b, _ in dets))
        for group, key in {"all": "all", **condition_groups(domain, p)}.items():
            if box is not None:
                tally(group, key, "objects", 1)
                tally(group, key, "found", true)
            tally(group, key, "detections", len(dets))
            tally(group, key, "trueDetections", min(true, len(dets)))
    figures = {}
    for group, keys in tallies.items():
        figures[group] = {}
        for key, t in keys.items():
            figures[group][key] = {
                "recall": round(t["found"] / t["objects"], 4) if t["objects"] else None,
                "precision": round(t["trueDetections"] / t["detections"], 4) if t["detections"] else None,
                **t}
    return figures


def save_grid(images, rows, cols, path):
    """images: model space [-1,1], [rows*cols, C, 64, 64] in row-major order."""
    x = ((images.clamp(-1, 1) + 1) * 127.5).round().byte().numpy()
    pad = 2
    canvas = np.full((x.shape[1], rows * (64 + pad) + pad, cols * (64 + pad) + pad), 255, np.uint8)
    for i in range(rows * cols):
        r, c = divmod(i, cols)
        canvas[:, pad + r * (64 + pad):pad + r * (64 + pad) + 64, pad + c * (64 + pad):pad + c * (64 + pad) + 64] = x[i]
    write_png(canvas.transpose(1, 2, 0), path)


def write_png(canvas, path):
    """Grayscale as 8-bit gray; RGB as a 256-colour palette (no dither), which keeps a grid of noisy
    samples at a few hundred KB instead of about 1 MB."""
    if canvas.shape[2] == 1:
        Image.fromarray(canvas[:, :, 0], "L").save(path, optimize=True)
    else:
        Image.fromarray(canvas, "RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT,
                                                dither=Image.Dither.NONE).save(path, optimize=True)


def update_manifest(path, evaluation, merge=False, keep=()):
    """Writes the manifest's `evaluation`: merged into the present one, or replacing it but for the `keep` sections
    (those other scripts write, e.g. the critic's look from look.py)."""
    manifest = json.load(open(path))
    present = manifest.get("evaluation") or {}
    kept = {k: present[k] for k in keep if k in present}
    manifest["evaluation"] = {**present, **evaluation} if merge else {**evaluation, **kept}
    with open(path, "w") as f:
        f.write(json.dumps(manifest, indent=2) + "\n")


def apply_report(report_path):
    """Writes an evaluation report's figures into the manifests of the model, its critic and its detector."""
    report = json.load(open(report_path))
    name, critic_name, detector_name = report["model"], report["judge"]["name"], report["detector"]["name"]
    model_verdict, real_verdict, detector_on_real = report["modelSamples"], report["generatorImages"], report["detector"]["generatorImages"]
    rel_report = os.path.relpath(report_path, os.path.dirname(TRAINING_DIR))
    update_manifest(os.path.join(package.MODELS_DIR, name, "model.json"), {
        "report": rel_report, "samples": model_verdict["samples"], "sampler": report["sampler"], "steps": report["steps"],
        "guidance": report["guidance"], "judge": critic_name, "judgeValid": report["judge"]["validJudge"],
        "attributeAccuracy": model_verdict["attributeAccuracy"], "accuracyByValue": model_verdict["accuracyByValue"],
        "medianBoxIoU": model_verdict["medianBoxIoU"], "medianBoxIoUByClass": model_verdict["medianBoxIoUByClass"],
        "generatorCeiling": {"attributeAccuracy": real_verdict["attributeAccuracy"],
                             "medianBoxIoU": real_verdict["medianBoxIoU"]},
        "targets": report["targets"], "grids": report["grids"]})
    update_manifest(os.path.join(package.MODELS_DIR, critic_name, "critic.json"), {
        "evaluationGrid": {"report": rel_report, "samples": real_verdict["samples"],
                           "attributeAccuracy": real_verdict["attributeAccuracy"],
                           "medianBoxIoU": real_verdict["medianBoxIoU"]}}, merge=True)
    by_condition = {g: {k: {"recall": v["recall"], "precision": v["precision"]} for k, v in keys.items()}
                    for g, keys in detector_on_real.items() if g != "all"}
    update_manifest(os.path.join(package.MODELS_DIR, detector_name, "detector.json"), {
        "report": rel_report, "heldOutGeneratorImages": report["detector"]["heldOutGeneratorImages"],
        "recall": detector_on_real["all"]["all"]["recall"], "precision": detector_on_real["all"]["all"]["precision"],
        "byCondition": by_condition, "rules": report["detector"]["rules"]})



# ---- Issue 17: the model at the scenario library's own ranges --------------------------------------
LIBRARY_SEED = 1
LIBRARY_PER_CELL, LIBRARY_PER_SCENARIO = 12, 16
SAMPLES_DIR = os.path.join(CHECKPOINTS, "library-eval-samples")    # git-ignored; samples are judged later


def library_conditions(domain, per_cell=LIBRARY_PER_CELL, per_scenario=LIBRARY_PER_SCENARIO):
    """Conditions as the library draws them. Per scenario: sample indices 0..per_scenario-1 of each
    automotive scenario (seed LIBRARY_SEED), exactly as the service draws them (sweeps included). Per
    cell: every hazard x weather x timeOfDay cell gets per_cell samples whose box (centre and size) is
    drawn by the library scenarios that ask for that hazard, in turn, at the cell's weather and time
    (hazard none: the empty-road control's box). Returns [(condition, scenario name, group)]."""
    specs = library.automotive_scenarios()
    out = []
    for spec in specs:
        for i in range(per_scenario):
            out.append((library.to_condition(library.draw_parameters(spec, LIBRARY_SEED, i)), spec["name"], "scenario"))
    out += [(condition, name, "cell") for condition, name, _ in library.road_cells(domain.layout, per_cell, LIBRARY_SEED + 1)]
    return out


def library_sample(model, domain, conditions, guidance, label, shard, shards, log, batch=32):
    """DDIM samples (25 steps, guidance) for this shard's conditions (index % shards == shard); each from
    noise keyed by its global index, so shards and reruns agree. Saved (uint8) under SAMPLES_DIR."""
    os.makedirs(SAMPLES_DIR, exist_ok=True)
    path = os.path.join(SAMPLES_DIR, f"{label}-{shard}of{shards}.npz")
    done = dict(np.load(path)) if os.path.exists(path) else {}
    indices = [i for i in range(len(conditions)) if i % shards == shard]
    todo = [i for i in indices if f"i{i}" not in done]
    log(f"{label} shard {shard}/{shards}: {len(indices)} samples, {len(todo)} to do, guidance {guidance}")
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        cond = torch.from_numpy(np.stack([domain.layout.encode(conditions[i][0]) for i in chunk]))
        noise = torch.stack([torch.randn((domain.channels, 64, 64), generator=torch.Generator().manual_seed(LIBRARY_SEED * 100003 + i))
                             for i in chunk])
        x = diffusion.ddim_sample(model, noise, cond, steps=STEPS, guidance=guidance).clamp(-1, 1)
        for i, img in zip(chunk, ((x + 1) * 127.5).round().byte().numpy()):
            done[f"i{i}"] = img
        np.savez(path + ".tmp.npz", **done)
        os.replace(path + ".tmp.npz", path)
        log(f"  {label} shard {shard}: {len(done)}/{len(indices)}")


def load_library_samples(label, count):
    images = {}
    for path in sorted(os.listdir(SAMPLES_DIR)):
        if path.startswith(f"{label}-") and path.endswith(".npz"):
            images.update(dict(np.load(os.path.join(SAMPLES_DIR, path))))
    missing = [i for i in range(count) if f"i{i}" not in images]
    if missing:
        raise RuntimeError(f"{label}: {len(missing)} of {count} library samples missing (run the sampling shards first)")
    return torch.from_numpy(np.stack([images[f"i{i}"] for i in range(count)])).float() / 127.5 - 1.0


@torch.no_grad()
def looked_classes(look, domain, images, conditions, whole, seen):
    """The class the realism gate reads where it reads the critic's look (look.Shipped.places: each requested
    object's place; for a request of no object, with the look's confirm, the box the critic sees, seen its decoded
    values): the critic's distribution (whole, [N, V]) and the look's combined; None elsewhere or without a look."""
    out = [None] * len(conditions)
    if look is None:
        return out
    places = look.places([p for p, _, _ in conditions], seen)
    asked = [i for i, place in enumerate(places) if place is not None]
    if not asked:
        return out
    at = [places[i] for i in asked]
    for i, k in zip(asked, look.combine(whole[asked], look.probabilities_at(images[asked], at), at).argmax(1)):
        out[i] = look_module.VALUES[k]
    return out


@torch.no_grad()
def library_tables(critic, domain, images, conditions, look=None):
    """Per scenario, per hazard x weather x time cell, per class: hazard accuracy (as the realism gate reads it: critic
    and look combined where the gate reads the look, looked_classes, else the critic's argmax; and the critic's argmax
    alone), weather and time accuracy, median requested-vs-found box IoU."""
    predicted = perception.read_batched(critic, images).numpy()
    field = domain.layout.field("hazard")
    whole = torch.from_numpy(predicted[:, field["offset"]:field["offset"] + field["width"]]).softmax(1).numpy()
    seen = [domain.layout.decode(vec) for vec in predicted]
    looked = looked_classes(look, domain, images, conditions, whole, seen)
    rows = []
    for (p, scenario, group), found, at_place in zip(conditions, seen, looked):
        whole_frame = found["hazard"]
        if at_place is not None:
            found = {**found, "hazard": at_place}
        box = domain.box_of(p)
        iou = None
        if box is not None:
            iou = float(perception.box_iou(torch.tensor(box), torch.tensor(domain.box_of({**found, "hazard": p["hazard"]}))))
        rows.append({"scenario": scenario, "group": group, "hazard": p["hazard"], "weather": p["weather"],
                     "timeOfDay": p["timeOfDay"], "foundHazard": found["hazard"], "hazardOk": found["hazard"] == p["hazard"],
                     "wholeFrameOk": whole_frame == p["hazard"],
                     "weatherOk": found["weather"] == p["weather"], "timeOk": found["timeOfDay"] == p["timeOfDay"], "iou": iou})

    def summary(rs):
        ious = [r["iou"] for r in rs if r["iou"] is not None]
        confusions = {}
        for r in rs:
            if not r["hazardOk"]:
                confusions[r["foundHazard"]] = confusions.get(r["foundHazard"], 0) + 1
        return {"samples": len(rs), "hazard": round(float(np.mean([r["hazardOk"] for r in rs])), 4),
                "hazardWholeFrame": round(float(np.mean([r["wholeFrameOk"] for r in rs])), 4),
                "weather": round(float(np.mean([r["weatherOk"] for r in rs])), 4),
                "timeOfDay": round(float(np.mean([r["timeOk"] for r in rs])), 4),
                "medianBoxIoU": round(float(np.median(ious)), 4) if ious else None,
                "hazardMistakenFor": dict(sorted(confusions.items(), key=lambda kv: -kv[1]))}

    scen = [r for r in rows if r["group"] == "scenario"]
    cells = [r for r in rows if r["group"] == "cell"]
    tables = {"perScenario": {}, "perCell": {}, "perClass": {}}
    for name in dict.fromkeys(r["scenario"] for r in scen):
        tables["perScenario"][name] = summary([r for r in scen if r["scenario"] == name])
    for r in cells:
        tables["perCell"].setdefault(f"{r['hazard']}|{r['weather']}|{r['timeOfDay']}", []).append(r)
    tables["perCell"] = {k: summary(v) for k, v in tables["perCell"].items()}
    for h in domain.layout.field("hazard")["values"]:
        tables["perClass"][h] = summary([r for r in cells if r["hazard"] == h])
    tables["overall"] = summary(cells)
    tables["overallScenarios"] = summary(scen)
    worst = sorted(tables["perCell"].items(), key=lambda kv: kv[1]["hazard"])[:10]
    t = ISSUE17_MODEL_TARGETS
    tables["againstTargets"] = {
        "targets": t,
        "hazardOverall": tables["overall"]["hazard"], "meetsHazardOverall": tables["overall"]["hazard"] >= t["hazard"],
        "weakestClass": min(tables["perClass"].items(), key=lambda kv: kv[1]["hazard"])[0],
        "meetsEveryClass": all(v["hazard"] >= t["hazardEveryClass"] for v in tables["perClass"].values()),
        "cellsBelow": sum(v["hazard"] < t["hazardEveryCell"] for v in tables["perCell"].values()),
        "meetsEveryCell": all(v["hazard"] >= t["hazardEveryCell"] for v in tables["perCell"].values()),
        "medianBoxIoU": tables["overall"]["medianBoxIoU"],
        "meetsMedianBoxIoU": (tables["overall"]["medianBoxIoU"] or 0) >= t["medianBoxIoU"],
        "worstCells": {k: v["hazard"] for k, v in worst}}
    return tables


def library_markdown(report):
    """Human-readable tables of a library evaluation report (models side by side)."""
    labels = list(report["models"])
    lines = [f"# road-hazards at the scenario library's ranges (issue 17)", "",
             f"Judge: {report['judge']}; sampler DDIM {STEPS} steps at each model's default guidance; "
             f"{report['perCell']} samples per hazard x weather x time cell, {report['perScenario']} per scenario. "
             f"Command: `{report['command']}`", ""]
    head = "| | " + " | ".join(f"{l} hazard | {l} IoU" for l in labels + ["generator"]) + " |"
    sep = "|---" * (1 + 2 * (len(labels) + 1)) + "|"
    def block(title, key):
        out = [f"## {title}", "", head, sep]
        names = list(report["models"][labels[0]][key])
        for n in names:
            cells = []
            for l in labels:
                v = report["models"][l][key][n]
                cells += [f"{v['hazard'] * 100:.1f} %", f"{v['medianBoxIoU']:.3f}" if v["medianBoxIoU"] is not None else "-"]
            g = report["generator"][key][n]
            cells += [f"{g['hazard'] * 100:.1f} %", f"{g['medianBoxIoU']:.3f}" if g["medianBoxIoU"] is not None else "-"]
            out.append(f"| {n} | " + " | ".join(cells) + " |")
        return out + [""]
    for l in labels + ["generator"]:
        src = report["models"][l] if l != "generator" else report["generator"]
        o = src["overall"]
        whole = f" (the whole-frame critic alone: {o['hazardWholeFrame'] * 100:.1f} %)" if "hazardWholeFrame" in o else ""
        lines.append(f"- **{l}**: hazard {o['hazard'] * 100:.1f} %{whole}, weather {o['weather'] * 100:.1f} %, time {o['timeOfDay'] * 100:.1f} %, "
                     f"median IoU {o['medianBoxIoU']:.3f}; cells below 70 %: {src['againstTargets']['cellsBelow']} of {len(src['perCell'])}")
    lines.append("")
    lines += block("Per class (cell grid)", "perClass")
    lines += block("Per scenario", "perScenario")
    lines += block("Per cell (hazard | weather | time)", "perCell")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("package", choices=sorted(SIBLINGS) + sorted(CRITICS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--per-cell", type=int, help="samples per grid cell (default: 7 road, 128 brain)")
    parser.add_argument("--guidance", type=float, help="skip the sweep and use this guidance")
    parser.add_argument("--manifest-only", action="store_true",
                        help="write the figures of training/reports/<package>-eval.json into the manifests (after a "
                             "rebuild that changed the files the figures were measured on: only a version bump)")
    parser.add_argument("--dry-run", action="store_true",
                        help="time one batch of samples, print the projected run time, write nothing")
    parser.add_argument("--library", action="store_true",
                        help="road-hazards: judge at the scenario library's ranges (issue 17); with --sample-only "
                             "[--shard i/n] draw the samples, otherwise judge every --compare label's samples")
    parser.add_argument("--candidate", metavar="DIR",
                        help="brain-critic: judge this critic checkpoint directory (its best.pt) next to the shipped critic, "
                             "on held-out renders, on faint and small lesions, at radii every pathology shares, and on "
                             "brain-mri's balanced grid as served; writes training/reports/<critic>-candidate-eval.json "
                             "and leaves the manifests alone. A diffusion package: judge this diffusion checkpoint directory (e.g. a fine-tune not yet shipped) as the shipped "
                             "package serves it (its guidance, calibration map and feedback) on the balanced grid, next to "
                             "the shipped weights on the same grid and noise; writes training/reports/<package>-candidate-eval.json "
                             "and leaves every manifest, fixture and the guidance file as they are")
    parser.add_argument("--sample-only", action="store_true")
    parser.add_argument("--shard", default="0/1")
    parser.add_argument("--label", help="--library: the samples' label (default: the package version in models/)")
    parser.add_argument("--checkpoint", help="--library: diffusion checkpoint dir (default training/checkpoints/<package>)")
    parser.add_argument("--compare", nargs="+", help="--library: labels to judge side by side (first = baseline)")
    parser.add_argument("--report-name", help="--library --compare: write training/reports/<name>.json and .md instead of "
                                              "<package>-library-eval, and leave the manifest as it is (a candidate's comparison)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = args.package
    if args.library:
        return library_main(args)
    _, domain = PACKAGES[name]
    if args.manifest_only:
        apply_report(os.path.join(REPORTS_DIR, f"{name}-eval.json"))
        return
    if args.candidate:
        return critic_candidate_main(args, name, domain) if name in CRITICS else candidate_main(args, name, domain)
    os.makedirs(REPORTS_DIR, exist_ok=True)
    started = time.time()
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [{name} eval] {msg}", flush=True)  # noqa: E731
    held_out_images, held_out_params = domain.dataset(HELD_OUT, EVAL_SEED)

    if name in CRITICS:
        if not os.path.exists(os.path.join(CHECKPOINTS, name, "last.pt")):
            from_onnx.checkpoint_from_package(name, os.path.join(CHECKPOINTS, name), log=log)
        critic, _, _ = perception.load_trained("critic", domain, os.path.join(CHECKPOINTS, name))
        know_the_judge(critic, domain, name, held_out_images, held_out_params, log)
        return
    detector_name, critic_name = SIBLINGS[name]
    for package_name in (name, critic_name, detector_name):
        # A package trained elsewhere (or whose checkpoint was lost) is judged by its shipped weights.
        if not os.path.exists(os.path.join(CHECKPOINTS, package_name, "last.pt")):
            from_onnx.checkpoint_from_package(package_name, os.path.join(CHECKPOINTS, package_name), log=log)
    model, _, _ = diffusion.load_trained(domain, os.path.join(CHECKPOINTS, name))
    critic, _, _ = perception.load_trained("critic", domain, os.path.join(CHECKPOINTS, critic_name))
    detector, _, _ = perception.load_trained("detector", domain, os.path.join(CHECKPOINTS, detector_name))

    per_cell = args.per_cell or (7 if domain.name == "road" else 128)
    params = balanced_grid(domain, per_cell, np.random.default_rng(EVAL_SEED))
    sweep_params = sweep_grid(domain, np.random.default_rng(EVAL_SEED + 10))
    if args.dry_run:
        t0 = time.time()
        sample_images(model, domain, params[:48], 3.0, EVAL_SEED)
        per_sample = (time.time() - t0) / 48
        total = per_sample * (len(params) + (0 if args.guidance else len(sweep_params) * len(GUIDANCE_CANDIDATES)))
        log(f"{per_sample:.2f} s per sample: {len(params)} evaluation samples"
            + ("" if args.guidance else f" + {len(GUIDANCE_CANDIDATES)} x {len(sweep_params)} sweep samples")
            + f" would take about {total / 60:.1f} min of sampling")
        return

    # 0. Know the judge: the critic's own figures on held-out generator images.
    judge_figures = know_the_judge(critic, domain, critic_name, held_out_images, held_out_params, log)

    # 1. Guidance sweep on a small balanced grid (conditions encoded as served: calibration maps applied; a map
    # measured at one guidance serves the others only approximately).
    shipped_manifest = json.load(open(os.path.join(package.MODELS_DIR, name, "model.json")))
    fields = shipped_manifest["condition"]["fields"]
    sweep = {}
    for g in ([] if args.guidance else GUIDANCE_CANDIDATES):
        verdict = judge(critic, domain, sample_images(model, domain, sweep_params, g, EVAL_SEED + 10, manifest=shipped_manifest), sweep_params)
        score = float(np.mean(list(verdict["attributeAccuracy"].values()))) + (verdict["medianBoxIoU"] or 0)
        sweep[str(g)] = {"attributeAccuracy": verdict["attributeAccuracy"], "medianBoxIoU": verdict["medianBoxIoU"],
                         "score": round(score, 4)}
        log(f"guidance {g}: {sweep[str(g)]}")
    guidance = args.guidance or float(max(GUIDANCE_CANDIDATES, key=lambda g: sweep[str(g)]["score"]))
    # A calibration map serves the guidance it was measured at (model.json's measuredAt; brain-mri's lesion contrast:
    # training/README.md section 14, where guidance was chosen on the library's validity and the contrast error, which
    # this sweep's score does not see): the sweep is reported, but does not move the default away from the map.
    measured_at = {f["calibration"]["measuredAt"]["guidance"] for f in fields if (f.get("calibration") or {}).get("measuredAt")}
    if measured_at and not args.guidance:
        guidance = float(measured_at.pop())
        log(f"guidance {guidance}: the scale the calibration map was measured at (the sweep's best is reported only)")
    chosen = json.load(open(package.GUIDANCE_PATH)) if os.path.exists(package.GUIDANCE_PATH) else {}
    chosen[name] = guidance
    with open(package.GUIDANCE_PATH, "w") as f:
        f.write(json.dumps(chosen, indent=2) + "\n")
    shipped = shipped_manifest["defaults"]["guidance"]
    if guidance != shipped:
        log(f"guidance default {shipped} -> {guidance}: re-exporting {name} and its fixtures")
        package.build(name, os.path.join(CHECKPOINTS, name), log=log)   # defaults.guidance and the DDIM fixture use it

    # 2. Balanced grid at the shipped defaults; the generator's renders of the same conditions are the ceiling.
    samples = sample_images(model, domain, params, guidance, EVAL_SEED, manifest=shipped_manifest)
    real = render_images(domain, params, EVAL_SEED)
    model_verdict, real_verdict = judge(critic, domain, samples, params), judge(critic, domain, real, params)
    log(f"model samples: {model_verdict['attributeAccuracy']} IoU {model_verdict['medianBoxIoU']}")
    log(f"generator images: {real_verdict['attributeAccuracy']} IoU {real_verdict['medianBoxIoU']}")
    to_uint8 = lambda x: ((x + 1) * 127.5).round().clamp(0, 255).byte().numpy()  # noqa: E731
    detector_on_samples = detector_figures(detector, domain, to_uint8(samples), params)

    # 3. Detector on a larger held-out set of generator images.
    detector_on_real = detector_figures(detector, domain, held_out_images, held_out_params)
    log(f"detector on generator images: {detector_on_real['all']['all']}")

    # Sample grids: one row per class value, one column per cell of the other attributes (road) or draw (brain).
    cols = 12
    if domain.name == "road":
        pick = [i for i in range(len(params)) if i % per_cell == 0]            # first draw of each of the 84 cells
        rows = len(domain.layout.field("hazard")["values"])
    else:
        pick = [c * per_cell + j for c in range(4) for j in range(cols)]
        rows = 4
    grid_files = {}
    for label, images in (("samples", samples), ("generator", real)):
        path = os.path.join(REPORTS_DIR, f"{name}-{label}.png")
        save_grid(images[pick], rows, cols, path)
        grid_files[label] = os.path.relpath(path, os.path.dirname(TRAINING_DIR))

    report_path = os.path.join(REPORTS_DIR, f"{name}-eval.json")
    report = {
        "model": name, "command": f"python3 training/evaluate.py {name}",
        "sampler": "ddim", "steps": STEPS, "guidance": guidance, "guidanceSweep": sweep,
        "grid": f"every combination of hazard x weather x timeOfDay, {per_cell} draws each" if domain.name == "road"
                else f"each pathology, {per_cell} draws each",
        "judge": {"name": critic_name, **judge_figures},
        "modelSamples": model_verdict, "generatorImages": real_verdict,
        "detector": {"name": detector_name, "generatorImages": detector_on_real, "modelSamples": detector_on_samples,
                     "heldOutGeneratorImages": len(held_out_params),
                     "rules": "score >= 0.25, per-class NMS at IoU 0.45, a hit is the right class at IoU >= 0.5"},
        "targets": TARGETS,
        "grids": grid_files, "wallTimeSeconds": round(time.time() - started, 1),
    }
    json.dump(report, open(report_path, "w"), indent=2)
    apply_report(report_path)
    log(f"wrote {report_path} in {time.time() - started:.0f}s")


def candidate_main(args, name, domain):
    """--candidate: the balanced grid sampled from the candidate checkpoint and from the shipped weights, from the same
    noise, at the shipped defaults and as served; the renders of the same requests are the ceiling."""
    started = time.time()
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [{name} candidate] {msg}", flush=True)  # noqa: E731
    _, critic_name = SIBLINGS[name]
    with tempfile.TemporaryDirectory() as tmp:     # the shipped weights, whatever training/checkpoints holds
        critic = from_onnx.checkpoint_from_package(critic_name, os.path.join(tmp, critic_name), log=log).eval()
        shipped_model = from_onnx.checkpoint_from_package(name, os.path.join(tmp, name), log=log).eval()
    manifest = json.load(open(os.path.join(package.MODELS_DIR, name, "model.json")))
    guidance = float(manifest["defaults"]["guidance"])
    per_cell = args.per_cell or (7 if domain.name == "road" else 128)
    params = balanced_grid(domain, per_cell, np.random.default_rng(EVAL_SEED))
    verdicts = {}
    candidate, candidate_step, _ = diffusion.load_trained(domain, args.candidate)
    for label, model, step, where in (
            ("candidate", candidate, candidate_step, os.path.relpath(args.candidate, os.path.dirname(TRAINING_DIR))),
            ("shipped", shipped_model, manifest["provenance"]["trainingSteps"], f"models/{name} {manifest['version']}")):
        verdicts[label] = {"weights": where, "trainingSteps": int(step),
                           **judge(critic, domain, sample_images(model, domain, params, guidance, EVAL_SEED, manifest=manifest), params)}
        log(f"{label} (step {step}): {verdicts[label]['accuracyByValue']} IoU {verdicts[label]['medianBoxIoU']}")
    verdicts["generatorImages"] = judge(critic, domain, render_images(domain, params, EVAL_SEED), params)
    report_path = os.path.join(REPORTS_DIR, f"{name}-candidate-eval.json")
    report = {"model": name, "command": f"python3 training/evaluate.py {name} --candidate {args.candidate}",
              "shippedVersion": manifest["version"], "sampler": "ddim", "steps": STEPS, "guidance": guidance,
              "servedAs": "the shipped manifest's calibration map and feedback", "judge": critic_name,
              "grid": f"each pathology, {per_cell} draws each" if domain.name == "brain" else f"{per_cell} per cell",
              **verdicts, "wallTimeSeconds": round(time.time() - started, 1)}
    with open(report_path, "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    log(f"wrote {report_path}")


LESION_BANDS = {"lesionContrast": [0.25, 0.3, 0.35, 0.4, 0.5, 0.7, 1.0], "radiusPx": [3, 4, 4.5, 5, 6, 7, 9]}


def banded(ok, values, edges):
    """Accuracy (and count) of ok per half-open band [edges[i], edges[i+1])."""
    out = {}
    for lo, hi in zip(edges, edges[1:]):
        m = (values >= lo) & (values < hi)
        if m.any():
            out[f"{lo}-{hi}"] = {"accuracy": round(float(ok[m].mean()), 4), "n": int(m.sum())}
    return out


def critic_candidate_main(args, name, domain):
    """--candidate for a critic: the candidate checkpoint next to the shipped critic on the same images. (1) held-out
    renders (seed EVAL_SEED), as rendered and with the training blur/noise; (2) 3000 lesion renders (seed
    EVAL_SEED + 20) by contrast and radius band, where brain-critic 1.2.0 reads faint and small lesions as none; (3) a
    shortcut check: every pathology drawn at the radii all three share, so its size does not tell the class; (4) the
    shipped diffusion model's balanced grid as served (the figure issue 17's brain targets are measured by) and the
    renders of the same requests."""
    if domain.name != "brain":
        raise SystemExit("--candidate for a critic: brain-critic only")
    started = time.time()
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [{name} candidate] {msg}", flush=True)  # noqa: E731
    model_name = next(m for m, (_, c) in SIBLINGS.items() if c == name)
    with tempfile.TemporaryDirectory() as tmp:     # the shipped weights, whatever training/checkpoints holds
        shipped = from_onnx.checkpoint_from_package(name, os.path.join(tmp, name), log=log).eval()
        model = from_onnx.checkpoint_from_package(model_name, os.path.join(tmp, model_name), log=log).eval()
    candidate, candidate_step, _ = perception.load_trained("critic", domain, args.candidate)
    critic_manifest = json.load(open(os.path.join(package.MODELS_DIR, name, "critic.json")))
    critics = {"candidate": candidate, "shipped": shipped}
    report = {"critic": name, "command": f"python3 training/evaluate.py {name} --candidate {args.candidate}",
              "shippedVersion": critic_manifest["version"],
              "weights": {"candidate": os.path.relpath(args.candidate, os.path.dirname(TRAINING_DIR)) + f" (step {candidate_step})",
                          "shipped": f"models/{name} {critic_manifest['version']} (step {critic_manifest['provenance']['trainingSteps']})"}}

    images, params = domain.dataset(HELD_OUT, EVAL_SEED)
    x = torch.from_numpy(images).float() / 127.5 - 1.0
    x_aug = perception.augment_for_critic(x, torch.Generator().manual_seed(EVAL_SEED))
    report["heldOut"] = {label: {"rendered": judge(c, domain, x, params), "withTrainingAugmentation": judge(c, domain, x_aug, params)}
                         for label, c in critics.items()}
    for label in critics:
        log(f"held-out, {label}: {report['heldOut'][label]['rendered']['accuracyByValue']}")

    rng = np.random.default_rng(EVAL_SEED + 20)
    lesion_params = [domain.draw(rng, pathology="lesions") for _ in range(3000)]
    lx = render_images(domain, lesion_params, EVAL_SEED + 21)
    contrast = np.array([p["lesionContrast"] for p in lesion_params])
    radius = np.array([p["lesionRadius"] for p in lesion_params]) * 64
    report["lesions"] = {}
    for label, c in critics.items():
        found = [domain.layout.decode(v) for v in perception.read_batched(c, lx).numpy()]
        ok = np.array([f["pathology"] == "lesions" for f in found])
        misread = dict(Counter(f["pathology"] for f, o in zip(found, ok) if not o))
        report["lesions"][label] = {"accuracy": round(float(ok.mean()), 4), "n": len(ok), "misreadAs": misread,
                                    "byContrast": banded(ok, contrast, LESION_BANDS["lesionContrast"]),
                                    "byRadiusPx": banded(ok, radius, LESION_BANDS["radiusPx"])}
        log(f"lesion renders, {label}: {report['lesions'][label]['accuracy']} misread as {misread}")

    # Every pathology with a lesion at the radii all of them may have (brain.RADIUS_BY_PATHOLOGY's overlap).
    ranges = domain.generator.RADIUS_BY_PATHOLOGY.values()
    shared = (max(lo for lo, _ in ranges), min(hi for _, hi in ranges))
    rng = np.random.default_rng(EVAL_SEED + 30)
    shared_params = []
    for p in list(domain.generator.RADIUS_BY_PATHOLOGY) * 300:
        q = domain.draw(rng, pathology=p)
        while not shared[0] <= q["lesionRadius"] <= shared[1]:    # redrawn whole: the centre is placed for its radius
            q = domain.draw(rng, pathology=p)
        shared_params.append(q)
    sx = render_images(domain, shared_params, EVAL_SEED + 31)
    report["sharedRadii"] = {"radiusRange": [round(v, 4) for v in shared],
                             **{label: judge(c, domain, sx, shared_params) for label, c in critics.items()}}
    for label in critics:
        log(f"shared radii, {label}: {report['sharedRadii'][label]['accuracyByValue']}")

    manifest = json.load(open(os.path.join(package.MODELS_DIR, model_name, "model.json")))
    guidance = float(manifest["defaults"]["guidance"])
    grid = balanced_grid(domain, args.per_cell or 128, np.random.default_rng(EVAL_SEED))
    samples = sample_images(model, domain, grid, guidance, EVAL_SEED, manifest=manifest)
    renders = render_images(domain, grid, EVAL_SEED)
    report["modelGrid"] = {"model": f"{model_name} {manifest['version']}", "sampler": "ddim", "steps": STEPS,
                           "guidance": guidance, "servedAs": "the shipped manifest's calibration map and feedback",
                           "grid": f"each pathology, {args.per_cell or 128} draws each",
                           **{label: {"modelSamples": judge(c, domain, samples, grid), "generatorImages": judge(c, domain, renders, grid)}
                              for label, c in critics.items()}}
    for label in critics:
        log(f"{model_name} grid, {label}: samples {report['modelGrid'][label]['modelSamples']['accuracyByValue']}, "
            f"renders {report['modelGrid'][label]['generatorImages']['accuracyByValue']}")
    report["wallTimeSeconds"] = round(time.time() - started, 1)
    report_path = os.path.join(REPORTS_DIR, f"{name}-candidate-eval.json")
    with open(report_path, "w") as f:
        f.write(json.dumps(report, indent=2) + "\n")
    log(f"wrote {report_path}")


def library_main(args):
    name = args.package
    _, domain = PACKAGES[name]
    log = lambda msg: print(f"{time.strftime('%H:%M:%S')} [{name} library eval] {msg}", flush=True)  # noqa: E731
    conditions = library_conditions(domain)
    manifest = json.load(open(os.path.join(package.MODELS_DIR, name, "model.json")))
    if args.sample_only:
        shard, shards = (int(v) for v in args.shard.split("/"))
        label = args.label or manifest["version"]
        model, step, _ = diffusion.load_trained(domain, args.checkpoint or os.path.join(CHECKPOINTS, name))
        guidance = args.guidance or manifest["defaults"]["guidance"]
        library_sample(model, domain, conditions, guidance, label, shard, shards, log)
        meta = os.path.join(SAMPLES_DIR, f"{label}.json")
        json.dump({"label": label, "checkpointStep": int(step), "guidance": guidance, "checkpoint": args.checkpoint}, open(meta, "w"))
        return
    critic_name = SIBLINGS[name][1]
    # the shipped critic package, as the service's realism gate judges: the whole-frame critic and its look
    with tempfile.TemporaryDirectory() as tmp:
        critic = from_onnx.checkpoint_from_package(critic_name, tmp).eval()
    critic_manifest = json.load(open(os.path.join(package.MODELS_DIR, critic_name, "critic.json")))
    look = look_module.shipped(critic_name)
    labels = args.compare or [manifest["version"]]
    judge = f"{critic_name} {critic_manifest['version']}" + (" with its look (the class at the requested place)" if look else "")
    report = {"model": name, "judge": judge, "perCell": LIBRARY_PER_CELL,
              "perScenario": LIBRARY_PER_SCENARIO, "sampler": "ddim", "steps": STEPS, "librarySeed": LIBRARY_SEED,
              "command": f"python3 training/evaluate.py {name} --library --compare {' '.join(labels)}",
              "models": {}, "meta": {}}
    for label in labels:
        images = load_library_samples(label, len(conditions))
        report["models"][label] = library_tables(critic, domain, images, conditions, look)
        meta = os.path.join(SAMPLES_DIR, f"{label}.json")
        report["meta"][label] = json.load(open(meta)) if os.path.exists(meta) else {}
        log(f"{label}: {report['models'][label]['overall']} per class "
            + str({k: v['hazard'] for k, v in report['models'][label]['perClass'].items()}))
    real = render_images(domain, [c for c, _, _ in conditions], LIBRARY_SEED)
    report["generator"] = library_tables(critic, domain, real, conditions, look)
    log(f"generator renders: {report['generator']['overall']}")
    os.makedirs(REPORTS_DIR, exist_ok=True)
    report_name = args.report_name or f"{name}-library-eval"
    if args.report_name:
        report["command"] += f" --report-name {args.report_name}"
    path = os.path.join(REPORTS_DIR, f"{report_name}.json")
    json.dump(report, open(path, "w"), indent=2)
    open(os.path.join(REPORTS_DIR, f"{report_name}.md"), "w").write(library_markdown(report))
    log(f"wrote {path} and the .md tables")
    current = manifest["version"]
    if current in report["models"] and not args.report_name:
        # The shipped version's own figures at the library's ranges go into its manifest.
        t = report["models"][current]
        update_manifest(os.path.join(package.MODELS_DIR, name, "model.json"), {
            "libraryRanges": {"report": os.path.relpath(path, os.path.dirname(TRAINING_DIR)), "judge": report["judge"],
                              "sampler": "ddim", "steps": STEPS, "guidance": report["meta"].get(current, {}).get("guidance"),
                              "samples": t["overall"]["samples"], "overall": t["overall"],
                              "perClass": {k: v["hazard"] for k, v in t["perClass"].items()},
                              "againstTargets": t["againstTargets"]}}, merge=True)


if __name__ == "__main__":
    main()
