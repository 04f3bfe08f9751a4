"""PyTorch reference sampling loop: classifier-free guidance with [uncond..., cond...] in one batch.

Mirrors src/diffusion/pipeline.ts so golden trajectories and the benchmark compare like with like.
"""
from __future__ import annotations

import torch

from schedulers import is_stochastic


@torch.no_grad()
def sample(denoiser, scheduler, noise: torch.Tensor, condition: torch.Tensor, unconditional: torch.Tensor,
           guidance: float, steps: int, step_noise=None, stochastic: bool = False) -> torch.Tensor:
    """noise: [B, ...] initial noise; condition: [B, W]; unconditional: [W]; step_noise(i) -> [B, ...]."""
    scheduler.set_timesteps(steps)
    b = noise.shape[0]
    x = noise * scheduler.init_noise_sigma
    uncond = unconditional.unsqueeze(0).expand(b, -1)
    cond_in = torch.cat([uncond, condition], 0) if guidance != 1 else condition
    for i, t in enumerate(scheduler.timesteps):
        model_in = scheduler.scale_model_input(x, float(t))
        xin = torch.cat([model_in, model_in], 0) if guidance != 1 else model_in
        tt = torch.full((xin.shape[0],), float(t), dtype=torch.float32)
        out = denoiser(xin, tt, cond_in)
        if guidance != 1:
            u, c = out[:b], out[b:]
            out = u + guidance * (c - u)
        x, _ = scheduler.step(out, float(t), x, step_noise(i) if stochastic else None)
    return x
