"""The kind registry: every model kind is one module that registers one :class:`KindSpec`.

    register(KindSpec("vae", "Variational autoencoder", VAE, AutoencoderConfig, TrainDefaults(20, 128, 1e-3),
                      capabilities=Capabilities(encoder=True, likelihood="bound"), params=(BETA, HIDDEN)))

The CLI's ``--model`` choices and flags, the Training view's kind list and form, the per-kind defaults and
which views and controls a model gets are all derived from these specs (as timm's ``register_model`` and
napari's plugin contributions): adding a kind never edits a central list, and no view compares a kind to a
name. A test can register a toy kind (:func:`register`, :func:`unregister`).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from latent_explorer.models.capabilities import (  # a kind module imports the first two from here
    Capabilities,
    Source,
    check_promises,
)
from latent_explorer.models.errors import ConfigError

CONDITIONINGS = ("none", "class", "text", "image")
# the modules whose import registers the built-in kinds: the kinds we train, then the formats a user brings
BUILTIN_MODULES = tuple(f"latent_explorer.models.kinds.{k}" for k in (
    "autoencoders", "gan", "stylegan", "ddpm", "latent_ae", "text_encoder", "latent_diffusion", "pixelcnn", "pix2pix",
    "cyclegan",
    "controlnet", "python_modules", "stable_diffusion")) + \
    tuple(f"latent_explorer.models.io.{f}" for f in (
        "external", "onnx_model", "diffusers_models", "python_denoiser", "python_checkpoint"))


@dataclass(frozen=True)
class Param:
    """A hyperparameter a user may set: a config field, shown as a form row and a CLI flag ``--name``."""

    name: str
    label: str
    type: type  # int, float, str, or tuple (comma-separated whole numbers)
    help: str
    choices: tuple = ()
    minimum: float | None = None
    maximum: float | None = None
    file_filter: str = ""  # a path to a file of this kind (the form offers a file dialog), e.g. "*.safetensors"
    resumable: bool = False  # a training regimen, not the network's shape: --resume may change it

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def parse(self, text: str, name: str | None = None):
        """A value typed by a user (CLI or form) -> the field's value; ConfigError with the reason, naming the
        setting as the user knows it: ``name`` (a form passes its row's label), else the CLI's flag."""
        who = name or self.flag
        text = str(text).strip()
        try:
            if self.type is tuple:
                value = tuple(int(v) for v in text.split(",") if v.strip())
                if not value:
                    raise ValueError
            else:
                value = self.type(text)
        except ValueError:
            what = {int: "a whole number", float: "a number", tuple: "comma-separated whole numbers, e.g. 512,256",
                    str: "text"}[self.type]
            raise ConfigError(f"{who} must be {what}, got {text!r}") from None
        self.check(value, who)
        return value

    def check(self, value, name: str | None = None) -> None:
        who = name or self.flag
        if self.choices and value not in self.choices:
            raise ConfigError(f"{who} must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        values = value if isinstance(value, tuple) else (value,)
        for v in values:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                if v != v or (self.minimum is not None and v < self.minimum) or (
                        self.maximum is not None and v > self.maximum):
                    raise ConfigError(f"{who} must be between {self.minimum:g} and {self.maximum:g}, got {v}")


@dataclass(frozen=True)
class TrainDefaults:
    """Sensible training settings of a kind, for the CLI and the Training view."""

    epochs: int
    batch_size: int
    lr: float
    split: str = "stratified"  # how its held-out part is chosen (models.data.SPLITS)


@dataclass(frozen=True)
class KindSpec:
    name: str  # the kind's name in checkpoints and on the command line
    title: str  # what a user reads
    model_class: type
    config_class: type  # a ModelConfig dataclass of the kind's family
    defaults: TrainDefaults
    capabilities: Capabilities = field(default_factory=Capabilities)
    conditioning: str = "none"  # what the kind takes: none / class / text / image
    conditioning_optional: bool = False  # conditioning is the user's choice (--conditional)
    source: Source = field(default_factory=Source)  # how it reads a picture (image → image, a ControlNet's control)
    params: tuple[Param, ...] = ()  # hyperparameters a user may set beyond epochs, batch size, lr, seed
    latent_dim: int | None = 2  # the default latent size; None: fixed by the data (a DDPM's x_T)
    config: Mapping = field(default_factory=dict)  # per-kind config defaults (e.g. WGAN: gan_loss)
    trainable: bool = True  # listed by the CLI and the Training view
    map_samples: int = 2000  # latents sampled for the map of a model without an encoder
    description: str = ""
    from_data: Callable | None = None  # data -> config values it fixes (a text encoder's vocabulary)
    prepare: Callable | None = None  # a new config -> filled in from the files it names (latent diffusion's parts)
    check_data: Callable | None = None  # (config, data): ConfigError before training if the data cannot serve

    def __post_init__(self):
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(f"conditioning must be one of {CONDITIONINGS}, got {self.conditioning!r}")
        names = {f.name for f in dataclasses.fields(self.config_class)}
        bad = [p.name for p in self.params if p.name not in names] + [k for k in self.config if k not in names] + [
            n for n in (self.source.named_by,) if n and n not in names]
        if bad:
            raise ValueError(f"{self.name}: {bad} are not fields of {self.config_class.__name__}")

    @property
    def loss_names(self) -> tuple[str, ...]:
        return tuple(self.model_class.loss_names)

    @property
    def conditional_by_default(self) -> bool:
        return self.conditioning != "none" and not self.conditioning_optional

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def default(self, name: str):
        """The value a config field takes for this kind unless the user sets it."""
        if name in self.config:
            return self.config[name]
        f = {f.name: f for f in dataclasses.fields(self.config_class)}[name]
        return f.default_factory() if f.default is dataclasses.MISSING else f.default


_KINDS: dict[str, KindSpec] = {}
_loaded = False


def load_builtins() -> None:
    """Import every built-in kind and format module once (each registers itself), then the kind plug-ins
    (:mod:`models.plugins`)."""
    global _loaded
    if not _loaded:
        _loaded = True
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
        load_plugins()


def load_plugins():
    """Load the kind plug-ins installed since the last look (entry points of ``latent_explorer.kinds``); a
    plug-in that fails is logged in one line. Returns every plug-in found (:class:`models.plugins.Plugin`)."""
    from latent_explorer.models import plugins

    return plugins.load_plugins(lambda: list(_KINDS))


def register(spec: KindSpec) -> KindSpec:
    """Add a kind (a model module calls this once at import; a test may add a toy kind). TypeError naming the
    method when its class does not implement what its capabilities promise (:mod:`models.capabilities`)."""
    if spec.name in _KINDS and _KINDS[spec.name] is not spec:
        raise ValueError(f"a kind named {spec.name!r} is already registered")
    check_promises(spec.name, spec.model_class, spec.capabilities)
    _KINDS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def kinds(trainable: bool | None = None) -> list[str]:
    """Kind names, the built-in ones in the order of BUILTIN_MODULES (whichever was imported first), then
    any others in registration order; ``trainable=True``: only those the user can train."""
    load_builtins()

    def order(item):
        i, (_, spec) = item
        module = spec.model_class.__module__
        return (BUILTIN_MODULES.index(module) if module in BUILTIN_MODULES else len(BUILTIN_MODULES), i)

    ranked = sorted(enumerate(_KINDS.items()), key=order)
    return [k for _, (k, s) in ranked if trainable is None or s.trainable == trainable]


def find(name) -> KindSpec | None:
    load_builtins()
    if not isinstance(name, str):
        return None
    if name not in _KINDS:  # a plug-in installed since the start (or a child process's late sys.path)
        load_plugins()
    return _KINDS.get(name)


def get(name: str) -> KindSpec:
    spec = find(name)
    if spec is None:
        raise ConfigError(f"unknown model kind {name!r} (known: {', '.join(kinds(trainable=True))})")
    return spec


def all_params() -> list[Param]:
    """Every hyperparameter of the trainable kinds, once each (the union the CLI and the form offer)."""
    seen: dict[str, Param] = {}
    for k in kinds(trainable=True):
        for p in _KINDS[k].params:
            seen.setdefault(p.name, p)
    return list(seen.values())


def kinds_with_param(name: str) -> list[str]:
    return [k for k in kinds(trainable=True) if _KINDS[k].param(name) is not None]


def make_config(kind: str, image_shape, latent_dim: int | None = None, class_names=None,
                conditional: bool = False, data=None, **overrides):
    """The config for ``kind`` on data of ``image_shape``: the kind's defaults, then ``overrides``; class
    conditioning from ``class_names`` when the kind takes it (or the user asks, where it is optional)."""
    spec = get(kind)
    class_names = [str(c) for c in (class_names or [])]
    if conditional and spec.conditioning != "class":
        takes = [k for k in kinds(trainable=True) if _KINDS[k].conditioning == "class"]
        raise ConfigError(f"{kind} has no conditional variant (use {', '.join(takes)})")
    cond = spec.conditioning == "class" and (conditional or spec.conditional_by_default)
    if cond and len(class_names) < 2:
        raise ConfigError(f"a conditional {kind} needs labelled data with at least 2 classes")
    names = {f.name for f in dataclasses.fields(spec.config_class)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"{kind} has no setting {', '.join(unknown)}")
    values = {**spec.config, **(spec.from_data(data) if spec.from_data and data is not None else {}), **overrides}
    d = spec.latent_dim if latent_dim is None or spec.latent_dim is None else latent_dim
    cfg = spec.config_class(kind=kind, image_shape=tuple(int(v) for v in image_shape), latent_dim=int(d or 0),
                            num_classes=len(class_names) if cond else 0, class_names=class_names if cond else [],
                            **values)
    if spec.prepare is not None:
        spec.prepare(cfg)
    cfg.validate()
    if spec.check_data is not None and data is not None:
        spec.check_data(cfg, data)
    if data is not None:
        check_class_names(getattr(data, "class_names", None) or [], getattr(data, "spec", "the data"))
    return cfg


MAX_SAVED_CLASSES, MAX_CLASS_NAME = 1000, 100  # what a checkpoint's reader accepts (models.io.checkpoint)


def check_class_names(names, spec: str = "the data") -> None:
    """A run never saves what cannot be opened again: the data's class names must fit what a checkpoint
    holds (at most 1000, each at most 100 printable characters): ConfigError before training starts."""
    from latent_explorer.models.errors import shown

    if len(names) > MAX_SAVED_CLASSES:
        raise ConfigError(f"{shown(spec, 200)} has {len(names):,} classes; a checkpoint holds at most "
                          f"{MAX_SAVED_CLASSES:,} (merge or remove class folders)")
    for n in names:
        if not isinstance(n, str) or len(n) > MAX_CLASS_NAME or not n.isprintable():
            raise ConfigError(f"the class name {shown(n, 60)} cannot be kept in a checkpoint: at most "
                              f"{MAX_CLASS_NAME} printable characters (rename its folder)")


def config_from_json(kind: str, d, legacy: bool = False):
    """A kind's config from its checkpoint JSON. ``legacy``: a format-1 file, whose one flat config held
    every family's fields; those of other families are dropped."""
    spec = get(kind)
    return spec.config_class.from_json(d, legacy=legacy)


MAX_PARAMETERS = 50_000_000  # 200 MB of float32 weights, about 1 GB while training with Adam


def parameter_count(config) -> int:
    """Parameters and buffers of the model a config describes, counted on PyTorch's "meta" device: shapes
    only, no memory, so a hostile config (a 355 KB file asking for 8192-wide layers) costs nothing. The
    weights' in-place initialisers are skipped (values do not exist on "meta"; some would import PyTorch's
    reference decompositions, a second of start-up)."""
    import torch
    from torch.overrides import TorchFunctionMode

    class _SkipInit(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            first, name = (args[0] if args else kwargs.get("tensor")), getattr(func, "__name__", "")
            in_place = name.endswith("_") and not name.endswith("__")  # normal_, uniform_, zero_ … not __get__
            if in_place and isinstance(first, torch.Tensor) and first.is_meta:
                return first
            return func(*args, **kwargs)

    with torch.device("meta"), _SkipInit():
        model = get(config.kind).model_class(config)
    return sum(t.numel() for t in list(model.parameters()) + list(model.buffers()))


def build_model(config):
    """The model a config describes (untrained), after checking what it would cost: a config beyond
    ``MAX_PARAMETERS`` is refused with the figure before any memory is allocated."""
    config.validate()
    n = parameter_count(config)
    if n > MAX_PARAMETERS:
        raise ConfigError(f"this {config.kind} config implies {n:,} parameters ({4 * n / 2**30:.1f} GB of weights); "
                          f"the limit is {MAX_PARAMETERS:,}: use smaller widths or images")
    return get(config.kind).model_class(config)
