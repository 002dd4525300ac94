"""What a training run is, and the job that runs one. No Qt here: the job runs in a child process
(:mod:`explorer.procjob`), which imports this module and ``models`` only."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# the training process yields the CPU to the UI (POSIX nice; 0 = same priority as the UI)
_nice = os.environ.get("LATENT_EXPLORER_TRAIN_NICE", "")
TRAIN_NICE = int(_nice) if _nice.isdigit() else 10
# what a spare training process imports while it waits (torch._dynamo: the first optimizer needs it)
WARM_IMPORTS = ("torch", "torch._dynamo", "models.train", "explorer.training_job", "sklearn.datasets")


@dataclass
class RunSpec:
    kind: str
    data: str
    out: str
    epochs: int
    batch_size: int
    lr: float
    latent_dim: int | None = None  # None: the kind's default
    params: dict = field(default_factory=dict)  # the kind's own hyperparameters (its registry Params)
    conditional: bool = False  # class conditioning, for kinds where it is optional
    size: int | None = None
    seed: int = 0
    preview_every: float = 1.5


def training_threads() -> int:
    """Torch threads for a training run: every core. The run is a separate process at lower priority
    (``TRAIN_NICE``), so the UI thread, at normal priority, gets a core the moment it has work.
    ``LATENT_EXPLORER_TRAIN_THREADS`` overrides the count (e.g. cores - 1 to leave one always free)."""
    env = os.environ.get("LATENT_EXPLORER_TRAIN_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, os.cpu_count() or 1)


def run_training(spec: RunSpec, should_stop):
    """Load the data and build the model (in the child process), then train; yields ``Progress``."""
    import torch

    from models import TrainConfig, build_model, load_dataset, make_config, train
    from models.progress import Step
    from models.registry import get

    yield Step(0, 1, f"loading {spec.data}")
    data = load_dataset(spec.data)
    c, h, _ = data.shape
    size = spec.size or int(min(64, max(8, h)))
    data = data.conform(c, size)
    cfg = make_config(spec.kind, data.shape, spec.latent_dim, data.class_names, spec.conditional, data=data,
                      **spec.params)
    torch.manual_seed(spec.seed)
    model = build_model(cfg)
    tc = TrainConfig(epochs=spec.epochs, batch_size=spec.batch_size, lr=spec.lr, seed=spec.seed,
                     preview_every=spec.preview_every, device="auto", split=get(spec.kind).defaults.split)
    return (yield from train(model, data, tc, out=spec.out, should_stop=should_stop))
