"""Reads the brain critic where users ask: python3 training/critic_at_library.py [--critic LABEL=DIR ...] [--samples]

Every (medical scenario, pathology) cell of the scenario library, drawn as the service draws it
(library.brain_cells: the scenario's own draws, seed 1703, disjoint from the gate's 1701/1702), rendered exactly by the
generator and, with --samples, sampled by the shipped brain-mri as it is served (its defaults, calibration map and
feedback). Each critic (the shipped brain-critic, recovered from its ONNX file, and each --critic checkpoint
directory, e.g. training/checkpoints/brain-critic) reads the pathology of every image: per cell, the share read as
requested and what the rest were read as. A judge whose reading of a cell's exact renders is under its bar (97 %)
cannot tell that cell's samples apart; its gate has to let those through.

Writes training/reports/<--report-name>.json (default brain-critic-at-library).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import evaluate  # noqa: E402
from rareforge_train import from_onnx, library, package, perception  # noqa: E402
from rareforge_train.domains import PACKAGES  # noqa: E402

TRAINING_DIR = os.path.dirname(os.path.abspath(__file__))
SEED = evaluate.LIBRARY_RENDER_SEED


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--critic", action="append", default=[], metavar="LABEL=DIR",
                        help="a critic checkpoint directory (best.pt, else last.pt) to read beside the shipped one")
    parser.add_argument("--per-cell", type=int, default=evaluate.LIBRARY_RENDERS_PER_CELL)
    parser.add_argument("--samples", action="store_true", help="also sample every request with the shipped brain-mri")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--report-name", default="brain-critic-at-library")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    _, domain = PACKAGES["brain-critic"]
    critics = {}
    for pair in args.critic:
        label, sep, path = pair.partition("=")
        if not sep or not any(os.path.isfile(os.path.join(path, f)) for f in ("best.pt", "last.pt")):
            parser.error(f"--critic {pair}: expected LABEL=DIR, a checkpoint directory holding best.pt or last.pt")
        critics[label] = perception.load_trained("critic", domain, path)[0]
    manifest = json.load(open(os.path.join(package.MODELS_DIR, "brain-critic", "critic.json")))
    with tempfile.TemporaryDirectory() as tmp:
        critics[f"shipped {manifest['version']}"] = from_onnx.checkpoint_from_package(
            "brain-critic", os.path.join(tmp, "critic")).eval()
        model = from_onnx.checkpoint_from_package("brain-mri", os.path.join(tmp, "model")).eval() if args.samples else None

    requests = library.brain_cells(args.per_cell, SEED)
    params, cells = [r[0] for r in requests], [r[1] for r in requests]
    images = {"renders": evaluate.render_images(domain, params, SEED)}
    report = {"command": "python3 training/critic_at_library.py " + " ".join(sys.argv[1:]), "seed": SEED,
              "perCell": args.per_cell, "critics": list(critics)}
    if model is not None:
        served = json.load(open(os.path.join(package.MODELS_DIR, "brain-mri", "model.json")))
        guidance = float(served["defaults"]["guidance"])
        images["samples"] = evaluate.sample_images(model, domain, params, guidance, SEED, manifest=served)
        report["samples"] = {"model": f"brain-mri {served['version']}", "sampler": "ddim", "steps": evaluate.STEPS,
                             "guidance": guidance, "servedAs": "the shipped manifest's calibration map and feedback"}
    for what, x in images.items():
        report[what] = {label: evaluate.library_cell_reading(c, domain, x, cells) for label, c in critics.items()}
        for label in critics:
            print(f"{what}, {label}: " + ", ".join(f"{cell} {v['read']:.3f}" for cell, v in report[what][label].items()),
                  flush=True)
    report["wallTimeSeconds"] = round(time.time() - started, 1)
    path = os.path.join(TRAINING_DIR, "reports", f"{args.report_name}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(f"wrote {os.path.relpath(path, os.path.dirname(TRAINING_DIR))}")


if __name__ == "__main__":
    main()
