"""What a brain judge reads on brain-mri's empty samples: python3 training/empty_reads.py --candidate DIR [--out report.json]

brain-mri's balanced grid as served (evaluate.py's: each pathology 128 draws, seed EVAL_SEED, DDIM 25 at the
manifest's guidance, the same noise per index) is sampled once, its none and lesions rows; the shipped brain-critic and a candidate checkpoint
read its 128 empty samples (pathology none). Where a judge reads a pathology in an empty sample, is there a blob?
Two measures at the place it points to (its circle: centre and radius):
- the pixels alone: the mean inside the circle over the median of the ring of tissue around it (1.25-1.9 radii,
  contrast_meter's ring), minus 1 (0: as bright as its surroundings);
- contrast_meter version 2 (the sharper contrast judge, section 16), reading the circle as `lesions`.
Each against two references in the same samples: the same measures at circles drawn as the renderer draws `lesions`
(centre and radius) in the empty samples neither judge flags (what texture alone gives; and each such sample's brightest place among SCAN_PLACES circles, since a judge picks
its place), and at the requested circle
of the grid's `lesions` samples that the shipped judge reads as lesions (what a drawn lesion gives). A flagged place
whose readings sit inside the texture's range holds no blob the model drew; one inside the lesions' range does.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import contrast_meter  # noqa: E402
import evaluate  # noqa: E402
from rareforge_train import from_onnx, package, perception, served  # noqa: E402
from rareforge_train.domains import EVAL_SEED, PACKAGES  # noqa: E402

PER_CELL = 128          # evaluate.py's brain grid
TEXTURE_PLACES = 8      # reference circles per unflagged empty sample
SCAN_PLACES = 200       # circles per quiet sample for its brightest place
TEXTURE_SEED = EVAL_SEED + 40


def disc_over_ring(image, cx, cy, radius):
    """image [H, W] in [0, 1]; the circle in fractions of the width: mean inside / ring median - 1."""
    d = served._distances(image.shape[1], (cx, cy, radius))
    inside = image[d <= 1.0]
    level = served.ring_level(image, (cx, cy, radius), contrast_meter.RING, d)
    return float(inside.mean() / max(level, 0.05) - 1.0) if inside.size else 0.0


def read(critic, domain, images):
    return [domain.layout.decode(v) for v in perception.read_batched(critic, images).numpy()]


def summary(values):
    v = np.asarray(values, dtype=float)
    if not v.size:
        return {"n": 0}
    return {"n": int(v.size), "median": round(float(np.median(v)), 4), "p5": round(float(np.percentile(v, 5)), 4),
            "p95": round(float(np.percentile(v, 95)), 4), "max": round(float(v.max()), 4)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", required=True, help="brain-critic checkpoint directory (best.pt or last.pt)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", help="write the report here (JSON)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    _, domain = PACKAGES["brain-mri"]
    with tempfile.TemporaryDirectory() as tmp:
        shipped = from_onnx.checkpoint_from_package("brain-critic", os.path.join(tmp, "c")).eval()
        model = from_onnx.checkpoint_from_package("brain-mri", os.path.join(tmp, "m")).eval()
    candidate, step, _ = perception.load_trained("critic", domain, args.candidate)
    manifest = json.load(open(os.path.join(package.MODELS_DIR, "brain-mri", "model.json")))
    critic_version = json.load(open(os.path.join(package.MODELS_DIR, "brain-critic", "critic.json")))["version"]
    full = evaluate.balanced_grid(domain, PER_CELL, np.random.default_rng(EVAL_SEED))
    # the grid's empty and lesions rows only (each a block of PER_CELL), each from the noise evaluate.py gives it
    blocks = [next(i for i, p in enumerate(full) if p["pathology"] == name) for name in ("none", "lesions")]
    grid = [p for first in blocks for p in full[first:first + PER_CELL]]
    guidance = float(manifest["defaults"]["guidance"])
    samples = torch.cat([evaluate.sample_images(model, domain, full[first:first + PER_CELL], guidance, EVAL_SEED,
                                                manifest=manifest, first_index=first) for first in blocks])
    pixels = ((samples[:, 0].numpy() + 1.0) / 2.0).astype(np.float64)
    reads = {"shipped": read(shipped, domain, samples), "candidate": read(candidate, domain, samples)}
    meter = contrast_meter.ContrastMeter(contrast_meter.WEIGHTS_2)

    def measures(i, cx, cy, radius):
        return disc_over_ring(pixels[i], cx, cy, radius), meter.measure(pixels[i], "lesions", cx, cy, radius)

    empty = [i for i, p in enumerate(grid) if p["pathology"] == "none"]
    flagged = {label: [i for i in empty if r[i]["pathology"] != "none"] for label, r in reads.items()}
    report = {"command": f"python3 training/empty_reads.py --candidate {args.candidate}",
              "model": f"brain-mri {manifest['version']}", "guidance": manifest["defaults"]["guidance"],
              "judges": {"shipped": f"brain-critic {critic_version}", "candidate": f"{os.path.relpath(args.candidate)} (step {step})"},
              "emptySamples": len(empty), "flagged": {}}
    for label, idx in flagged.items():
        rows = []
        for i in idx:
            f = reads[label][i]
            pixel, meter_reading = measures(i, f["lesionX"], f["lesionY"], f["lesionRadius"])
            rows.append({"index": i, "readAs": f["pathology"], "radiusPx": round(f["lesionRadius"] * 64, 2),
                         "criticContrast": round(float(f["lesionContrast"]), 3),
                         "discOverRing": round(pixel, 4), "meterContrast": round(meter_reading, 4)})
        report["flagged"][label] = rows
    quiet = [i for i in empty if all(i not in f for f in flagged.values())]
    rng = np.random.default_rng(TEXTURE_SEED)
    texture = [measures(i, c["lesionX"], c["lesionY"], c["lesionRadius"])
               for i in quiet for c in (domain.draw(rng, pathology="lesions") for _ in range(TEXTURE_PLACES))]
    lesions = [measures(i, p["lesionX"], p["lesionY"], p["lesionRadius"]) for i, p in enumerate(grid)
               if p["pathology"] == "lesions" and reads["shipped"][i]["pathology"] == "lesions"]
    report["texture"] = {"what": f"{TEXTURE_PLACES} renderer-drawn lesions circles in each of the {len(quiet)} empty samples no judge flags",
                         "discOverRing": summary([t[0] for t in texture]), "meterContrast": summary([t[1] for t in texture])}
    # A judge picks its place, so a fair reference for its pick is each quiet sample's brightest place among many:
    # the largest reading over SCAN_PLACES renderer-drawn lesions circles per sample.
    scans = np.array([[disc_over_ring(pixels[i], c["lesionX"], c["lesionY"], c["lesionRadius"])
                       for c in (domain.draw(rng, pathology="lesions") for _ in range(SCAN_PLACES))] for i in quiet])
    report["textureScan"] = {"what": f"the largest disc-over-ring reading among {SCAN_PLACES} renderer-drawn lesions circles "
                                     f"in each of the {len(quiet)} empty samples no judge flags",
                             "discOverRing": summary(scans.max(1))}
    report["drawnLesions"] = {"what": "the requested circle of the grid's lesions samples the shipped judge reads as lesions",
                              "discOverRing": summary([t[0] for t in lesions]), "meterContrast": summary([t[1] for t in lesions])}
    for label, rows in report["flagged"].items():
        for key in ("discOverRing", "meterContrast"):
            ref = np.array([t[0 if key == "discOverRing" else 1] for t in texture])
            for r in rows:   # the share of texture places that read at least as high
                r[f"{key}TextureShareAbove"] = round(float((ref >= r[key]).mean()), 4)
        for r in rows:       # the share of quiet samples with a place at least as bright
            r["discOverRingQuietSamplesWithBrighterPlace"] = round(float((scans.max(1) >= r["discOverRing"]).mean()), 4)
    report["wallTimeSeconds"] = round(time.time() - started, 1)
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        open(args.out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
