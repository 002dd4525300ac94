"""One generic worker: runs any generator job from ``models/`` in a QThread (superqt / Orange style).

The job is ``make_job(should_stop) -> generator``. The worker loops "check abort/pause -> next() ->
emit", so cancel and pause act at each yield. ``yielded`` is throttled to ``max_rate`` per second;
records that matter (an ``event`` other than "step", or a preview) always go through, and the last
record is always delivered before ``returned``. Never ``terminate()``: stop cooperatively and wait.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Generator

from PySide6.QtCore import QThread, Signal

_LIVE: set[Worker] = set()


def _is_key(record) -> bool:
    return getattr(record, "event", "step") != "step" or getattr(record, "preview", None) is not None


class Worker(QThread):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str)
    cancelled = Signal()

    def __init__(self, make_job: Callable[[Callable[[], bool]], Generator], name: str = "job",
                 max_rate: float = 30.0, torch_threads: int | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName(name)
        self._make_job = make_job
        self._abort = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._interval = 1.0 / max_rate if max_rate > 0 else 0.0
        self._torch_threads = torch_threads
        self.result = None
        self.error: str | None = None
        _LIVE.add(self)
        self.finished.connect(self._forget)

    # -- control (UI thread) ------------------------------------------------------------------
    def abort(self) -> None:
        self._abort.set()
        self._running.set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def should_stop(self) -> bool:
        if not self._running.is_set():
            self._running.wait()
        return self._abort.is_set()

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Abort and wait for the thread to end; True when it has ended."""
        self.abort()
        return self.wait(timeout_ms) if self.isRunning() else True

    def _forget(self):
        _LIVE.discard(self)

    # -- thread --------------------------------------------------------------------------------
    def run(self) -> None:  # noqa: D401 - QThread API
        if self._torch_threads:
            import torch

            torch.set_num_threads(self._torch_threads)
        last_emit, pending = 0.0, None
        gen = None
        try:
            gen = self._make_job(self.should_stop)
            while True:
                if self.should_stop():
                    gen.close()
                    if pending is not None:
                        self.yielded.emit(pending)
                    self.cancelled.emit()
                    return
                try:
                    record = next(gen)
                except StopIteration as stop:
                    if pending is not None:
                        self.yielded.emit(pending)
                    self.result = stop.value
                    if self._abort.is_set() and stop.value is None:
                        self.cancelled.emit()
                    else:
                        self.returned.emit(stop.value)
                    return
                now = time.monotonic()
                if _is_key(record) or now - last_emit >= self._interval:
                    self.yielded.emit(record)
                    last_emit, pending = now, None
                else:
                    pending = record
        except Exception as e:  # noqa: BLE001 - every error reaches the UI as a message
            self.error = _message(e)
            traceback.print_exc()
            self.errored.emit(self.error)
        finally:
            if gen is not None:
                try:
                    gen.close()
                except Exception:  # noqa: BLE001
                    pass


def _message(e: BaseException) -> str:
    from models import CheckpointError, ConfigError, DataError, TrainingError

    if isinstance(e, (CheckpointError, ConfigError, DataError, TrainingError)):
        return str(e)
    if isinstance(e, MemoryError):
        return "out of memory: try fewer points, a smaller batch or a smaller grid"
    return f"{type(e).__name__}: {e}"


def live_workers() -> list[Worker]:
    return [w for w in _LIVE if w.isRunning()]


def shutdown_all(timeout_ms: int = 30000) -> bool:
    """Abort every running worker and wait for each (closeEvent, tests)."""
    ok = True
    for w in list(_LIVE):
        ok &= w.stop(timeout_ms)
    return ok
