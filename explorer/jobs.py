"""The stale-model guard every view shares: a job started for one model never delivers its result to a
view that has moved on to another model (or to another job of the same purpose)."""

from __future__ import annotations

from collections.abc import Callable

from .worker import Worker


class ModelJob:
    """One job at a time for one purpose of a view (encoding the map's data, decoding its grid, recording a
    trajectory). Starting a job stops the previous one; ``done`` is called only while the view still shows
    the model the job was started for (``view.model``) and the job is the newest of its purpose.

    Neither a cancel nor a start waits on the UI thread for the stopped job to end: a job ends at its next
    step, which may be seconds away (t-SNE's nearest neighbours; a child process is given ``grace_s``), and
    a UI thread joining it froze the window that long. A job started meanwhile begins once the stopped
    one has ended (one thread per purpose; the newest request wins)."""

    def __init__(self, view, name: str, progress=None):
        self.view, self.name, self.progress = view, name, progress
        self.worker: Worker | None = None  # the newest job: running, or waiting for the one it replaced
        self._running: Worker | None = None  # the job whose thread was started last, until it has ended
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
        if self._running is None:
            self._launch(w)
        return w

    def _launch(self, w: Worker) -> None:
        if w.aborted:  # cancelled while it waited: it ends as a job stopped at once does
            w.end_unstarted()
            return
        self._running = w
        w.start()

    def _ended(self, w: Worker) -> None:
        if self._running is w:
            self._running = None
        if self.worker is w:
            self.worker = None
        if self.progress is not None:
            self.progress.finish(owner=w)
        if self._running is None and self.worker is not None and not self.worker.started:
            self._launch(self.worker)  # the newest job waited for this one to end
        for fn in self.finished:
            fn()

    def cancel(self) -> None:
        """Ask the job to stop (it ends at its next step, off the UI thread); returns at once."""
        if self.worker is not None:
            self.worker.abort()
