"""Run a job generator in a child process, relayed through a :class:`~explorer.worker.Worker` thread.

Why a process: a worker *thread* shares the interpreter lock with the UI thread. Measured on this 2-core
machine, the same training loop ran at 0.74-0.82x its main-thread speed in a plain thread even with the UI
idle, and UI paints waited on the trainer's Python between tensor ops. A child process has its own
interpreter and runs the job in its main thread; the UI thread only receives small records.

    job = in_process("latent_explorer.training_job:run_training", spec, threads=2, nice=10)
    Worker(job)  # as any job: job(should_stop) -> generator of the child's records

- The child is started with "spawn" (never fork a process whose threads run Qt) and imports no Qt.
- It checks stop and pause before every ``next()``, as the Worker does, and passes the same
  ``should_stop`` to the job; on stop it closes the job generator, so the job's own cleanup runs
  there (the trainer saves its last good weights).
- Pause, resume and stop reach the child at once through the Worker's control listeners.
- Records cross as pickles between our own two processes (dataclasses and numpy arrays that our code
  made); nothing a user hands us is unpickled.
- A child that does not end within ``grace_s`` of a stop is terminated; a child that dies is reported
  as an error, never a hang. The child stops by itself if the UI process disappears.
- Starting a child costs seconds (importing PyTorch, and ``torch._dynamo`` on the first optimizer):
  :func:`prestart` starts a spare that pays that while the user is still choosing, and the next job
  takes it.
- A *pool* (``in_process(..., pool="projection")``) keeps one long-lived child that runs job after job: the
  map's UMAP and t-SNE, whose imports and numba compilation (tens of seconds) are paid once per window, not
  once per run (:func:`prestart_pool` pays them while the window is idle). A stop still ends that child at
  once (UMAP's fit checks no stop), and the next job starts another.

This module imports no Qt, so the child can import it cheaply.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


class JobError(RuntimeError):
    """The job failed in the child process; the message is already written for the user."""


def describe_error(e: BaseException) -> str:
    """The message a user sees for an exception raised by a job."""
    from latent_explorer.models import CheckpointError, ConfigError, DataError, TrainingError

    if isinstance(e, (CheckpointError, ConfigError, DataError, TrainingError, JobError)):
        return str(e)
    from latent_explorer.models.errors import memory_asked, out_of_memory, reason

    if out_of_memory(e):  # a MemoryError, or PyTorch's allocator refusing: never its internals
        asked = f" ({memory_asked(e)} was asked for)" if memory_asked(e) else ""
        return f"out of memory{asked}: try fewer points, a smaller batch or a smaller grid"
    return reason(e) if isinstance(e, OSError) else f"{type(e).__name__}: {e}"


def in_process(target: str, *args, threads: int | None = None, nice: int = 0, rate: float = 30.0,
               grace_s: float = 60.0, pool: str | None = None) -> Callable[[Callable[[], bool]], Generator]:
    """A Worker job that runs ``module:function(*args, should_stop)`` (a generator function) in a child
    process with ``threads`` torch threads, its priority lowered by ``nice`` (POSIX). The child sends
    plain step records at most ``rate`` times a second (see :class:`_Coalescer`). ``pool``: run it in that
    pool's long-lived child (see the module's docstring)."""

    def job(should_stop):
        return (yield from _relay(target, args, should_stop, threads, nice, rate, grace_s, pool))

    return job


def _relay(target, args, control, threads, nice, rate, grace_s, pool=None):
    # a pool's child started for this job does no warm-up: the job itself pays the imports and compilation
    child = (_take_pooled(pool) or _spawn(nice, (), reuse=True)) if pool else (_take_spare(nice) or _spawn(nice, ()))
    proc, out, stop, running = child["proc"], child["out"], child["stop"], child["running"]
    child["jobs"].put((target, args, threads, rate, list(sys.path)))  # a spare started before a plug-in's folder

    stop_by = []  # when a stop was asked: the time by which the child must have ended

    def on_control(paused: bool, aborted: bool) -> None:  # called on the UI thread: two semaphore ops
        if aborted:
            stop.set()
            if not stop_by:
                stop_by.append(time.monotonic() + grace_s)
        if paused and not aborted:
            running.clear()
        else:
            running.set()

    listen = getattr(control, "listen", None)
    if listen is not None:
        listen(on_control)
    ended = False
    try:
        while True:
            try:
                kind, value = out.get(timeout=0.1)
            except queue.Empty:
                if stop_by and time.monotonic() > stop_by[0]:  # a long library call that checks no stop (UMAP's
                    return None  # fit): the finally ends the child now, and the Worker reports "cancelled"
                if proc.is_alive():
                    continue
                try:  # a last message may still be in the pipe
                    kind, value = out.get(timeout=1.0)
                except queue.Empty:
                    ended = True
                    raise JobError(f"the {target.rsplit(':', 1)[-1]} process ended unexpectedly "
                                   f"(exit code {proc.exitcode}); the last saved checkpoint is kept") from None
            if kind == "yield":
                yield value
            elif kind == "returned":
                ended = True
                return value
            elif kind == "cancelled":
                ended = True
                return None
            else:
                ended = True
                raise JobError(value)
    finally:
        if listen is not None:
            listen(None)
        # a pool's child whose job ran to its end waits for the next job; one that was stopped is ended
        kept = bool(ended and pool and not stop.is_set() and proc.is_alive() and _keep_pooled(pool, child))
        if not ended:  # closed by the Worker (stop) or failed here: ask the child to stop and save
            stop.set()
            running.set()
        if not kept:
            if ended:
                wait_s = 10.0
            else:  # what is left of the grace a stop gave the child (all of it when the relay itself was closed)
                wait_s = max(0.0, stop_by[0] - time.monotonic()) if stop_by else grace_s
            if pool:
                child["jobs"].put(None)  # a pool's child waits for another job unless told it has none
            _wait_for(proc, out, wait_s)
            child["jobs"].cancel_join_thread()
            child["jobs"].close()


_SPARE: dict = {}
_SPARE_LOCK = threading.Lock()


# what a pool's child does while it waits for its first job: "module" imports it, "module:function" calls it
POOL_WARM = {"projection": ("latent_explorer.models.analysis.embedding:warm_up",)}
# the projection process yields to the window (as training does; idle, it is no slower): the tests set 0, as
# they do for training ($LATENT_EXPLORER_TRAIN_NICE)
_nice = os.environ.get("LATENT_EXPLORER_PROJECTION_NICE", "")
PROJECTION_NICE = int(_nice) if _nice.isdigit() else 10
_POOLS: dict[str, dict] = {}


def _spawn(nice: int, warm: tuple[str, ...], reuse: bool = False) -> dict:
    ctx = mp.get_context("spawn")
    jobs, out = ctx.Queue(), ctx.Queue()
    stop, running, ready = ctx.Event(), ctx.Event(), ctx.Event()
    running.set()
    proc = ctx.Process(target=_child, args=(jobs, out, stop, running, ready, nice, warm, reuse),
                       name="latent-explorer-job", daemon=True)
    proc.start()
    return {"proc": proc, "jobs": jobs, "out": out, "stop": stop, "running": running, "ready": ready,
            "nice": nice, "reuse": reuse}


def prestart_pool(pool: str, nice: int = 0) -> None:
    """Start ``pool``'s child now, paying its imports and compilation while the window is idle (nothing when
    one is alive)."""
    with _SPARE_LOCK:
        if pool in _POOLS and _POOLS[pool]["proc"].is_alive():
            return
        old = _POOLS.pop(pool, None)
        _POOLS[pool] = _spawn(nice, POOL_WARM.get(pool, ()), reuse=True)
    if old:
        _dispose(old)


def _take_pooled(pool: str) -> dict | None:
    with _SPARE_LOCK:
        child = _POOLS.pop(pool, None)
    if child is not None and not child["proc"].is_alive():
        _dispose(child)
        return None
    return child


def _keep_pooled(pool: str, child: dict) -> bool:
    """Put a child whose job ended back in its pool (False: the pool has one already)."""
    with _SPARE_LOCK:
        if pool in _POOLS and _POOLS[pool]["proc"].is_alive():
            return False
        _POOLS[pool] = child
    return True


def has_pooled(pool: str, ready: bool = False) -> bool:
    with _SPARE_LOCK:
        c = _POOLS.get(pool)
        return c is not None and c["proc"].is_alive() and (not ready or c["ready"].is_set())


def discard_pools() -> None:
    """End every pool's child (the window closes)."""
    with _SPARE_LOCK:
        old = list(_POOLS.values())
        _POOLS.clear()
    for child in old:
        _dispose(child)


