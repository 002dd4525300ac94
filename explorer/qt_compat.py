"""Working around a PySide6 bug that kills the process on Python 3.11.

**The bug** (found for issue M; PySide6-Essentials 6.12.0, not 6.9.3, 6.10.0, 6.10.3 or 6.11.3): every
``SignalInstance.emit(...)`` called from Python returns ``True`` without taking a reference to it, so each
emit costs ``True`` one reference. Python 3.12 and later make ``True`` immortal and never notice; on Python
3.11 its count (about 600 at start) reaches zero after a few hundred emits — pyqtgraph emits on every pan,
zoom and item change, and so do our views — and the interpreter aborts with "Fatal Python error:
bool_dealloc: deallocating True or False", at once or while it exits. The minimal reproduction::

    import sys
    from PySide6.QtCore import QObject, Signal

    class O(QObject):
        s = Signal(int)

    o = O()
    before = sys.getrefcount(True)
    for _ in range(20):
        o.s.emit(1)
    print(sys.getrefcount(True) - before)  # 6.12.0: -20; 6.9-6.11: 0

The same version loses references to ``None`` elsewhere too: our whole GUI suite passed on it with the
workaround below for ``True`` alone, then aborted while exiting with "none_dealloc: deallocating None".

**Our part**: every ``emit`` we (and pyqtgraph) call. **The workaround** (:func:`guard_emit_refcount`, called
once by :func:`application`, which every QApplication of ours — the app, the benchmarks, the soak run — is
made with, and by the test suite): if a probe emit loses a reference on this Python, the
reference counts of ``True``, ``False`` and ``None`` are raised by 2^40 — what immortality does in Python
3.12 — so that no session can emit often enough to reach zero. Nothing happens on a version without the
bug.
"""

from __future__ import annotations

import ctypes
import gc
import sys
import time

BOOST = 1 << 40
_done = False


def emit_loses_a_reference() -> bool:
    """Whether ``Signal.emit`` from Python costs ``True`` a reference here (the probe emits 8 times)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        s = Signal(int)

    p = _Probe()
    before = sys.getrefcount(True)
    for _ in range(8):
        p.s.emit(1)
    return sys.getrefcount(True) < before - 4


def guard_emit_refcount() -> bool:
    """Apply the workaround where it is needed; True if it was applied (now or before)."""
    global _done
    if _done:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython" or not emit_loses_a_reference():
        return False
    for obj in (True, False, None):  # ob_refcnt is the first field of every CPython object (3.11 and before)
        ctypes.c_ssize_t.from_address(id(obj)).value += BOOST
    _done = True
    return True


_collector = None


class GuiCollector:
    """The cycle collector, run by a timer on the GUI thread, with the long-lived heap frozen.

    Each second, the young generations are collected by pyqtgraph's rule (``GarbageCollector``: generation 0
    past 700 allocations, each older one after ten collections of the one below). A collection of the oldest
    generation (every two minutes or so of activity) examines every object not frozen; with PyTorch, sympy
    and the window in, the process tracks 400,000 (570,000 with openTSNE and UMAP), and examining them all
    took 200-330 ms of the GUI thread's CPU on our 2-core machine: the longest UI freezes while a t-SNE ran
    (issue T). Most are module contents, made by imports and alive as long as the process. So:

    - when 50 modules or more were imported since the last check, everything is frozen (``gc.freeze``:
      never examined by a collection, still freed when its reference count drops to zero);
    - a *complete* collection (unfreeze, collect all, freeze the survivors) runs instead of an oldest-generation
      collection while no job runs, at most every ``complete_s``; or, if jobs never stop, every ``max_s``.
      Cyclic garbage among frozen objects waits that long; routine collections examine only younger objects.
    """

    def __init__(self, interval_s: float = 1.0, complete_s: float = 600.0, max_s: float = 1800.0):
        from PySide6.QtCore import QTimer

        self.threshold = gc.get_threshold()
        self.complete_s, self.max_s = complete_s, max_s
        self.modules = 0
        self.completed_at = time.monotonic() - complete_s  # the first one: at the first chance while no job runs
        gc.disable()
        self.timer = QTimer()
        self.timer.timeout.connect(self.check)
        self.timer.start(int(interval_s * 1000))

    def check(self) -> None:
        n = len(sys.modules)
        if n - self.modules >= 50:
            gc.freeze()
            self.modules = n
        l0, l1, l2 = gc.get_count()
        if l0 <= self.threshold[0]:
            return
        gc.collect(0)
        if l1 <= self.threshold[1]:
            return
        gc.collect(1)
        if l2 <= self.threshold[2]:
            return
        if self.complete_due():
            self.complete()
        else:
            gc.collect(2)

    def complete_due(self) -> bool:
        from .worker import live_workers

        since = time.monotonic() - self.completed_at
        return since >= self.max_s or (since >= self.complete_s and not live_workers())

    def complete(self) -> None:
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.completed_at = time.monotonic()
        self.modules = len(sys.modules)

    def stop(self) -> None:
        self.timer.stop()
        gc.unfreeze()


def collect_garbage_on_gui_thread() -> bool:
    """Python's cycle collector runs in whichever thread happens to allocate when a threshold is crossed. In a
    worker, it can destroy Qt objects that belong to the window's thread, and a PySide destructor there then
    waits for the GIL forever: a t-SNE worker compiling numba code hung so in our test suite, with the window
    waiting on it. Automatic collection is switched off and the GUI thread collects on a timer instead
    (:class:`GuiCollector`, checked each second); call once a QApplication exists. True if this call started
    it."""
    global _collector
    if _collector is not None:
        return False
    _collector = GuiCollector()
    return True


def stop_collecting_on_gui_thread() -> None:
    """Back to Python's automatic collection (a test session leaving its windows behind), nothing frozen."""
    global _collector
    if _collector is not None:
        _collector.stop()
        _collector = None
        gc.collect()
        gc.enable()


