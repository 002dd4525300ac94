"""One text-to-image run of a latent diffusion model (ours or Stable Diffusion), written once: the seeded
start — pure noise, an image's encoding noised part of the way (SDEdit), or a known region to keep
(:mod:`models.sampling.inpaint`) — then the reverse process, then the decoder. The models say how they start
(``start``) and step (``reverse``)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from latent_explorer.models.errors import ConfigError


def sdedit(sched, encoded: Callable[[], torch.Tensor], z: torch.Tensor, strength: float) -> torch.Tensor:
    """img2img (SDEdit, Meng et al. 2022): z_T replaced by the image's encoding (``encoded()``, asked only
    when used) noised with ``z`` to the step ``strength`` of the way back (1: pure noise, as without); the
    sampler ``sched`` keeps only the steps from there."""
    if not 0.0 < strength <= 1.0:
        raise ConfigError(f"strength must be in (0, 1], got {strength}")
    if strength == 1.0:
        return z
    ts = sched.timesteps.tolist()
    first = min(len(ts) - 1, int(round(len(ts) * (1 - strength))))
    z = sched.add_noise(encoded(), z, ts[first])
    sched._use(sched.timesteps[first:])
    return z


@torch.no_grad()
def txt2img(model, prompts: list[str], negative: str = "", sampler: str = "ddim", steps: int | None = 25,
            guidance: float = 5.0, seed: int = 0, init=None, strength: float = 1.0, eta: float = 0.0,
            controller=None, mask=None, size=None, latents=None, resample: int = 1) -> torch.Tensor:
    """Images (B, C, H, W) in [0, 1] of ``model`` for ``prompts``, the noise drawn from ``seed``."""
    g = torch.Generator().manual_seed(int(seed))
    sched = model.make_scheduler(sampler, steps, eta)
    z, inp = model.start(len(prompts), sched, g, init, mask, strength, size, latents, resample)
    for *_, z_prev, _ in model.reverse(z, prompts, negative, sched, guidance, g, controller=controller, inpaint=inp):
        z = z_prev
    return model.parts[0].decode_latents(z)
