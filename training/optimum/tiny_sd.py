"""Tiny random-weight Stable-Diffusion parts with the same interfaces as a diffusers pipeline's.

Each module's forward takes and returns exactly what Optimum's ONNX export of the real part does
(optimum/exporters/onnx/model_configs.py: CLIPTextOnnxConfig, UNetOnnxConfig, VaeEncoderOnnxConfig,
VaeDecoderOnnxConfig), so the ONNX files exported from them are drop-in stand-ins for a user's export:
- text encoder: input_ids int64 [B,S] -> last_hidden_state [B,S,D], pooler_output [B,D] (a causal
  transformer like CLIP's: token + position embeddings, pre-norm blocks, final LayerNorm; pooled at eos);
- UNet: sample [B,C,h,w] (C = 4, or 9 for inpainting), timestep (float32 rank 0 or int64 [B]),
  encoder_hidden_states [B,S,D] -> out_sample [B,4,h,w] (sinusoidal timestep embedding, residual blocks,
  one down/up level, self- and cross-attention to the text at both resolutions);
- VAE encoder: sample [B,3,H,W] in [-1,1] -> latent_parameters [B,8,H/8,W/8] (mean, log-variance);
- VAE decoder: latent_sample [B,4,h,w] (latents / scaling factor) -> sample [B,3,8h,8w] in about [-1,1].
The weights are random (seeded): these test the plumbing and the maths, not image quality.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).reshape(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        future = torch.ones(s, s, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
        y = scores.softmax(-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, s, d))


class TextBlock(nn.Module):
    def __init__(self, width: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attn = CausalSelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyTextEncoder(nn.Module):
    def __init__(self, vocab_size: int, width: int, max_positions: int = 77, layers: int = 2, heads: int = 2):
        super().__init__()
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Parameter(torch.randn(max_positions, width) * 0.02)
        self.blocks = nn.ModuleList([TextBlock(width, heads) for _ in range(layers)])
        self.final_norm = nn.LayerNorm(width)

    def forward(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s = input_ids.shape[1]
        x = self.token(input_ids) + self.position[:s]
        for block in self.blocks:
            x = block(x)
        hidden = self.final_norm(x)
        # CLIP pools at the eos token, the highest id in the vocabulary: the first argmax of input_ids.
        pooled = hidden[torch.arange(hidden.shape[0]), input_ids.argmax(-1)]
        return hidden, pooled


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """diffusers' get_timestep_embedding with flip_sin_to_cos=True, downscale_freq_shift=0 (SD's UNet)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t[:, None].float() * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, temb: int | None = None, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb, cout) if temb else None
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.temb is not None and temb is not None:
            h = h + self.temb(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head attention; context=None is self-attention, else cross-attention to the text."""

    def __init__(self, width: int, context_width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(width, width, bias=False)
        self.k = nn.Linear(context_width, width, bias=False)
        self.v = nn.Linear(context_width, width, bias=False)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        hd = d // self.heads
        q = self.q(x).reshape(b, n, self.heads, hd).transpose(1, 2)
        k = self.k(context).reshape(b, context.shape[1], self.heads, hd).transpose(1, 2)
        v = self.v(context).reshape(b, context.shape[1], self.heads, hd).transpose(1, 2)
        y = (q @ k.transpose(-1, -2) / math.sqrt(hd)).softmax(-1) @ v
        return self.out(y.transpose(1, 2).reshape(b, n, d))


class SpatialTransformer(nn.Module):
    """SD's Transformer2DModel in small: norm, proj_in, self-attn, cross-attn, feed-forward, proj_out."""

    def __init__(self, channels: int, context_width: int, heads: int = 2, groups: int = 8):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.norm1 = nn.LayerNorm(channels)
        self.self_attn = Attention(channels, channels, heads)
        self.norm2 = nn.LayerNorm(channels)
        self.cross_attn = Attention(channels, context_width, heads)
        self.norm3 = nn.LayerNorm(channels)
        self.ff = nn.Sequential(nn.Linear(channels, 2 * channels), nn.GELU(), nn.Linear(2 * channels, channels))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)  # [B, h*w, C]
        n1 = self.norm1(y)
        y = y + self.self_attn(n1, n1)
        y = y + self.cross_attn(self.norm2(y), context)
        y = y + self.ff(self.norm3(y))
        return x + self.proj_out(y.transpose(1, 2).reshape(b, c, h, w))


class TinyUNet(nn.Module):
    def __init__(self, in_channels: int, context_width: int, base: int = 24, temb_dim: int = 64):
        super().__init__()
        self.in_channels = in_channels
        self.base = base
        self.time_mlp = nn.Sequential(nn.Linear(base, temb_dim), nn.SiLU(), nn.Linear(temb_dim, temb_dim))
        self.conv_in = nn.Conv2d(in_channels, base, 3, padding=1)
        self.down_res = ResBlock(base, base, temb_dim)
        self.down_attn = SpatialTransformer(base, context_width)
        self.downsample = nn.Conv2d(base, 2 * base, 3, stride=2, padding=1)
        self.mid_res = ResBlock(2 * base, 2 * base, temb_dim)
        self.mid_attn = SpatialTransformer(2 * base, context_width)
        self.upsample = nn.Conv2d(2 * base, base, 3, padding=1)
        self.up_res = ResBlock(2 * base, base, temb_dim)
        self.up_attn = SpatialTransformer(base, context_width)
        self.norm_out = nn.GroupNorm(8, base)
        self.conv_out = nn.Conv2d(base, 4, 3, padding=1)

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor) -> torch.Tensor:
        # A rank-0 timestep, or one of [1] or [B], broadcast over the batch (diffusers' UNet does the same).
        t = timestep.reshape(-1).float() * torch.ones(sample.shape[0])
        temb = self.time_mlp(timestep_embedding(t, self.base))
        h0 = self.down_attn(self.down_res(self.conv_in(sample), temb), encoder_hidden_states)
        h = self.mid_attn(self.mid_res(self.downsample(h0), temb), encoder_hidden_states)
        h = self.upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.up_attn(self.up_res(torch.cat([h, h0], dim=1), temb), encoder_hidden_states)
        return self.conv_out(F.silu(self.norm_out(h)))


class TinyVaeEncoder(nn.Module):
    def __init__(self, base: int = 16):
        super().__init__()
        self.conv_in = nn.Conv2d(3, base, 3, padding=1)
        self.down = nn.Sequential(*[nn.Conv2d(base, base, 3, stride=2, padding=1) for _ in range(3)])
        self.res = ResBlock(base, base)
        self.norm_out = nn.GroupNorm(8, base)
        self.conv_out = nn.Conv2d(base, 8, 3, padding=1)

    def forward(self, sample: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(sample)
        for conv in self.down:
            h = F.silu(conv(h))
        return self.conv_out(F.silu(self.norm_out(self.res(h))))


class TinyVaeDecoder(nn.Module):
    def __init__(self, base: int = 16):
        super().__init__()
        self.conv_in = nn.Conv2d(4, base, 3, padding=1)
        self.res = ResBlock(base, base)
        self.up = nn.ModuleList([nn.Conv2d(base, base, 3, padding=1) for _ in range(3)])
        self.norm_out = nn.GroupNorm(8, base)
        self.conv_out = nn.Conv2d(base, 3, 3, padding=1)

    def forward(self, latent_sample: torch.Tensor) -> torch.Tensor:
        h = self.res(self.conv_in(latent_sample))
        for conv in self.up:
            h = F.silu(conv(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        return self.conv_out(F.silu(self.norm_out(h)))
