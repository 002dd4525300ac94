"""One run builder for every way a run starts: ``latent-explorer train`` and the Training view each describe
their run as a :class:`RunSpec` and build it with :func:`prepare_run` (the data loaded and conformed, the
model made or resumed, the loop's settings checked, a resumed run's optimizer state read), then train it.

    run = prepare_run(RunSpec("vae", "digits", "vae.safetensors", epochs=5))
    for p in run.train():
        print(p.epoch, p.step, p.losses)

:func:`resume_info` says what a checkpoint offers to resume, or why it cannot be, from its header alone.
No Qt here: the Training view's runs build in a child process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from latent_explorer.models import registry
from latent_explorer.models.errors import CheckpointError, ConfigError, shown


@dataclass
class RunSpec:
    """What a training run is. ``epochs``, ``batch_size`` and ``lr`` left None take the kind's defaults;
    ``params``: the kind's own hyperparameters (its registry Params), already parsed; ``resume``: a checkpoint
    whose run this one continues (its kind and settings; ``params`` then holds only resumable ones)."""

    kind: str
    data: str
    out: str
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    latent_dim: int | None = None  # None: the kind's default
    params: dict = field(default_factory=dict)
    conditional: bool = False  # class conditioning, for kinds where it is optional
    size: int | None = None  # None: the data's (8 to 64)
    seed: int = 0
    preview_every: float = 1.5  # seconds between preview images (0: none)
    channels: int | None = None  # 1 or 3; None: the data's
    record_n: int = 500  # per epoch, for the run's record (0: none)
    resume: str | None = None
    max_steps: int | None = None
    max_minutes: float | None = None  # a training-time budget
    binarise: str | None = None  # "stochastic": x ~ Bernoulli(grey) every step; None: "none", or a resumed run's
    device: str = "auto"

    def check(self) -> None:
        """What can be checked before anything is read: ConfigError naming the setting."""
        if self.size is not None and not 8 <= self.size <= 64:
            raise ConfigError(f"--size must be between 8 and 64, got {self.size}")
        if self.channels not in (None, 1, 3):
            raise ConfigError(f"--channels must be 1 or 3, got {self.channels}")

    def inputs(self) -> list[str]:
        """What the run reads, which its output must never be: the checkpoint resumed, the data, the part files
        its settings name."""
        return [p for p in (self.resume, self.data, *self.params.values()) if isinstance(p, str)]


@dataclass
class PreparedRun:
    """A run ready to train: its model, its data in the model's shape, the loop's settings, what to say first
    (``notes``: skipped files, a resumed run's fresh optimizer) and a resumed run's state."""

    spec: RunSpec
    model: object
    data: object
    config: object  # models.training.train.TrainConfig
    notes: list[str] = field(default_factory=list)
    state: object = None  # models.training.optim_state.TrainState of a resumed run, when it was kept

    def train(self, should_stop=None, world=None):
        """The training generator (:func:`models.training.train.train`) of this run."""
        from latent_explorer.models.training.train import train

        return train(self.model, self.data, self.config, out=self.spec.out, should_stop=should_stop, world=world,
                     state=self.state)


def prepare_run(spec: RunSpec) -> PreparedRun:
    """Load and conform the data, build the model (or load the one resumed, with its optimizer state) and
    check the loop's settings, before any training: ConfigError, DataError or CheckpointError saying why not."""
    import torch

    from latent_explorer.models.data import load_dataset
    from latent_explorer.models.training.train import TrainConfig

    spec.check()
    kind = registry.get(spec.kind)
    for name in spec.params:
        if kind.param(name) is None:
            raise ConfigError(f"{name} does not apply to {spec.kind}")
    data = load_dataset(spec.data)
    c, h, _ = data.shape
    data = data.conform(spec.channels or c, spec.size or int(min(64, max(8, h))))
    notes = []
    if data.note:
        notes.append(data.note)
    elif data.skipped:
        notes.append(f"{len(data.skipped)} files skipped (first: {shown(data.skipped[0][0], 200)}: "
                     f"{data.skipped[0][1]})")
    resumed = _resumed_model(spec, data) if spec.resume is not None else None
    if resumed is None:
        cfg = registry.make_config(spec.kind, data.shape, spec.latent_dim, data.class_names, spec.conditional,
                                   data=data, **spec.params)
    d = kind.defaults
    tc = TrainConfig(epochs=spec.epochs if spec.epochs is not None else d.epochs,
                     batch_size=spec.batch_size if spec.batch_size is not None else d.batch_size,
                     lr=spec.lr if spec.lr is not None else d.lr, seed=spec.seed, device=spec.device,
                     max_steps=spec.max_steps, max_minutes=spec.max_minutes, split=d.split, record_n=spec.record_n,
                     preview_every=spec.preview_every, binarise=spec.binarise or "none")
    if resumed is not None and spec.binarise is None:  # a resumed run goes on with the images it was trained on
        tc.binarise = str(resumed.meta.get("training", {}).get("binarise", "none"))
    tc.validate()
    n_train = len(data.split(tc.val_fraction, tc.split)[0])
    if tc.batch_size > n_train:
        raise ConfigError(f"batch size {tc.batch_size} is larger than the {n_train} training images")
    torch.manual_seed(spec.seed)
    model = resumed if resumed is not None else registry.build_model(cfg)
    state = None
    if resumed is not None:
        from latent_explorer.models.io.digest import file_digest
        from latent_explorer.models.training import optim_state

        state, why = optim_state.load(spec.resume, resumed.meta.get("training", {}), model.make_optimizers(tc.lr))
        if why:
            notes.append(f"{why}: the optimizer starts afresh")
        tc.resumed_from = {"file": os.path.basename(spec.resume), "sha256": file_digest(Path(spec.resume)),
                           "steps": int(resumed.meta.get("training", {}).get("steps", 0) or 0),
                           "optimizer_state": "kept" if state is not None else "fresh"}
    return PreparedRun(spec, model, data, tc, notes, state)


def _resumed_model(spec: RunSpec, data):
    """The model of ``spec.resume``, checked against what else the run asks."""
    from latent_explorer.models.io.checkpoint import load

    kind = registry.get(spec.kind)
    fixed = sorted(kind.param(name).flag for name in spec.params if not kind.param(name).resumable)
    if fixed or spec.latent_dim is not None or spec.conditional:
        raise ConfigError("--resume goes on with the checkpoint's own settings: leave out --latent-dim, "
                          "--conditional and the model's options" + (f" ({', '.join(fixed)})" if fixed else ""))
    name = os.path.basename(spec.resume)
    model = load(spec.resume)
    if model.kind != spec.kind:
        raise ConfigError(f"--resume {name} is a {model.kind} model, not a {spec.kind}")
    model.resume_with(**spec.params)  # a training regimen (Param.resumable) may change for the rest of the run
    if tuple(model.image_shape) != tuple(data.shape):
        raise ConfigError(f"--resume {name} makes {tuple(model.image_shape)} images, the data is "
                          f"{tuple(data.shape)}")
    return model


@dataclass
class ResumeInfo:
    """What a checkpoint offers to resume: its kind and image shape, how far it went, the settings it was
    trained with (None where it does not say) and, when its optimizer state is not kept, why."""

    kind: str
    image_shape: tuple[int, int, int]
    epochs_done: int
    steps: int
    batch_size: int | None
    lr: float | None
    seed: int | None
    fresh_optimizer: str  # "" when the optimizer state is kept beside it
    data: str | None = None  # the data it was trained on (a built-in name or a path), as its header says

    def text(self) -> str:
        c, h, w = self.image_shape
        said = (f"{self.kind}, {h}×{w} {'RGB' if c == 3 else 'grayscale'}: {self.epochs_done} "
                f"epoch{'' if self.epochs_done == 1 else 's'} ({self.steps:,} steps) done")
        return said + (f"; {self.fresh_optimizer}: the optimizer starts afresh" if self.fresh_optimizer
                       else "; it goes on with its optimizer state")


def resume_info(path: str | os.PathLike) -> ResumeInfo:
    """What the checkpoint at ``path`` offers to resume, from its header (and its optimizer state's) alone:
    CheckpointError saying why it cannot be resumed."""
    from latent_explorer.models.io.checkpoint import read_meta, safetensors_format
    from latent_explorer.models.io.meta import typed_meta
    from latent_explorer.models.io.schema import Float, Int
    from latent_explorer.models.training import optim_state
    from latent_explorer.models.training.run_record import FORMAT as RECORD_FORMAT

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{shown(path.name, 200)} is a folder: choose a checkpoint trained here")
    tag = safetensors_format(path)
    if tag in (RECORD_FORMAT, optim_state.FORMAT):
        what = "record" if tag == RECORD_FORMAT else "optimizer state"
        raise CheckpointError(f"{shown(path.name, 200)} is a run's {what}, not a model: choose the checkpoint "
                              "beside it")
    try:
        meta = read_meta(path)
    except CheckpointError as e:
        raise CheckpointError(f"{e} — only a checkpoint trained here can be resumed") from None
    t = meta["training"]
    return ResumeInfo(meta["kind"], tuple(meta["config"].image_shape), int(t.get("epochs_done", 0)),
                      int(t.get("steps", 0)), _said(t, "batch_size", Int(1, 65536)),
                      _said(t, "lr", Float(0, 1e6, above=True)), _said(t, "seed", Int(0, 2**63 - 1)),
                      optim_state.describe(path, t), typed_meta(meta).data.spec)


def _said(training: dict, key: str, kind):
    """A setting the training summary holds, typed; None where it holds none, or none that fits (it is
    only shown, never needed)."""
    from latent_explorer.models.io.schema import SchemaError, value

    if key not in training:
        return None
    try:
        return value(training[key], kind, None, key)
    except SchemaError:
        return None
