"""Blocks shared by the kinds' networks: the resolution plan of a conv net, the sinusoidal timestep embedding,
group-norm residual blocks with a time input (Ho et al. 2020, after Wide ResNets) and the EMA of weights."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def resolution_plan(size: int, max_levels: int = 4) -> tuple[int, int]:
    """(base, levels): size == base * 2**levels with base >= 4 (28 -> 7 * 2**2, 32 -> 4 * 2**3)."""
    levels = 0
    while size % 2 == 0 and size // 2 >= 4 and levels < max_levels:
        size //= 2
        levels += 1
    return size, levels


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """The exponential moving average of the weights sampling uses: θ_ema ← decay·θ_ema + (1 − decay)·θ."""
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p.detach(), 1 - decay)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """Sinusoidal embedding (Vaswani et al. 2017) of (B,) timesteps -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], 1)


def norm_groups(c: int) -> int:
    return math.gcd(c, 8)


class ResBlock(nn.Module):
    def __init__(self, a: int, b: int, emb: int):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(norm_groups(a), a), nn.Conv2d(a, b, 3, 1, 1)
        self.emb = nn.Linear(emb, b)
        self.n2, self.c2 = nn.GroupNorm(norm_groups(b), b), nn.Conv2d(b, b, 3, 1, 1)
        self.skip = nn.Conv2d(a, b, 1) if a != b else nn.Identity()

    def forward(self, x, e):  # (B, a, s, s), (B, emb) -> (B, b, s, s)
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.emb(F.silu(e))[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)
