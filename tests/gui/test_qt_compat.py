"""The PySide6 emit refcount workaround (explorer/qt_compat.py): after it, emitting never brings the
interpreter near freeing True, whatever the installed PySide6 does."""

import sys

from PySide6.QtCore import QObject, Signal

from latent_explorer.qt_compat import BOOST, emit_loses_a_reference, guard_emit_refcount


class _O(QObject):
    s = Signal(bool)


def test_emitting_thousands_of_times_leaves_true_alive():
    guard_emit_refcount()
    o = _O()
    o.s.connect(lambda v: None)
    for _ in range(5000):
        o.s.emit(True)
    assert sys.getrefcount(True) > 1000  # alive, with room to spare on every version
    if emit_loses_a_reference() and sys.version_info < (3, 12):
        assert guard_emit_refcount() and sys.getrefcount(True) > BOOST // 2


def test_cycles_are_collected_on_the_gui_thread_only(qtbot):
    """Python's automatic collection is off (a worker must never destroy Qt objects); the GUI thread's timer
    collects instead (explorer/qt_compat.py)."""
    import gc
    import weakref

    class Node:
        pass

    assert not gc.isenabled()  # the GUI tests run as the app does
    first = Node()
    first.me = first  # a cycle: only the collector frees it
    ref = weakref.ref(first)
    del first
    for _ in range(3000):  # past the first generation's threshold
        n = Node()
        n.me = n
    qtbot.waitUntil(lambda: ref() is None, timeout=30000)
