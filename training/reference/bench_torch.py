"""PyTorch side of bench/sampling: images per second of the same model, sampler and steps as the runtime.

  /usr/bin/python3 training/reference/bench_torch.py --package models/road-hazards --batch 8 --steps 20 --threads 2
prints one JSON line. The tiny test packages are rebuilt from export_tiny.py's seeded builders; shipped
packages are loaded from their training checkpoint (training/checkpoints/<name>/last.pt, via
training/rareforge_train), and checked against the package's golden denoiser call so both sides run the
same weights.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from pipeline import sample  # noqa: E402
from schedulers import NoiseSchedule, create_scheduler  # noqa: E402


def load_torch_model(manifest: dict, checkpoints: Path):
    """(denoiser, decoder or None) for a package."""
    name = manifest["name"]
    if name == "tiny-model":
        from export_tiny import build_tiny_rgb
        return build_tiny_rgb(), None
    if name == "tiny-latent":
        from export_tiny import build_tiny_latent
        return build_tiny_latent()
    sys.path.insert(0, str(ROOT / "training"))
    from rareforge_train.diffusion import load_trained  # type: ignore
    from rareforge_train.domains import PACKAGES  # type: ignore
    _, domain = PACKAGES[name]
    checkpoint = checkpoints / name
    if not (checkpoint / "last.pt").exists():
        raise SystemExit(f"no training checkpoint {checkpoint}/last.pt: run python3 training/train.py {name} first, or pass --checkpoints")
    model, _, _ = load_trained(domain, str(checkpoint))
    return model.eval(), None


def golden_error(model, package: Path, name: str, fixtures: Path) -> float | None:
    fixture = fixtures / name
    if name in ("tiny-model", "tiny-latent"):
        fixture = package
    golden_path = fixture / "golden.json"
    if not golden_path.exists():
        return None
    g = json.loads(golden_path.read_text())
    call = g["denoiserCalls"][0]
    read = lambda f, shape: torch.from_numpy(np.fromfile(fixture / f, "<f4").reshape(shape))  # noqa: E731
    with torch.no_grad():
        out = model(read(call["sample"], call["sampleShape"]), torch.tensor(call["timestep"], dtype=torch.float32),
                    read(call["condition"], call["conditionShape"]))
    return float((out - read(call["output"], call["sampleShape"])).abs().max())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--sampler", default="ddim")
    ap.add_argument("--guidance", type=float, default=3.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoints", default=str(ROOT / "training" / "checkpoints"), help="directory of <name>/last.pt training checkpoints")
    ap.add_argument("--fixtures", default=str(ROOT / "test" / "fixtures"), help="directory of <name>/golden.json fixtures")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs; the median and the best are reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    package = Path(args.package).resolve()
    manifest = json.loads((package / "model.json").read_text())
    model, decoder = load_torch_model(manifest, Path(args.checkpoints))
    err = golden_error(model, package, manifest["name"], Path(args.fixtures))
    s = manifest["denoiser"]["schedule"]
    schedule = NoiseSchedule(s["kind"], s["trainSteps"], s.get("betaStart", 0.0001), s.get("betaEnd", 0.02))
    shape = manifest["latent"]["shape"] if manifest.get("latent") else [manifest["image"]["channels"], manifest["image"]["height"], manifest["image"]["width"]]
    width = manifest["condition"]["width"]
    uncond = torch.tensor(manifest["condition"]["unconditional"], dtype=torch.float32)
    gen = torch.Generator().manual_seed(0)
    cond = torch.rand(args.batch, width, generator=gen)

    def run(steps: int) -> None:
        noise = torch.randn(args.batch, *shape, generator=gen)
        scheduler = create_scheduler(args.sampler, schedule, manifest["denoiser"]["prediction"])
        x = sample(model, scheduler, noise, cond, uncond, args.guidance, steps,
                   step_noise=lambda i: torch.randn(args.batch, *shape, generator=gen), stochastic=scheduler_is_stochastic(args.sampler))
        if decoder is not None:
            with torch.no_grad():
                decoder(x / manifest["latent"]["scalingFactor"])

    run(2)  # warm-up
    times = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        run(args.steps)
        times.append(time.perf_counter() - started)
    median = float(np.median(times))
    print(json.dumps({"package": manifest["name"], "batch": args.batch, "steps": args.steps, "sampler": args.sampler,
                      "threads": args.threads, "seconds": times, "imagesPerSecond": args.batch / median,
                      "bestImagesPerSecond": args.batch / min(times), "goldenDenoiserError": err, "torch": torch.__version__}))


def scheduler_is_stochastic(name: str) -> bool:
    from schedulers import is_stochastic
    return is_stochastic(name)


if __name__ == "__main__":
    main()
