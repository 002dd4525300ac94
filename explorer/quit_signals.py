"""The window ends on a signal as it ends on its close button, minus the question.

Ctrl+C in the terminal that ran ``make run`` (SIGINT), ``kill`` or a logout (SIGTERM) and a closed terminal
(SIGHUP) used to do nothing (SIGINT: Python's handler waits for Python code to run, and Qt's event loop runs
none) or to end the process at once (SIGTERM, SIGHUP): a training run lost the weights since its last save,
the window's place and the last model were not remembered. Here each closes the window the way its close
button does, without asking: a training run is stopped and its last weights saved, the settings written.
A second signal while that happens ends the process at once (the signal's default action).

How: :func:`signal.set_wakeup_fd` makes the C-level handler write the signal's number into a socket, and a
:class:`QSocketNotifier` on the other end wakes the event loop, which then runs :meth:`QuitOnSignal._read`
on the GUI thread (the Python-level handler itself does nothing)."""

from __future__ import annotations

import signal
import socket
import sys

from PySide6.QtCore import QCoreApplication, QObject, QSocketNotifier

# the signals that close the window (SIGHUP does not exist on Windows)
SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _noted(signum, frame) -> None:
    """The Python-level handler: the wakeup socket carries the signal, so nothing is left to do here."""


def _exit_event_loop(status: int) -> None:
    app = QCoreApplication.instance()
    if app is not None:
        app.exit(status)


class QuitOnSignal(QObject):
    """While it lives (or until :meth:`uninstall`), SIGINT, SIGTERM and SIGHUP call ``close`` (the window's
    unasked close, which may return a line to print: what it did beyond closing) on the GUI thread, then end the
    event loop with the exit status 128 + the signal's number, as a shell reports a process ended by a signal."""

    def __init__(self, close, parent: QObject | None = None, end=None):
        super().__init__(parent)
        self._close = close
        self._end = end or _exit_event_loop  # end(status): a test's stand-in leaves its own event loops be
        self._reader, self._writer = socket.socketpair()
        for s in (self._reader, self._writer):
            s.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, _noted) for s in SIGNALS}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)

    def _read(self, *_) -> None:
        try:
            data = self._reader.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        numbers = [n for n in data if n in SIGNALS]
        if not numbers:
            return
        signum = numbers[0]
        for s in SIGNALS:  # a second signal while the window closes: the default action, at once
            signal.signal(s, signal.SIG_DFL)
        name = signal.Signals(signum).name
        print(f"latent-explorer: {name} — closing the window as its close button does", file=sys.stderr, flush=True)
        try:
            said = self._close()  # what became of a training run, if one was in progress
            if said:
                print(f"latent-explorer: {said}", file=sys.stderr, flush=True)
        finally:
            self.uninstall()
            self._end(128 + signum)

    def uninstall(self) -> None:
        """Give the signals back their earlier handlers (idempotent)."""
        if self._writer is None:
            return
        try:
            self._notifier.setEnabled(False)
        except RuntimeError:  # the window that held it is gone already: so is the notifier
            pass
        for s, handler in self._previous.items():
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(self._previous_fd)
        self._reader.close()
        self._writer.close()
        self._writer = None
