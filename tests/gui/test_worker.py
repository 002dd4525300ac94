import gc
import weakref

from explorer.worker import Worker, live_workers


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
        qtbot.waitUntil(lambda: view.worker is None, timeout=5000)
        return weakref.ref(model)

    ref = run_one()
    assert view.shown == 1 and live_workers() == []
    gc.collect()
    assert ref() is None


def test_cancel_pause_and_errors(qtbot):
    steps = []

    def make(should_stop):
        for i in range(10_000):
            steps.append(i)
            yield i
        return "done"

    w = Worker(make)
    with qtbot.waitSignal(w.cancelled, timeout=5000):
        w.start()
        qtbot.waitUntil(lambda: len(steps) > 10, timeout=5000)
        w.pause()
        n = len(steps)
        qtbot.wait(100)
        assert len(steps) <= n + 1  # paused at the next yield
        w.stop()
    assert not w.isRunning()

    def bad(should_stop):
        yield 1
        raise ValueError("broken input")

    w2 = Worker(bad)
    with qtbot.waitSignal(w2.errored, timeout=5000) as sig:
        w2.start()
    assert sig.args[0] == "ValueError: broken input"
