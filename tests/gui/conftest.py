import pytest


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """Keep the user's real settings (recent files, layout) out of tests."""
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "settings.ini"))


@pytest.fixture
def make_window(qtbot):
    from PySide6.QtWidgets import QApplication

    from explorer.main_window import MainWindow
    from explorer.worker import live_workers

    made = []

    def make(**kw):
        w = MainWindow(**kw)
        qtbot.addWidget(w)
        w.resize(1200, 760)
        w.show()
        w.activateWindow()  # as a user's window is: shortcuts reach the active window only
        qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=180000)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()
    assert live_workers() == [], "a test leaked a running worker thread"


def select(window, qtbot, name):
    entry = next(e for e in window.library.entries if e.name == name)
    window.library.set_current(entry)
    qtbot.waitUntil(lambda: window.map.is_ready() and window.editor.is_ready(), timeout=180000)
    return entry
