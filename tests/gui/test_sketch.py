"""The Sketch view: drawing for a pix2pix model with the mouse and the keyboard, loading and exporting, as a
user does on the real window."""

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from models import TrainConfig, build_model, load_dataset, make_config, train

from .conftest import select

CTRL = Qt.KeyboardModifier.ControlModifier
LEFT, RIGHT = Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton


@pytest.fixture
def tiny_pix2pix(tmp_path):
    data = load_dataset("scenes").subset(slice(0, 256))
    torch.manual_seed(0)
    m = build_model(make_config("pix2pix", data.shape, width=8, data=data))
    out = tmp_path / "p2p.safetensors"
    for _ in train(m, data, TrainConfig(epochs=1, batch_size=64, max_steps=2), out=str(out)):
        pass
    return out


def stroke(pad, cells, button=LEFT):
    """Press at the first model pixel, move through the others with the button held, release."""
    left, top, side = pad._square()
    cell = side / pad.ink.shape[0]
    pts = [QPointF(left + (c + 0.5) * cell, top + (r + 0.5) * cell) for r, c in cells]

    def send(kind, p, buttons):
        ev = QMouseEvent(kind, p, pad.mapToGlobal(p), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(pad, ev)

    send(QMouseEvent.Type.MouseButtonPress, pts[0], button)
    for p in pts[1:]:
        send(QMouseEvent.Type.MouseMove, p, button)
    send(QMouseEvent.Type.MouseButtonRelease, pts[-1], Qt.MouseButton.NoButton)


def test_drawing_translates_live_and_undo_clear_eraser_work(make_window, qtbot, tiny_pix2pix, tmp_path):
    w = make_window()
    assert w.open_path(str(tiny_pix2pix))
    QTest.keyClick(w, Qt.Key.Key_9, CTRL)  # Sketch
    s = w.sketch
    assert w.current_view() is s and s.body.isVisible() and s.pad.ink.shape == (32, 32)
    stroke(s.pad, [(16, c) for c in range(4, 28, 3)])  # a fast stroke: the gaps between moves are filled
    assert s.pad.ink[16, 4:26].all() and s.pad.ink.sum() == 25 - 3
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)
    first = s.output.copy()
    assert first.shape == (3, 32, 32)
    expect = w.latent.model.translate(torch.from_numpy(s.pad.ink[None, None])).numpy()[0]
    np.testing.assert_allclose(first, expect, atol=1e-6)  # the answer is of the drawing as it is now
    QTest.keyClick(s, Qt.Key.Key_BracketRight)  # a wider pen
    assert s.pad.pen == 2
    stroke(s.pad, [(r, 8) for r in range(2, 30)])
    qtbot.waitUntil(lambda: s.is_ready() and not np.array_equal(s.output, first), timeout=60000)
    QTest.keyClick(s, Qt.Key.Key_Z, CTRL)  # undo the second stroke
    assert s.pad.ink.sum() == 22
    stroke(s.pad, [(16, 10), (16, 12)], RIGHT)  # the right button erases
    assert s.pad.ink[16, 9:14].sum() == 0 and s.pad.ink.sum() == 22 - 5
    QTest.keyClick(s, Qt.Key.Key_Delete)
    assert not s.pad.ink.any()
    qtbot.waitUntil(s.is_ready, timeout=60000)
    assert s.output is None  # an empty canvas: no answer, no error
    assert w.last_error is None


def test_loading_exporting_and_a_model_that_does_not_translate(make_window, qtbot, tiny_pix2pix, tmp_path):
    w = make_window()
    assert w.open_path(str(tiny_pix2pix))
    w.show_view("sketch")
    s = w.sketch
    rgba = np.zeros((64, 64, 4), np.uint8)  # black strokes on a transparent sheet, twice the model's size
    rgba[10:50, 30:34] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "drawn.png")
    assert s.load(str(tmp_path / "drawn.png"))
    assert "transparent" in s.info.text() and "resized from 64x64" in s.info.text()
    assert s.pad.ink[5:25, 15:17].all()
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "blank.png")
    before = s.pad.ink.copy()
    assert not s.load(str(tmp_path / "blank.png"))
    assert "empty" in s.info.text() and np.array_equal(s.pad.ink, before)  # the drawing is kept
    s.export_png(str(tmp_path / "out.png"))
    with Image.open(tmp_path / "out.png") as im:
        assert "Model: p2p" in im.info["parameters"] and im.width > 2 * im.height - 20
    select(w, qtbot, "digits-vae2d")
    assert s.placeholder.isVisible() and "does not translate images" in s.placeholder.text()


def test_the_training_view_offers_pix2pix_with_its_own_form(make_window, qtbot):
    from .test_user_flows import use_view

    w = make_window(load_bundled=False)
    use_view(w, "training")
    form = w.training.form
    form.kind.setCurrentIndex(form.kind.findData("pix2pix"))
    enabled = {f.param.name for f in form.fields if f.widget.isEnabled()}
    assert enabled == {"width", "source", "l1_weight", "adv_weight"}
    assert not form.latent.isEnabled() and not form.conditional.isEnabled()
    spec = form.spec()
    assert spec.kind == "pix2pix" and spec.params["source"] == "edges" and spec.params["adv_weight"] == 1.0
