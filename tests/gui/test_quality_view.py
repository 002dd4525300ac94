"""The Quality view on the real MainWindow: measure, cancel, switch models mid-job, come back."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .conftest import select

CTRL = Qt.KeyboardModifier.ControlModifier


def _figures(w):
    t = w.quality.table
    return {t.item(i, 0).text(): t.item(i, 1).text() for i in range(t.rowCount())}


def test_ctrl_6_then_measure_shows_figures_histogram_and_labelled_samples(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "mnist-cvae")
    QTest.keyClick(w, Qt.Key.Key_6, CTRL)
    q = w.quality
    assert w.current_view() is q and q.btn.isEnabled() and "mnist" in q.source.text()
    q.n.setValue(200)
    QTest.keyClick(q, Qt.Key.Key_Return, CTRL)  # the shortcut
    assert not q.is_ready()
    qtbot.waitUntil(q.is_ready, timeout=300000)
    assert w.last_error is None and q.report is not None
    fig = _figures(w)
    assert {"Fréchet distance ↓", "Precision ↑", "Recall ↑", "Class coverage ↑", "Conditional accuracy ↑"} <= set(fig)
    assert float(fig["Samples"].replace(",", "")) == 200
    assert len(q.hist.getPlotItem().items) >= 2  # bars and the real data's line
    assert q.grid.data is not None and np.isfinite(q.grid.data).all()
    assert len(q._labels) == 64 and all(t.toPlainText() in [str(i) for i in range(10)] for t in q._labels)
    # a conditional model was asked for classes 0, 1, 2, ... in turn
    assert q.report.asked[:3] == ["0", "1", "2"]


def test_results_come_back_when_the_model_does(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "mnist-vae2d")
    w.show_view("quality")
    w.quality.n.setValue(100)
    w.quality.measure()
    qtbot.waitUntil(w.quality.is_ready, timeout=300000)
    first = w.quality.report
    select(w, qtbot, "mnist-ae")
    assert w.quality.report is None and w.quality.table.rowCount() == 0
    select(w, qtbot, "mnist-vae2d")
    assert w.quality.report is first and w.quality.table.rowCount() > 0


@pytest.mark.slow
def test_cancel_and_switching_models_mid_job_leave_no_stale_result(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "mnist-ddpm")
    w.show_view("quality")
    q = w.quality
    assert q.steps.isVisible() and q.guidance.isVisible()
    q.n.setValue(5000)
    q.measure()
    qtbot.waitUntil(lambda: q.progress.isVisible(), timeout=60000)
    q.progress.cancel.click()
    qtbot.waitUntil(q.is_ready, timeout=300000)
    assert q.report is None and w.last_error is None
    q.measure()
    select(w, qtbot, "mnist-dcgan")  # the DDPM's job is stopped; its result never lands on the GAN
    qtbot.waitUntil(q.is_ready, timeout=300000)
    assert q.report is None and not q.steps.isVisible() and q.btn.isEnabled()


def test_user_data_trains_its_yardstick_once(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae2d")  # no bundled classifier for digits: one is trained, then cached
    w.show_view("quality")
    w.quality.n.setValue(100)
    w.quality.measure()
    qtbot.waitUntil(w.quality.is_ready, timeout=300000)
    assert w.last_error is None and w.quality.report is not None
    assert "digits" in w.quality.note.text()


@pytest.fixture
def tiny_pixelcnn(tmp_path):
    """A narrow PixelCNN of MNIST (its bundled yardstick; 784 cheap passes a sample): the suite's budget."""
    import torch

    from latent_explorer.models import TrainConfig, build_model, load_dataset, make_config, train
    from latent_explorer.models.progress import run_to_end

    data = load_dataset("mnist")
    torch.manual_seed(0)
    m = build_model(make_config("pixelcnn", data.shape, width=8, layers=2))
    out = tmp_path / "pc.safetensors"
    run_to_end(train(m, data, TrainConfig(epochs=1, batch_size=64, max_steps=2), out=str(out)))
    return out


@pytest.mark.slow
def test_a_pixelcnn_is_measured(make_window, qtbot, tiny_pixelcnn):
    """A model that samples pixel by pixel samples (Capabilities.samples, as eval says): the Quality view
    takes the bundled PixelCNN and starts measuring it (its full measurement, 100 samples of 784 passes, takes
    minutes: `eval` and this view were checked by hand), and measures a small one to the end."""
    w = make_window()
    select(w, qtbot, "mnist-pixelcnn")
    w.show_view("quality")
    q = w.quality
    assert q.body.isVisible() and not q.placeholder.isVisible() and q.btn.isEnabled()
    assert not q.steps.isVisible() and not q.guidance.isVisible()  # no sampler settings: it has none
    q.n.setValue(q.n.minimum())
    q.measure()
    assert not q.is_ready()
    q.cancel()
    qtbot.waitUntil(q.is_ready, timeout=300000)
    assert w.last_error is None and q.failed is None
    assert w.open_path(str(tiny_pixelcnn))
    w.show_view("quality")
    assert q.btn.isEnabled()
    q.n.setValue(q.n.minimum())
    q.measure()
    assert not q.is_ready()
    qtbot.waitUntil(q.is_ready, timeout=600000)
    assert w.last_error is None and q.failed is None and q.report is not None
    fig = _figures(w)
    assert float(fig["Samples"].replace(",", "")) == q.n.minimum() == 100 and "Fréchet distance ↓" in fig
    assert q.grid.data is not None and np.isfinite(q.grid.data).all()
