"""What diffusers' schedulers make of a Stable-Diffusion scheduler_config.json, for the runtime's mapping of
scheduler classes and options (timestep_spacing, steps_offset, set_alpha_to_one) onto its samplers.

  /usr/bin/python3 training/optimum/scheduler_goldens.py

writes test/fixtures/optimum/golden-schedulers.json:
- "grids": for DDIMScheduler / DDPMScheduler, EulerDiscreteScheduler (also Euler ancestral's grid) and
  DPMSolverMultistepScheduler, with tiny-sd's schedule (SD 1.x) under each timestep_spacing (leading with
  steps_offset 0 and 1), at 5, 20 and 50 steps: the timesteps, the sigmas (sigma-space solvers, with the
  final 0) and init_noise_sigma. Note DPM-Solver's own grids: n + 1 points with the last dropped
  (linspace, leading), so its "leading" differs from DDIM's;
- "trajectories": tiny-sd text-to-image, 5 steps, guidance 7.5, the noise and prompts of golden-txt2img.json,
  with Euler and DPM-Solver++(2M) as diffusers runs them (epsilon; Euler: model input / sqrt(sigma^2 + 1),
  x += (x - x0) / sigma * (sigma_next - sigma); DPM++ 2M: midpoint, first order at the first and the last step).
The set_timesteps formulas follow diffusers' scheduling_ddim.py, scheduling_euler_discrete.py and
scheduling_dpmsolver_multistep.py (timestep_spacing branches as in "Common Diffusion Noise Schedules and
Sample Steps are Flawed", Table 2); the solvers follow DPM-Solver++ (Lu et al. 2022, Algorithm 2) and Karras
et al. 2022 (Algorithm 1, s_churn = 0). Scalars in float64; diffusers keeps sigmas in float32 (differences
~1e-7 relative).
"""
from __future__ import annotations

import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from build_tiny_exports import EXPORTS, OUT, encode_tensor  # noqa: E402
from reference_pipeline import CASES, GUIDANCE, NOISE_SEED, load_pipeline  # noqa: E402

SPACINGS = ("leading", "linspace", "trailing")
STEP_COUNTS = (5, 20, 50)
TRAJECTORY_STEPS = 5


