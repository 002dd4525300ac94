"""Samplers of the reverse diffusion process, one class each, separate from the network and from the noise
schedule (:class:`models.sampling.schedule.DiffusionScheduler` holds the betas and ᾱ_t).

Every sampler works in the variance-preserving coordinates the networks see: ``step`` takes x_t and the
predicted noise ε̂ at timestep t and returns x at the sampler's next timestep (and x̂_0), so a trajectory can
be shown frame by frame whatever the sampler. Laid out as diffusers' schedulers are, and tested against them
(``tests/models/test_samplers.py``) where diffusers has the same sampler:

- :class:`DDPMSampler`: Ho et al. 2020, eq. 6, 7, 15 — all T steps, "fixed small" variance β̃_t.
- :class:`DDIMSampler`: Song et al. 2021, eq. 12, 16 — K "leading" timesteps, η from 0 (deterministic) to 1.
- :class:`EulerAncestralSampler`: Karras et al. 2022 ("Euler a" of the web UIs, k-diffusion) — Euler steps of
  the probability-flow ODE in σ coordinates, σ_t = √((1−ᾱ_t)/ᾱ_t), with fresh noise at each step; K
  "trailing" timesteps (Lin et al. 2024: the first step starts at t = T−1, from pure noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class SchedulerOutput:
    prev_sample: torch.Tensor  # x at the sampler's next timestep (x_{t-1} for DDPM)
    pred_original_sample: torch.Tensor  # x̂_0


# The limits of a generation's settings, for every command (--seed, --cfg, --guidance) and every view that shows
# or restores them (a PNG's parameters): written here once. Steps are the model's own (1..T).
SEED_MAX = 2**32 - 1  # numpy's and torch's generators take any seed up to here
GUIDANCE_MAX = 50.0  # classifier-free guidance scale, from 0 (the prompt ignored)


def randn_like(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """N(0, I) shaped like ``x``, drawn from ``generator`` on its device (as diffusers' randn_tensor)."""
    if generator is None:
        return torch.randn_like(x)
    return torch.randn(x.shape, generator=generator, device=generator.device, dtype=x.dtype).to(x.device)


class Sampler:
    """The reverse process of one sampling run over a noise ``schedule``."""

    name = ""  # as the CLI and the views call it
    title = ""
    takes_steps = True  # False: always all T steps
    takes_eta = False

    def __init__(self, schedule):
        self.schedule = schedule
        self.T = schedule.T
        self.alphas_cumprod = schedule.alphas_cumprod
        # ᾱ_t as Python numbers, read once (one copy from a GPU): no tensor read a step
        self._abar = torch.as_tensor(schedule.alphas_cumprod).detach().cpu().double().tolist()
        self.timesteps = torch.arange(self.T - 1, -1, -1)
        self._prev: dict[int, int] = {}

    @classmethod
    def describe(cls, steps: str, eta: str) -> str:
        """"<title>: <steps, or all T steps><eta, if it takes η>", in the caller's words for the two settings
        (the CLI's help names its options, the views' tooltips what they do)."""
        return f"{cls.title}: " + (steps if cls.takes_steps else "all T steps") + (eta if cls.takes_eta else "")

    def add_noise(self, x0, noise, t):
        return self.schedule.add_noise(x0, noise, t)

    def __getattr__(self, name):  # the schedule's values (betas, log_snr, …) read through the sampler
        if name in ("schedule", "__setstate__") or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.schedule, name)

    def _use(self, timesteps: torch.Tensor) -> torch.Tensor:
        self.timesteps = timesteps.long()
        ts = self.timesteps.tolist()
        self._prev = {t: (ts[i + 1] if i + 1 < len(ts) else -1) for i, t in enumerate(ts)}
        return self.timesteps

    def previous_timestep(self, t: int) -> int:
        """The timestep after ``t`` in this run (-1 past the end: x_0)."""
        return self._prev.get(int(t), int(t) - 1)

    def _alpha_bar(self, t: int) -> float:
        return self._abar[t] if t >= 0 else 1.0

    def _steps(self, num_inference_steps: int | None) -> int:
        k = self.T if num_inference_steps is None else int(num_inference_steps)
        if not 1 <= k <= self.T:
            raise ValueError(f"{self.title} steps must be between 1 and {self.T}, got {k}")
        return k

    def set_timesteps(self, num_inference_steps: int | None = None) -> torch.Tensor:
        raise NotImplementedError

    def step(self, model_output: torch.Tensor, t: int, x_t: torch.Tensor,
             generator: torch.Generator | None = None, noise: torch.Tensor | None = None) -> SchedulerOutput:
        raise NotImplementedError

    def _x0(self, x_t, eps, a_t: float) -> torch.Tensor:
        """x̂_0 = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t (DDPM eq. 15), clipped to [−1, 1] when the schedule says so."""
        x0 = torch.add(x_t, eps, alpha=-math.sqrt(1 - a_t)).mul_(1 / math.sqrt(a_t))  # one new tensor, no more
        return x0.clamp_(-1, 1) if self.schedule.clip_sample else x0


