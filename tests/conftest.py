import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Training runs from the window go to a child process at lower priority (nice 10) so the UI comes first. The
# tests check what runs do, not their priority: at nice 10 a loaded machine (CI beside other jobs) starves
# them for minutes. The benchmarks measure the real setting.
os.environ.setdefault("LATENT_EXPLORER_TRAIN_NICE", "0")
# The window starts the projection process (UMAP's imports and numba compilation, tens of seconds of CPU) a few
# seconds after it shows: in the tests, beside the other worker's tests, that is load for nothing. A map's UMAP
# in a test starts that process itself (and reuses it, as the app does); tests/gui/test_worker.py tests the
# window's start of it.
os.environ.setdefault("LATENT_EXPLORER_WARM_PROJECTION", "0")
os.environ.setdefault("LATENT_EXPLORER_PROJECTION_NICE", "0")

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


def pytest_collection_modifyitems(config, items):
    """The longest tests (marked slow) first, the rest in their order: with two workers (make test), the
    suite's last minutes are then not one long test running on one worker while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    """Two threads for torch, or one in each of pytest-xdist's workers (two workers, two threads each on two
    cores: small ops slow to a crawl when their threads wait for each other)."""
    import torch

    torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(scope="session", autouse=True)
def _pyside_emit_guard():
    """As the app does at start: the PySide6 6.12 emit refcount bug (explorer/qt_compat.py) is guarded."""
    from latent_explorer.qt_compat import guard_emit_refcount

    guard_emit_refcount()


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """Keep the user's real settings (recent files, layout) out of tests."""
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "settings.ini"))


@pytest.fixture(autouse=True)
def _no_pooled_processes():
    """A map's UMAP keeps its process for the next map (explorer.procjob's pools) until its window closes; a
    test without a window leaves none behind for the next test."""
    import sys

    yield
    procjob = sys.modules.get("latent_explorer.procjob")
    if procjob is not None:
        procjob.discard_pools()


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Classifiers trained on the fly go to a test's own cache folder, never the user's."""
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def make_window(qtbot):
    from PySide6.QtWidgets import QApplication

    from latent_explorer.main_window import MainWindow
    from latent_explorer.qt_compat import collect_garbage_on_gui_thread, stop_collecting_on_gui_thread
    from latent_explorer.worker import live_workers

    started = collect_garbage_on_gui_thread()  # as the app does (a window from tests outside tests/gui too)
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
    if started:  # its workers are done: Python's own collection is safe again
        stop_collecting_on_gui_thread()
    assert live_workers() == [], "a test leaked a running worker thread"


@pytest.fixture
def mnist_dir():
    if not (MNIST / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist is absent (local data for this test)")
    return MNIST


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """Any exception that reaches ``sys.excepthook`` during a test (a Qt slot raising, for one: PySide hands
    those to the hook and carries on) fails that test, with the exception in the report."""
    import sys
    import traceback

    caught = []
    previous = sys.excepthook

    def hook(kind, value, tb):
        caught.append("".join(traceback.format_exception(kind, value, tb)))
        previous(kind, value, tb)

    sys.excepthook = hook
    try:
        result = yield
    finally:
        sys.excepthook = previous
    if caught:
        raise AssertionError(f"{len(caught)} exception(s) reached sys.excepthook (a Qt slot raised):\n"
                             + "\n".join(caught))
    return result
