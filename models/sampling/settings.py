"""The settings of one generation, with their limits written once: sampler, steps, η, guidance, seed, batch.

The command line, the views' :class:`explorer.sampling_controls.SamplingControls` and the PNG ``parameters``
writer and reader all take a :class:`SamplingSettings`. What a sampler takes comes from its class in
:data:`models.sampling.samplers.SAMPLERS` (``takes_steps``, ``takes_eta``), never from its name: a new sampler
that takes η is offered η everywhere without another line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.sampling.samplers import GUIDANCE_MAX, SAMPLERS, SEED_MAX

ETA_MAX = 1.0  # η = 0: deterministic DDIM; η = 1: DDPM's variance (Song et al. 2021, eq. 16)
BATCH_MAX = 1024  # images in one generation (`sample --n`; a grid bigger than memory allows is refused first)
TEXT_BATCH_MAX = 256  # images of one text-to-image generation (each runs the U-Net twice a step)
DEFAULT_SAMPLER = "ddim"  # with a number of steps; without one, a sampler that runs all T steps (DDPM)
DEFAULT_STEPS = 25  # the views' and txt2img's steps
DEFAULT_GUIDANCE = 1.0  # no guidance; text-to-image models: TEXT_GUIDANCE
TEXT_GUIDANCE = 5.0


def full_sampler() -> str:
    """The sampler that runs every one of the T steps (a sampler that takes no step count)."""
    return next(name for name, cls in SAMPLERS.items() if not cls.takes_steps)


def _names(pred, titles: bool = False) -> str:
    names = [cls.title if titles else n for n, cls in SAMPLERS.items() if pred(cls)]
    return ", ".join(names[:-1]) + (" or " if len(names) > 1 else "") + names[-1]


@dataclass(frozen=True)
class SamplingSettings:
    """One generation's settings. ``steps=None``: all T steps for a sampler that takes no count, else the
    caller's default; ``sampler=None``: :data:`DEFAULT_SAMPLER` with a step count, the full sampler without."""

    sampler: str | None = None  # a name of SAMPLERS
    steps: int | None = None  # 1..T
    eta: float = 0.0  # 0..ETA_MAX, for a sampler that takes η
    guidance: float = DEFAULT_GUIDANCE  # classifier-free guidance scale, 0..GUIDANCE_MAX
    seed: int = 0  # 0..SEED_MAX
    batch: int = 1  # 1..BATCH_MAX

    @property
    def takes_steps(self) -> bool:
        return SAMPLERS[self.sampler or DEFAULT_SAMPLER].takes_steps

    @property
    def takes_eta(self) -> bool:
        return SAMPLERS[self.sampler or DEFAULT_SAMPLER].takes_eta

    @property
    def title(self) -> str:
        return SAMPLERS[self.sampler or DEFAULT_SAMPLER].title

    def check(self) -> SamplingSettings:
        """Every value in its range, or ConfigError naming the option (as ``--name``)."""
        if self.sampler is not None and self.sampler not in SAMPLERS:
            raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        for name, v, hi in (("guidance", self.guidance, GUIDANCE_MAX), ("eta", self.eta, ETA_MAX)):
            if not isinstance(v, (int, float)) or not math.isfinite(v) or not 0 <= v <= hi:
                raise ConfigError(f"--{name} must be between 0 and {hi:g}, got {v}")
        for name, v, lo, hi in (("seed", self.seed, 0, SEED_MAX), ("n", self.batch, 1, BATCH_MAX)):
            if not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(f"--{name} must be between {lo} and {hi}, got {v}")
        return self

    def for_model(self, timesteps: int, default_steps: int | None = None) -> SamplingSettings:
        """Resolved for a diffusion model of ``timesteps`` steps: the sampler named, ``steps`` None exactly when
        the sampler runs all T, η 0 unless the sampler takes it. ConfigError for what the sampler refuses."""
        self.check()
        full = self.sampler is not None and not SAMPLERS[self.sampler].takes_steps
        steps = self.steps if self.steps is not None or full else default_steps
        sampler = self.sampler or (DEFAULT_SAMPLER if steps else full_sampler())
        cls = SAMPLERS[sampler]
        if not cls.takes_steps:
            if steps not in (None, timesteps):
                raise ConfigError(f"{cls.title} sampling runs all {timesteps} steps; use --sampler "
                                  f"{_names(lambda c: c.takes_steps)} for fewer")
            steps = None
        elif steps is not None and not 1 <= steps <= timesteps:
            raise ConfigError(f"--steps must be between 1 and {timesteps}")
        if self.eta and not cls.takes_eta:
            raise ConfigError(f"--eta applies to the {_names(lambda c: c.takes_eta, True)} sampler only, not {sampler}")
        return replace(self, sampler=sampler, steps=steps, eta=self.eta if cls.takes_eta else 0.0)

    def steps_run(self, timesteps: int) -> int:
        """How many network evaluations a resolved generation makes (per image, before guidance doubles them)."""
        return timesteps if self.steps is None else self.steps

    def sample_kwargs(self) -> dict:
        """What a diffusion model's ``sample`` takes."""
        return dict(sampler=self.sampler, steps=self.steps, eta=self.eta, guidance=self.guidance)
