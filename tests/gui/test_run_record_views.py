"""What a run's record shows in the window: the Latent Map's training movie (the held-out subset encoded after
every epoch, scrubbed on fixed axes) and the Inspect view's Modes page (class histogram of samples now and
after every epoch), driven as a user does."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from latent_explorer.models import TrainConfig, build_model, load_dataset, make_config, train
from latent_explorer.models.training.run_record import load_record, record_path

from .conftest import choose

CTRL = Qt.KeyboardModifier.ControlModifier


def _train(kind, out, epochs, **over):
    data = load_dataset("digits")
    model = build_model(make_config(kind, data.shape, 2 if kind == "vae" else 8, data.class_names, data=data,
                                    **over))
    for _ in train(model, data, TrainConfig(epochs=epochs, batch_size=64, record_n=200), out=str(out)):
        pass
    return out


@pytest.fixture
def vae_with_record(tmp_path):
    return _train("vae", tmp_path / "movie.safetensors", 4, hidden=(64,))


def test_the_map_scrubs_the_training_movie_on_fixed_axes_and_goes_back(make_window, qtbot, vae_with_record):
    w = make_window()
    assert w.open_path(str(vae_with_record))
    w.show_view("map")
    m = w.map
    qtbot.waitUntil(lambda: m.is_ready() and m.latents is not None and m.btn_movie.isVisible(), timeout=120000)
    n_data = len(m.latents.z)
    rec = load_record(record_path(vae_with_record))
    QTest.mouseClick(m.btn_movie, Qt.MouseButton.LeftButton)
    assert m.movie_slider.isVisible() and not m.btn_tsne.isEnabled()
    assert m.movie_label.text() == "epoch 4 of 4"
    np.testing.assert_array_equal(m.latents.z, rec.z[-1])
    ranges = []
    for e in range(4):
        m.movie_slider.setValue(e)
        np.testing.assert_array_equal(m.latents.z, rec.z[e])
        assert m.n_label.text() == f"{len(rec.z[0])} points"
        ranges.append(m.plot.getViewBox().viewRange())
    assert all(np.allclose(r, ranges[0]) for r in ranges)  # one set of axes for every epoch
    m.movie_slider.setFocus()
    QTest.keyClick(m.movie_slider, Qt.Key.Key_Left)  # the keyboard scrubs too
    assert m.movie_label.text() == "epoch 3 of 4"
    m.selection._on_hover(m.plot.getViewBox().mapViewToScene(
        __import__("PySide6.QtCore", fromlist=["QPointF"]).QPointF(*m.xy[0])))
    assert m.hover_label.text().startswith("#0")  # a point of the movie is decoded on hover
    QTest.mouseClick(m.btn_movie, Qt.MouseButton.LeftButton)  # back to the data
    assert len(m.latents.z) == n_data and not m.movie_slider.isVisible() and m.btn_tsne.isEnabled()
    select_other = next(e for e in w.library.entries if e.name == "digits-gan")
    choose(w, qtbot, select_other)  # a model without a record: no movie button
    qtbot.waitUntil(lambda: m.is_ready(), timeout=120000)
    assert not m.btn_movie.isVisible()


def test_the_modes_page_sorts_samples_and_shows_the_runs_class_shares(make_window, qtbot, tmp_path):
    first = _train("gan", tmp_path / "g1.safetensors", 1, width=8)
    w = make_window()
    assert w.open_path(str(first))
    QTest.keyClick(w, Qt.Key.Key_7, CTRL)  # Inspect
    i = w.inspect
    qtbot.waitUntil(i.is_ready, timeout=60000)
    assert i.pages.isTabEnabled(i.pages.indexOf(i.modes_page))
    i.pages.setCurrentWidget(i.modes_page)
    # no classifier for digits was at hand while it trained: the page says so and how to get one
    assert "no class histograms" in i.record_text.text() and "Quality view" in i.record_text.text()
    # a fast sampler of built-in data: the page sorts 1,000 samples by itself when shown
    qtbot.waitUntil(lambda: i.modes is not None and i.is_ready(), timeout=180000)
    assert sum(i.modes.figures["class_histogram"].values()) == 1000
    i.n_modes.setValue(300)
    QTest.keyClick(i, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: sum(i.modes.figures["class_histogram"].values()) == 300, timeout=180000)
    assert i.modes_text.text().startswith("Coverage ")
    # now a classifier is cached: the next run records its class shares after every epoch
    second = _train("gan", tmp_path / "g2.safetensors", 2, width=8)
    assert w.open_path(str(second))
    qtbot.waitUntil(lambda: i.record is not None and i.is_ready(), timeout=60000)
    assert i.record.has_classes and i.record.epochs == [1, 2]
    assert "2 epochs" in i.record_text.text()
    assert i.mode_plots.heat.image.shape == (2, 10)
    # a model that draws no samples gets the reason on the tab
    enc = next(e for e in w.library.entries if e.name == "digits-ae")
    choose(w, qtbot, enc)
    qtbot.waitUntil(i.is_ready, timeout=60000)
    idx = i.pages.indexOf(i.modes_page)
    assert i.pages.isTabEnabled(idx) == (enc.model.capabilities.prior and enc.model.capabilities.decodes_z)
