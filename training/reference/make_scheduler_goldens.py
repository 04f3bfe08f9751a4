"""Golden values for the TypeScript schedulers, from the PyTorch reference schedulers.

  /usr/bin/python3 training/reference/make_scheduler_goldens.py
writes test/fixtures/schedulers/golden.json. The "model" is an analytic function, so the test checks the
scheduler arithmetic alone: model(x, t) = x + 0.05 * sin(3x + t/100) (same in src/ tests).
Stochastic samplers take their per-step noise from the stored `stepNoise` rows.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(__file__))
from schedulers import NoiseSchedule, create_scheduler, is_stochastic  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (1, 2, 4, 4)


def analytic_model(x: torch.Tensor, t: float) -> torch.Tensor:
    return (x.double() + 0.05 * torch.sin(3 * x.double() + t / 100)).float()


def run(name, schedule, prediction, steps, eta, noise, step_noise, options=None):
    s = create_scheduler(name, schedule, prediction, eta, **(options or {}))
    s.set_timesteps(steps)
    x = (noise.double() * s.init_noise_sigma).float()
    first = None
    for i, t in enumerate(s.timesteps):
        m = analytic_model(s.scale_model_input(x, float(t)), float(t))
        x, x0 = s.step(m, float(t), x, step_noise[i] if is_stochastic(name, eta) else None)
        if first is None:
            first = x.flatten().tolist()
    return s, x.flatten().tolist(), first


def main():
    g = torch.Generator().manual_seed(2024)
    n = 1
    for d in SHAPE:
        n *= d
    noise = torch.randn(SHAPE, generator=g)
    step_noise = torch.randn((50, *SHAPE), generator=g)
    x0 = torch.rand(SHAPE, generator=g) * 2 - 1
    schedules = {
        "linear": NoiseSchedule("linear", 1000, 0.0001, 0.02),
        "scaled_linear": NoiseSchedule("scaled_linear", 1000, 0.00085, 0.012),
        "cosine": NoiseSchedule("cosine", 1000),
    }
    cases = []
    combos = []
    for sampler in ("ddpm", "ddim", "dpmpp-2m", "euler", "euler-ancestral"):
        for prediction in ("epsilon", "v"):
            for steps in (20, 50):
                combos.append((sampler, 0.0, prediction, steps, "linear"))
    combos += [("ddim", 0.5, "epsilon", 20, "linear"), ("ddim", 0.5, "v", 50, "linear")]
    for sampler in ("ddpm", "ddim", "dpmpp-2m", "euler", "euler-ancestral"):
        combos += [(sampler, 0.0, "epsilon", 20, "scaled_linear"), (sampler, 0.0, "v", 20, "cosine")]
    combos = [(*c, None) for c in combos]
    # diffusers' scheduler_config.json options (Stable Diffusion 1.x: leading + steps_offset 1, set_alpha_to_one
    # false), each spacing with and without the offset
    for sampler in ("ddpm", "ddim", "dpmpp-2m", "euler", "euler-ancestral"):
        for spacing in ("leading", "trailing", "linspace"):
            for offset in (0, 1):
                options = {"spacing": spacing, "steps_offset": offset}
                if sampler == "ddim":
                    options["set_alpha_to_one"] = offset == 0
                combos.append((sampler, 0.0, "epsilon", 25, "scaled_linear", options))
    for sampler, eta, prediction, steps, sk, options in combos:
        s, final, first = run(sampler, schedules[sk], prediction, steps, eta, noise, step_noise, options)
        added = [s.add_noise(x0, noise, float(t)).flatten().tolist() for t in (s.timesteps[0], s.timesteps[steps // 2])]
        cases.append({
            "sampler": sampler, "eta": eta, "prediction": prediction, "steps": steps, "schedule": sk,
            **({"spacing": options["spacing"], "stepsOffset": options["steps_offset"]} if options else {}),
            **({"setAlphaToOne": options["set_alpha_to_one"]} if options and "set_alpha_to_one" in options else {}),
            "timesteps": [float(t) for t in s.timesteps], "initNoiseSigma": float(s.init_noise_sigma),
            "firstStep": first, "final": final,
            "addNoise": [{"t": float(t), "value": v} for t, v in zip((s.timesteps[0], s.timesteps[steps // 2]), added)],
        })
    out = {
        "generator": "training/reference/make_scheduler_goldens.py",
        "torchVersion": torch.__version__,
        "model": "x + 0.05 * sin(3x + t/100)",
        "shape": list(SHAPE),
        "schedules": {k: {"kind": v.kind, "trainSteps": v.train_steps, "betaStart": v.beta_start, "betaEnd": v.beta_end} for k, v in schedules.items()},
        "noise": noise.flatten().tolist(),
        "stepNoise": [r.flatten().tolist() for r in step_noise],
        "x0": x0.flatten().tolist(),
        "cases": cases,
    }
    p = ROOT / "test/fixtures/schedulers/golden.json"
    p.write_text(json.dumps(out) + "\n")
    print(f"wrote {len(cases)} cases to {p}")


if __name__ == "__main__":
    main()