class DDPMSampler(Sampler):
    name, title, takes_steps = "ddpm", "DDPM", False

    def set_timesteps(self, num_inference_steps: int | None = None) -> torch.Tensor:
        if num_inference_steps not in (None, self.T):
            raise ValueError(f"DDPM sampling runs all {self.T} steps; use DDIM or Euler a for fewer")
        return self._use(torch.arange(self.T - 1, -1, -1))

    def step(self, model_output, t, x_t, generator=None, noise=None):
        t = int(t)
        # 1. ᾱ at t and t − 1, β_t
        a_t, a_prev = self._alpha_bar(t), self._alpha_bar(t - 1)
        beta_t = 1 - a_t / a_prev
        # 2. x̂_0 (eq. 15)
        x0 = self._x0(x_t, model_output, a_t)
        # 3. the posterior mean μ̃_t(x_t, x̂_0) (eq. 7)
        prev = torch.mul(x0, math.sqrt(a_prev) * beta_t / (1 - a_t)).add_(
            x_t, alpha=math.sqrt(1 - beta_t) * (1 - a_prev) / (1 - a_t))
        # 4. + √β̃_t z, β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) β_t ("fixed small"), only while t > 0
        if t > 0:
            z = noise if noise is not None else randn_like(x_t, generator)
            prev = prev.add_(z, alpha=math.sqrt(max((1 - a_prev) / (1 - a_t) * beta_t, 1e-20)))
        return SchedulerOutput(prev, x0)


