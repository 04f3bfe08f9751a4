"""A small conditional UNet denoiser sized for CPU training.

Why this shape: the 64x64 image is folded into 2x2 pixel blocks (pixel unshuffle) so
every convolution runs at 32x32 or below, which cuts the cost ~4x. The condition
enters twice: as a global embedding added to the timestep embedding (class, weather,
time of day, contrast) and as a rendered spatial map of the requested box or lesion
disk concatenated to the input, so the network need not learn where coordinates point.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    """Sinusoidal embedding of float timesteps (Ho et al. 2020, from Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, emb_dim):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * cout)          # FiLM: scale and shift per channel
        self.norm2, self.conv2 = nn.GroupNorm(8, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(F.silu(emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, ch, heads=4):
        super().__init__()
        self.norm, self.qkv, self.out, self.heads = nn.GroupNorm(8, ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1), heads

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w).unbind(1)
        attn = torch.softmax(torch.einsum("bhdi,bhdj->bhij", q, k) / math.sqrt(c // self.heads), dim=-1)
        return x + self.out(torch.einsum("bhij,bhdj->bhdi", attn, v).reshape(b, c, h, w))


class SpatialPrior(nn.Module):
    """Renders the condition's box (cx, cy, w, h) or disk (cx, cy, radius) as a soft mask [B,1,S,S].

    present_slots: one-hot slots whose sum says an object is requested (zero for "none" and
    for the unconditional vector). radius_range de-normalises the radius scalar.
    """

    def __init__(self, size, kind, offsets, present_slots, radius_range=(0.0, 1.0)):
        super().__init__()
        self.kind, self.offsets, self.present = kind, list(offsets), list(present_slots)
        self.radius_lo, self.radius_span = float(radius_range[0]), float(radius_range[1] - radius_range[0])
        coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        self.register_buffer("ys", coords.view(1, 1, size, 1), persistent=False)
        self.register_buffer("xs", coords.view(1, 1, 1, size), persistent=False)
        self.sharpness = 2.0 * size      # edges about one pixel wide

    def forward(self, cond):
        present = cond[:, self.present].sum(dim=1).view(-1, 1, 1, 1)
        cx, cy = cond[:, self.offsets[0]].view(-1, 1, 1, 1), cond[:, self.offsets[1]].view(-1, 1, 1, 1)
        if self.kind == "box":
            w, h = cond[:, self.offsets[2]].view(-1, 1, 1, 1), cond[:, self.offsets[3]].view(-1, 1, 1, 1)
            inside_x = torch.sigmoid((w / 2 - (self.xs - cx).abs()) * self.sharpness)
            inside_y = torch.sigmoid((h / 2 - (self.ys - cy).abs()) * self.sharpness)
            mask = inside_x * inside_y
        else:
            r = self.radius_lo + cond[:, self.offsets[2]].view(-1, 1, 1, 1) * self.radius_span
            dist = torch.sqrt((self.xs - cx) ** 2 + (self.ys - cy) ** 2 + 1e-8)
            mask = torch.sigmoid((r - dist) * self.sharpness)
        return mask * present


class ConditionalUNet(nn.Module):
    def __init__(self, image_channels, cond_width, spatial_prior, size=64, widths=(48, 96, 144), emb_dim=192):
        super().__init__()
        self.size, self.image_channels = size, image_channels
        self.spatial_prior = spatial_prior
        self.emb_dim = emb_dim
        self.time_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.cond_mlp = nn.Sequential(nn.Linear(cond_width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        folded = 4 * (image_channels + 1)       # image + prior map, 2x2 pixel blocks
        self.stem = nn.Conv2d(folded, widths[0], 3, padding=1)
        self.down_blocks, self.downsamples = nn.ModuleList(), nn.ModuleList()
        ch = widths[0]
        for i, w in enumerate(widths):
            self.down_blocks.append(ResBlock(ch, w, emb_dim))
            ch = w
            self.downsamples.append(nn.Conv2d(w, w, 3, stride=2, padding=1) if i < len(widths) - 1 else nn.Identity())
        self.mid1, self.mid_attn, self.mid2 = ResBlock(ch, ch, emb_dim), Attention(ch), ResBlock(ch, ch, emb_dim)
        self.up_blocks, self.upsamples = nn.ModuleList(), nn.ModuleList()
        for i, w in reversed(list(enumerate(widths))):
            self.up_blocks.append(ResBlock(ch + w, w, emb_dim))
            ch = w
            self.upsamples.append(nn.Conv2d(w, widths[i - 1], 3, padding=1) if i > 0 else nn.Identity())
            if i > 0:
                ch = widths[i - 1]
        self.out_norm = nn.GroupNorm(8, ch)
        self.out = nn.Conv2d(ch, 4 * image_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, sample, timestep, condition):
        emb = self.time_mlp(timestep_embedding(timestep, self.emb_dim)) + self.cond_mlp(condition)
        x = torch.cat([sample, self.spatial_prior(condition) * 2 - 1], dim=1)
        h = self.stem(F.pixel_unshuffle(x, 2))
        skips = []
        for block, down in zip(self.down_blocks, self.downsamples):
            h = block(h, emb)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for block, up in zip(self.up_blocks, self.upsamples):
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(up, nn.Identity):
                h = up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return F.pixel_shuffle(self.out(F.silu(self.out_norm(h))), 2)
