"""A user's own PyTorch modules, live (issue P): an autoencoder or VAE given as an encoder and a decoder, or a
GAN's generator, wrapped so that every view applies to it as to our own kinds. Nothing is scripted or
exported: the modules are called as they are, Python control flow and dict outputs included.

Images cross our interface in [0, 1]; a user's modules take and give them in their own range
(``image_range``, e.g. (-1, 1)), declared or detected from their data. Every output is checked before it is
shown: a decoder that returns no image batch of the declared shape, NaN, or values far outside its range
raises :class:`models.errors.ConfigError` with one sentence saying which."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, need
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.registry import Capabilities, KindSpec, TrainDefaults, register

RANGE_SLACK = 0.25  # a decoder's outputs may overshoot its range by this share of it (then are clipped)


@dataclass
class PythonConfig(ModelConfig):
    image_range: tuple[float, float] = (0.0, 1.0)  # what the user's images span (decoder out, encoder in)
    source: str = ""  # where the modules came from: "module.Class" of each, for the list's title
    # one code as the decoder takes it: () is (latent_dim,); a conv decoder's may be (D, 1, 1) (DCGAN) or
    # (4, 8, 8) (an encoder's feature map); the views see every code flat, latent_dim numbers
    code_shape: tuple[int, ...] = ()

    image_sizes = (4, 1024)
    square = False
    latent_dims = (1, 65536)

    def validate(self) -> None:
        super().validate()
        lo, hi = self.image_range
        need(hi > lo, f"image_range must be (low, high) with high > low, got {self.image_range}")


def first_tensor(out, what: str) -> torch.Tensor:
    """A module's output as one tensor: the tensor, the first of a tuple (a VAE encoder's (mu, logvar)), or
    a dict's "mu" / "mean" / "z" / "sample" / only entry."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if isinstance(out, Mapping):
        for key in ("mu", "mean", "z", "sample", "images", "x"):
            if isinstance(out.get(key), torch.Tensor):
                return out[key]
        tensors = [v for v in out.values() if isinstance(v, torch.Tensor)]
        if len(tensors) == 1:
            return tensors[0]
    raise ConfigError(f"the {what} returned {type(out).__name__}, not a tensor (or a tuple or dict holding one)")