def prestart(nice: int = 0, warm: tuple[str, ...] = ("torch",)) -> None:
    """Start a spare child now that imports ``warm`` (PyTorch, our models: about 5 s on a laptop CPU)
    and waits, so that the next :func:`in_process` job with the same ``nice`` starts at once. Does
    nothing when a live spare exists. Call it when a job is likely (the Training view is shown)."""
    with _SPARE_LOCK:
        if _SPARE and _SPARE["proc"].is_alive():
            return
        old = dict(_SPARE)
        _SPARE.clear()
        _SPARE.update(_spawn(nice, warm))
    if old:
        _dispose(old)


def _take_spare(nice: int) -> dict | None:
    with _SPARE_LOCK:
        spare = dict(_SPARE) if _SPARE and _SPARE["nice"] == nice else None
        if spare is not None:
            _SPARE.clear()
    if spare is not None and not spare["proc"].is_alive():
        _dispose(spare)
        return None
    return spare


def discard_spare() -> None:
    """End the spare child, if any (the window closes)."""
    with _SPARE_LOCK:
        old = dict(_SPARE)
        _SPARE.clear()
    if old:
        _dispose(old)


def has_spare(ready: bool = False) -> bool:
    """A live spare exists (and, with ``ready``, has finished its imports)."""
    with _SPARE_LOCK:
        return bool(_SPARE) and _SPARE["proc"].is_alive() and (not ready or _SPARE["ready"].is_set())


