"""Decoding the newest z for the editor, at interactive speed, never queueing stale frames."""

from __future__ import annotations

import time

import numpy as np
import torch
from PySide6.QtCore import QObject, QTimer, Signal

from latent_explorer.models.analysis.latent import decode_one
from latent_explorer.models.threads import measure_threads

from .state import LatentState
from .worker import Worker


class LiveDecoder(QObject):
    """Decodes the newest z. Fast models decode on the UI thread: at once for the first request in an
    event-loop pass (a slider drag delivers one move per pass), and any further requests in that pass
    coalesce into one decode in a zero-delay timer. Slow ones (a model whose kind says so, or one measured
    slower than ``SYNC_LIMIT_S``) decode in a worker: latest wins, stale requests are dropped, never queued."""

    decoded = Signal(object)  # (C, H, W) float32 in [0, 1]
    busy = Signal(bool)
    failed = Signal(str)

    SYNC_LIMIT_S = 0.015
    TIMEOUT_S = 10.0  # a decode in a worker slower than this is reported (a generator from elsewhere may hang)

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.sync = True
        self._scheduled = False
        self._pending: tuple | None = None
        self._worker: Worker | None = None
        self.last: np.ndarray | None = None
        self.last_request: tuple | None = None
        self._in_pass = False
        self.threads: int | None = None  # PyTorch threads chosen for the model's decodes (models.threads)
        self.thread_times: dict[int, float] = {}  # what that choice was measured from: {threads: seconds}

    def set_model(self, model) -> None:
        """Decode for ``model`` from now on (None: stop); a decode in flight for another model is dropped."""
        self.model = model
        self._pending = None
        self.last = self.last_request = None
        if model is None or not model.capabilities.decodes_z:
            self.model = None
            return
        if model.capabilities.slow_decode:
            self.sync = False
            return
        z = model.origin().numpy()
        times = []
        for _ in range(2):
            t = time.perf_counter()
            decode_one(model, z, self.state.label)
            times.append(time.perf_counter() - t)
        self.sync = min(times) < self.SYNC_LIMIT_S
        if self.sync:  # decoded on this thread, as the user drags: on the threads measured fastest for it
            self.threads, self.thread_times = measure_threads(lambda: decode_one(model, z, self.state.label))
            torch.set_num_threads(self.threads)  # the window's process: its jobs in threads too (models.threads)

    def request(self) -> None:
        if self.model is None:
            return
        self._pending = (self.state.z.copy(), self.state.label)
        if self.sync:
            if self._scheduled:
                return  # the scheduled decode takes the newest z
            if not self._in_pass:  # the first request in this event-loop pass: decode and show now
                self._in_pass = True
                QTimer.singleShot(0, self._end_pass)
                self._flush()
            else:  # more in the same pass (one handler moving z repeatedly): one decode, next pass
                self._scheduled = True
                QTimer.singleShot(0, self._flush)
        elif self._worker is None:
            self._start_worker()

    def decode_now(self, z: np.ndarray, label: int) -> np.ndarray:
        return decode_one(self.model, z, label)

    def _flush(self) -> None:
        self._scheduled = False
        if self._pending is None or self.model is None:
            return
        z, label = self._pending
        self._pending = None
        try:
            img = self.decode_now(z, label)
        except Exception as e:  # noqa: BLE001
            self.failed.emit(f"decoding failed: {e}")
            return
        self.last, self.last_request = img, (z, label)
        self.decoded.emit(img)

    def _end_pass(self) -> None:
        self._in_pass = False

    def _start_worker(self) -> None:
        z, label = self._pending
        self._pending = None
        model = self.model

        def job(should_stop):
            yield from ()
            return decode_one(model, z, label)

        w = Worker(job, "decode")
        self._worker = w
        self.busy.emit(True)

        def done(img):
            if model is not self.model:  # the stale-model guard: the user has moved on
                return
            self.last, self.last_request = img, (z, label)
            self.decoded.emit(img)

        w.returned.connect(done)
        w.errored.connect(lambda m: self.failed.emit(f"decoding failed: {m}"))
        w.finished.connect(self._worker_done)
        w.start()
        watchdog = QTimer(w)  # dies with the worker
        watchdog.setSingleShot(True)
        watchdog.timeout.connect(lambda: w.isRunning() and model is self.model and self.failed.emit(
            f"the model has not answered in {self.TIMEOUT_S:.0f} s; the window stays usable and a late image is "
            "shown when it comes (pick another model to stop waiting)"))
        watchdog.start(int(self.TIMEOUT_S * 1000))

    def _worker_done(self) -> None:
        self._worker = None
        if self._pending is not None and self.model is not None:
            self._start_worker()
        else:
            self.busy.emit(False)

    def shutdown(self) -> None:
        self._pending = None
        if self._worker is not None:
            self._worker.stop()