class PythonModel(GenerativeModel):
    """``decode(z)`` = the decoder (or generator) of z, mapped from ``image_range`` to [0, 1];
    ``encode(x)`` = the encoder of x in ``image_range`` (its mean when it returns (mu, logvar))."""

    def __init__(self, config: PythonConfig, encoder=None, decoder=None, owner: nn.Module | None = None):
        """``encoder``, ``decoder``: modules or callables (``owner.encode``); ``owner``: the module they are
        methods of, if any (its parameters say the device)."""
        super().__init__(config)
        self.encoder, self.decoder, self.owner = encoder, decoder, owner
        # the codes' statistics: where an autoencoder without a prior samples (as our own AE does)
        self.register_buffer("z_mean", torch.zeros(config.latent_dim))
        self.register_buffer("z_std", torch.ones(config.latent_dim))

    @property
    def device(self):
        for m in (self.owner, self.decoder, self.encoder):
            for p in (m.parameters() if isinstance(m, nn.Module) else ()):
                return p.device
        return torch.device("cpu")

    def prior(self, n, generator=None):
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return z * self.z_std + self.z_mean

    def origin(self):
        return self.z_mean.detach().float().cpu().clone()

    @torch.no_grad()
    def fit_prior(self, images: torch.Tensor, batch: int = 500) -> None:
        """Sample where the data's codes lie (their mean and spread per dimension): an autoencoder's codes
        need not follow N(0, I). A VAE's do by training; its prior stays N(0, I)."""
        zs = torch.cat([self.encode(images[i : i + batch]) for i in range(0, len(images), batch)])
        self.z_mean.copy_(zs.mean(0))
        self.z_std.copy_(zs.std(0).clamp_min(1e-6) if len(zs) > 1 else torch.ones_like(self.z_std))

    def _to_user(self, x: torch.Tensor) -> torch.Tensor:
        lo, hi = self.config.image_range
        return x * (hi - lo) + lo

    @torch.no_grad()
    def decode(self, z, y=None):
        z = z.reshape(len(z), *self.config.code_shape) if self.config.code_shape else z
        out = first_tensor(self.decoder(z), "decoder")
        shape = (len(z), *self.image_shape)
        if out.dim() == 2 and out.shape[1] == self.image_shape[0] * self.image_shape[1] * self.image_shape[2]:
            out = out.reshape(shape)  # a decoder that gives flat pixels (an MLP's)
        if tuple(out.shape) != shape or not out.is_floating_point():
            raise ConfigError(f"the decoder returned a {out.dtype} tensor of shape {tuple(out.shape)}, not images "
                              f"of shape {shape} (N, C, H, W)")
        if not torch.isfinite(out).all():
            raise ConfigError("the decoder returned NaN or infinite values")
        lo, hi = self.config.image_range
        span = hi - lo
        if out.min() < lo - RANGE_SLACK * span or out.max() > hi + RANGE_SLACK * span:
            raise ConfigError(f"the decoder's images span {out.min().item():.3g} to {out.max().item():.3g}, far "
                              f"outside the image range {lo:g} to {hi:g}: give image_range= as the decoder's")
        return ((out.float() - lo) / span).clamp(0, 1)

    @torch.no_grad()
    def encode(self, x, y=None):
        if self.encoder is None:
            raise ConfigError("this model has no encoder")
        z = first_tensor(self.encoder(self._to_user(x.to(self.device))), "encoder")
        z = z.reshape(len(x), -1) if z.dim() > 2 and z.shape[0] == len(x) else z
        if z.dim() != 2 or z.shape[0] != len(x) or z.shape[1] != self.latent_dim:
            raise ConfigError(f"the encoder returned shape {tuple(z.shape)}, but the decoder takes codes of "
                              f"{self.latent_dim} numbers: ({len(x)}, {self.latent_dim}) was expected")
        if not torch.isfinite(z).all():
            raise ConfigError("the encoder returned NaN or infinite values")
        return z.float()

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("a model from your Python is trained in your own loop, not here")


def returns_distribution(out) -> bool:
    """A VAE encoder's output: (mu, logvar) or a dict with a log-variance (or standard deviation)."""
    if isinstance(out, (tuple, list)):
        return len(out) >= 2 and all(isinstance(t, torch.Tensor) for t in out[:2]) and out[0].shape == out[1].shape
    return isinstance(out, Mapping) and any(k in out for k in ("logvar", "log_var", "std", "sigma"))


