"""A tiny UNet-like conditional denoiser and latent decoder, randomly initialised, for runtime tests.

Same interface as the real denoisers: (sample [B,C,H,W], timestep [B] float32, condition [B,W]) -> [B,C,H,W].
"""
from __future__ import annotations

import math

import torch
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    # Transformer sinusoidal embedding of the (float) timestep (Ho et al. 2020, appendix B).
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class TinyUNet(nn.Module):
    def __init__(self, channels: int, cond_width: int, base: int = 16, temb: int = 32, skip: bool = False):
        super().__init__()
        # skip=True predicts eps = x_t + net(...): an untrained epsilon model that keeps x0 bounded.
        self.skip = skip
        self.temb = temb
        self.time_mlp = nn.Sequential(nn.Linear(temb, 2 * base), nn.SiLU(), nn.Linear(2 * base, 2 * base))
        self.cond_mlp = nn.Linear(cond_width, 2 * base)
        self.inp = nn.Conv2d(channels, base, 3, padding=1)
        self.down = nn.Conv2d(base, 2 * base, 3, stride=2, padding=1)
        self.norm = nn.GroupNorm(4, 2 * base)
        self.mid = nn.Conv2d(2 * base, 2 * base, 3, padding=1)
        self.up = nn.Conv2d(3 * base, base, 3, padding=1)
        self.out = nn.Conv2d(base, channels, 3, padding=1)

    def forward(self, sample, timestep, condition):
        emb = self.time_mlp(timestep_embedding(timestep, self.temb)) + self.cond_mlp(condition)
        h0 = torch.nn.functional.silu(self.inp(sample))
        h1 = torch.nn.functional.silu(self.down(h0))
        h1 = h1 + emb[:, :, None, None]
        h1 = torch.nn.functional.silu(self.mid(torch.nn.functional.silu(self.norm(h1))))
        u = torch.nn.functional.interpolate(h1, scale_factor=2.0, mode="nearest")
        h = torch.nn.functional.silu(self.up(torch.cat([u, h0], 1)))
        out = self.out(h)
        return out + sample if self.skip else out


class TinyDecoder(nn.Module):
    """latent [B,4,h,w] -> image [B,1,2h,2w] in [-1, 1]."""

    def __init__(self, latent_channels: int = 4, out_channels: int = 1):
        super().__init__()
        self.a = nn.Conv2d(latent_channels, 16, 3, padding=1)
        self.b = nn.Conv2d(16, out_channels, 3, padding=1)

    def forward(self, latent):
        h = torch.nn.functional.silu(self.a(latent))
        h = torch.nn.functional.interpolate(h, scale_factor=2.0, mode="nearest")
        return torch.tanh(self.b(h))
