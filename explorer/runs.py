"""Training runs as state: a run's settings, records and status, and the queue that runs them one at a
time, each in a child process relayed by a worker thread (:mod:`explorer.procjob`). The Training view
shows these; it does not hold them."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from latent_explorer.models.training.run import RunSpec

from .procjob import in_process
from .training_job import TRAIN_NICE, training_threads
from .worker import Worker

# a run's records reach the UI at most this often (progress, speed, curve points). Each update wakes the UI
# thread, which preempts a training thread on a small machine: 10 Hz reads as smooth and wakes it half as
# often as 20 Hz (measured: the UI process used 5.6% of a core during a run, against 6.3%).
UPDATE_HZ = 10.0


@dataclass
class Run:
    spec: RunSpec
    status: str = "queued"  # queued | running | paused | finished | stopped | failed
    steps: list = field(default_factory=list)
    losses: dict = field(default_factory=dict)  # name -> list of values at ``steps``
    log: list = field(default_factory=list)
    preview: np.ndarray | None = None
    fraction: float = 0.0
    total_steps: int = 0
    rate: float = 0.0
    eta: float = 0.0
    checkpoint: str | None = None
    error: str | None = None
    worker: Worker | None = None
    started: float = 0.0  # time.time() when it started (what it saved is newer)

    @property
    def name(self) -> str:
        return Path(self.spec.out).stem

    def kept(self) -> str:
        """Once stopped: where its last weights are, in a line (a file older than the run is not its save)."""
        out = Path(self.spec.out)
        if out.is_file() and out.stat().st_mtime >= self.started - 1:  # (a coarse file clock's second)
            return f"the training run {self.name} was stopped; its last weights are in {out}"
        return f"the training run {self.name} was stopped before it saved anything"

    @property
    def loss_names(self) -> tuple[str, ...]:
        """The terms this run's kind reports, known before its first record (the curves exist at once)."""
        from latent_explorer.models import registry

        return registry.get(self.spec.kind).loss_names


class RunQueue(QObject):
    """Runs in order, one at a time; emits when a run changes or a checkpoint is ready."""

    changed = Signal(object)  # Run
    added = Signal(object)
    checkpointReady = Signal(str)
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs: list[Run] = []
        self.threads = training_threads()

    @property
    def active(self) -> Run | None:
        return next((r for r in self.runs if r.status in ("running", "paused")), None)

    def submit(self, spec: RunSpec) -> Run:
        run = Run(spec)
        self.runs.append(run)
        self.added.emit(run)
        self._next()
        return run

    def _next(self):
        if self.active is not None:
            return
        run = next((r for r in self.runs if r.status == "queued"), None)
        if run is None:
            return
        job = in_process("latent_explorer.training_job:run_training", run.spec, threads=self.threads, nice=TRAIN_NICE,
                         rate=UPDATE_HZ)
        w = Worker(job, f"train-{run.name}", max_rate=UPDATE_HZ)
        run.worker, run.status, run.started = w, "running", time.time()
        resumed = f", going on from {Path(run.spec.resume).name}" if run.spec.resume else ""
        run.log.append(f"started {run.spec.kind} on {run.spec.data}{resumed} → {run.spec.out}")
        w.yielded.connect(lambda rec, run=run: self._on_record(run, rec))
        w.returned.connect(lambda summary, run=run: self._on_done(run, summary))
        w.errored.connect(lambda msg, run=run: self._on_error(run, msg))
        w.cancelled.connect(lambda run=run: self._on_cancelled(run))
        w.finished.connect(lambda run=run: self._on_finished(run))
        self.changed.emit(run)
        w.start()

    def _on_record(self, run: Run, rec):
        from latent_explorer.models.training.train import Progress

        if not isinstance(rec, Progress):
            run.log.append(getattr(rec, "message", ""))
            self.changed.emit(run)
            return
        if rec.event == "step":
            run.steps.append(rec.step)
            for k, v in rec.losses.items():
                run.losses.setdefault(k, []).append(v)
        elif rec.event == "epoch":
            tr = "  ".join(f"{k} {v:.4g}" for k, v in rec.losses.items())
            va = "  ".join(f"{k} {v:.4g}" for k, v in (rec.val or {}).items())
            run.log.append(f"epoch {rec.epoch}/{rec.epochs}  train: {tr}  |  held-out: {va}")
            if rec.message:  # a save that failed; the run goes on
                run.log.append(f"warning: {rec.message}")
                self.failed.emit(rec.message)
        elif rec.event in ("done", "stopped"):
            run.checkpoint = rec.checkpoint
            run.log.append(f"{rec.message}: {rec.checkpoint}" if rec.checkpoint else rec.message)
        if rec.preview is not None:
            run.preview = rec.preview
        run.fraction, run.eta, run.total_steps = rec.fraction, rec.eta_s, rec.total_steps
        if rec.samples_per_s > 0:
            run.rate = rec.samples_per_s
        self.changed.emit(run)

    def _on_done(self, run, summary):
        run.status = "stopped" if (summary or {}).get("status") == "stopped" else "finished"
        run.fraction = 1.0 if run.status == "finished" else run.fraction
        if run.checkpoint:
            self.checkpointReady.emit(run.checkpoint)

    def _on_cancelled(self, run):
        run.status = "stopped"
        if Path(run.spec.out).exists():
            run.checkpoint = run.spec.out
            run.log.append(f"stopped: the last weights were saved to {run.spec.out}")
            self.checkpointReady.emit(run.spec.out)

    def _on_error(self, run, msg):
        run.status, run.error = "failed", msg
        run.log.append(f"error: {msg}")
        self.failed.emit(msg)
        if Path(run.spec.out).exists():  # the last good weights
            run.checkpoint = run.spec.out
            self.checkpointReady.emit(run.spec.out)

    def _on_finished(self, run):
        run.worker = None
        self.changed.emit(run)
        self._next()

    def pause(self, run: Run):
        if run.worker is not None and run.status == "running":
            run.worker.pause()
            run.status = "paused"
            self.changed.emit(run)

    def resume(self, run: Run):
        if run.worker is not None and run.status == "paused":
            run.worker.resume()
            run.status = "running"
            self.changed.emit(run)

    def stop(self, run: Run, wait: bool = False):
        if run.status == "queued":
            run.status = "stopped"
            self.changed.emit(run)
        elif run.worker is not None:
            run.worker.abort()
            if wait:
                run.worker.wait()

    def stop_all(self, wait: bool = True) -> None:
        for r in self.runs:
            if r.status == "queued":
                r.status = "stopped"
        for r in list(self.runs):
            if r.worker is not None:
                self.stop(r, wait=wait)

    def running(self) -> bool:
        return self.active is not None
