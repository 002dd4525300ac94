import pytest


@pytest.fixture(scope="package", autouse=True)
def _gc_on_the_gui_thread(qapp):
    """As the app does: the cycle collector runs on the GUI thread only (explorer/qt_compat.py); the model
    tests after these get Python's automatic collection back."""
    from latent_explorer.qt_compat import collect_garbage_on_gui_thread, stop_collecting_on_gui_thread

    started = collect_garbage_on_gui_thread()
    yield
    if started:
        stop_collecting_on_gui_thread()


def select(window, qtbot, name):
    entry = next(e for e in window.library.entries if e.name == name)
    window.library.set_current(entry)  # a model listed from its header is read in a worker first
    qtbot.waitUntil(lambda: window.library.current is entry, timeout=180000)
    qtbot.waitUntil(lambda: window.map.is_ready() and window.editor.is_ready(), timeout=180000)
    return entry


def choose(window, qtbot, entry):
    """Choose a listed model as a click does, and wait until it is the current one (its weights are read in
    a worker when it was listed from its header)."""
    window.library.set_current(entry)
    qtbot.waitUntil(lambda: window.library.current is entry, timeout=180000)
    return entry
