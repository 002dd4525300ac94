import gc
import weakref

from latent_explorer.worker import Worker, live_workers


class Big:
    pass


def test_a_finished_worker_releases_its_job_and_result(qtbot):
    """Views connect handlers that capture the model the job ran on (``lambda res: show(model, res)``)
    and the worker itself; once the worker has finished, none of it may stay alive."""
    from PySide6.QtCore import QObject

    class View(QObject):
        worker = None
        shown = 0

        def show(self, model, res):
            self.shown += 1

        def done(self, w):
            if self.worker is w:
                self.worker = None

    view = View()

    def run_one():  # everything the job touches is local here
        model = Big()

        def make(should_stop):
            yield 1
            return model

        w = Worker(make)
        view.worker = w
        w.returned.connect(lambda res, m=model: view.show(m, res))
        w.finished.connect(lambda: view.done(w))
        w.start()
        qtbot.waitUntil(lambda: view.worker is None, timeout=180000)
        return weakref.ref(model)

    ref = run_one()
    assert view.shown == 1 and live_workers() == []
    gc.collect()
    assert ref() is None


def test_cancel_pause_and_errors(qtbot):
    """Deterministic under any load: the job waits at step 10 until the test has paused the worker, so a fast
    job cannot finish all its steps before pause() runs."""
    import threading

    steps = []
    gate = threading.Event()

    def make(should_stop):
        for i in range(10_000):
            steps.append(i)
            if i == 10:
                gate.wait(30)
            yield i
        return "done"

    w = Worker(make)
    seen = []
    w.yielded.connect(seen.append)
    with qtbot.waitSignal(w.cancelled, timeout=180000):
        w.start()
        qtbot.waitUntil(lambda: len(steps) == 11, timeout=180000)  # held at the gate
        w.pause()
        gate.set()
        qtbot.waitUntil(lambda: bool(seen) and seen[-1] == 10, timeout=180000)  # step 10 delivered; then paused
        qtbot.wait(50)
        assert len(steps) == 11 and w.paused  # paused at the next yield: no step 11
        w.stop()
    assert not w.isRunning() and len(steps) == 11

    def bad(should_stop):
        yield 1
        raise ValueError("broken input")

    w2 = Worker(bad)
    with qtbot.waitSignal(w2.errored, timeout=180000) as sig:
        w2.start()
    assert sig.args[0] == "ValueError: broken input"


# -- jobs in a child process (explorer.procjob): what the Training view runs ---------------------------
def _records(w):
    seen = []
    w.yielded.connect(seen.append)
    return seen


def test_a_job_in_a_child_process_delivers_its_records_and_result(qtbot, tmp_path):
    import multiprocessing

    from latent_explorer.procjob import in_process

    marker = tmp_path / "cleanup"
    w = Worker(in_process("tests.gui.jobs:count", 50, str(marker)))
    seen = _records(w)
    with qtbot.waitSignal(w.returned, timeout=180000) as sig:
        w.start()
    assert sig.args[0] == "done"
    assert seen and seen[-1] == 49 and seen == sorted(seen)  # coalesced, in order, the last one included
    assert marker.read_text() == "cleaned up"
    qtbot.waitUntil(lambda: not w.isRunning(), timeout=180000)
    assert multiprocessing.active_children() == []


def test_pause_resume_and_stop_reach_the_child_and_its_cleanup_runs(qtbot, tmp_path):
    import multiprocessing

    from latent_explorer.procjob import in_process

    marker = tmp_path / "cleanup"
    w = Worker(in_process("tests.gui.jobs:count", 1_000_000, str(marker)))
    seen = _records(w)
    w.start()
    qtbot.waitUntil(lambda: len(seen) > 3, timeout=180000)
    w.pause()
    qtbot.wait(300)
    held = seen[-1]
    qtbot.wait(400)
    assert seen[-1] == held  # the child itself is paused, not just the relay
    w.resume()
    qtbot.waitUntil(lambda: seen[-1] > held, timeout=180000)
    with qtbot.waitSignal(w.cancelled, timeout=180000):
        w.stop()
    assert marker.read_text() == "cleaned up"  # the job's own cleanup ran in the child
    assert not w.isRunning() and multiprocessing.active_children() == []


def test_errors_and_a_dying_child_reach_the_ui_as_messages(qtbot):
    import os
    import signal

    from latent_explorer.procjob import in_process

    w = Worker(in_process("tests.gui.jobs:fail"))
    with qtbot.waitSignal(w.errored, timeout=180000) as sig:
        w.start()
    assert sig.args[0] == "ValueError: broken input"

    w2 = Worker(in_process("tests.gui.jobs:die"))
    pids = _records(w2)
    w2.start()
    qtbot.waitUntil(lambda: bool(pids), timeout=180000)
    with qtbot.waitSignal(w2.errored, timeout=180000) as sig:
        os.kill(pids[0], signal.SIGKILL)
    assert "ended unexpectedly" in sig.args[0]


