"""The newcomer's defects (issue H), each as the user met it. The editor's death, the Data box freeze, the
View menu and the direction sliders are in test_user_flows.py and test_training.py."""

from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtWidgets import QFileDialog, QPlainTextEdit

from .flows import check, use_model, use_view


def test_dimensions_after_a_tsne_use_two_different_axes_and_the_grid_controls_follow(make_window, qtbot):
    w = make_window()
    use_model(w, "digits-vae16")
    use_view(w, "map")
    check(w, qtbot)
    m = w.map
    assert m.ax_a.text() == "PC1" and m.ax_b.text() == "PC2"  # the boxes count as the axes are named
    m.mode.setCurrentIndex(2)
    assert m.grid_n.isEnabled() and m.extent.isEnabled()
    with qtbot.waitSignal(m.ready, timeout=300000):
        m.run_tsne()
    qtbot.waitUntil(lambda: not m.busy(), timeout=300000)
    assert m.projection.method == "tsne" and m.mode.currentIndex() == 0
    assert not m.grid_n.isEnabled() and not m.extent.isEnabled()  # no "range ± 44" on a t-SNE map
    m.proj.setCurrentIndex(m.proj.findData("dims"))
    a, b = m.projection.axes
    assert a != b and (m.ax_a.text(), m.ax_b.text()) == (f"z{a}", f"z{b}")
    assert not np.allclose(m.xy[:, 0], m.xy[:, 1])  # not a diagonal line
    m.ax_b.setValue(m.ax_a.value())  # the user picks the same axis twice: the other box moves away
    assert m.projection.axes[0] != m.projection.axes[1]


def test_legend_stays_above_the_grid_and_is_hidden_with_the_points(make_window, qtbot):
    w = make_window()
    use_model(w, "digits-vae2d")
    use_view(w, "map")
    check(w, qtbot)
    m = w.map
    with qtbot.waitSignal(m.ready, timeout=180000):
        m.mode.setCurrentIndex(2)  # grid + points
    assert m.legend.isVisible() and m.legend.zValue() > m.plot.getViewBox().childGroup.zValue()
    m.mode.setCurrentIndex(1)  # grid only: no legend of hidden points (its ⊘ icons)
    assert not m.legend.isVisible()
    m.mode.setCurrentIndex(0)
    assert m.legend.isVisible()


def test_the_hover_caption_does_not_outlive_its_model(make_window, qtbot):
    w = make_window()
    use_model(w, "digits-vae2d")
    use_view(w, "map")
    check(w, qtbot)
    w.map.select(5)
    assert w.map.hover_label.text().startswith("#5")
    use_model(w, "digits-gan")
    assert not w.map.hover_label.text().startswith("#") and w.map.hover.data is None


def test_diffusion_panels_share_one_value_scale(make_window, qtbot):
    """At t = 885, x_t is almost the noise itself: drawn on one scale the two panels look alike."""
    w = make_window()
    use_model(w, "digits-ddpm")
    use_view(w, "diffusion")
    fwd = w.diffusion.forward
    fwd.t_slider.setValue(885)
    xt, eps = fwd.fwd_xt.data, fwd.fwd_eps.data
    assert np.abs(xt - eps).mean() < 0.05
    for label, scale in (("±3", 3.0), ("±1 (data range)", 1.0)):
        w.diffusion.scale.setCurrentText(label)
        assert (w.diffusion.value_bar.lo, w.diffusion.value_bar.hi) == (-scale, scale)
        assert np.abs(fwd.fwd_xt.data - fwd.fwd_eps.data).mean() < 0.05 * 3 / scale


def test_encode_shows_the_input_as_the_model_sees_it_its_reconstruction_and_error(make_window, qtbot, tmp_path):
    w = make_window()
    use_model(w, "digits-vae2d")
    use_view(w, "editor")
    check(w, qtbot)
    big = np.zeros((56, 56), np.uint8)
    big[8:48, 24:32] = 255  # a "1", seven times the model's size
    Image.fromarray(big).save(tmp_path / "one.png")
    assert w.editor.encode_file(str(tmp_path / "one.png"))
    strip = w.editor.encoding
    assert strip.isVisible() and strip.input.data.shape == (8, 8)  # as the model sees it: 8x8
    assert strip.recon.data.shape == (8, 8) and np.allclose(strip.error.data, np.abs(strip.input.data -
                                                                                    strip.recon.data))
    assert "MSE" in w.statusBar().currentMessage()
    use_model(w, "digits-vae16")
    assert not strip.isVisible()  # an encoding belongs to its model


def test_gif_export_follows_the_steps_box(make_window, qtbot, tmp_path):
    w = make_window()
    use_model(w, "digits-vae16")
    check(w, qtbot)
    ed = w.editor
    ed.interp.btn_a.click()
    ed.randomise()
    ed.interp.btn_b.click()
    ed.interp.steps.setValue(5)
    ed.export_gif(str(tmp_path / "i.gif"))
    assert Image.open(tmp_path / "i.gif").n_frames == 5 + 3  # there and back


def test_dialogs_start_in_the_documents_and_remember_the_last_folder(make_window, qtbot, tmp_path, monkeypatch):
    w = make_window()
    use_model(w, "digits-vae2d")
    check(w, qtbot)
    asked = []
    target = tmp_path / "exports" / "first.png"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda parent, title, start, flt: (asked.append(start)
                                                                                          or str(target), ""))
    w.editor._export_png()
    assert target.exists() and Path(asked[0]).parent != Path.cwd()
    w.editor._export_png()
    assert Path(asked[1]).parent == target.parent  # the folder of the last export


def test_training_log_wraps_and_the_save_field_shows_the_file_name(make_window, qtbot):
    w = make_window(load_bundled=False)
    use_view(w, "training")
    v = w.training
    assert v.log.lineWrapMode() == QPlainTextEdit.LineWrapMode.WidgetWidth
    out = v.form.out
    assert out.text().endswith(".safetensors") and out.cursorPosition() == len(out.text())
    assert out.text() in out.toolTip()