def finish() -> None:
    """An orderly end while the QApplication still lives: every window closed, their deferred deletions
    done, the cycle collector back on and run once, here, on the GUI thread. Without it, Python's own
    teardown met whatever garbage had piled up since the last timed collection (a benchmark computing for
    minutes without an event loop piles up a lot) after Qt had begun to go, and PySide6-Essentials 6.12.0
    died in it ("QObject: shared QObject was deleted directly", then a segmentation fault), about one exit
    in two of ``make bench --smoke``. Call it when the event loop has ended and before the process exits."""
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        stop_collecting_on_gui_thread()
        return
    for w in app.topLevelWidgets():
        w.close()
    app.processEvents()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    stop_collecting_on_gui_thread()
    gc.collect()


def exit_process(code: int) -> None:
    """End a process that ran Qt: :func:`finish`, then leave without the C-level teardown after Python's.

    With PySide6-Essentials 6.12.0, a process that had used Qt, PyTorch, openTSNE and numba together (``make
    bench --smoke``) died after Python had finalised, in the C++ destructors run at exit ("QObject: shared
    QObject was deleted directly", then a segmentation fault with no Python frame) in about one exit in two;
    closing windows and collecting garbage first (:func:`finish`) did not change that. Nothing of ours runs
    in that teardown, so it is skipped: output is flushed, the daemonic job processes are ended as
    multiprocessing's own exit handler would end them, and the process exits with ``code``."""
    import multiprocessing
    import os

    try:
        finish()
    finally:
        for child in multiprocessing.active_children():
            if child.daemon:
                child.terminate()
                child.join(2)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        os._exit(code)


def application(argv: list[str] | None = None):
    """The process's QApplication (made if there is none yet), with the emit refcount bug guarded and the
    cycle collector kept on the GUI thread."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(list(argv) if argv else [sys.argv[0]])
    guard_emit_refcount()
    collect_garbage_on_gui_thread()
    return app
