"""Inpainting by known-region replacement (Lugmayr et al. 2022, "RePaint", alg. 1), for any of our samplers
and any diffusion model, in the space it samples in (pixels for a DDPM, latents for latent diffusion):

1. x_T ~ N(0, I); its known part replaced by q(x_T | x_0^known).
2. each step: x_{t'} of the unknown part from the sampler (t' the sampler's next timestep), and of the known
   part from q(x_{t'} | x_0^known) = √ᾱ_{t'} x_0^known + √(1−ᾱ_{t'}) ε (eq. 8 of the paper, DDPM eq. 4);
   x_{t'} = m ⊙ x^unknown + (1 − m) ⊙ x^known (eq. 9), m = 1 where the image is painted anew;
3. resampling (alg. 1, lines 4 and 8, jump length 1): run each step ``resample`` times, going back from t'
   to t by q(x_t | x_{t'}) = N(√(ᾱ_t/ᾱ_{t'}) x_{t'}, (1 − ᾱ_t/ᾱ_{t'}) I) in between, so the painted region
   agrees with the known one (``resample`` = 1: no jumps, the paper's baseline).

A model trained for inpainting (Stable Diffusion's 9-channel U-Net) reads its ``condition`` instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.sampling.samplers import randn_like

MAX_RESAMPLE = 20


@dataclass
class Inpaint:
    known: torch.Tensor | None  # (B, C, h, w) x_0 of the image, in the space sampled
    mask: torch.Tensor | None  # (B, 1, h, w) 1 where to paint, 0 where the image is kept
    resample: int = 1  # RePaint's U: times each step is run
    condition: torch.Tensor | None = None  # (B, 1 + C, h, w) an inpainting network's own input

    def __post_init__(self):
        if not (isinstance(self.resample, int) and 1 <= self.resample <= MAX_RESAMPLE):
            raise ConfigError(f"resample must be 1..{MAX_RESAMPLE} (times each step is run), got {self.resample}")


def check_mask(mask: torch.Tensor, image: torch.Tensor) -> None:
    """A mask (B or 1, 1, H, W) of the image's size, every value 0 or 1."""
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-2:] != image.shape[-2:]:
        raise ConfigError(f"the mask is {'×'.join(map(str, mask.shape[-2:][::-1]))}, the image "
                          f"{'×'.join(map(str, image.shape[-2:][::-1]))}: a mask must be the image's size")
    if not ((mask == 0) | (mask == 1)).all():
        raise ConfigError("the mask is not binary: every pixel must be 0 (keep) or 1 (paint)")
    if not mask.any():
        raise ConfigError("the mask is empty: paint the region to regenerate")


def latent_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A pixel mask (B, 1, H, W) on a coarser grid: a cell is painted when any of its pixels is (the known
    region never reaches into the painted one)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask.float()
    return F.adaptive_max_pool2d(mask.float(), size)


def _known_at(sched, inp: Inpaint, t: int, like: torch.Tensor, generator) -> torch.Tensor:
    if t < 0:
        return inp.known
    return sched.add_noise(inp.known, randn_like(like, generator), t)


def renoise(sched, x: torch.Tensor, t: int, t_prev: int, generator) -> torch.Tensor:
    """x_t ~ q(x_t | x_{t'}) for t > t' (alg. 1, line 8)."""
    a_t = float(sched.alphas_cumprod[t])
    a_p = float(sched.alphas_cumprod[t_prev])
    r = a_t / a_p
    return math.sqrt(r) * x + math.sqrt(max(0.0, 1 - r)) * randn_like(x, generator)


def steps(sched, step: Callable, x: torch.Tensor, inp: Inpaint | None, generator
          ) -> Generator[tuple, None, None]:
    """The reverse process of ``sched`` from x_T, ``step(x_t, t) -> (ε̂, x̂_0, x_prev, extra)``, with the
    known region of ``inp`` kept (None: plain sampling). Yields (t, x_t, ε̂, x̂_0, x_prev, extra)."""
    ts = sched.timesteps.tolist()
    if inp is not None and inp.known is not None:
        x = inp.mask * x + (1 - inp.mask) * _known_at(sched, inp, ts[0], x, generator)  # 1.
    keeps = inp is not None and inp.known is not None
    for t in ts:
        t_prev = sched.previous_timestep(t)
        runs = inp.resample if keeps and t_prev >= 0 else 1
        for u in range(runs):
            eps, x0, prev, extra = step(x, t)
            if keeps:
                prev = inp.mask * prev + (1 - inp.mask) * _known_at(sched, inp, t_prev, prev, generator)  # 2.
            if u < runs - 1:
                x = renoise(sched, prev, t, t_prev, generator)  # 3.
        yield t, x, eps, x0, prev, extra
        x = prev
