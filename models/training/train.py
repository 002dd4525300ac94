"""One training loop for every kind, written as a generator of small progress records.

    for p in train(model, data, TrainConfig(epochs=5), out="vae.safetensors"):
        print(p.epoch, p.step, p.losses)

The loop checks ``should_stop()`` before every step; closing the generator (``gen.close()``) also
stops it. Either way the last good weights are saved to ``out``. A NaN/Inf loss or gradient stops the
run with :class:`TrainingError` before the bad step is applied, after saving the weights of the last
good step. Only numpy arrays leave the loop (previews), so records can cross threads.

:func:`train` is three parts: :func:`setup` (the checks, the split, the optimizers, the record),
:func:`run_epoch` (its steps, then its held-out figures and save) and :func:`save_or_rescue` (the checkpoint
with its record and optimizer state, or, when the output cannot be written at the end, the weights put where
they can be). Each save keeps the run's optimizer state beside the checkpoint (:mod:`models.training.optim_state`), from
which a resumed run goes on as the run it continues would have (:func:`models.training.run.prepare_run`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from latent_explorer.models.base import ConfigError, DivergedError, GenerativeModel
from latent_explorer.models.data import SPLITS, ImageData
from latent_explorer.models.data.binary import binary_draw
from latent_explorer.models.errors import CheckpointError, shown
from latent_explorer.models.io import checkpoint
from latent_explorer.models.training import optim_state
from latent_explorer.models.training.optim_state import TrainState, capture_rng, restore_rng


class TrainingError(RuntimeError):
    """The run could not continue; the message says why and what was kept."""


BINARISE = ("none", "stochastic")  # what a run does to its images first: nothing, or Bernoulli(grey) each time


@dataclass
class TrainConfig:
    epochs: int = 10
    batch_size: int = 128
    lr: float | None = None  # None: the kind's default
    seed: int = 0
    device: str = "auto"  # auto: CUDA, then MPS, then CPU
    val_fraction: float = 0.1  # 10% of the data is held out
    split: str = "stratified"  # the last 10% of every class ("tail": of the data), see ImageData.split
    resumed_from: dict | None = None  # the checkpoint whose weights this run goes on from (file, sha256, steps)
    checkpoint_every: int = 1  # save every N epochs (0: only at the end)
    preview_every: float = 0.0  # seconds between preview images (0: none)
    preview_n: int = 16
    max_steps: int | None = None  # stop after this many steps (for quick runs)
    max_minutes: float | None = None  # stop at the first step after this much training time (a wall-time budget)
    record_n: int = 500  # per epoch: held-out images encoded and images sampled for the run's record (0: none)
    binarise: str = "none"  # "stochastic": every batch drawn afresh as x ~ Bernoulli(grey) (dynamic binarisation)

    def validate(self) -> None:
        def need(cond, msg):
            if not cond:
                raise ConfigError(msg)

        need(isinstance(self.epochs, int) and 1 <= self.epochs <= 100_000,
             f"epochs must be at least 1, got {self.epochs}")
        need(isinstance(self.batch_size, int) and 1 <= self.batch_size <= 65536,
             f"batch size must be at least 1, got {self.batch_size}")
        need(self.lr is None or (math.isfinite(self.lr) and 0 < self.lr <= 1e6),
             f"learning rate must be a positive number (at most 1e6), got {self.lr}")
        need(0 < self.val_fraction < 1, f"the held-out fraction must be in (0, 1), got {self.val_fraction}")
        need(self.split in SPLITS, f"the held-out split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        need(self.checkpoint_every >= 0, "checkpoint_every must be >= 0")
        need(self.max_steps is None or self.max_steps >= 1, "max_steps must be >= 1")
        need(self.max_minutes is None or (math.isfinite(self.max_minutes) and 0 < self.max_minutes <= 525_600),
             f"the training time must be more than 0 minutes (at most a year), got {self.max_minutes}")
        need(self.binarise in BINARISE,
             f"binarise must be one of {', '.join(BINARISE)}, got {shown(str(self.binarise), 40)}")
        need(isinstance(self.record_n, int) and 0 <= self.record_n <= 10_000,
             f"the run's record takes 0 to 10,000 images per epoch, got {self.record_n}")


@dataclass
class Progress:
    event: str  # "step" | "epoch" | "done" | "stopped"
    epoch: int  # 1-based epoch in progress (or finished, for "epoch")
    epochs: int
    step: int  # optimizer steps done
    total_steps: int
    losses: dict[str, float] = field(default_factory=dict)  # last step's (epoch means for "epoch")
    samples_per_s: float = 0.0
    eta_s: float = 0.0
    elapsed_s: float = 0.0
    val: dict[str, float] | None = None  # held-out figures, at the end of each epoch
    preview: np.ndarray | None = None  # (n, C, H, W) float32 in [0, 1]
    checkpoint: str | None = None  # path written at this point, if any
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@torch.no_grad()
def evaluate(model: GenerativeModel, data: ImageData, batch_size: int = 512, seed: int = 0, binarise: str = "none"
             ) -> dict:
    """Held-out figures averaged per image over ``data`` (seeded, so epochs compare); with ``binarise``
    "stochastic", of the images binarised as the run trains on them (one seeded draw, the same every epoch)."""
    was = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    dev = model.device
    totals: dict[str, float] = {}
    n = len(data)
    cond = model.condition_of(data)
    for i in range(0, n, batch_size):
        x = torch.from_numpy(data.images[i : i + batch_size])
        if binarise == "stochastic":
            x = binary_draw(x, g)
        x = x.to(dev)
        y = None if cond is None else torch.from_numpy(cond[i : i + batch_size]).to(dev)
        for k, v in model.evaluate(x, y, generator=g).items():
            totals[k] = totals.get(k, 0.0) + v * len(x)
    model.train(was)
    return {k: v / n for k, v in totals.items()}


def data_summary(data: ImageData, n_train: int, n_val: int, val_fraction: float, split: str = "stratified"
                 ) -> dict:
    return {"spec": data.spec, "image_shape": list(data.shape), "n_train": n_train, "n_val": n_val,
            "val_fraction": val_fraction, "split": split, "range": [0.0, 1.0],
            "class_names": list(data.class_names)}


@dataclass
class LoopState:
    """A training loop between its parts (:func:`setup`, :func:`run_epoch`, :func:`save_or_rescue`): what setup
    made and where the run stands. ``step`` and ``epoch`` count this run's; ``base_step`` and ``base_epoch``
    those the weights had before it (a resumed run's), for the kind's step-dependent updates, the shards of a
    distributed run and the state kept beside each save."""

    model: GenerativeModel
    data: ImageData
    cfg: TrainConfig
    out: str | None
    world: object
    device: torch.device
    train_set: ImageData
    val_set: ImageData
    opts: dict
    x_all: torch.Tensor
    y_all: torch.Tensor | None
    preview_x: torch.Tensor
    preview_y: torch.Tensor | None
    shuffle: torch.Generator  # the same permutation on every rank
    summary: dict
    info: dict  # the data's summary, saved in each checkpoint
    recorder: object = None
    rank: int = 0
    world_size: int = 1
    local_bs: int = 1
    spe: int = 1  # steps per epoch
    total: int = 0  # steps this run takes
    base_step: int = 0
    base_epoch: int = 0
    step: int = 0
    epoch: int = 0
    seen: int = 0  # images trained on, all ranks (an epoch's last batch may be short)
    train_time: float = 0.0
    t0: float = 0.0
    last_preview: float = -math.inf
    rng: dict | None = None  # the generators at the end of the last epoch (None: take them as they are)
    trouble: list[str] = field(default_factory=list)  # what went wrong with saves, said in the next message

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def n(self) -> int:
        return len(self.train_set)


def setup(model: GenerativeModel, data: ImageData, cfg: TrainConfig, out: str | None = None, world=None,
          state: TrainState | None = None) -> LoopState:
    """Check the run, split the data, put the model on its device and make its optimizers (with a resumed
    run's state), the summary and the record: everything the epochs need."""
    cfg.validate()
    if tuple(data.shape) != tuple(model.image_shape):
        raise ConfigError(f"the data is {data.shape} but the model expects {model.image_shape}")
    train_set, val_set = data.split(cfg.val_fraction, cfg.split)
    n = len(train_set)
    if cfg.batch_size > n:
        raise ConfigError(f"batch size {cfg.batch_size} is larger than the {n} training images")
    cond = model.condition_of(train_set)
    if model.conditional and cond is None:
        raise ConfigError("a conditional model needs labelled data")
    if world is not None and cfg.max_minutes is not None:  # each process's clock would stop it at another step
        raise ConfigError("a time budget (--minutes) is for one process; on several, give --max-steps")
    rank, world_size = (world.rank, world.size) if world is not None else (0, 1)
    torch.manual_seed(cfg.seed + rank)
    shuffle = torch.Generator().manual_seed(cfg.seed)
    device = torch.device(world.device) if world is not None else pick_device(cfg.device)
    model.to(device).train()
    if world is not None:
        world.attach(model)
    opts = model.make_optimizers(cfg.lr)
    if state is not None:  # the optimizers go on from where the run they continue left them
        for name, opt in opts.items():
            opt.load_state_dict({"state": state.optimizers.get(name, {}),
                                 "param_groups": opt.state_dict()["param_groups"]})
    local_bs = max(1, cfg.batch_size // world_size)
    per_rank = n // world_size if world_size > 1 else n
    spe = per_rank // local_bs + (1 if per_rank % local_bs >= 2 else 0)  # a last batch of 1 is dropped
    spe = max(1, spe)
    total = cfg.epochs * spe if cfg.max_steps is None else min(cfg.epochs * spe, cfg.max_steps)
    val_cond = model.condition_of(val_set)
    lr_used = cfg.lr or opts[next(iter(opts))].param_groups[0]["lr"]
    summary = {"kind": model.kind, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": lr_used,
               "seed": cfg.seed, "device": str(device), "world_size": world_size, "steps": 0,
               "epochs_done": 0, "status": "running", "history": []}
    if cfg.resumed_from:
        summary["resumed_from"] = dict(cfg.resumed_from)
    if cfg.max_minutes is not None:
        summary["max_minutes"] = cfg.max_minutes
    if cfg.binarise != "none":
        summary["binarise"] = cfg.binarise
    run = LoopState(
        model, data, cfg, out, world, device, train_set, val_set, opts,
        x_all=torch.from_numpy(train_set.images).to(device),
        y_all=torch.from_numpy(cond).to(device) if cond is not None else None,
        preview_x=torch.from_numpy(val_set.images[: cfg.preview_n]).to(device),
        preview_y=torch.from_numpy(val_cond[: cfg.preview_n]).to(device) if val_cond is not None else None,
        shuffle=shuffle, summary=summary,
        info=data_summary(data, len(train_set), len(val_set), cfg.val_fraction, cfg.split),
        rank=rank, world_size=world_size, local_bs=local_bs, spe=spe, total=total,
        base_step=state.step if state is not None else 0, base_epoch=state.epoch if state is not None else 0)
    if cfg.record_n and out is not None and run.is_main:
        from latent_explorer.models.training.run_record import Recorder, record_path

        try:
            run.recorder = Recorder(model, val_set, cfg.record_n, cfg.seed, data)
        except Exception:  # noqa: BLE001 - a record that cannot be set up never stops the run
            run.recorder = None
        if run.recorder is not None and run.recorder.active:
            summary["record"] = record_path(out).name
        else:
            run.recorder = None
    if state is not None:  # last, so nothing above draws from them: the next epoch is the one it would have been
        restore_rng(state.rng, shuffle, device, global_too=run.is_main)
        if not run.is_main:  # the other ranks' noise: their own streams, not those of the first run again
            torch.manual_seed((cfg.seed + rank) * 1_000_003 + state.step)
    run.t0 = time.perf_counter()
    return run


def run_epoch(run: LoopState, epoch: int, should_stop: Callable[[], bool]) -> Generator[Progress, None, bool]:
    """One epoch: its steps (a "step" record each), then its held-out figures, history and save (an "epoch"
    record). False when it was stopped (after the "stopped" record and the save of the last weights)."""
    model, cfg = run.model, run.cfg
    run.epoch = epoch
    model.train()
    if run.world is not None:
        perm = run.world.epoch_indices(run.n, run.base_epoch + epoch, cfg.seed)
    else:
        perm = torch.randperm(run.n, generator=run.shuffle)
    sums: dict[str, float] = {}
    count = 0
    for b in range(run.spe):
        if run.step >= run.total:
            break
        if should_stop():
            run.rng = None  # mid-epoch: the generators as they are now
            path = save_or_rescue(run, "stopped") if run.step > 0 else None  # no step taken: nothing to keep
            yield Progress("stopped", epoch, cfg.epochs, run.step, run.total, elapsed_s=time.perf_counter() - run.t0,
                           checkpoint=path, message=_said(run.trouble, "stopped; the last weights were saved"
                                                          if path else "stopped"))
            return False
        ts = time.perf_counter()
        idx = perm[b * run.local_bs : (b + 1) * run.local_bs].to(run.device)
        xb = run.x_all[idx]
        yb = run.y_all[idx] if run.y_all is not None else None
        if cfg.binarise == "stochastic":  # drawn afresh every time an image is seen (dynamic binarisation)
            xb = binary_draw(xb, run.shuffle)
        try:
            losses = model.train_step(xb, yb if model.conditional else None, run.opts, run.base_step + run.step)
        except DivergedError as e:
            run.rng = None
            path = save_or_rescue(run, "diverged")
            kept = f"the weights of the last good step ({run.step}) were saved to {path}" if path else (
                f"the model keeps the weights of the last good step ({run.step})")
            raise TrainingError(f"training diverged at epoch {epoch}, step {run.step + 1}: {e}; {kept}. "
                                "Try a lower learning rate.") from None
        model.after_step()
        run.step += 1
        run.seen += len(xb) * run.world_size
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        run.train_time += time.perf_counter() - ts
        rate = run.seen / max(run.train_time, 1e-9)
        if cfg.max_minutes is not None and run.train_time >= cfg.max_minutes * 60:
            run.total = run.step  # the time budget is spent: this epoch ends here, and the run with it
        eta = (run.total - run.step) * run.train_time / run.step
        preview = None
        now = time.perf_counter()
        if cfg.preview_every and now - run.last_preview >= cfg.preview_every and run.is_main:
            preview = _preview(model, run.preview_x, run.preview_y, cfg.seed)
            run.last_preview = time.perf_counter()
        yield Progress("step", epoch, cfg.epochs, run.step, run.total, losses, rate, eta, now - run.t0,
                       preview=preview)
    means = {k: v / max(count, 1) for k, v in sums.items()}
    if run.world is not None:  # the epoch's losses averaged over every rank's shard
        means = run.world.mean(means)
    on_main = run.is_main or run.world is None
    val = evaluate(model, run.val_set, seed=cfg.seed, binarise=cfg.binarise) if on_main else None
    summary = run.summary
    summary["epochs_done"], summary["steps"] = epoch, run.step
    summary["history"].append({"epoch": epoch, "train": means, "val": val})
    if run.recorder is not None:
        summary["history"][-1].update(run.recorder.take(epoch, means))
    summary["final_losses"], summary["val"] = means, val
    run.rng = capture_rng(run.shuffle, run.device)  # where the next epoch starts (a resumed run starts there)
    path = None
    if cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0 and run.step < run.total:
        path = save_or_rescue(run, "running")
    yield Progress("epoch", epoch, cfg.epochs, run.step, run.total, means, run.seen / max(run.train_time, 1e-9),
                   (run.total - run.step) * run.train_time / max(run.step, 1), time.perf_counter() - run.t0,
                   val=val, checkpoint=path, message=_said(run.trouble, ""))
    return True


def save_or_rescue(run: LoopState, status: str) -> str | None:
    """Save the weights (with the record and the optimizer state) to the run's output; the path, or None when
    there is none here (no output, not rank 0, or an epoch's save that failed: the run goes on and tries again
    at the next). The run's last save never loses the weights: when its output cannot be written they go to
    :func:`models.io.checkpoint.recovery_path`, and TrainingError only when that fails too."""
    summary = run.summary
    summary["status"] = status
    summary["steps"] = run.step  # the weights are those of this many completed steps
    summary["seconds"] = round(time.perf_counter() - run.t0, 2)
    if run.out is None or not run.is_main:
        return None
    if run.recorder is not None and run.recorder.record.epochs:
        try:  # before the checkpoint that names it
            run.recorder.save(run.out)
        except (CheckpointError, OSError) as e:
            run.trouble.append(f"the run's record could not be saved ({e})")
    try:
        return str(_save_beside_state(run, run.out))
    except CheckpointError as e:
        if status == "running":  # an epoch's save: the run goes on and tries again at the next one
            run.trouble.append(f"{e}; training goes on and tries again after the next epoch")
            return None
        try:  # the run's last save: never lose the weights, put them where they can be written
            rescued = _save_beside_state(run, checkpoint.recovery_path(run.out))
        except (CheckpointError, OSError) as e2:
            raise TrainingError(f"{e}; and the weights could not be saved elsewhere either ({e2})") from None
        run.trouble.append(f"{e}; the weights were saved to {rescued} instead")
        return str(rescued)


def _save_beside_state(run: LoopState, path) -> Path:
    """The optimizer state beside ``path`` first, then the checkpoint that names it (a state that cannot be
    written is said once the checkpoint is saved: the checkpoint's own trouble says enough otherwise)."""
    run.summary.pop("optimizer", None)
    state = TrainState(run.base_step + run.step, run.base_epoch + run.epoch,
                       rng=run.rng if run.rng is not None else capture_rng(run.shuffle, run.device))
    failed = None
    try:
        link = optim_state.save(path, run.opts, state)
        if link is not None:
            run.summary["optimizer"] = link
    except (CheckpointError, OSError) as e:
        failed = e
    saved = checkpoint.save(run.model, path, data=run.info, training=run.summary,
                            class_names=run.data.class_names)
    if failed is not None:
        run.trouble.append(f"the optimizer state could not be saved ({failed}): a resumed run would start "
                           "a fresh optimizer")
    return saved


def train(model: GenerativeModel, data: ImageData, cfg: TrainConfig, out: str | None = None,
          should_stop: Callable[[], bool] | None = None, world=None, state: TrainState | None = None
          ) -> Generator[Progress, None, dict]:
    """Train ``model`` on ``data`` (already in the model's image shape). Returns the summary dict.

    ``world`` (see :mod:`models.training.distributed`) shards the data and averages gradients across processes;
    only its rank 0 saves checkpoints. ``state`` (:mod:`models.training.optim_state`): where a resumed run stands (its
    optimizers, step count and random generators), so that it goes on as the run it continues would have.
    """
    run = setup(model, data, cfg, out, world, state)
    should_stop = should_stop or (lambda: False)
    try:
        for epoch in range(1, cfg.epochs + 1):
            if not (yield from run_epoch(run, epoch, should_stop)):
                return run.summary  # stopped, and saved
            if run.step >= run.total:
                break
        model.after_training(run.x_all, run.y_all if model.conditional else None)
        path = save_or_rescue(run, "finished")
        if world is not None:
            world.barrier()  # every rank ends once rank 0 has saved
        preview = (_preview(model, run.preview_x, run.preview_y, cfg.seed) if cfg.preview_every and run.is_main
                   else None)
        yield Progress("done", run.epoch, cfg.epochs, run.step, run.total, run.summary.get("final_losses", {}),
                       samples_per_s=run.seen / max(run.train_time, 1e-9),
                       elapsed_s=time.perf_counter() - run.t0, val=run.summary.get("val"), checkpoint=path,
                       preview=preview, message=_said(run.trouble, "finished"))
        return run.summary
    except GeneratorExit:  # the consumer closed us: keep what was learned
        if run.step > 0 and run.summary["status"] == "running":
            run.rng = None  # mid-epoch: the generators as they are now
            save_or_rescue(run, "stopped")
        raise


def _said(trouble: list[str], message: str) -> str:
    """``message``, preceded by what went wrong with saves since the last one said (then forgotten)."""
    text = "; ".join([*trouble, message] if message else trouble)
    trouble.clear()
    return text


def _preview(model: GenerativeModel, x, y, seed: int) -> np.ndarray:
    was = model.training
    model.eval()
    try:
        g = torch.Generator().manual_seed(seed)
        out = model.preview(x, y, g)
        return None if out is None else out.detach().float().cpu().numpy()
    finally:
        model.train(was)
