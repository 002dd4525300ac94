"""The U-Net of latent diffusion (Rombach et al. 2022, sec. 3.3): residual blocks with a time input and
cross-attention to the text encoder's token features; ControlNet adds its residuals to it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.nn.blocks import ResBlock, norm_groups, timestep_embedding


class CrossAttention(nn.Module):
    """Image features (B, C, s, s) attend to token features (B, L, ctx); a residual block (SD's transformer
    block without its self-attention). The attention weights can be kept per call, for heat maps."""

    def __init__(self, dim: int, context_dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(norm_groups(dim), dim)
        self.proj_in = nn.Conv2d(dim, dim, 1)
        self.ln_attn, self.ln_ff = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(context_dim, dim, bias=False)
        self.v = nn.Linear(context_dim, dim, bias=False)
        self.out = nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.proj_out = nn.Conv2d(dim, dim, 1)
        nn.init.zeros_(self.proj_out.weight)  # starts as the identity: the U-Net learns when to listen
        nn.init.zeros_(self.proj_out.bias)

    def forward(self, x, context, pad, kept: list | None = None):
        b, c, s, _ = x.shape
        h = self.proj_in(self.norm(x)).flatten(2).transpose(1, 2)  # (B, s², C)
        q = self.q(self.ln_attn(h)).view(b, s * s, self.heads, -1).transpose(1, 2)  # (B, heads, s², d)
        k = self.k(context).view(b, -1, self.heads, c // self.heads).transpose(1, 2)  # (B, heads, L, d)
        v = self.v(context).view(b, -1, self.heads, c // self.heads).transpose(1, 2)
        logits = q @ k.transpose(-1, -2) / math.sqrt(c // self.heads)  # (B, heads, s², L)
        attn = logits.masked_fill(pad[:, None, None, :], float("-inf")).softmax(-1)
        if kept is not None:
            kept.append(attn.mean(1).detach())  # (B, s², L): where each token is looked at
        h = h + self.out((attn @ v).transpose(1, 2).reshape(b, s * s, c))
        h = h + self.ff(self.ln_ff(h))
        return x + self.proj_out(h.transpose(1, 2).reshape(b, c, s, s))


class TextUNet(nn.Module):
    """ε_θ(z_t, t, tokens) on latents (B, zc, s, s), e.g. 4×8×8: s (w) -> s/2 (2w) mid, and back up, with
    cross-attention to the tokens at every level."""

    def __init__(self, latent_shape, width: int, context_dim: int, heads: int):
        super().__init__()
        zc, s, _ = latent_shape
        levels = 1 if s % 2 == 0 and s >= 4 else 0
        emb = width * 4
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        chans = [width * 2 ** i for i in range(levels + 1)]  # [w, 2w]
        self.inp = nn.Conv2d(zc, chans[0], 3, 1, 1)  # (B, zc, s, s) -> (B, w, s, s)
        self.down = nn.ModuleList()
        for i in range(levels):
            self.down.append(nn.ModuleList([
                ResBlock(chans[i], chans[i], emb), CrossAttention(chans[i], context_dim, heads),
                nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1),  # (B, c_i, s, s) -> (B, c_i+1, s/2, s/2)
            ]))
        self.mid1 = ResBlock(chans[-1], chans[-1], emb)
        self.mid_attn = CrossAttention(chans[-1], context_dim, heads)
        self.mid2 = ResBlock(chans[-1], chans[-1], emb)
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            self.up.append(nn.ModuleList([
                nn.Conv2d(chans[i + 1], chans[i], 3, 1, 1),  # after nearest x2: (B, c_i, s, s)
                ResBlock(2 * chans[i], chans[i], emb),  # with the skip concatenated
                CrossAttention(chans[i], context_dim, heads),
            ]))
        self.out = nn.Sequential(nn.GroupNorm(norm_groups(chans[0]), chans[0]), nn.SiLU(),
                                 nn.Conv2d(chans[0], zc, 3, 1, 1))  # -> (B, zc, s, s)

    def forward(self, z, t, context, pad, kept: list | None = None, control=None):
        """``control``: a ControlNet's residuals (one per skip, one for the middle), added to them (Zhang et al.
        2023, eq. 4: the frozen network's features plus the zero convolutions' outputs)."""
        e = self.time(timestep_embedding(t, self.width))
        h = self.inp(z)
        skips = []
        for block, attn, down in self.down:
            h = attn(block(h, e), context, pad, kept)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, e), context, pad, kept), e)
        if control is not None:
            skips = [s + r for s, r in zip(skips, control[0])]
            h = h + control[1]
        for conv, block, attn in self.up:
            h = conv(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = attn(block(torch.cat([h, skips.pop()], 1), e), context, pad, kept)
        return self.out(h)
