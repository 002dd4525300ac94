"""The common interface every generator implements, and the config stored in checkpoints.

Images cross this interface as float tensors (N, C, H, W) in [0, 1], whatever a model uses inside.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import ClassVar

import torch
from torch import nn

from latent_explorer.models.capabilities import placeholder
from latent_explorer.models.errors import ConfigError, DivergedError  # noqa: F401 - re-exported

# The one flat config of checkpoint format 1 held every family's fields; a format-1 file is read by
# dropping the fields that are not its family's.
FORMAT1_FIELDS = frozenset({
    "kind", "image_shape", "latent_dim", "num_classes", "class_names", "hidden", "beta", "noise_std", "width",
    "gan_loss", "gp_weight", "n_critic", "timesteps", "schedule", "ema_decay", "cond_drop"})


def need(cond, msg) -> None:
    if not cond:
        raise ConfigError(msg)


MAX_NAME = 100  # characters of a class name


@dataclass
class ModelConfig:
    """What every kind's config holds; each family adds its own fields in a subclass (stored in checkpoints
    as JSON). Class conditioning: ``num_classes`` > 0."""

    kind: str = "vae"
    image_shape: tuple[int, int, int] = (1, 8, 8)  # (C, H, W)
    latent_dim: int = 2
    num_classes: int = 0  # > 0: conditional on a class label
    class_names: list[str] = field(default_factory=list)

    image_sizes: ClassVar[tuple[int, int]] = (8, 64)  # images this many pixels a side
    square: ClassVar[bool] = True
    latent_dims: ClassVar[tuple[int, int]] = (2, 512)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict, legacy: bool = False) -> ModelConfig:
        if not isinstance(d, dict):
            raise ConfigError("the model config must be a JSON object")
        names = {f.name for f in fields(cls)}
        if legacy:
            d = {k: v for k, v in d.items() if k in names or k not in FORMAT1_FIELDS}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown model config keys: {sorted(unknown)}")
        d = dict(d)
        for f in fields(cls):
            if isinstance(d.get(f.name), bool) and f.type != "bool":  # JSON true is not the number 1
                raise ConfigError(f"model config '{f.name}' must be {f.type}, not {str(d[f.name]).lower()}")
            if f.name in d and f.type in ("tuple[int, int, int]", "tuple[int, ...]"):
                if not isinstance(d[f.name], (list, tuple)):
                    raise ConfigError(f"model config '{f.name}' must be a list")
                d[f.name] = tuple(d[f.name])
        try:
            cfg = cls(**d)
        except TypeError as e:
            raise ConfigError(str(e)) from None
        cfg.validate()
        return cfg

    def validate(self) -> None:
        from latent_explorer.models.registry import find, kinds

        need(find(self.kind) is not None,
             f"unknown model kind {self.kind!r} (known: {', '.join(kinds(trainable=True))})")
        need(isinstance(self.image_shape, tuple) and len(self.image_shape) == 3
             and all(isinstance(v, int) and not isinstance(v, bool) for v in self.image_shape),
             f"image_shape must be (channels, height, width), got {self.image_shape}")
        c, h, w = self.image_shape
        lo, hi = self.image_sizes
        need(c in (1, 3), f"images must have 1 or 3 channels, got {c}")
        if self.square:
            need(h == w and lo <= h <= hi, f"images must be square, {lo}x{lo} to {hi}x{hi}, got {h}x{w}")
        else:
            need(lo <= h <= hi and lo <= w <= hi, f"images must be {lo} to {hi} pixels a side, got {h}x{w}")
        lo, hi = self.latent_dims
        need(isinstance(self.latent_dim, int) and lo <= self.latent_dim <= hi,
             f"latent dim must be between {lo} and {hi}, got {self.latent_dim}")
        need(isinstance(self.num_classes, int) and 0 <= self.num_classes <= 1000,
             f"number of classes must be 0..1000, got {self.num_classes}")
        need(isinstance(self.class_names, list) and all(
            isinstance(n, str) and len(n) <= MAX_NAME and n.isprintable() for n in self.class_names),
            f"class names must be a list of short text (at most {MAX_NAME} printable characters each)")
        if self.num_classes and self.class_names:
            need(len(self.class_names) == self.num_classes,
                 f"{len(self.class_names)} class names for {self.num_classes} classes")
        spec = find(self.kind)
        need(spec.conditioning_optional or spec.conditioning != "class" or self.num_classes >= 2,
             f"a conditional model ({self.kind}) needs labelled data with at least 2 classes")


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
    """What the explorer and the trainer rely on. What a model can do is its kind's capabilities
    (:mod:`models.registry`), never its class or its kind's name."""

    loss_names: tuple[str, ...] = ()  # the terms train_step reports, in order

    def __init__(self, config: ModelConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.grad_sync = None  # set by distributed training: all-reduces gradients in place
        self.meta: dict = {}  # what a checkpoint said about this model (set by models.io.checkpoint.load)
        # a generator from elsewhere opened with probe="later": its first decode, to try in a child process
        # (models.io.probe) before it is used; None for every other model
        self.pending_probe = None

    # -- description -----------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.config.kind

    @property
    def spec(self):
        from latent_explorer.models.registry import get

        return get(self.config.kind)

    @property
    def capabilities(self):
        return self.spec.capabilities

    @property
    def has_encoder(self) -> bool:
        return self.capabilities.encoder

    @property
    def default_lr(self) -> float:
        return self.spec.defaults.lr

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
    def conditioning(self) -> str:
        """What this model is conditioned on: its kind's conditioning ("text", "image"); of a kind that takes
        classes or nothing, "class" when its config has classes, else "none"."""
        kind = self.spec.conditioning
        if kind in ("none", "class"):
            return "class" if self.config.num_classes > 0 else "none"
        return kind

    @property
    def conditional(self) -> bool:
        return self.conditioning != "none"

    @property
    def class_names(self) -> list[str]:
        names = list(self.config.class_names)
        return names if names else [str(i) for i in range(self.num_classes)]

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    # -- generation ------------------------------------------------------------------------
    @placeholder
    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    @placeholder
    def encode(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError(f"a {self.kind} model has no encoder")

    def latent_names(self) -> list[str]:
        """A name per dimension of z, as the editor labels its sliders."""
        return [f"z{i}" for i in range(self.latent_dim)]

    def origin(self) -> torch.Tensor:
        """The z the editor starts from and returns to on Reset: (latent_dim,)."""
        return torch.zeros(self.latent_dim)

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

    # Image-to-image models (the Sketch view, ``translate``): which ways they translate, whether their source
    # is ink on paper (else a colour picture), and whether a blank page is worth translating: the kind's Source.
    @property
    def directions(self) -> tuple[str, ...]:
        return self.spec.source.directions

    @property
    def takes_ink(self) -> bool:
        return self.spec.source.takes_ink(self.config)

    @property
    def needs_strokes(self) -> bool:
        return self.spec.source.needs_strokes

    def direction_title(self, direction: str = "a2b") -> str:
        return self.spec.title

    def condition_of(self, data):
        """What ``train_step`` and ``evaluate`` receive as y for the images of ``data`` (N, …) as numpy: the
        class labels of a class-conditional model, else None (a text-conditioned kind: token ids)."""
        return data.labels if self.conditional and data.labels is not None else None

    def resume_with(self, **changes) -> None:
        """Settings that may change when a run is resumed (:attr:`models.registry.Param.resumable`): set on
        the config and checked; ConfigError if they do not fit."""
        for name, value in changes.items():
            setattr(self.config, name, value)
        self.config.validate()

    def on_loaded(self, path) -> None:
        """Hook run once the checkpoint at ``path`` is read into this model (a model made of other
        checkpoints finds and checks them here; raise CheckpointError if they do not fit)."""

    def after_step(self) -> None:
        """Hook run after each optimizer step (EMA updates)."""

    def after_training(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        """Hook run once training ends with the training data (latent statistics)."""