def _dispose(child: dict) -> None:
    """End a spare that has no job: at once while it is still importing (nothing to keep), else ask."""
    if not child["ready"].is_set():
        child["proc"].terminate()
    child["jobs"].put(None)
    _wait_for(child["proc"], child["out"], 5.0)
    child["jobs"].cancel_join_thread()
    child["jobs"].close()


def _wait_for(proc, out, grace_s: float) -> None:
    """Join the child, draining its queue meanwhile (a child blocks on exit while its records are
    unread); terminate it if it does not end in time."""
    deadline = time.monotonic() + grace_s
    while proc.is_alive() and time.monotonic() < deadline:
        try:
            out.get(timeout=0.05)
        except queue.Empty:
            pass
        except (EOFError, OSError):
            break
    if proc.is_alive():
        proc.terminate()
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    proc.join(5)
    out.cancel_join_thread()
    out.close()


def drive(make_job, should_stop, put, send=None) -> None:
    """Run a job to its end, the same way in the Worker's thread and in a child process: check
    ``should_stop()`` before every ``next()`` (closing the generator on stop, so its cleanup runs),
    ``send`` each record (default: ``put(("yield", record))``), then ``put`` one terminal message:
    ``("returned", value)``, ``("cancelled", None)`` or ``("errored", message)``."""
    send = send or (lambda record: put(("yield", record)))
    flush = getattr(send, "flush", lambda: None)
    gen = None
    try:
        gen = make_job(should_stop)
        while True:
            if should_stop():
                gen.close()
                flush()
                end = ("cancelled", None)
                break
            try:
                record = next(gen)
            except StopIteration as done:
                flush()
                end = ("returned", done.value)
                break
            send(record)
    except Exception as e:  # noqa: BLE001 - every error reaches the UI as a message
        from latent_explorer.models.errors import print_traceback_if_debugging

        print_traceback_if_debugging()  # the message says it all; its traceback only with --debug
        end = ("errored", describe_error(e))
    finally:
        if gen is not None:
            try:
                gen.close()
            except Exception:  # noqa: BLE001
                pass
    put(end)


