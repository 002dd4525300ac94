"""The common interface every generator implements, and the config stored in checkpoints.

Images cross this interface as float tensors (N, C, H, W) in [0, 1], whatever a model uses inside.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

KINDS = ("ae", "dae", "vae", "cvae", "aae", "gan", "cgan", "wgan", "ddpm")
KIND_NAMES = {
    "ae": "Autoencoder", "dae": "Denoising autoencoder", "vae": "Variational autoencoder",
    "cvae": "Conditional VAE", "aae": "Adversarial autoencoder", "gan": "GAN (DCGAN)",
    "cgan": "Conditional GAN", "wgan": "WGAN-GP", "ddpm": "Diffusion (DDPM)",
    "torchscript": "External generator (TorchScript)",
}


class ConfigError(ValueError):
    """A model or training setting that cannot work; the message is meant for the user."""


class DivergedError(ArithmeticError):
    """A loss or gradient became NaN/Inf; the step that caused it was not applied."""


@dataclass
class ModelConfig:
    kind: str = "vae"
    image_shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W); H == W, 8..64
    latent_dim: int = 2  # 2..512 (DDPM: fixed to C*H*W, the shape of x_T)
    num_classes: int = 0  # > 0 makes a model conditional (cvae, cgan; ddpm with --conditional)
    class_names: list[str] = field(default_factory=list)
    hidden: tuple[int, ...] = (512,)  # MLP widths of the autoencoder family
    beta: float = 1.0  # VAE: weight of the KL term (Higgins et al. 2017)
    noise_std: float = 0.3  # DAE: std of the Gaussian input corruption
    width: int = 64  # base channels of conv nets (GAN, DDPM)
    gan_loss: str = "bce"  # "bce" (non-saturating) or "wgan-gp"
    gp_weight: float = 10.0  # WGAN-GP gradient penalty weight (Gulrajani et al. 2017)
    n_critic: int = 5  # WGAN-GP: critic updates per generator update
    timesteps: int = 1000  # DDPM T
    schedule: str = "linear"
    ema_decay: float = 0.999
    cond_drop: float = 0.1  # DDPM label dropout for classifier-free guidance (Ho & Salimans 2022)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> ModelConfig:
        if not isinstance(d, dict):
            raise ConfigError("the model config must be a JSON object")
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        for key in ("image_shape", "hidden"):
            if key in d:
                if not isinstance(d[key], (list, tuple)):
                    raise ConfigError(f"model config '{key}' must be a list")
                d[key] = tuple(d[key])
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        def need(cond, msg):
            if not cond:
                raise ConfigError(msg)

        need(self.kind in KINDS, f"unknown model kind {self.kind!r} (known: {', '.join(KINDS)})")
        need(len(self.image_shape) == 3 and all(isinstance(v, int) for v in self.image_shape),
             f"image_shape must be (channels, height, width), got {self.image_shape}")
        c, h, w = self.image_shape
        need(c in (1, 3), f"images must have 1 or 3 channels, got {c}")
        need(h == w and 8 <= h <= 64, f"images must be square, 8x8 to 64x64, got {h}x{w}")
        if self.kind != "ddpm":
            need(isinstance(self.latent_dim, int) and 2 <= self.latent_dim <= 512,
                 f"latent dim must be between 2 and 512, got {self.latent_dim}")
        need(isinstance(self.num_classes, int) and 0 <= self.num_classes <= 1000,
             f"number of classes must be 0..1000, got {self.num_classes}")
        need(self.kind not in ("cvae", "cgan") or self.num_classes >= 2,
             f"a conditional model ({self.kind}) needs labelled data with at least 2 classes")
        need(all(isinstance(v, int) and 1 <= v <= 8192 for v in self.hidden) and self.hidden,
             f"hidden widths must be 1..8192, got {self.hidden}")
        need(math.isfinite(self.beta) and self.beta >= 0, f"beta must be >= 0, got {self.beta}")
        need(math.isfinite(self.noise_std) and self.noise_std >= 0, "noise std must be >= 0")
        need(isinstance(self.width, int) and 4 <= self.width <= 512, f"width must be 4..512, got {self.width}")
        need(self.gan_loss in ("bce", "wgan-gp"), f"unknown GAN loss {self.gan_loss!r} (bce or wgan-gp)")
        need(isinstance(self.n_critic, int) and self.n_critic >= 1, "n_critic must be >= 1")
        need(isinstance(self.timesteps, int) and 10 <= self.timesteps <= 10000, "timesteps must be 10..10000")
        need(self.schedule in ("linear", "cosine"), f"unknown schedule {self.schedule!r}")
        need(0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)")
        need(0 <= self.cond_drop < 1, "cond_drop must be in [0, 1)")
        if self.num_classes and self.class_names:
            need(len(self.class_names) == self.num_classes,
                 f"{len(self.class_names)} class names for {self.num_classes} classes")


def one_hot(y: torch.Tensor | None, n: int, batch: int, device) -> torch.Tensor:
    """(B,) labels -> (B, n) one-hot; no labels -> (B, 0) (unconditional)."""
    if n == 0:
        return torch.zeros(batch, 0, device=device)
    if y is None:
        raise ConfigError("this model is conditional: give a class label")
    y = torch.as_tensor(y, device=device).long().reshape(-1)
    if y.numel() == 1 and batch > 1:
        y = y.expand(batch)
    if y.min() < 0 or y.max() >= n:
        raise ConfigError(f"class label out of range 0..{n - 1}")
    return nn.functional.one_hot(y, n).float()


def adam(params, lr: float, betas=(0.9, 0.999)) -> torch.optim.Adam:
    """Adam (Kingma & Ba 2015) with multi-tensor (foreach) updates, which PyTorch uses by default only on
    CUDA; on the CPU they are markedly faster for our many small tensors."""
    return torch.optim.Adam(params, lr=lr, betas=betas, foreach=True)


def losses_to_floats(losses: dict[str, torch.Tensor]) -> dict[str, float]:
    """Detached loss tensors -> floats with one device sync."""
    values = torch.stack([v.detach().float() for v in losses.values()]).tolist()
    return dict(zip(losses, values))


def optimize(loss: torch.Tensor, opt: torch.optim.Optimizer, params, clip: float | None = None,
             grad_sync=None, name: str = "loss") -> None:
    """One guarded optimizer step: a NaN/Inf loss or gradient raises DivergedError before any weight
    changes, so the weights are always those of the last good step. ``clip`` clips the gradient norm.

    The guard is the gradient's L2 norm plus the loss, read with one device sync: NaN and Inf propagate,
    and a norm whose square overflows (about 1e19) counts as diverged, which catches an absurd learning
    rate long before the weights turn into NaN. (A plain sum of the gradients is cheaper but lets such a
    run go on with garbage weights.)"""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for p in params if p.grad is not None]
    if grad_sync is not None:  # every rank takes part, so a NaN on one rank stops them all alike
        grad_sync(params)
    if clip:
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
    else:  # the norm alone: clip_grad_norm_ with no limit would also rescale every gradient by 1
        norm = torch.nn.utils.get_total_norm([p.grad for p in params], foreach=True)
    if not torch.isfinite(norm + loss.detach()):
        if not torch.isfinite(loss):
            raise DivergedError(f"the {name} became {loss.item()}")
        raise DivergedError(f"the gradient of the {name} became {norm.item()}")
    opt.step()


class GenerativeModel(nn.Module):
    """What the explorer and the trainer rely on. Subclasses set ``has_encoder``."""

    has_encoder = False
    default_lr = 1e-3
    loss_names: tuple[str, ...] = ()  # the terms train_step reports, in order

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.grad_sync = None  # set by distributed training: all-reduces gradients in place

    # -- description -----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.image_shape)  # type: ignore[return-value]

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    @property
    def num_classes(self) -> int:
        return self.config.num_classes

    @property
    def conditional(self) -> bool:
        return self.config.num_classes > 0

    @property
    def class_names(self) -> list[str]:
        names = list(self.config.class_names)
        return names if names else [str(i) for i in range(self.num_classes)]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # -- generation ------------------------------------------------------------------------
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"a {self.kind} model has no encoder")

    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), (n, latent_dim), drawn on the CPU for reproducibility."""
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    @torch.no_grad()
    def sample(self, n: int, y: torch.Tensor | None = None, generator: torch.Generator | None = None,
               **kwargs) -> torch.Tensor:
        return self.decode(self.prior(n, generator), y)

    # -- training --------------------------------------------------------------------------
    def make_optimizers(self, lr: float | None = None) -> dict[str, torch.optim.Optimizer]:
        return {"opt": adam(self.parameters(), lr or self.default_lr)}

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None, opts: dict, step: int) -> dict[str, float]:
        """One update on a batch x in [0, 1]; returns the losses by name (per image)."""
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator | None = None
                 ) -> dict[str, float]:
        """Validation figures on a batch (per image), without updating anything."""
        raise NotImplementedError

    @torch.no_grad()
    def preview(self, x: torch.Tensor, y: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
        """Images to show while training: samples (or reconstructions when there is no prior)."""
        yy = None
        if self.conditional:
            yy = torch.arange(len(x), device=self.device) % self.num_classes
        return self.sample(len(x), yy, generator=generator)

    def after_step(self) -> None:
        """Hook run after each optimizer step (EMA updates)."""

    def after_training(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """Hook run once training ends with the training data (latent statistics)."""
