"""The suite's guard: an exception raised in a Qt slot fails the test it happened in (tests/conftest.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SLOT_RAISES = '''
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication


def test_a_slot_raises():
    app = QApplication.instance() or QApplication([])
    loop = QEventLoop()

    def slot():
        raise RuntimeError("Internal C++ object already deleted")

    QTimer.singleShot(0, slot)
    QTimer.singleShot(100, loop.quit)
    loop.exec()  # a C++ event loop: the slot's exception cannot propagate, PySide hands it to sys.excepthook
    assert app is not None
'''


def _run(tmp_path, with_hook: bool):
    (tmp_path / "conftest.py").write_text("from tests.conftest import pytest_runtest_call  # noqa: F401\n"
                                          if with_hook else "")
    (tmp_path / "test_slot.py").write_text(SLOT_RAISES)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen"}
    # without pytest-qt, whose own capture would fail the test too: this is our hook alone
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:pytest-qt", "-p", "no:cacheprovider",
                           str(tmp_path / "test_slot.py")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


def test_an_exception_in_a_qt_slot_fails_the_test(tmp_path):
    r = _run(tmp_path, with_hook=False)
    assert r.returncode == 0, r.stdout[-2000:]  # left to itself, the exception is printed and forgotten
    r = _run(tmp_path, with_hook=True)
    assert r.returncode == 1, r.stdout[-2000:]
    assert "reached sys.excepthook" in r.stdout and "already deleted" in r.stdout
