"""The stale-model guard every view shares: a job started for one model never delivers its result to a
view that has moved on to another model (or to another job of the same purpose)."""

from __future__ import annotations

from collections.abc import Callable

from .worker import Worker


class ModelJob:
    """One job at a time for one purpose of a view (encoding the map's data, decoding its grid, recording a
    trajectory). Starting a job stops the previous one; ``done`` is called only while the view still shows
    the model the job was started for (``view.model``) and the job is the newest of its purpose."""

    def __init__(self, view, name: str, progress=None):
        self.view, self.name, self.progress = view, name, progress
        self.worker: Worker | None = None
        self.finished: list[Callable[[], None]] = []  # called when any job of this purpose ends

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def start(self, model, make_job, done: Callable, text: str = "", on_error: Callable[[str], None] | None = None,
              on_cancel: Callable[[], None] | None = None, on_step: Callable | None = None) -> Worker:
        self.cancel()
        w = Worker(make_job, self.name)
        self.worker = w

        def current() -> bool:
            return self.worker is w and getattr(self.view, "model", None) is model

        if self.progress is not None:
            self.progress.start(text, owner=w)
            w.yielded.connect(lambda s: current() and self.progress.update_fraction(
                getattr(s, "fraction", 0.0), getattr(s, "message", None) or None))
        if on_step is not None:
            w.yielded.connect(lambda s: current() and on_step(s))
        w.returned.connect(lambda res: current() and done(res))
        if on_error is not None:
            w.errored.connect(lambda msg: current() and on_error(msg))
        if on_cancel is not None:
            w.cancelled.connect(lambda: self.worker is w and on_cancel())
        w.finished.connect(lambda: self._ended(w))
        w.start()
        return w

    def _ended(self, w: Worker) -> None:
        if self.worker is w:
            self.worker = None
        if self.progress is not None:
            self.progress.finish(owner=w)
        for fn in self.finished:
            fn()

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.stop()