class DDIMSampler(Sampler):
    name, title, takes_eta = "ddim", "DDIM", True

    def __init__(self, schedule, eta: float = 0.0):
        super().__init__(schedule)
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be in [0, 1], got {eta}")
        self.eta = float(eta)

    def set_timesteps(self, num_inference_steps: int | None = None) -> torch.Tensor:
        """K "leading" timesteps: T = 1000, K = 50 gives 980, 960, …, 0."""
        k = self._steps(num_inference_steps)
        offset = getattr(self.schedule, "steps_offset", 0)  # diffusers' steps_offset (Stable Diffusion: 1)
        return self._use(((torch.arange(0, k) * (self.T // k)).flip(0) + offset).clamp(max=self.T - 1))

    def step(self, model_output, t, x_t, generator=None, noise=None):
        t = int(t)
        # 1. ᾱ at t and at the previous timestep of this run (past the end: 1, or ᾱ_0 where the schedule says
        #    so, diffusers' set_alpha_to_one=False)
        prev = self.previous_timestep(t)
        a_t = self._alpha_bar(t)
        a_prev = self._alpha_bar(prev) if prev >= 0 else getattr(self.schedule, "final_alpha_cumprod", 1.0)
        # 2. x̂_0 (eq. 12's "predicted x_0"), and ε̂ again from a clipped x̂_0
        x0 = self._x0(x_t, model_output, a_t)
        recompute = self.schedule.clip_sample and getattr(self.schedule, "clipped_model_output", True)
        eps = (x_t - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t) if recompute else model_output
        # 3. σ_t(η) (eq. 16)
        sigma = self.eta * math.sqrt(max(0.0, (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)))
        # 4. x_prev = √ᾱ_prev x̂_0 + √(1 − ᾱ_prev − σ²) ε̂ + σ z (eq. 12)
        prev = math.sqrt(a_prev) * x0 + math.sqrt(max(0.0, 1 - a_prev - sigma**2)) * eps
        if sigma > 0:
            z = noise if noise is not None else randn_like(x_t, generator)
            prev = prev + sigma * z
        return SchedulerOutput(prev, x0)


class EulerAncestralSampler(Sampler):
    name, title = "euler-a", "Euler a"

    def set_timesteps(self, num_inference_steps: int | None = None) -> torch.Tensor:
        """K "trailing" timesteps: T = 1000, K = 25 gives 999, 959, …, 39."""
        k = self._steps(num_inference_steps)
        ts = torch.arange(self.T, 0, -self.T / k, dtype=torch.float64).round() - 1
        return self._use(ts)

    def sigma(self, t: int) -> float:
        """σ_t = √((1 − ᾱ_t) / ᾱ_t): the noise level of x_σ = x_0 + σ ε (0 past the end)."""
        a = self._alpha_bar(t)
        return math.sqrt((1 - a) / a)

    def step(self, model_output, t, x_t, generator=None, noise=None):
        t = int(t)
        s, s_next = self.sigma(t), self.sigma(self.previous_timestep(t))
        # 1. into σ coordinates: x_σ = x_t √(σ² + 1) (x_t = √ᾱ x_0 + √(1−ᾱ) ε, and 1/√ᾱ = √(σ² + 1))
        x = x_t * math.sqrt(s * s + 1)
        # 2. x̂_0 = x_σ − σ ε̂ (not clipped, as in k-diffusion and diffusers)
        x0 = x - s * model_output
        # 3. split the step to σ_next into a deterministic part down to σ_down and fresh noise σ_up
        s_up = math.sqrt(max(0.0, s_next**2 * (s**2 - s_next**2) / s**2))
        s_down = math.sqrt(max(0.0, s_next**2 - s_up**2))
        # 4. one Euler step of dx/dσ = (x − x̂_0)/σ (Karras et al. 2022, eq. 3 / alg. 1) to σ_down
        prev = x + (x - x0) / s * (s_down - s)
        # 5. + σ_up z
        if s_up > 0:
            z = noise if noise is not None else randn_like(x_t, generator)
            prev = prev + s_up * z
        # 6. back to the variance-preserving coordinates of x at the next timestep
        return SchedulerOutput(prev / math.sqrt(s_next * s_next + 1), x0)


SAMPLERS: dict[str, type[Sampler]] = {c.name: c for c in (DDPMSampler, DDIMSampler, EulerAncestralSampler)}


def register_sampler(cls: type[Sampler]) -> type[Sampler]:
    """Add a sampler (its module calls this once at import): the CLI's ``--sampler``, every view's sampler list
    and :class:`models.sampling.settings.SamplingSettings` offer it, with its steps and η as its class says."""
    if not (isinstance(cls, type) and issubclass(cls, Sampler)) or not cls.name or not cls.title:
        raise TypeError(f"{cls!r}: a sampler is a Sampler subclass with a name and a title")
    if cls.name in SAMPLERS:
        raise ValueError(f"a sampler named {cls.name!r} is already registered")
    SAMPLERS[cls.name] = cls
    return cls


def unregister_sampler(name: str) -> None:
    SAMPLERS.pop(name, None)


def make_sampler(name: str, schedule, steps: int | None = None, eta: float = 0.0) -> Sampler:
    """A sampler ready for one run: ``name`` one of :data:`SAMPLERS` (DDPM: ``steps`` None or T)."""
    cls = SAMPLERS.get(name)
    if cls is None:
        raise ValueError(f"unknown sampler {name!r} (use {', '.join(SAMPLERS)})")
    sampler = cls(schedule, eta) if cls.takes_eta else cls(schedule)
    sampler.set_timesteps(steps)
    return sampler
