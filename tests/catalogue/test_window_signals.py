"""F150: a signal closes the window as its close button does, minus the question (explorer/quit_signals.py).
Ctrl+C in the terminal used to do nothing, SIGTERM and SIGHUP to end the process with a training run unsaved."""

import os
import selectors
import signal
import subprocess
import sys
import textwrap

import pytest

from latent_explorer.models import load
from latent_explorer.quit_signals import SIGNALS, QuitOnSignal
from latent_explorer.training_view import RunSpec
from latent_explorer.worker import live_workers

# run in the subprocess once its QApplication exists: prints "running" once the window's event loop runs with
# the signals taken (polled: no guess at how long the window takes to open)
READY = """
import signal
from PySide6.QtCore import QTimer
ready = QTimer(interval=20)
ready.timeout.connect(lambda: (print("running", flush=True), ready.stop())
                      if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None) else None)
ready.start()
"""


# the signals as a terminal's foreground job has them: a suite run in the background (`nohup make test &`, CI)
# starts with SIGINT and SIGHUP ignored, and the window rightly leaves an ignored signal alone
AS_IN_A_TERMINAL = {s: signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL for s in SIGNALS}
PRELUDE = "import signal\n" + "".join(  # the same, first thing in a subprocess
    f"signal.signal(signal.{signal.Signals(s).name}, signal.{getattr(h, '__name__', 'SIG_DFL')})\n"
    for s, h in AS_IN_A_TERMINAL.items())


@pytest.fixture
def guarded():
    """``guarded(close, window, end)``: a QuitOnSignal, the signals as in a terminal, all given back after the
    test even when it fails before one arrives (the rest of the session keeps its own Ctrl+C)."""
    made = []
    before = {s: signal.signal(s, handler) for s, handler in AS_IN_A_TERMINAL.items()}

    def make(*args, **kw):
        made.append(QuitOnSignal(*args, **kw))
        return made[-1]

    yield make
    for guard in made:
        guard.uninstall()
    for s, handler in before.items():
        signal.signal(s, handler)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_F150_a_signal_mid_run_closes_the_window_unasked_and_the_run_is_saved(make_window, qtbot, tmp_path, name,
                                                                              guarded, capsys):
    if not hasattr(signal, name):
        pytest.skip(f"no {name} here")
    signum = getattr(signal, name)
    before = signal.getsignal(signum)
    w = make_window(load_bundled=False)
    out = tmp_path / "run.safetensors"
    run = w.training.start(RunSpec("vae", "digits", str(out), 1000, 64, 1e-3, 2, preview_every=0.01))
    qtbot.waitUntil(lambda: len(run.steps) > 3, timeout=180000)
    asked, ended = [], []
    w.ask_stop_runs = lambda: asked.append(1) or False  # were it asked, the user would keep training
    guard = guarded(w.close_unasked, w, end=ended.append)
    assert signal.getsignal(signum) not in (before, signal.SIG_DFL)
    signal.raise_signal(signum)
    qtbot.waitUntil(lambda: ended != [], timeout=180000)
    assert ended == [128 + signum] and asked == []
    assert not w.isVisible() and live_workers() == []
    assert load(out).meta["training"]["status"] == "stopped"
    err = capsys.readouterr().err
    assert f"latent-explorer: {name} — closing the window as its close button does" in err
    assert f"latent-explorer: the training run run was stopped; its last weights are in {out}" in err
    assert signal.getsignal(signum) == before  # the earlier handler is back
    guard.uninstall()  # a second time: nothing


def test_a_signal_is_read_on_the_gui_thread_only_once(make_window, qtbot, guarded):
    """Two signals queued before the event loop reads them: one close (the second would, in the app, meet the
    default action once the first is read)."""
    w = make_window(load_bundled=False)
    closed, ended = [], []
    guarded(lambda: closed.append(1), w, end=ended.append)
    signal.raise_signal(signal.SIGTERM)
    signal.raise_signal(signal.SIGTERM)
    qtbot.waitUntil(lambda: ended != [], timeout=180000)
    assert closed == [1] and ended == [128 + signal.SIGTERM]
    assert w.isVisible()  # this close was a stand-in


