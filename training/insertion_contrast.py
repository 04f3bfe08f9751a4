"""Lesion contrast of pathologies inserted into scans (the product's insertPathology), with and without the
manifest's feedback: python3 training/insertion_contrast.py <scans|report>

The feedback of training/README.md section 18 was chosen on the model's own samples. Insertion inpaints a lesion
into a scan the model did not draw: the ring the feedback reads is real tissue there. This measures what it does
on the one kind of scan whose truth is known, the renderer's own slices:

scans    Renders SLICES brain slices without a pathology (the renderer's anatomy, one seed each) and, per slice,
         one lesion geometry per pathology at each requested contrast (GRID_CONTRASTS, as contrast_calibration
         draws them), into training/data/insertion-scans.json (stored values 0..4095, as the package stores them).
         bench/feedback/insertion.ts writes each slice as a DICOM (MR_small's header, these pixels), uploads it and
         inserts every request through ReferenceScanService.insertPathology at the product defaults, once with the
         shipped manifest and once with its feedback stripped, into training/data/insertion-results.json.
report   Reads the inserted lesions' contrast with the judge (contrast_meter version 2, which the feedback does not
         read) and their pathology with brain-critic, next to the renderer's own image of the same slice with the
         same lesion (the anatomy drawn from the same seed): training/reports/brain-mri-insertion-contrast.json.
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
from contrast_calibration import GRID_CONTRASTS, PATHOLOGIES, table  # noqa: E402
from procedural import brain  # noqa: E402
from rareforge_train import from_onnx, package  # noqa: E402
from rareforge_train.domains import BRAIN  # noqa: E402

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
DATA_DIR = os.path.join(TRAINING_DIR, "data")
SCANS = os.path.join(DATA_DIR, "insertion-scans.json")
RESULTS = os.path.join(DATA_DIR, "insertion-results.json")
REPORT = os.path.join(TRAINING_DIR, "reports", "brain-mri-insertion-contrast.json")
SLICES = 12
SEED = 31            # slices' anatomy: SEED * 1000 + slice; geometries: SEED
STORED_MAX = 4095    # models/brain-mri image.storedRange


def render_slice(index, condition=None):
    """Slice `index`'s anatomy (its own seed), without a pathology or with condition's; [0, 1] float [64, 64]."""
    rng = np.random.default_rng(SEED * 1000 + index)
    return brain.render(condition or {"pathology": "none"}, rng)[0]


def scans(slices=SLICES):
    rng = np.random.default_rng(SEED)
    out = {"slices": [], "requests": [], "storedMax": STORED_MAX, "seed": SEED}
    for s in range(slices):
        out["slices"].append([int(v) for v in np.round(render_slice(s) * STORED_MAX).astype(np.int64).ravel()])
        for pathology in PATHOLOGIES:
            geometry = BRAIN.draw(rng, pathology=pathology)
            for c in GRID_CONTRASTS:
                out["requests"].append({"slice": s, **geometry, "lesionContrast": c})
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(SCANS, "w") as f:
        json.dump(out, f)
    print(f"wrote {len(out['slices'])} slices and {len(out['requests'])} requests to {os.path.relpath(SCANS, package.REPO)}")


def critic_accuracy(critic, images, requests):
    with torch.no_grad():
        predicted = critic(torch.from_numpy(images[:, None] * 2 - 1).float()).numpy()
    found = [BRAIN.layout.decode(v)["pathology"] for v in predicted]
    right = [f == r["pathology"] for f, r in zip(found, requests)]
    share = lambda keep: round(float(np.mean([ok for ok, r in zip(right, requests) if keep(r)])), 4)  # noqa: E731
    return {"all": share(lambda r: True), **{p: share(lambda r, p=p: r["pathology"] == p) for p in PATHOLOGIES},
            "byRequested": {f"{c:.2f}": share(lambda r, c=c: np.isclose(r["lesionContrast"], c)) for c in GRID_CONTRASTS}}


def report():
    if not os.path.exists(RESULTS):
        raise SystemExit(f"no insertions ({os.path.relpath(RESULTS, package.REPO)}): run "
                         "node --import tsx bench/feedback/insertion.ts first")
    scans_data, results = json.load(open(SCANS)), json.load(open(RESULTS))
    requests = scans_data["requests"]
    judge = contrast_meter.ContrastMeter(contrast_meter.WEIGHTS_2)
    with tempfile.TemporaryDirectory() as tmp:     # the shipped critic, whatever training/checkpoints holds
        critic = from_onnx.checkpoint_from_package("brain-critic", os.path.join(tmp, "brain-critic")).eval()
    measure = lambda imgs: np.array([judge.measure(img, r["pathology"], r["lesionX"], r["lesionY"], r["lesionRadius"])  # noqa: E731
                                     for img, r in zip(imgs, requests)])
    images = {"exactRenders": np.stack([render_slice(r["slice"], {k: v for k, v in r.items() if k != "slice"})
                                        for r in requests])}
    for variant in ("feedback", "plain"):
        images[variant] = np.array(results[variant], dtype=np.float32).reshape(-1, 64, 64) / scans_data["storedMax"]
    out = {"question": __doc__.split("\n\n")[1].replace("\n", " "),
           "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "model": results["model"], "settings": results["settings"], "requests": len(requests),
           "slices": len(scans_data["slices"]), "commands": [
               "/usr/bin/python3 training/insertion_contrast.py scans",
               "node --import tsx bench/feedback/insertion.ts",
               "/usr/bin/python3 training/insertion_contrast.py report"]}
    for name, imgs in images.items():
        measured = measure(imgs)
        out[name] = {"judge": table(requests, measured), "brainCriticPathology": critic_accuracy(critic, imgs, requests)}
        judged = out[name]["judge"]
        by_pathology = ", ".join(f"{p} {v['mae']:.4f}" for p, v in judged["byPathology"].items())
        print(f"{name}: judge MAE {judged['mae']:.4f} bias {judged['bias']:+.4f} ({by_pathology}); "
              f"brain-critic pathology {out[name]['brainCriticPathology']}")
    with open(REPORT, "w") as f:
        f.write(json.dumps(out, indent=2) + "\n")
    print(f"wrote {os.path.relpath(REPORT, package.REPO)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["scans", "report"])
    parser.add_argument("--slices", type=int, default=SLICES)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    scans(args.slices) if args.command == "scans" else report()


if __name__ == "__main__":
    main()