def from_modules(*, model=None, encoder=None, decoder=None, generator=None, latent_dim: int | None = None,
                 images: torch.Tensor | None = None, image_range=(0.0, 1.0), image_shape=None) -> PythonModel:
    """A user's modules as a model of ours, checked on one call each: an autoencoder or VAE (``encoder`` and
    ``decoder``, or ``model`` with ``encode``/``decode``), or a generator (``generator`` with ``latent_dim``).
    ``images`` (N, C, H, W) in [0, 1]: their data, which says the image shape and the code size."""
    owner = model if isinstance(model, nn.Module) else None
    if model is not None:
        if encoder is not None or decoder is not None or generator is not None:
            raise ConfigError("give a model, or an encoder and decoder, or a generator: not several")
        for method in ("encode", "decode"):
            if not callable(getattr(model, method, None)):
                raise ConfigError(f"the model has no {method}() method: give encoder= and decoder= instead")
        encoder, decoder = model.encode, model.decode
    if generator is not None:
        if encoder is not None or decoder is not None:
            raise ConfigError("a generator has no encoder: give generator= alone, or encoder= and decoder=")
        if latent_dim is None:
            raise ConfigError("give latent_dim=: the size of the code the generator takes")
        decoder, kind = generator, "python-generator"
    else:
        if encoder is None or decoder is None:
            raise ConfigError("give encoder= and decoder= (or model= with encode and decode, or generator=)")
        kind = "python-autoencoder"
    if not callable(decoder) or (encoder is not None and not callable(encoder)):
        raise ConfigError("the encoder and decoder must be modules or functions")
    lo, hi = (float(v) for v in image_range)
    vae = False
    if encoder is not None:
        if images is None:
            raise ConfigError("give data= (images) with an encoder: its codes are what the map shows")
        try:
            with torch.no_grad():
                out = encoder(images[:2] * (hi - lo) + lo)
        except Exception as e:  # the user's code failed on their data: say on what, in one line
            from latent_explorer.models.errors import reason

            raise ConfigError(f"the encoder fails on the data's images, of shape {tuple(images.shape[1:])}: "
                              f"{reason(e)}") from e
        vae = returns_distribution(out)
        z = first_tensor(out, "encoder")
        found = int(z[0].numel()) if z.dim() >= 2 and len(z) == min(2, len(images)) else None
        if found is None:
            raise ConfigError(f"the encoder returned shape {tuple(z.shape)} for 2 images: one code per image "
                              "was expected")
        if latent_dim is not None and latent_dim != found:
            raise ConfigError(f"the encoder gives codes of {found} numbers, not latent_dim={latent_dim}")
        latent_dim = found
        code_shape = tuple(int(v) for v in z.shape[1:]) if z.dim() > 2 else ()
    else:
        code_shape = _code_shape(decoder, int(latent_dim))
    if image_shape is None and images is not None:
        image_shape = tuple(images.shape[1:])
    if image_shape is None:
        with torch.no_grad():
            out = first_tensor(decoder(torch.zeros(2, *(code_shape or (latent_dim,)))), "decoder")
        if out.dim() != 4:
            raise ConfigError(f"the decoder returned shape {tuple(out.shape)}: give data= or image_shape= "
                              "(C, H, W) to say what its images are")
        image_shape = tuple(out.shape[1:])
    config = PythonConfig(kind=kind, image_shape=tuple(int(v) for v in image_shape), latent_dim=int(latent_dim),
                          image_range=(lo, hi), source=_named(model, encoder, decoder), code_shape=code_shape)
    config.validate()
    built = PythonModel(config, encoder, decoder, owner)
    try:  # one call now: a clear message before any window opens
        built.decode(torch.zeros(2, config.latent_dim, device=built.device))
    except ConfigError:
        raise
    except Exception as e:  # the user's code failed: say on what, in one line
        from latent_explorer.models.errors import reason

        came = "the encoder's codes" if encoder is not None else "latent_dim"
        raise ConfigError(f"the decoder fails on codes of {config.latent_dim} numbers ({came}): {reason(e)}") from e
    if encoder is not None:
        if vae:
            built.meta["posterior"] = "gaussian"  # N(0, I) is its prior
        else:
            built.fit_prior(images.to(built.device))
    return built


def _code_shape(decoder, latent_dim: int) -> tuple[int, ...]:
    """How a generator takes its z: flat (B, D) (), or (B, D, 1, 1) as a DCGAN's transposed convolutions do.
    The flat form is tried first; when both fail, the decode check below says why the flat one did."""
    owner = getattr(decoder, "__self__", decoder)
    device = next((p.device for p in owner.parameters()), None) if isinstance(owner, nn.Module) else None
    for shape in ((), (latent_dim, 1, 1)):
        try:
            with torch.no_grad():
                decoder(torch.zeros(2, *(shape or (latent_dim,)), device=device))
            return shape
        except Exception:  # noqa: BLE001 - the user's code: the next form, or the check's message
            continue
    return ()


def _named(*objects) -> str:
    for o in objects:
        if o is not None:
            target = getattr(o, "__self__", o)  # a bound method: its module's class
            cls = type(target)
            return f"{cls.__module__}.{cls.__qualname__}"
    return ""


_NOT_TRAINED_HERE = dict(trainable=False, latent_dim=None)
register(KindSpec("python-autoencoder", "Your autoencoder (from Python)", PythonModel, PythonConfig,
                  TrainDefaults(1, 1, 1e-3), Capabilities(encoder=True), **_NOT_TRAINED_HERE))
register(KindSpec("python-generator", "Your generator (from Python)", PythonModel, PythonConfig,
                  TrainDefaults(1, 1, 1e-3), Capabilities(directions=True), **_NOT_TRAINED_HERE))
