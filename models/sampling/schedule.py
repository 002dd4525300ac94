"""Diffusion noise schedules (the betas and ᾱ_t) and the forward process, separate from the network; the
reverse-process samplers are :mod:`models.sampling.samplers`.

Equations: Ho et al. 2020, "Denoising Diffusion Probabilistic Models" (DDPM, eq. 4, 6, 7, 15);
Song et al. 2021, "Denoising Diffusion Implicit Models" (DDIM, eq. 12, 16);
Nichol & Dhariwal 2021, "Improved DDPM" (cosine schedule, eq. 17).
Laid out as in diffusers' scheduling_ddpm.py / scheduling_ddim.py.
"""

from __future__ import annotations

import math

import torch

from latent_explorer.models.sampling.samplers import SchedulerOutput


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al. 2020, sec. 4: betas linear from 1e-4 to 0.02 for T = 1000 (float64)."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021, eq. 17: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) (float64)."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - f[1:] / f[:-1]
    return betas.clamp(0, max_beta)


def _extract(values: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """values[t] broadcast to x's shape; t is an int or a (B,) tensor of timesteps."""
    if not torch.is_tensor(t):
        return values[int(t)].to(x.dtype)
    out = values.to(x.device)[t.to(values.device if values.device == x.device else x.device)]
    return out.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


class DiffusionScheduler:
    """Forward noising and one reverse step, for DDPM (all T steps) and DDIM (any number of steps)."""

    def __init__(self, num_train_timesteps: int = 1000, schedule: str = "linear",
                 beta_start: float = 1e-4, beta_end: float = 0.02, clip_sample: bool = True,
                 betas: torch.Tensor | None = None, clipped_model_output: bool = True):
        if num_train_timesteps < 1:
            raise ValueError("num_train_timesteps must be at least 1")
        if betas is not None:  # given (a model trained elsewhere, e.g. with diffusers)
            betas = torch.as_tensor(betas, dtype=torch.float64)
            if betas.shape != (num_train_timesteps,) or not ((betas > 0) & (betas < 1)).all():
                raise ValueError(f"betas must be {num_train_timesteps} values in (0, 1)")
        elif schedule == "linear":
            betas = linear_beta_schedule(num_train_timesteps, beta_start, beta_end)
        elif schedule == "cosine":
            betas = cosine_beta_schedule(num_train_timesteps)
        else:
            raise ValueError(f"unknown schedule {schedule!r} (use 'linear' or 'cosine')")
        self.T = num_train_timesteps
        self.schedule = schedule
        self.clip_sample = clip_sample
        # DDIM with clip_sample: ε̂ recomputed from the clipped x̂_0 (diffusers' use_clipped_model_output=True,
        # our own models) or the network's ε̂ as it is (False: diffusers' DDIMPipeline, for its models)
        self.clipped_model_output = clipped_model_output
        self.steps_offset = 0  # added to DDIM's "leading" timesteps (diffusers' steps_offset)
        self.final_alpha_cumprod = 1.0  # ᾱ past the last DDIM step (diffusers' set_alpha_to_one=False: ᾱ_0)
        alphas_cumprod = torch.cumprod(1.0 - betas, 0)
        # Derived values are computed once in float64 and stored as float32.
        self.betas = betas.float()
        self.alphas = (1.0 - betas).float()
        self.alphas_cumprod = alphas_cumprod.float()
        self.sqrt_alphas_cumprod = alphas_cumprod.sqrt().float()
        self.sqrt_one_minus_alphas_cumprod = (1 - alphas_cumprod).sqrt().float()
        prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        # "fixed small" posterior variance β̃_t (DDPM eq. 7), clamped as in diffusers.
        self.posterior_variance = ((1 - prev) / (1 - alphas_cumprod) * betas).clamp(min=1e-20).float()
        self.posterior_variance[0] = 0.0
        self.log_snr = (alphas_cumprod.log() - (1 - alphas_cumprod).log()).float()
        self.set_timesteps(None, "ddpm")

    # -- sampling (one run) ----------------------------------------------------------------------
    # Kept for callers of the first API; the samplers themselves are the classes of models.sampling.samplers.
    def set_timesteps(self, num_inference_steps: int | None = None, mode: str = "ddpm", eta: float = 0.0):
        """Sample with ``mode`` (a name of models.sampling.samplers.SAMPLERS) from now on; returns its timesteps."""
        from latent_explorer.models.sampling.samplers import make_sampler

        self._sampler = make_sampler(mode, self, num_inference_steps, eta)
        self.mode, self.eta, self.timesteps = mode, float(eta), self._sampler.timesteps
        return self.timesteps

    def previous_timestep(self, t: int) -> int:
        return self._sampler.previous_timestep(t)

    # -- forward ----------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """q(x_t | x_0) sample, DDPM eq. 4: x_t = √ᾱ_t · x_0 + √(1−ᾱ_t) · ε."""
        return _extract(self.sqrt_alphas_cumprod, t, x0) * x0 + _extract(
            self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    def step(self, model_output: torch.Tensor, t: int, x_t: torch.Tensor,
             generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> SchedulerOutput:
        """One reverse step of the current sampler from timestep ``t`` given the predicted noise."""
        return self._sampler.step(model_output, t, x_t, generator=generator, noise=noise)