# -- the child process -------------------------------------------------------------------------
class _Coalescer:
    """Send every record that matters (an ``event`` other than "step", or one with a preview) at once,
    and plain step records at most ``rate`` times a second, the newest winning: the UI shows no more
    (the Worker coalesces the same way), and each record sent costs the job a pickle and a pipe write."""

    def __init__(self, put, rate: float = 30.0):
        self.put, self.interval = put, 1.0 / rate
        self.pending, self.sent_at = None, -1.0

    def __call__(self, record) -> None:
        key = getattr(record, "event", "step") != "step" or getattr(record, "preview", None) is not None
        if key:
            self.flush()
            self.put(("yield", record))
            return
        self.pending = record
        now = time.monotonic()
        if now - self.sent_at >= self.interval:
            self.flush()
            self.sent_at = now

    def flush(self) -> None:
        if self.pending is not None:
            self.put(("yield", self.pending))
            self.pending = None


def _child(jobs, out, stop, running, ready, nice, warm, reuse=False):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the UI process, which stops us cleanly
    if nice and hasattr(os, "nice"):
        try:
            os.nice(nice)
        except OSError:
            pass
    for name in warm:  # a spare: pay the imports now, while the user is still choosing what to train
        try:
            module, _, function = name.partition(":")
            imported = importlib.import_module(module)
            if function:
                getattr(imported, function)()
        except Exception:  # noqa: BLE001 - the job will report it
            pass
    ready.set()
    while _one_job(jobs, out, stop, running) and reuse:
        pass


def _one_job(jobs, out, stop, running) -> bool:
    """Wait for a job and run it; False when discarded (or the UI process is gone)."""
    parent = mp.parent_process()
    job = None
    while job is None:
        try:
            job = jobs.get(timeout=1.0)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                return False
            continue
        if job is None:  # discarded
            return False
    target, args, threads, rate, path = job
    sys.path[:0] = [p for p in path if p not in sys.path]  # what the window can import, the job can too
    last_check = [time.monotonic()]

    def should_stop() -> bool:
        while not running.is_set() and not stop.is_set():
            running.wait(0.25)
            if parent is not None and not parent.is_alive():
                stop.set()
        now = time.monotonic()
        if parent is not None and now - last_check[0] > 1.0:
            last_check[0] = now
            if not parent.is_alive():  # the UI process is gone: stop and keep what was learned
                stop.set()
        return stop.is_set()

    def make(should_stop):
        if threads:
            import torch

            torch.set_num_threads(threads)
        module, name = target.split(":")
        return getattr(importlib.import_module(module), name)(*args, should_stop)

    drive(make, should_stop, out.put, send=_Coalescer(out.put, rate))
    return True


def embedding_job(method: str, z: np.ndarray):
    """A job fitting a t-SNE or UMAP map of ``z`` in a child process; it returns a models.analysis.embedding.Embedding
    (packed: its library is imported here only when it first places a latent) or None.

    A process, not a worker thread (issue T): openTSNE's import (scikit-learn, SciPy) and its nearest-neighbour
    search (Annoy, queried item by item from joblib threads) are Python that holds the interpreter lock beside
    the window's thread; and neither that search nor UMAP's fit checks for a stop, so a cancel waited for
    them (the window froze 6.5-20 s when a model switch cancelled a t-SNE). A child that does not heed a stop
    is ended 1 s after it. The child is the "projection" pool's, kept for the next map (a warm UMAP: its
    imports and numba's compilation are paid once)."""
    target = "latent_explorer.models.analysis.embedding:" + {"tsne": "tsne_job", "umap": "umap_job"}[method]
    return in_process(target, z, grace_s=1.0, pool="projection", nice=PROJECTION_NICE)
