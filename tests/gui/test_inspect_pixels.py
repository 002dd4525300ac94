"""The Inspect view (KL per dimension, likelihoods, anomaly detection, PCA) and the Pixels view (a PixelCNN
drawing pixel by pixel), driven as a user does on the real window."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from latent_explorer.models import build_model, load_dataset, make_config
from latent_explorer.models.analysis.quality import held_out
from latent_explorer.models.progress import run_to_end

from .conftest import select

CTRL = Qt.KeyboardModifier.ControlModifier


def test_the_16d_vae_active_units_match_its_kl_and_the_editor_greys_the_others(make_window, qtbot):
    w = make_window()
    entry = select(w, qtbot, "digits-vae16")
    QTest.keyClick(w, Qt.Key.Key_7, CTRL)  # Inspect
    assert w.current_view() is w.inspect
    qtbot.waitUntil(lambda: w.inspect.kl is not None, timeout=120000)
    # the KL of each dimension, computed here from the encoder directly
    _, val = held_out(entry.model)
    mu, logvar = entry.model.encode_dist(torch.as_tensor(val.images))
    kl = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).mean(0).detach().numpy()
    active = int((kl > 0.01).sum())
    assert w.inspect.dims_text.text().startswith(f"{active} of 16 dimensions active")
    assert active == 5
    greyed = [not r.slider.isEnabled() for r in w.editor.rows]
    assert greyed == list(kl <= 0.01)
    assert "inactive" in w.editor.rows[int(np.argmin(kl))].slider.toolTip()
    select(w, qtbot, "digits-vae2d")  # another model: nothing stays greyed
    assert all(r.slider.isEnabled() for r in w.editor.rows)


def test_anomaly_page_scores_other_data_converted_and_says_so(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae16")
    w.show_view("inspect")
    i = w.inspect
    i.pages.setCurrentWidget(i.anom_page)
    i.other.setCurrentText("scenes")
    i.n_anom.setValue(300)
    qtbot.waitUntil(lambda: i.btn_anom.isEnabled(), timeout=60000)
    QTest.mouseClick(i.btn_anom, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: i.anomaly is not None, timeout=120000)
    assert i.anomaly.auroc > 0.9 and "AUROC" in i.anom_text.text() and "converted" in i.anom_text.text()
    assert i.worst.data is not None


def test_likelihood_and_pca_pages(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae16")
    w.show_view("inspect")
    i = w.inspect
    i.pages.setCurrentWidget(i.lik_page)
    i.k.setValue(20)
    i.n_lik.setValue(60)
    qtbot.waitUntil(lambda: i.btn_lik.isEnabled(), timeout=60000)
    QTest.keyClick(i, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: i.rows is not None, timeout=120000)
    names = [i.lik_table.item(r, 0).text() for r in range(i.lik_table.rowCount())]
    assert names[0] == "digits-vae16" and "digits-vae2d" in names  # every open model of the same images
    for r in i.rows:
        assert r.figures["neg_iw_bound"] <= r.figures["neg_elbo"]
    assert "binarised at ½" in i.lik_note.text()
    # the papers' convention: the images drawn black and white several times, the figures averaged
    i.binarise.setCurrentIndex(i.binarise.findData("stochastic"))
    i.rows = None
    QTest.mouseClick(i.btn_lik, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: i.rows is not None, timeout=120000)
    assert "drawn black and white 5 times" in i.lik_note.text()
    assert all(np.isfinite(r.figures["neg_elbo"]) and r.figures["neg_iw_bound"] <= r.figures["neg_elbo"]
               for r in i.rows)
    select(w, qtbot, "digits-ae")
    assert not i.pages.isTabEnabled(0) and not i.pages.isTabEnabled(1)  # no posterior, no likelihood
    i.pages.setCurrentWidget(i.pca_page)
    QTest.mouseClick(i.btn_pca, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: i.comparison is not None, timeout=120000)
    assert "PCA" in i.pca_text.text() and i.pca_images.data is not None


def test_a_model_without_encoder_or_likelihood_is_told_why(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-gan")
    w.show_view("inspect")
    i = w.inspect
    # a GAN samples: its Modes page applies; every other page is disabled with the reason as its tooltip
    enabled = [i.pages.isTabEnabled(k) for k in range(i.pages.count())]
    assert enabled == [False, False, False, False, True, False] and i.pages.currentWidget() is i.modes_page
    anomaly = i.pages.indexOf(i.anom_page)
    assert "no encoder and no likelihood" in i.pages.tabToolTip(anomaly)
    assert "no mapping network" in i.pages.tabToolTip(i.pages.indexOf(i.styles))
    w.show_view("pixels")
    assert w.pixels.placeholder.isVisible() and "pixel by pixel" in w.pixels.placeholder.text()


@pytest.fixture
def tiny_pixelcnn(tmp_path):
    from latent_explorer.models import TrainConfig, train

    data = load_dataset("digits")
    torch.manual_seed(0)
    m = build_model(make_config("pixelcnn", data.shape, width=8, layers=2))
    out = tmp_path / "pc.safetensors"
    run_to_end(train(m, data, TrainConfig(epochs=1, batch_size=64, max_steps=2), out=str(out)))
    return out


def test_pixels_view_samples_scrubs_and_completes_a_drawn_input(make_window, qtbot, tiny_pixelcnn):
    w = make_window()
    assert w.open_path(str(tiny_pixelcnn))
    QTest.keyClick(w, Qt.Key.Key_5, CTRL)  # Pixels
    v = w.pixels
    assert w.current_view() is v and v.body.isVisible()
    v.n.setValue(2)
    QTest.keyClick(v, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: v.record is not None and not v.job.busy, timeout=120000)
    assert v.record.images.shape == (2, 1, 8, 8) and v.scrub.value() == 63
    QTest.keyClick(v, Qt.Key.Key_Home)
    assert v.scrub.value() == 0 and "pixel 1 of 64" in v.step_label.text()
    QTest.keyClick(v, Qt.Key.Key_PageDown)
    QTest.keyClick(v, Qt.Key.Key_Right)
    assert v.scrub.value() == 9
    # complete: a held-out image, its bottom half erased, then a stroke of the eraser across the top row
    v.mode.setCurrentIndex(1)
    QTest.mouseClick(v.btn_held, Qt.MouseButton.LeftButton)
    assert v.input is not None and int(v.erased.sum()) == 32
    v.brush.setCurrentText("Erase (to complete)")
    canvas = v.canvas
    top_left = canvas.mapFromScene(canvas.item.mapToScene(0.5, 0.5))
    top_right = canvas.mapFromScene(canvas.item.mapToScene(7.5, 0.5))
    QTest.mousePress(canvas.viewport(), Qt.MouseButton.LeftButton, pos=top_left)
    for x in np.linspace(top_left.x(), top_right.x(), 8):
        QTest.mouseMove(canvas.viewport(), QPoint(int(x), top_left.y()))
    QTest.mouseRelease(canvas.viewport(), Qt.MouseButton.LeftButton, pos=top_right)
    assert v.erased[0].all() and int(v.erased.sum()) == 40
    given = v.input.copy()
    QTest.mouseClick(v.btn_run, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: v.record is not None and not v.job.busy, timeout=120000)
    kept = ~v.erased
    assert np.array_equal(v.record.images[:, 0][:, kept], np.broadcast_to(given[kept], (2, int(kept.sum()))))
    # nothing erased: said so, nothing run
    v.set_input(given, np.zeros((8, 8), bool))
    v.run()
    assert not v.job.busy and "nothing is erased" in w.statusBar().currentMessage()


def test_the_map_colours_points_by_a_score_in_quantile_bins(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    m = w.map
    keys = [m.colour.itemData(i) for i in range(m.colour.count())]
    assert keys == ["label", "neg_elbo", "kl", "recon_error"]
    m.colour.setCurrentIndex(keys.index("recon_error"))
    qtbot.waitUntil(lambda: m.scores is not None and not m.busy(), timeout=120000)
    # eight bins of equal shares: the worst-reconstructed eighth of the images in the last colour
    errors = m.scores["recon_error"]
    assert len(errors) == len(m.xy) and len(m.points.items) == 8
    last = m.points.items[-1]
    worst = np.argsort(errors)[-len(errors) // 8:]
    assert set(last.data["data"].tolist()) >= set(worst[-10:].tolist())
    m.colour.setCurrentIndex(0)  # back to the labels, at once (nothing recomputed)
    assert len(m.points.items) == len(np.unique(m.latents.labels))
    select(w, qtbot, "digits-gan")  # sampled latents of a GAN: no images to score
    assert not m.colour.isEnabled() and m.colour.count() == 1


def test_inspect_keeps_the_page_the_user_chose_where_it_applies(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-gan")  # nothing applies: every page disabled
    select(w, qtbot, "digits-vae16")
    i = w.inspect
    assert i.pages.currentWidget() is i.dims_page  # not the page Qt moved to while disabling
    i.pages.setCurrentWidget(i.anom_page)
    select(w, qtbot, "digits-ae")  # no KL page, but an anomaly page: stays there
    assert i.pages.currentWidget() is i.anom_page
    select(w, qtbot, "digits-vae2d")
    assert i.pages.currentWidget() is i.anom_page


def test_a_class_conditional_vae_gets_its_kl_and_the_reason_for_the_rest(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "mnist-cvae")
    w.show_view("inspect")
    i = w.inspect
    qtbot.waitUntil(lambda: i.kl is not None, timeout=120000)
    assert i.pages.isTabEnabled(0) and not any(i.pages.isTabEnabled(k) for k in (1, 2, 3))
    assert "class-conditional" in i.pages.tabToolTip(2)