def alphas_cumprod(config: dict) -> np.ndarray:
    betas = np.linspace(config["beta_start"] ** 0.5, config["beta_end"] ** 0.5, config["num_train_timesteps"], dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def train_sigmas(config: dict) -> np.ndarray:
    ac = alphas_cumprod(config)
    return ((1 - ac) / ac) ** 0.5


def ddim_timesteps(config: dict, n: int, spacing: str) -> list[int]:
    """DDIMScheduler / DDPMScheduler.set_timesteps."""
    T = config["num_train_timesteps"]
    if spacing == "linspace":
        t = np.linspace(0, T - 1, n).round()[::-1]
    elif spacing == "leading":
        t = (np.arange(0, n) * (T // n)).round()[::-1] + config["steps_offset"]
    else:
        t = np.round(np.arange(T, 0, -T / n)) - 1
    return [int(x) for x in t]


def euler_grid(config: dict, n: int, spacing: str) -> dict:
    """EulerDiscreteScheduler.set_timesteps (linear interpolation, no Karras sigmas, final sigma 0)."""
    T = config["num_train_timesteps"]
    if spacing == "linspace":
        t = np.linspace(0, T - 1, n, dtype=np.float32)[::-1].astype(np.float64)
    elif spacing == "leading":
        t = (np.arange(0, n) * (T // n)).round()[::-1].astype(np.float64) + config["steps_offset"]
    else:
        t = np.arange(T, 0, -T / n).round().astype(np.float64) - 1
    sigmas = np.interp(t, np.arange(T), train_sigmas(config))
    sigmas = np.concatenate([sigmas, [0.0]])
    init = sigmas.max() if spacing in ("linspace", "trailing") else math.sqrt(sigmas.max() ** 2 + 1)
    return {"timesteps": [float(x) for x in t], "sigmas": [float(s) for s in sigmas], "initNoiseSigma": float(init)}


def dpm_grid(config: dict, n: int, spacing: str) -> dict:
    """DPMSolverMultistepScheduler.set_timesteps (lambda_min_clipped -inf, final_sigmas_type "zero")."""
    T = config["num_train_timesteps"]
    if spacing == "linspace":
        t = np.linspace(0, T - 1, n + 1).round()[::-1][:-1]
    elif spacing == "leading":
        t = (np.arange(0, n + 1) * (T // (n + 1))).round()[::-1][:-1] + config["steps_offset"]
    else:
        t = np.arange(T, 0, -T / n).round() - 1
    t = t.astype(np.int64)
    sigmas = np.concatenate([np.interp(t, np.arange(T), train_sigmas(config)), [0.0]])
    return {"timesteps": [int(x) for x in t], "sigmas": [float(s) for s in sigmas], "initNoiseSigma": 1.0}


def grids(config: dict) -> list[dict]:
    """Every spacing at every step count; "leading" also with steps_offset 0 (diffusers applies the offset to
    "leading" only)."""
    out = []
    for spacing in SPACINGS:
        for offset in ((0, config["steps_offset"]) if spacing == "leading" else (config["steps_offset"],)):
            c = {**config, "steps_offset": offset}
            for n in STEP_COUNTS:
                base = {"spacing": spacing, "stepsOffset": offset, "steps": n}
                out.append({**base, "classes": ["DDIMScheduler", "DDPMScheduler"], "timesteps": ddim_timesteps(c, n, spacing), "initNoiseSigma": 1.0})
                out.append({**base, "classes": ["EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler"], **euler_grid(c, n, spacing)})
                out.append({**base, "classes": ["DPMSolverMultistepScheduler"], **dpm_grid(c, n, spacing)})
    return out


def alpha_sigma(sigma: float) -> tuple[float, float]:
    """VP coefficients of a sigma: alpha_t = 1 / sqrt(sigma^2 + 1), sigma_t = sigma alpha_t."""
    alpha = 1.0 / math.sqrt(sigma * sigma + 1.0)
    return alpha, sigma * alpha


def run_trajectory(pipe, embeds: torch.Tensor, noise: torch.Tensor, solver: str, config: dict) -> tuple[list, list[torch.Tensor]]:
    grid = euler_grid(config, TRAJECTORY_STEPS, config["timestep_spacing"]) if solver == "euler" else dpm_grid(config, TRAJECTORY_STEPS, config["timestep_spacing"])
    sigmas, timesteps = grid["sigmas"], grid["timesteps"]
    x = noise * grid["initNoiseSigma"]
    history: list[torch.Tensor] = []
    trajectory = []
    for i, t in enumerate(timesteps):
        sigma, sigma_next = sigmas[i], sigmas[i + 1]
        model_input = x / math.sqrt(sigma * sigma + 1) if solver == "euler" else x
        out = pipe.unet(torch.cat([model_input, model_input]), torch.tensor(float(t)), embeds)
        uncond, cond = out.chunk(2)
        eps = uncond + GUIDANCE * (cond - uncond)
        if solver == "euler":
            # Karras et al. Algorithm 1 (s_churn = 0): x0 = x - sigma eps; d = (x - x0) / sigma; x += d (sigma_next - sigma)
            x0 = x - sigma * eps
            x = x + (x - x0) / sigma * (sigma_next - sigma)
        else:
            # DPM-Solver++: data prediction x0 = (x - sigma_t eps) / alpha_t at the current sigma
            alpha_s, sigma_s = alpha_sigma(sigma)
            x0 = (x - sigma_s * eps) / alpha_s
            history.append(x0)
            alpha_t, sigma_t = alpha_sigma(sigma_next)
            lambda_s = math.log(alpha_s) - math.log(sigma_s)
            lambda_t = math.inf if sigma_t == 0 else math.log(alpha_t) - math.log(sigma_t)
            h = lambda_t - lambda_s
            phi = math.exp(-h) - 1.0  # -1 at the final sigma 0
            last = i == len(timesteps) - 1
            if i == 0 or last:
                # first order (= DDIM): x_t = (sigma_t / sigma_s) x - alpha_t (e^-h - 1) x0
                x = (sigma_t / sigma_s) * x - alpha_t * phi * x0
            else:
                # second order, midpoint: D1 = (x0 - x0_prev) / r0, r0 = h_prev / h
                alpha_p, sigma_p = alpha_sigma(sigmas[i - 1])
                h_prev = lambda_s - (math.log(alpha_p) - math.log(sigma_p))
                d1 = (x0 - history[-2]) / (h_prev / h)
                x = (sigma_t / sigma_s) * x - alpha_t * phi * x0 - 0.5 * alpha_t * phi * d1
        trajectory.append(x)
    return timesteps, trajectory


def main() -> None:
    spec = next(s for s in EXPORTS if s.name == "tiny-sd")
    pipe, config = load_pipeline(spec)
    noise = torch.randn(len(CASES), 4, 8, 8, generator=torch.Generator().manual_seed(NOISE_SEED["tiny-sd"]))
    trajectories = {}
    with torch.no_grad():
        embeds = pipe.encode_prompts(CASES)[0]
        for solver, sampler in (("euler", "EulerDiscreteScheduler"), ("dpmpp-2m", "DPMSolverMultistepScheduler")):
            timesteps, trajectory = run_trajectory(pipe, embeds, noise, solver, config)
            trajectories[solver] = {"class": sampler, "timesteps": timesteps, "latentsPerStep": [encode_tensor(x) for x in trajectory],
                                    "finalLatents": encode_tensor(trajectory[-1])}
            print(f"{solver}: timesteps {timesteps}, final latents std {trajectory[-1].std():.3f}")
    golden = {
        "header": ("diffusers' scheduler grids and two deterministic trajectories for tiny-sd's scheduler_config.json "
                   "(training/optimum/scheduler_goldens.py; see its docstring). grids[]: {spacing, stepsOffset, steps, classes, "
                   "timesteps, sigmas (sigma-space solvers: one per timestep, then the final 0), initNoiseSigma}; the "
                   "config's schedule (scaled_linear 0.00085..0.012, 1000 train steps) applies to every grid; diffusers "
                   "adds steps_offset under 'leading' only. "
                   "trajectories.{euler,dpmpp-2m}: the noise and prompts of golden-txt2img.json (its 'noise' is the same "
                   "tensor: seed 1001), guidance 7.5, timestep_spacing leading, the UNet fed the timestep value (float32); "
                   "latentsPerStep [B,4,8,8] after each step, finalLatents."),
        "export": "tiny-sd", "config": config, "grids": grids(config), "guidance": GUIDANCE, "cases": CASES,
        "noise": encode_tensor(noise), "trajectories": trajectories,
    }
    (OUT / "golden-schedulers.json").write_text(json.dumps(golden) + "\n")
    print(f"test/fixtures/optimum/golden-schedulers.json: {(OUT / 'golden-schedulers.json').stat().st_size} bytes")


if __name__ == "__main__":
    main()
