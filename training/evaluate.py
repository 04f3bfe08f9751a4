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
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from rareforge_train import diffusion, from_onnx, package, perception  # noqa: E402
from rareforge_train.domains import EVAL_SEED, PACKAGES  # noqa: E402

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
REPORTS_DIR = os.path.join(TRAINING_DIR, "reports")
CHECKPOINTS = os.path.join(TRAINING_DIR, "checkpoints")
GUIDANCE_CANDIDATES = [1.5, 3.0, 5.0]
STEPS = 25
SIBLINGS = {"road-hazards": ("road-detector", "road-critic"), "brain-mri": ("brain-detector", "brain-critic")}
CRITICS = {critic: model for model, (_, critic) in SIBLINGS.items()}
HELD_OUT = 2000          # held-out generator images (seed EVAL_SEED) for the critic's and the detector's own figures
TARGETS = {"attributeAccuracy": 0.95, "medianBoxIoU": 0.6}


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


def sample_images(model, domain, params, guidance, seed, batch=48):
    """DDIM samples for params, each from noise keyed by (seed, index); returns model space [-1,1]."""
    conditions = torch.from_numpy(np.stack([domain.layout.encode(p) for p in params]))
    out = []
    for start in range(0, len(params), batch):
        n = min(batch, len(params) - start)
        noise = torch.stack([torch.randn((domain.channels, 64, 64), generator=torch.Generator().manual_seed(seed * 100003 + start + i))
                             for i in range(n)])
        out.append(diffusion.ddim_sample(model, noise, conditions[start:start + n], steps=STEPS, guidance=guidance))
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
    for p, vec in zip(params, predicted):
        found = domain.layout.decode(vec)
        for a in attributes:
            ok = found[a] == p[a]
            correct[a].append(ok)
            per_value[a].setdefault(p[a], []).append(ok)
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
        "bar": TARGETS, "validJudge": figures["validJudge"]})
    return figures


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


def update_manifest(path, evaluation, merge=False):
    manifest = json.load(open(path))
    manifest["evaluation"] = {**(manifest.get("evaluation") or {}), **evaluation} if merge else evaluation
    json.dump(manifest, open(path, "w"), indent=2)


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    name = args.package
    _, domain = PACKAGES[name]
    if args.manifest_only:
        apply_report(os.path.join(REPORTS_DIR, f"{name}-eval.json"))
        return
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

    # 1. Guidance sweep on a small balanced grid.
    sweep = {}
    for g in ([] if args.guidance else GUIDANCE_CANDIDATES):
        verdict = judge(critic, domain, sample_images(model, domain, sweep_params, g, EVAL_SEED + 10), sweep_params)
        score = float(np.mean(list(verdict["attributeAccuracy"].values()))) + (verdict["medianBoxIoU"] or 0)
        sweep[str(g)] = {"attributeAccuracy": verdict["attributeAccuracy"], "medianBoxIoU": verdict["medianBoxIoU"],
                         "score": round(score, 4)}
        log(f"guidance {g}: {sweep[str(g)]}")
    guidance = args.guidance or float(max(GUIDANCE_CANDIDATES, key=lambda g: sweep[str(g)]["score"]))
    chosen = json.load(open(package.GUIDANCE_PATH)) if os.path.exists(package.GUIDANCE_PATH) else {}
    chosen[name] = guidance
    json.dump(chosen, open(package.GUIDANCE_PATH, "w"), indent=2)
    shipped = json.load(open(os.path.join(package.MODELS_DIR, name, "model.json")))["defaults"]["guidance"]
    if guidance != shipped:
        log(f"guidance default {shipped} -> {guidance}: re-exporting {name} and its fixtures")
        package.build(name, os.path.join(CHECKPOINTS, name), log=log)   # defaults.guidance and the DDIM fixture use it

    # 2. Balanced grid at the shipped defaults; the generator's renders of the same conditions are the ceiling.
    samples = sample_images(model, domain, params, guidance, EVAL_SEED)
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


if __name__ == "__main__":
    main()
