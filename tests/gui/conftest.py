import pytest


@pytest.fixture(scope="session", autouse=True)
def _gc_on_the_gui_thread(qapp):
    """As the app does: the cycle collector runs on the GUI thread only (explorer/qt_compat.py)."""
    from explorer.qt_compat import collect_garbage_on_gui_thread

    collect_garbage_on_gui_thread()


def select(window, qtbot, name):
    entry = next(e for e in window.library.entries if e.name == name)
    window.library.set_current(entry)
    qtbot.waitUntil(lambda: window.map.is_ready() and window.editor.is_ready(), timeout=180000)
    return entry