def test_a_spare_process_takes_the_next_job(qtbot, tmp_path):
    import multiprocessing

    from latent_explorer.procjob import discard_spare, has_spare, in_process, prestart

    prestart(0, ("json",))
    assert has_spare()
    qtbot.waitUntil(lambda: has_spare(ready=True), timeout=180000)  # its imports are done
    prestart(0, ("json",))  # idempotent: still one spare
    assert len(multiprocessing.active_children()) == 1
    w = Worker(in_process("tests.gui.jobs:count", 3, str(tmp_path / "m")))
    with qtbot.waitSignal(w.returned, timeout=180000):
        w.start()
    assert not has_spare()  # taken
    prestart(0, ("json",))
    discard_spare()
    assert not has_spare() and multiprocessing.active_children() == []


def test_a_pools_child_runs_job_after_job_and_a_stop_ends_it(qtbot, tmp_path):
    """The warm projection process (issue S): the second job runs in the first one's child, with nothing to
    import; a stopped job ends that child at once and the next job gets a new one."""
    import multiprocessing

    from latent_explorer.procjob import discard_pools, has_pooled, in_process

    pids = []
    for _ in range(2):
        w = Worker(in_process("tests.gui.jobs:pid", pool="test"))
        with qtbot.waitSignal(w.returned, timeout=180000) as sig:
            w.start()
        pids.append(sig.args[0])
        qtbot.waitUntil(lambda w=w: not w.isRunning(), timeout=180000)
    assert pids[0] == pids[1] and has_pooled("test")
    w = Worker(in_process("tests.gui.jobs:count", 1_000_000, str(tmp_path / "m"), grace_s=1.0, pool="test"))
    seen = _records(w)
    w.start()
    qtbot.waitUntil(lambda: len(seen) > 3, timeout=180000)
    with qtbot.waitSignal(w.cancelled, timeout=180000):
        w.stop()
    qtbot.waitUntil(lambda: not w.isRunning(), timeout=180000)
    assert not has_pooled("test") and multiprocessing.active_children() == []  # the stopped child is gone
    w = Worker(in_process("tests.gui.jobs:pid", pool="test"))
    with qtbot.waitSignal(w.returned, timeout=180000) as sig:
        w.start()
    assert sig.args[0] != pids[0]
    qtbot.waitUntil(lambda: not w.isRunning(), timeout=180000)
    discard_pools()
    assert not has_pooled("test") and multiprocessing.active_children() == []


def test_the_window_starts_the_projection_process_when_it_shows_and_ends_it_when_it_closes(
        make_window, qtbot, monkeypatch):
    """As the app runs (the tests switch this start off): a few seconds after the window shows, the
    projection process starts and warms up (here: a cheap import instead of UMAP's compilation)."""
    from latent_explorer import main_window, procjob

    monkeypatch.setenv("LATENT_EXPLORER_WARM_PROJECTION", "1")
    monkeypatch.setitem(procjob.POOL_WARM, "projection", ("json",))
    monkeypatch.setattr(main_window, "WARM_PROJECTION_MS", 0)
    w = make_window(load_bundled=False)
    qtbot.waitUntil(lambda: procjob.has_pooled("projection", ready=True), timeout=180000)
    w.close()
    assert not procjob.has_pooled("projection")


def test_a_spare_still_importing_is_discarded_at_once():
    """Deterministic: the spare is ended by a signal while it imports, not after its imports finish."""
    import multiprocessing
    import signal

    from latent_explorer import procjob
    from latent_explorer.procjob import discard_spare, prestart

    prestart(0, ("torch", "torch._dynamo"))  # seconds of imports
    proc, ready = procjob._SPARE["proc"], procjob._SPARE["ready"]
    importing = not ready.is_set()
    discard_spare()
    assert not proc.is_alive() and multiprocessing.active_children() == []
    if importing:  # (always, but for a machine that imports PyTorch in no time)
        assert proc.exitcode == -signal.SIGTERM  # terminated at once


def test_an_answered_error_prints_its_traceback_only_when_debugging(capfd, monkeypatch):
    """The window shows a job's error as a message; stderr gets its traceback only under --debug
    (LATENT_EXPLORER_DEBUG=1), in the Worker's thread and in a child process alike (both run drive)."""
    from latent_explorer.models import DataError
    from latent_explorer.procjob import drive

    def job(should_stop):
        raise DataError("the folder holds no images")
        yield

    for debug, traced in (("", False), ("1", True)):
        monkeypatch.setenv("LATENT_EXPLORER_DEBUG", debug)
        ends = []
        drive(job, lambda: False, ends.append)
        err = capfd.readouterr().err
        assert ends == [("errored", "the folder holds no images")]
        assert ("Traceback" in err and "DataError" in err) == traced, err
    from latent_explorer.app import parse
    from latent_explorer.models.errors import debugging

    monkeypatch.delenv("LATENT_EXPLORER_DEBUG")
    assert not parse([]).debug and not debugging()
    assert parse(["--debug"]).debug and debugging()  # the window's --debug: the same switch, for its children too
