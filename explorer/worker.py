"""One generic worker: runs any generator job from ``models/`` off the UI thread (superqt / Orange style).

The job is ``make_job(should_stop) -> generator``. A plain Python thread loops "check abort/pause ->
next() -> put on a queue", so cancel and pause act at each yield. ``should_stop`` also has
``listen(fn)``: a job that runs elsewhere (a child process, :mod:`explorer.procjob`) registers
``fn(paused, aborted)`` to hear pause, resume and abort the moment the UI asks. No Qt signal is emitted from that
thread: cross-thread signals to Python callables have crashed PySide6 (PYSIDE-3124, "none_dealloc").
Instead a timer on the UI thread drains the queue at most ``max_rate`` times a second and emits
``yielded`` (the newest record, plus every record that matters: an ``event`` other than "step", or one
with a preview), then ``returned`` / ``errored`` / ``cancelled`` and ``finished``. Only the UI thread
touches widgets. Never kill a thread: stop cooperatively, then join.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Callable, Generator

from PySide6.QtCore import QObject, QTimer, Signal

from .procjob import drive

_LIVE: set[Worker] = set()


def _is_key(record) -> bool:
    return getattr(record, "event", "step") != "step" or getattr(record, "preview", None) is not None


class Worker(QObject):
    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, make_job: Callable[[Callable[[], bool]], Generator], name: str = "job",
                 max_rate: float = 30.0, parent=None):
        super().__init__(parent)
        self.name = name
        self._make_job = make_job
        self._abort = threading.Event()
        self._running = threading.Event()
        self._running.set()
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._listener: Callable[[bool, bool], None] | None = None
        self._timer = QTimer(self)
        self._timer.setInterval(max(5, int(1000 / max_rate)) if max_rate > 0 else 5)
        self._timer.timeout.connect(self._drain)
        self._done = False

    # -- control (UI thread) ------------------------------------------------------------------
    def start(self) -> None:
        _LIVE.add(self)
        self._thread = threading.Thread(target=self._run, name=f"worker-{self.name}", daemon=True)
        self._thread.start()
        self._timer.start()

    def abort(self) -> None:
        self._abort.set()
        self._running.set()
        self._tell()

    def pause(self) -> None:
        self._running.clear()
        self._tell()

    def resume(self) -> None:
        self._running.set()
        self._tell()

    def _tell(self) -> None:
        listener = self._listener
        if listener is not None:
            listener(self.paused, self.aborted)

    def end_unstarted(self) -> None:
        """End a worker whose thread never started (aborted while it waited for another): ``cancelled``, then
        ``finished``, as a job stopped before its first step ends."""
        if self._thread is not None or self._done:
            return
        self._done = True
        self.cancelled.emit()
        self.finished.emit()
        self._release()

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def aborted(self) -> bool:
        return self._abort.is_set()

    def isRunning(self) -> bool:  # noqa: N802 - QThread-like name
        return self._thread is not None and self._thread.is_alive()

    def should_stop(self) -> bool:
        """Called by the job at each step: blocks while paused, True once aborted."""
        if not self._running.is_set():
            self._running.wait()
        return self._abort.is_set()

    def _listen(self, fn: Callable[[bool, bool], None] | None) -> None:
        self._listener = fn
        if fn is not None and (self.paused or self.aborted):
            fn(self.paused, self.aborted)

    def wait(self, timeout_ms: int = 30000) -> bool:
        """Join the thread, then deliver what it left (terminal signals included) on this thread."""
        if self._thread is not None:
            self._thread.join(timeout_ms / 1000)
        ended = not self.isRunning()
        if ended:
            self._drain()
        return ended

    def stop(self, timeout_ms: int = 30000) -> bool:
        """Abort and wait for the thread to end; True when it has ended."""
        self.abort()
        return self.wait(timeout_ms)

    # -- UI thread: deliver ------------------------------------------------------------------
    def _drain(self) -> None:
        if self._done:
            return
        latest = None
        while True:
            try:
                kind, value = self._queue.get_nowait()
            except queue.Empty:
                break
            if kind == "yield":
                if _is_key(value):
                    if latest is not None:
                        self.yielded.emit(latest)
                        latest = None
                    self.yielded.emit(value)
                else:
                    latest = value
                continue
            if latest is not None:
                self.yielded.emit(latest)
                latest = None
            self._done = True
            self._timer.stop()
            if kind == "returned":
                self.returned.emit(value)
            elif kind == "errored":
                self.errored.emit(value)
            else:
                self.cancelled.emit()
            _LIVE.discard(self)
            self.finished.emit()
            self._release()
            return
        if latest is not None:
            self.yielded.emit(latest)

    def _release(self) -> None:
        """After the last signal: drop the job (its model and data), the result and every connection, so
        nothing a finished job touched is kept alive by a worker object that lingers."""
        self._make_job = None
        self._listener = None
        with warnings.catch_warnings():  # PySide warns when a signal has no connection to drop
            warnings.simplefilter("ignore", RuntimeWarning)
            for sig in (self.yielded, self.returned, self.errored, self.cancelled, self.finished):
                try:
                    sig.disconnect()
                except (RuntimeError, TypeError):
                    pass

    # -- the thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        def should_stop() -> bool:
            return self.should_stop()

        should_stop.listen = self._listen

        def put(message) -> None:
            kind, value = message
            if kind == "returned" and self._abort.is_set() and value is None:  # stopped, nothing more said
                message = ("cancelled", None)
            self._queue.put(message)

        drive(self._make_job, should_stop, put)


def live_workers() -> list[Worker]:
    return [w for w in _LIVE if w.isRunning()]


def shutdown_all(timeout_ms: int = 30000) -> bool:
    """Abort every running worker and wait for each (closeEvent, tests)."""
    ok = True
    for w in list(_LIVE):
        ok &= w.stop(timeout_ms)
    return ok
