"""A user's own noise-prediction network, live (``latent_explorer.show(denoiser=..., betas=...)``, issue P.2):
``denoiser(x_t, t)`` → ε̂ for images in [-1, 1], with the betas it was trained with (or a diffusers scheduler
that holds them). It runs as our DDPM does (the same samplers, every step recorded in the Diffusion view),
as a diffusers UNet2DModel opened from its folder does (:mod:`models.io.diffusers_models`): the network is
the user's, the reverse process ours."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, need
from latent_explorer.models.errors import ConfigError, reason
from latent_explorer.models.kinds.ddpm import DDPM
from latent_explorer.models.kinds.python_modules import first_tensor
from latent_explorer.models.registry import Capabilities, KindSpec, TrainDefaults, register
from latent_explorer.models.sampling.schedule import DiffusionScheduler

MAX_TIMESTEPS = 100_000


@dataclass
class PythonDenoiserConfig(ModelConfig):
    timesteps: int = 1000
    clip_sample: bool = True  # x̂_0 clipped to [-1, 1] at each step, as DDPM and diffusers do by default
    # DDIM with clip_sample: ε̂ recomputed from the clipped x̂_0 (ours), or kept as predicted (False: as
    # diffusers' DDIMPipeline runs, for a schedule that came from a diffusers scheduler)
    clipped_model_output: bool = True
    source: str = ""  # "module.Class" of the network

    image_sizes = (4, 1024)
    square = False
    latent_dims = (1, 3 * 1024 * 1024)

    def __post_init__(self):
        c, h, w = self.image_shape
        self.latent_dim = int(c) * int(h) * int(w)  # the "latent" of a diffusion model is x_T

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.timesteps, int) and 1 <= self.timesteps <= MAX_TIMESTEPS,
             f"timesteps must be 1..{MAX_TIMESTEPS}")


class _Net(nn.Module):
    """The user's network as ours are called: net(x_t, t[, y]) -> ε̂, checked at every call."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x, t, y=None):
        out = self.net(x, t)
        eps = first_tensor(getattr(out, "sample", out), "denoiser")  # a diffusers output's .sample, or ours
        if tuple(eps.shape) != tuple(x.shape):
            raise ConfigError(f"the denoiser returned shape {tuple(eps.shape)} for x_t of shape {tuple(x.shape)}: "
                              "it must predict the noise ε, of x_t's shape")
        if not torch.isfinite(eps).all():
            raise ConfigError("the denoiser returned NaN or infinite values")
        return eps.float()


class PythonDenoiser(DDPM):
    """A user's ε-network as a (class-free) DDPM: our samplers, our views."""

    def __init__(self, config: PythonDenoiserConfig, net=None, betas=None):
        GenerativeModel.__init__(self, config)
        self.ema = _Net(net).requires_grad_(False).eval() if net is not None else None
        self.unet = self.ema
        with torch.device("cpu"):
            self.scheduler = DiffusionScheduler(config.timesteps, "linear", clip_sample=config.clip_sample,
                                                betas=betas, clipped_model_output=config.clipped_model_output)

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("a model from your Python is trained in your own loop, not here")


def _betas_of(betas, scheduler) -> torch.Tensor:
    if (betas is None) == (scheduler is None):
        raise ConfigError("give the denoiser's noise schedule: betas= (T numbers) or scheduler= (a diffusers "
                          "scheduler), one of them")
    if scheduler is not None:
        pred = getattr(getattr(scheduler, "config", None), "prediction_type", "epsilon")
        if pred != "epsilon":
            raise ConfigError(f"the scheduler's prediction_type is {pred!r}: only a denoiser that predicts the noise "
                              "(epsilon) can be shown")
        betas = getattr(scheduler, "betas", None)
        if betas is None:
            raise ConfigError(f"the scheduler ({type(scheduler).__name__}) has no betas")
    try:
        b = torch.as_tensor(betas, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as e:
        raise ConfigError(f"betas must be numbers: {reason(e)}") from None
    if not 1 <= len(b) <= MAX_TIMESTEPS or not torch.isfinite(b).all() or not ((b > 0) & (b < 1)).all():
        raise ConfigError(f"betas must be 1 to {MAX_TIMESTEPS:,} numbers between 0 and 1 (got {len(b):,})")
    return b


def from_denoiser(denoiser, *, betas=None, scheduler=None, image_shape=None, clip_sample: bool | None = None
                  ) -> PythonDenoiser:
    """The user's denoiser as a model of ours, checked on one call (the noisiest step, x_T = 0)."""
    if not callable(denoiser):
        raise ConfigError("the denoiser must be a module or a function of (x_t, t)")
    if image_shape is None:
        raise ConfigError("give image_shape=(C, H, W) (or data=): the size of the images the denoiser makes")
    b = _betas_of(betas, scheduler)
    if clip_sample is None:  # as its scheduler says, else as DDPM (Ho et al. 2020) did
        clip_sample = bool(getattr(getattr(scheduler, "config", None), "clip_sample", True))
    source = type(getattr(denoiser, "__self__", denoiser))
    config = PythonDenoiserConfig(kind="python-denoiser", image_shape=tuple(int(v) for v in image_shape),
                                  timesteps=len(b), clip_sample=bool(clip_sample),
                                  clipped_model_output=scheduler is None,
                                  source=f"{source.__module__}.{source.__qualname__}")
    config.validate()
    model = PythonDenoiser(config, denoiser, b)
    x = torch.zeros(1, *config.image_shape, device=model.device)
    try:
        model.predict_noise(x, config.timesteps - 1)
    except ConfigError:
        raise
    except Exception as e:  # the user's code failed: say on what, in one line
        raise ConfigError(f"the denoiser fails on x_t of shape {tuple(x.shape)} at t = {config.timesteps - 1}: "
                          f"{reason(e)}") from e
    return model


register(KindSpec("python-denoiser", "Your denoiser (from Python)", PythonDenoiser, PythonDenoiserConfig,
                  TrainDefaults(1, 1, 1e-3), Capabilities(diffusion=True, slow_decode=True, inpaints=True),
                  trainable=False,
                  latent_dim=None, map_samples=128,
                  description="a noise-prediction network of yours; the reverse process and its samplers are "
                              "ours"))
