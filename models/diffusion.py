"""Diffusion noise schedules and the DDPM / DDIM scheduler, separate from the network.

Equations: Ho et al. 2020, "Denoising Diffusion Probabilistic Models" (DDPM, eq. 4, 6, 7, 15);
Song et al. 2021, "Denoising Diffusion Implicit Models" (DDIM, eq. 12, 16);
Nichol & Dhariwal 2021, "Improved DDPM" (cosine schedule, eq. 17).
Laid out as in diffusers' scheduling_ddpm.py / scheduling_ddim.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def linear_beta_schedule(T: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """Ho et al. 2020, sec. 4: betas linear from 1e-4 to 0.02 for T = 1000 (float64)."""
    return torch.linspace(beta_start, beta_end, T, dtype=torch.float64)


def cosine_beta_schedule(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Nichol & Dhariwal 2021, eq. 17: alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) * pi/2) (float64)."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = 1 - f[1:] / f[:-1]
    return betas.clamp(0, max_beta)


@dataclass
class SchedulerOutput:
    prev_sample: torch.Tensor  # x_{t-1} (or x at the previous DDIM timestep)
    pred_original_sample: torch.Tensor  # x̂_0


def _extract(values: torch.Tensor, t: torch.Tensor | int, x: torch.Tensor) -> torch.Tensor:
    """values[t] broadcast to x's shape; t is an int or a (B,) tensor of timesteps."""
    if not torch.is_tensor(t):
        return values[int(t)].to(x.dtype)
    out = values.to(x.device)[t.to(values.device if values.device == x.device else x.device)]
    return out.to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))


class DiffusionScheduler:
    """Forward noising and one reverse step, for DDPM (all T steps) and DDIM (any number of steps)."""

    def __init__(self, num_train_timesteps: int = 1000, schedule: str = "linear",
                 beta_start: float = 1e-4, beta_end: float = 0.02, clip_sample: bool = True):
        if num_train_timesteps < 1:
            raise ValueError("num_train_timesteps must be at least 1")
        if schedule == "linear":
            betas = linear_beta_schedule(num_train_timesteps, beta_start, beta_end)
        elif schedule == "cosine":
            betas = cosine_beta_schedule(num_train_timesteps)
        else:
            raise ValueError(f"unknown schedule {schedule!r} (use 'linear' or 'cosine')")
        self.T = num_train_timesteps
        self.schedule = schedule
        self.clip_sample = clip_sample
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
        self.mode = "ddpm"
        self.eta = 0.0
        self.timesteps = torch.arange(self.T - 1, -1, -1)
        self._prev_t: dict[int, int] = {}

    # -- setup ------------------------------------------------------------------------------
    def set_timesteps(self, num_inference_steps: int | None = None, mode: str = "ddpm", eta: float = 0.0):
        """DDPM: all T timesteps. DDIM: K "leading" timesteps (T=1000, K=50: 980, 960, ..., 0)."""
        if mode not in ("ddpm", "ddim"):
            raise ValueError(f"unknown sampler {mode!r} (use 'ddpm' or 'ddim')")
        if mode == "ddpm":
            if num_inference_steps not in (None, self.T):
                raise ValueError(f"DDPM sampling runs all {self.T} steps; use DDIM for fewer")
            ts = torch.arange(self.T - 1, -1, -1)
        else:
            k = self.T if num_inference_steps is None else int(num_inference_steps)
            if not 1 <= k <= self.T:
                raise ValueError(f"DDIM steps must be between 1 and {self.T}, got {k}")
            ratio = self.T // k
            ts = (torch.arange(0, k) * ratio).flip(0)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.mode, self.eta, self.timesteps = mode, float(eta), ts.long()
        tl = self.timesteps.tolist()
        self._prev_t = {t: (tl[i + 1] if i + 1 < len(tl) else -1) for i, t in enumerate(tl)}
        return self.timesteps

    def previous_timestep(self, t: int) -> int:
        if self.mode == "ddpm":
            return t - 1
        return self._prev_t.get(int(t), int(t) - self.T // max(1, len(self.timesteps)))

    # -- forward ----------------------------------------------------------------------------
    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """q(x_t | x_0) sample, DDPM eq. 4: x_t = √ᾱ_t · x_0 + √(1−ᾱ_t) · ε."""
        return _extract(self.sqrt_alphas_cumprod, t, x0) * x0 + _extract(
            self.sqrt_one_minus_alphas_cumprod, t, x0) * noise

    # -- reverse ----------------------------------------------------------------------------
    def step(self, model_output: torch.Tensor, t: int, x_t: torch.Tensor,
             generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> SchedulerOutput:
        """One reverse step from timestep ``t`` given the predicted noise ``model_output``."""
        t = int(t)
        prev_t = self.previous_timestep(t)
        # 1. alphas and betas at t and the previous timestep (ᾱ_prev = 1 past the start)
        a_t = self.alphas_cumprod[t].item()
        a_prev = self.alphas_cumprod[prev_t].item() if prev_t >= 0 else 1.0
        # 2. predicted original sample (eq. 15), optionally clipped
        x0 = (x_t - math.sqrt(1 - a_t) * model_output) / math.sqrt(a_t)
        if self.clip_sample:
            x0 = x0.clamp(-1, 1)
        if self.mode == "ddpm":
            beta_t = 1 - a_t / a_prev
            # 3. posterior mean coefficients (eq. 7)
            c0 = math.sqrt(a_prev) * beta_t / (1 - a_t)
            ct = math.sqrt(1 - beta_t) * (1 - a_prev) / (1 - a_t)
            prev = c0 * x0 + ct * x_t
            # 4. add "fixed small" noise β̃_t only when t > 0
            if t > 0:
                var = max((1 - a_prev) / (1 - a_t) * beta_t, 1e-20)
                z = noise if noise is not None else _randn_like(x_t, generator)
                prev = prev + math.sqrt(var) * z
        else:
            # DDIM eq. 12 / 16: σ = η·√((1−ᾱ_prev)/(1−ᾱ_t) · (1−ᾱ_t/ᾱ_prev))
            eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t) if self.clip_sample else model_output
            sigma = self.eta * math.sqrt(max(0.0, (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)))
            prev = math.sqrt(a_prev) * x0 + math.sqrt(max(0.0, 1 - a_prev - sigma**2)) * eps
            if sigma > 0:
                z = noise if noise is not None else _randn_like(x_t, generator)
                prev = prev + sigma * z
        return SchedulerOutput(prev_sample=prev, pred_original_sample=x0)


def _randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)
