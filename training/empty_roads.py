"""What the road critic reads on the road model's empty roads, and why: python3 training/empty_roads.py [--steps N]

bench/library's empty-road-control scenario asks road-hazards for roads with no hazard; road-critic reads an
object on many of its samples (training/README sections 7-8), never on renders of the same requests. This script
draws the scenario's own requests (seed 17, as bench/library does), samples the shipped road-hazards weights at
the manifest's defaults (DDIM, its steps and guidance; recovered into torch, verified against the golden fixture),
renders the same requests, and reports:
- what the shipped road-critic reads on each, per weather;
- speckle: the share of pixels whose colour (each channel less the pixel's grey) is 0.05 or more off its 3x3
  median (0..1 units), samples vs renders;
- the size of the debris the critic reads on samples, beside the boxes of the library's smallest debris
  (tyre-debris-in-glare's own draws).

Writes training/reports/road-empty-roads.json and .md (with --steps or --guidance other than the defaults:
road-empty-roads-ddim<steps>-g<guidance>.json and .md).
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

from rareforge_train import diffusion, from_onnx, library, package  # noqa: E402
from rareforge_train.domains import PACKAGES  # noqa: E402

REPORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reports")
SEED, SAMPLES = 17, 48
SPECKLE = 0.05


def median3(x):
    """3x3 median of each channel of x [C, H, W] (edge-padded)."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    h, w = x.shape[1:]
    return np.median(np.stack([padded[:, i:i + h, j:j + w] for i in range(3) for j in range(3)]), axis=0)


def speckle_share(x):
    """Share of pixels whose chroma is SPECKLE or more off its 3x3 median; x in 0..1, [C, H, W]."""
    chroma = x - x.mean(axis=0, keepdims=True)
    return float((np.abs(chroma - median3(chroma)).max(axis=0) >= SPECKLE).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, help="DDIM steps (default: the manifest's)")
    parser.add_argument("--guidance", type=float, help="guidance (default: the manifest's)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.time()
    _, domain = PACKAGES["road-hazards"]
    with tempfile.TemporaryDirectory() as tmp:
        model = from_onnx.checkpoint_from_package("road-hazards", os.path.join(tmp, "model")).eval()
        critic = from_onnx.checkpoint_from_package("road-critic", os.path.join(tmp, "critic")).eval()
    manifest = json.load(open(os.path.join(package.MODELS_DIR, "road-hazards", "model.json")))
    defaults = manifest["defaults"]
    settings = {**defaults, "steps": args.steps or defaults["steps"],
                "guidance": args.guidance if args.guidance is not None else defaults["guidance"]}
    if defaults["sampler"] != "ddim":
        raise SystemExit(f"road-hazards' default sampler is {defaults['sampler']}; this script samples DDIM only")
    spec = next(s for s in library.scenarios("automotive") if s["name"] == "empty-road-control")
    params = [library.to_condition(library.draw_parameters(spec, SEED, i)) for i in range(SAMPLES)]
    conditions = torch.from_numpy(np.stack([domain.layout.encode(p) for p in params]))
    noise = torch.stack([torch.randn((domain.channels, 64, 64), generator=torch.Generator().manual_seed(SEED * 100003 + i))
                         for i in range(SAMPLES)])
    samples = diffusion.ddim_sample(model, noise, conditions, steps=settings["steps"], guidance=settings["guidance"]).clamp(-1, 1)
    samples = ((samples + 1) * 127.5).round() / 255.0
    renders = torch.from_numpy(np.stack([np.round(domain.render(p, np.random.default_rng([SEED, i])) * 255) / 255.0
                                         for i, p in enumerate(params)]).astype(np.float32))
    out = {}
    for label, images in (("samples", samples), ("renders", renders)):
        with torch.no_grad():
            x = images * 2 - 1
            found = [domain.layout.decode(v) for v in critic(x).numpy()]
        reads = [f["hazard"] for f in found]
        arr = images.numpy()
        per_weather = {}
        for p, r in zip(params, reads):
            per_weather.setdefault(p["weather"], []).append(r == "none")
        counts = {}
        for r in reads:
            counts[r] = counts.get(r, 0) + 1
        debris_boxes = [f for f in found if f["hazard"] == "debris"]
        out[label] = {
            "readAs": dict(sorted(counts.items(), key=lambda kv: -kv[1])),
            "readNoneByWeather": {w: f"{sum(v)} of {len(v)}" for w, v in per_weather.items()},
            "speckleShare": round(float(np.mean([speckle_share(a) for a in arr])), 4),
            "debrisReadBoxPx": ([round(float(np.median([b["hazardW"] * 64 for b in debris_boxes])), 1),
                                 round(float(np.median([b["hazardH"] * 64 for b in debris_boxes])), 1)] if debris_boxes else None),
        }
    tyre = next(s for s in library.scenarios("automotive") if s["name"] == "tyre-debris-in-glare")
    sizes = [(p["hazardW"] * 64, p["hazardH"] * 64) for p in
             (library.to_condition(library.draw_parameters(tyre, SEED, i)) for i in range(SAMPLES))]
    report = {
        "command": "python3 training/empty_roads.py" + (f" --steps {args.steps}" if args.steps else "")
                   + (f" --guidance {args.guidance:g}" if args.guidance is not None else ""), "model": f"road-hazards {manifest['version']}",
        "critic": f"road-critic {json.load(open(os.path.join(package.MODELS_DIR, 'road-critic', 'critic.json')))['version']}",
        "scenario": "empty-road-control", "seed": SEED, "samples": SAMPLES, "settings": settings,
        **out,
        "tyreDebrisBoxPx": [round(float(np.median([s[0] for s in sizes])), 1), round(float(np.median([s[1] for s in sizes])), 1)],
        "wallTimeSeconds": round(time.time() - started, 1),
    }
    os.makedirs(REPORTS, exist_ok=True)
    base = os.path.join(REPORTS, "road-empty-roads" + ("" if settings == defaults else f"-ddim{settings['steps']}-g{settings['guidance']:g}"))
    json.dump(report, open(base + ".json", "w"), indent=1)
    s, r, t = report["samples"], report["renders"], report["tyreDebrisBoxPx"]
    md = ["# What road-critic reads on road-hazards' empty roads", "",
          f"Reproduce: `{report['command']}` ({report['model']}, {report['critic']}, `empty-road-control` seed {SEED}, "
          f"{SAMPLES} requests, {settings['sampler']} {settings['steps']} steps, guidance {settings['guidance']})", "",
          "| | samples | renders of the same requests |", "|---|---|---|",
          f"| read as | {s['readAs']} | {r['readAs']} |",
          f"| read none, per weather | {s['readNoneByWeather']} | {r['readNoneByWeather']} |",
          f"| speckle (pixels ≥ {SPECKLE} off their 3×3 median in colour) | {s['speckleShare'] * 100:.2f} % | {r['speckleShare'] * 100:.2f} % |",
          f"| box of the debris it reads (median w × h, px) | {s['debrisReadBoxPx']} | {r['debrisReadBoxPx']} |", "",
          f"The library's smallest debris (tyre-debris-in-glare's own draws): boxes {t[0]} × {t[1]} px (median w × h)."]
    open(base + ".md", "w").write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
