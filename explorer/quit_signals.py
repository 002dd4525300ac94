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


def say(line: str) -> None:
    """A line for the terminal, on stderr; a terminal that is gone (SIGHUP) or a closed pipe (``| tee`` ended by
    the same Ctrl+C) never stops the close."""
    try:
        print(f"latent-explorer: {line}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _exit_event_loop(status: int) -> None:
    app = QCoreApplication.instance()
    if app is not None:
        app.exit(status)


_active: QuitOnSignal | None = None  # one at a time: a new one takes over from the last


class QuitOnSignal(QObject):
    """While it lives (until :meth:`uninstall`, or the application's event loop ends), SIGINT, SIGTERM and
    SIGHUP call ``close`` (the window's unasked close) on the GUI thread, then end the event loop with the exit
    status 128 + the signal's number, as a shell reports a process ended by a signal. A signal ignored on purpose
    (``nohup``'s SIGHUP, a background job's SIGINT) stays ignored."""

    def __init__(self, close, parent: QObject | None = None, end=None):
        global _active
        super().__init__(parent)
        if _active is not None:
            _active.uninstall()
        _active = self
        self._close = close
        self._end = end or _exit_event_loop  # end(status): a test's stand-in leaves its own event loops be
        self._reader, self._writer = socket.socketpair()
        for s in (self._reader, self._writer):
            s.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, _noted) for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._read)
        app = QCoreApplication.instance()
        if app is not None:  # what comes after the loop (its teardown) has the signals' own actions back
            app.aboutToQuit.connect(self.uninstall)

    def _read(self, *_) -> None:
        try:
            data = self._reader.recv(64)
        except (BlockingIOError, InterruptedError):
            return
        numbers = [n for n in data if n in self._previous]
        if not numbers:
            return
        signum = numbers[0]
        try:
            for s in self._previous:  # a second signal while the window closes: the default action, at once
                signal.signal(s, signal.SIG_DFL)
            say(f"{signal.Signals(signum).name} — closing the window as its close button does")
            self._close()
        finally:
            self.uninstall()
            self._end(128 + signum)

    def uninstall(self) -> None:
        """Give the signals back their earlier handlers (idempotent)."""
        global _active
        if self._writer is None:
            return
        if _active is self:
            _active = None
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
