"""One training loop for every kind, written as a generator of small progress records.

    for p in train(model, data, TrainConfig(epochs=5), out="vae.safetensors"):
        print(p.epoch, p.step, p.losses)

The loop checks ``should_stop()`` before every step; closing the generator (``gen.close()``) also
stops it. Either way the last good weights are saved to ``out``. A NaN/Inf loss or gradient stops the
run with :class:`TrainingError` before the bad step is applied, after saving the weights of the last
good step. Only numpy arrays leave the loop (previews), so records can cross threads.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import torch

from . import checkpoint
from .base import ConfigError, DivergedError, GenerativeModel
from .data import SPLITS, ImageData
from .errors import CheckpointError


class TrainingError(RuntimeError):
    """The run could not continue; the message says why and what was kept."""


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
    record_n: int = 500  # per epoch: held-out images encoded and images sampled for the run's record (0: none)

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
def evaluate(model: GenerativeModel, data: ImageData, batch_size: int = 512, seed: int = 0) -> dict:
    """Held-out figures averaged per image over ``data`` (seeded, so epochs compare)."""
    was = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    dev = model.device
    totals: dict[str, float] = {}
    n = len(data)
    cond = model.condition_of(data)
    for i in range(0, n, batch_size):
        x = torch.from_numpy(data.images[i : i + batch_size]).to(dev)
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


def train(model: GenerativeModel, data: ImageData, cfg: TrainConfig, out: str | None = None,
          should_stop: Callable[[], bool] | None = None, world=None
          ) -> Generator[Progress, None, dict]:
    """Train ``model`` on ``data`` (already in the model's image shape). Returns the summary dict.

    ``world`` (see :mod:`models.distributed`) shards the data and averages gradients across processes;
    only its rank 0 saves checkpoints.
    """
    cfg.validate()
    if tuple(data.shape) != tuple(model.image_shape):
        raise ConfigError(f"the data is {data.shape} but the model expects {model.image_shape}")
    should_stop = should_stop or (lambda: False)
    train_set, val_set = data.split(cfg.val_fraction, cfg.split)
    n = len(train_set)
    if cfg.batch_size > n:
        raise ConfigError(f"batch size {cfg.batch_size} is larger than the {n} training images")
    cond = model.condition_of(train_set)
    if model.conditional and cond is None:
        raise ConfigError("a conditional model needs labelled data")
    rank, world_size = (world.rank, world.size) if world is not None else (0, 1)
    is_main = rank == 0
    torch.manual_seed(cfg.seed + rank)
    g = torch.Generator().manual_seed(cfg.seed)  # the same permutation on every rank
    device = torch.device(world.device) if world is not None else pick_device(cfg.device)
    model.to(device).train()
    if world is not None:
        world.attach(model)
    opts = model.make_optimizers(cfg.lr)
    x_all = torch.from_numpy(train_set.images).to(device)
    y_all = torch.from_numpy(cond).to(device) if cond is not None else None
    local_bs = max(1, cfg.batch_size // world_size)
    per_rank = n // world_size if world_size > 1 else n
    spe = per_rank // local_bs + (1 if per_rank % local_bs >= 2 else 0)  # a last batch of 1 is dropped
    spe = max(1, spe)
    total = cfg.epochs * spe if cfg.max_steps is None else min(cfg.epochs * spe, cfg.max_steps)
    preview_x = torch.from_numpy(val_set.images[: cfg.preview_n]).to(device)
    val_cond = model.condition_of(val_set)
    preview_y = torch.from_numpy(val_cond[: cfg.preview_n]).to(device) if val_cond is not None else None
    lr_used = cfg.lr or opts[next(iter(opts))].param_groups[0]["lr"]
    summary = {"kind": model.kind, "epochs": cfg.epochs, "batch_size": cfg.batch_size, "lr": lr_used,
               "seed": cfg.seed, "device": str(device), "world_size": world_size, "steps": 0,
               "epochs_done": 0, "status": "running", "history": []}
    if cfg.resumed_from:
        summary["resumed_from"] = dict(cfg.resumed_from)
    info = data_summary(data, len(train_set), len(val_set), cfg.val_fraction, cfg.split)
    recorder = None
    if cfg.record_n and out is not None and is_main:
        from .run_record import Recorder, record_path

        try:
            recorder = Recorder(model, val_set, cfg.record_n, cfg.seed, data)
        except Exception:  # noqa: BLE001 - a record that cannot be set up never stops the run
            recorder = None
        if recorder is not None and recorder.active:
            summary["record"] = record_path(out).name
        else:
            recorder = None

    def save(status: str) -> str | None:
        summary["status"] = status
        summary["steps"] = step  # the weights are those of this many completed steps
        summary["seconds"] = round(time.perf_counter() - t0, 2)
        if out is None or not is_main:
            return None
        if recorder is not None and recorder.record.epochs:
            try:  # before the checkpoint that names it
                recorder.save(out)
            except (CheckpointError, OSError) as e:
                save_trouble.append(f"the run's record could not be saved ({e})")
        try:
            return str(checkpoint.save(model, out, data=info, training=summary, class_names=data.class_names))
        except CheckpointError as e:
            if status == "running":  # an epoch's save: the run goes on and tries again at the next one
                save_trouble.append(f"{e}; training goes on and tries again after the next epoch")
                return None
            try:  # the run's last save: never lose the weights, put them where they can be written
                rescued = checkpoint.save(model, checkpoint.recovery_path(out), data=info, training=summary,
                                          class_names=data.class_names)
            except (CheckpointError, OSError) as e2:
                raise TrainingError(f"{e}; and the weights could not be saved elsewhere either ({e2})") from None
            save_trouble.append(f"{e}; the weights were saved to {rescued} instead")
            return str(rescued)

    save_trouble: list[str] = []  # what went wrong with saves, said in the next Progress message

    step, t0, train_time, last_preview = 0, time.perf_counter(), 0.0, -math.inf
    seen = 0  # images trained on, all ranks (an epoch's last batch may be short)
    epoch = 0
    try:
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            if world is not None:
                perm = world.epoch_indices(n, epoch, cfg.seed)
            else:
                perm = torch.randperm(n, generator=g)
            sums: dict[str, float] = {}
            count = 0
            for b in range(spe):
                if step >= total:
                    break
                if should_stop():
                    path = save("stopped") if step > 0 else None  # no step taken: nothing to keep
                    yield Progress("stopped", epoch, cfg.epochs, step, total, elapsed_s=time.perf_counter() - t0,
                                   checkpoint=path, message=_said(save_trouble, "stopped; the last weights were "
                                                                  "saved" if path else "stopped"))
                    return summary
                ts = time.perf_counter()
                idx = perm[b * local_bs : (b + 1) * local_bs].to(device)
                xb = x_all[idx]
                yb = y_all[idx] if y_all is not None else None
                try:
                    losses = model.train_step(xb, yb if model.conditional else None, opts, step)
                except DivergedError as e:
                    path = save("diverged")
                    kept = f"the weights of the last good step ({step}) were saved to {path}" if path else (
                        f"the model keeps the weights of the last good step ({step})")
                    raise TrainingError(f"training diverged at epoch {epoch}, step {step + 1}: {e}; {kept}. "
                                        "Try a lower learning rate.") from None
                model.after_step()
                step += 1
                seen += len(xb) * world_size
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                count += 1
                train_time += time.perf_counter() - ts
                rate = seen / max(train_time, 1e-9)
                eta = (total - step) * train_time / step
                preview = None
                now = time.perf_counter()
                if cfg.preview_every and now - last_preview >= cfg.preview_every and is_main:
                    preview = _preview(model, preview_x, preview_y, cfg.seed)
                    last_preview = time.perf_counter()
                yield Progress("step", epoch, cfg.epochs, step, total, losses, rate, eta, now - t0,
                               preview=preview)
            means = {k: v / max(count, 1) for k, v in sums.items()}
            if world is not None:  # the epoch's losses averaged over every rank's shard
                means = world.mean(means)
            val = evaluate(model, val_set, seed=cfg.seed) if is_main or world is None else None
            summary["epochs_done"], summary["steps"] = epoch, step
            summary["history"].append({"epoch": epoch, "train": means, "val": val})
            if recorder is not None:
                summary["history"][-1].update(recorder.take(epoch))
            summary["final_losses"], summary["val"] = means, val
            path = None
            if cfg.checkpoint_every and epoch % cfg.checkpoint_every == 0 and step < total:
                path = save("running")
            yield Progress("epoch", epoch, cfg.epochs, step, total, means, seen / max(train_time, 1e-9),
                           (total - step) * train_time / max(step, 1), time.perf_counter() - t0, val=val,
                           checkpoint=path, message=_said(save_trouble, ""))
            if step >= total:
                break
        model.after_training(x_all, y_all if model.conditional else None)
        path = save("finished")
        if world is not None:
            world.barrier()  # every rank ends once rank 0 has saved
        preview = _preview(model, preview_x, preview_y, cfg.seed) if cfg.preview_every and is_main else None
        yield Progress("done", epoch, cfg.epochs, step, total, summary.get("final_losses", {}),
                       samples_per_s=seen / max(train_time, 1e-9),
                       elapsed_s=time.perf_counter() - t0, val=summary.get("val"), checkpoint=path,
                       preview=preview, message=_said(save_trouble, "finished"))
        return summary
    except GeneratorExit:  # the consumer closed us: keep what was learned
        if step > 0 and summary["status"] == "running":
            save("stopped")
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