def test_F150_a_signal_while_the_window_asks_dismisses_the_question_and_closes(make_window, qtbot, tmp_path,
                                                                             guarded, capsys):
    """Closed mid-run, the window asks whether to stop; a SIGTERM then dismisses the question and the close goes
    on (Qt is inside closeEvent: the window's own close() is not heard again), the run saved."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMessageBox

    w = make_window(load_bundled=False)
    out = tmp_path / "run.safetensors"
    run = w.training.start(RunSpec("vae", "digits", str(out), 1000, 64, 1e-3, 2, preview_every=0.01))
    qtbot.waitUntil(lambda: len(run.steps) > 3, timeout=180000)
    ended = []
    guarded(w.close_unasked, w, end=ended.append)
    # the window's own timers (they never outlive it): the signal once the question is up; and a safety net only,
    # were the question not dismissed (the test then fails instead of hanging)
    asking = QTimer(w, interval=20)
    asking.timeout.connect(lambda: isinstance(QApplication.activeModalWidget(), QMessageBox) and (
        asking.stop(), signal.raise_signal(signal.SIGTERM)))
    asking.start()
    net = QTimer(w, singleShot=True, interval=120000)
    net.timeout.connect(lambda: QApplication.activeModalWidget() and QApplication.activeModalWidget().close())
    net.start()
    w.close()  # the real question, in its own event loop, inside closeEvent
    net.stop()
    asking.stop()
    assert ended == [128 + signal.SIGTERM] and not w.isVisible() and live_workers() == []
    assert load(out).meta["training"]["status"] == "stopped"
    assert f"the training run run was stopped; its last weights are in {out}" in capsys.readouterr().err


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP here")
def test_a_signal_ignored_on_purpose_stays_ignored(make_window, guarded):
    """nohup's SIGHUP (or a background job's SIGINT): the window does not take it over."""
    w = make_window(load_bundled=False)
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        guarded(w.close_unasked, w, end=lambda status: None)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
    finally:
        signal.signal(signal.SIGHUP, before)


def _signalled(tmp_path, code: str, signum: int) -> tuple[int, str, str]:
    """Run ``code`` (where ``exec(READY)`` marks when it prints "running") in a fresh Python with the window
    offscreen and its own settings; send it ``signum`` once it runs; its exit status, stdout and stderr."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "LATENT_EXPLORER_SETTINGS": str(tmp_path / "settings.ini")}
    code = PRELUDE + textwrap.dedent(code).replace("exec(READY)", READY)
    p = subprocess.Popen([sys.executable, "-c", code], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(p.stdout, selectors.EVENT_READ)
            assert sel.select(timeout=300), "the window never started"
        first = p.stdout.readline()
        assert first.strip() == "running", p.stderr.read()[-3000:]
        p.send_signal(signum)
        out, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    return p.returncode, first + out, err


@pytest.mark.skipif(sys.platform == "win32", reason="SIGTERM cannot be caught on Windows")
def test_F150_sigterm_ends_the_real_app_with_status_143_and_its_settings_saved(tmp_path):
    status, _, err = _signalled(tmp_path, """
        import sys
        from latent_explorer.qt_compat import application
        application(sys.argv[:1])
        exec(READY)
        from latent_explorer.launch import run
        sys.argv[1:] = ["--no-bundled"]
        run()
    """, signal.SIGTERM)
    assert status == 128 + signal.SIGTERM, err[-3000:]
    assert "SIGTERM — closing the window" in err
    assert "leaked" not in err and "training run" not in err  # none was in progress: none is spoken of
    # closed as by its button: the window's place remembered
    assert "geometry" in (tmp_path / "settings.ini").read_text()


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGINT to send on Windows")
def test_ctrl_c_in_a_script_blocked_in_show_closes_the_window_and_is_its_keyboard_interrupt(tmp_path):
    status, out, err = _signalled(tmp_path, """
        import torch
        import latent_explorer
        from latent_explorer.qt_compat import application
        application()
        exec(READY)
        generator = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (1, 8, 8)))
        try:
            latent_explorer.show(generator=generator, latent_dim=2, image_range=(0, 1), block=True)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
    """, signal.SIGINT)
    assert status == 0 and out.split() == ["running", "interrupted"], err[-3000:]
    assert "SIGINT — closing the window" in err
