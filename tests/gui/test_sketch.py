"""The Sketch view: drawing for a pix2pix model with the mouse and the keyboard, loading and exporting, as a
user does on the real window."""

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from latent_explorer.models import TrainConfig, build_model, load_dataset, make_config, train

from .conftest import select
from .flows import stroke

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


def test_drawing_translates_live_and_undo_clear_eraser_work(make_window, qtbot, tiny_pix2pix, tmp_path):
    w = make_window()
    assert w.open_path(str(tiny_pix2pix))
    QTest.keyClick(w, Qt.Key.Key_9, CTRL)  # Sketch
    s = w.sketch
    assert w.current_view() is s and s.body.isVisible() and s.pad.ink.shape == (32, 32) and not s.colours.isVisible()
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
    from .flows import use_view

    w = make_window(load_bundled=False)
    use_view(w, "training")
    form = w.training.form
    form.kind.setCurrentIndex(form.kind.findData("pix2pix"))
    enabled = {f.param.name for f in form.fields if f.widget.isEnabled()}
    assert enabled == {"width", "source", "l1_weight", "adv_weight"}
    assert not form.latent.isEnabled() and not form.conditional.isEnabled()
    spec = form.spec()
    assert spec.kind == "pix2pix" and spec.params["source"] == "edges" and spec.params["adv_weight"] == 1.0


@pytest.fixture
def tiny_cyclegan(tmp_path):
    from latent_explorer.models.io.checkpoint import save

    data = load_dataset("scenes:64")
    torch.manual_seed(0)
    m = build_model(make_config("cyclegan", data.shape, width=4, blocks=1, data=data))
    out = tmp_path / "cyc.safetensors"
    save(m, out, data={"spec": "scenes:64"})
    return out


def test_colour_models_draw_in_colour_on_a_paper_and_cyclegan_goes_either_way(make_window, qtbot, tiny_cyclegan,
                                                                                tmp_path):
    w = make_window()
    assert w.open_path(str(tiny_cyclegan))
    QTest.keyClick(w, Qt.Key.Key_9, CTRL)
    s = w.sketch
    assert s.colours.isVisible() and s.direction.isVisible() and s.direction.count() == 2
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)  # a bare paper is a picture
    assert np.allclose(s.pad.canvas, np.array([0, 0, 0], np.float32))  # black paper by default
    s.pen_colour.setCurrentText("yellow")
    s.pen_colour.activated.emit(s.pen_colour.currentIndex())
    stroke(s.pad, [(10, c) for c in range(8, 20)])
    assert np.allclose(s.pad.canvas[10, 8:20], np.array([240, 220, 40], np.float32) / 255)
    s.paper_colour.setCurrentText("navy")  # the paper changes, the strokes stay
    s.paper_colour.activated.emit(s.paper_colour.currentIndex())
    assert np.allclose(s.pad.canvas[0, 0], np.array([20, 30, 90], np.float32) / 255)
    assert np.allclose(s.pad.canvas[10, 8], np.array([240, 220, 40], np.float32) / 255) and s.pad.ink.sum() == 12
    QTest.keyClick(s, Qt.Key.Key_Z, CTRL)  # undo the paper
    assert np.allclose(s.pad.canvas[0, 0], 0)
    qtbot.waitUntil(lambda: s.is_ready(), timeout=60000)
    model = w.latent.model
    src = torch.from_numpy(s.pad.canvas.transpose(2, 0, 1)[None].copy())
    for i, d in enumerate(("a2b", "b2a")):
        s.direction.setCurrentIndex(i)
        qtbot.waitUntil(lambda: s.is_ready(), timeout=60000)
        np.testing.assert_allclose(s.output, model.translate(src, d).numpy()[0], atol=1e-6)
    s.export_png(str(tmp_path / "x.png"))
    with Image.open(tmp_path / "x.png") as im:
        assert "Direction: b2a" in im.info["parameters"]
    pic = np.zeros((64, 64, 3), np.uint8)  # a picture on teal paper, loaded: its paper is the pad's
    pic[:] = (20, 110, 110)
    pic[8:24, 8:24] = (220, 40, 40)
    Image.fromarray(pic).save(tmp_path / "pic.png")
    assert s.load(str(tmp_path / "pic.png")) and "resized from 64x64" in s.info.text()
    assert np.allclose(s.pad.paper, np.array([20, 110, 110]) / 255, atol=0.01) and s.pad.ink[6, 6]


def test_an_outline_pix2pix_needs_a_stroke_and_ink_models_hide_the_colours(make_window, qtbot, tmp_path):
    from latent_explorer.models.io.checkpoint import save

    data = load_dataset("scenes:64")
    torch.manual_seed(0)
    save(build_model(make_config("pix2pix", data.shape, width=4, source="outline", data=data)),
         tmp_path / "o.safetensors", data={"spec": "scenes:64"})
    w = make_window()
    assert w.open_path(str(tmp_path / "o.safetensors"))
    QTest.keyClick(w, Qt.Key.Key_9, CTRL)
    s = w.sketch
    assert s.colours.isVisible() and not s.direction.isVisible() and s.output is None  # nothing drawn yet
    stroke(s.pad, [(5, 5), (5, 12), (12, 12)])
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)
    assert s.source().shape == (3, 32, 32) and np.allclose(s.source()[:, 5, 5], np.array([220, 40, 40]) / 255)
    Image.fromarray(np.full((32, 32, 3), 90, np.uint8)).save(tmp_path / "flat.png")
    assert not s.load(str(tmp_path / "flat.png")) and "empty" in s.info.text()


@pytest.fixture
def tiny_controlnet(tmp_path):
    """A tiny latent diffusion model with its parts and a ControlNet on it, all in one folder."""
    from tests.models.helpers import run

    data = load_dataset("scenes:64")
    torch.manual_seed(0)
    ae = build_model(make_config("latent-ae", data.shape, width=8))
    run(ae, data, out=str(tmp_path / "ae.safetensors"), batch_size=16, max_steps=1)
    te = build_model(make_config("clip", data.shape, data=data, layers=1, embed_dim=16))
    run(te, data, out=str(tmp_path / "te.safetensors"), batch_size=16, max_steps=1)
    ldm = build_model(make_config("ldm", data.shape, data=data, autoencoder=str(tmp_path / "ae.safetensors"),
                                  text_encoder=str(tmp_path / "te.safetensors"), width=16, timesteps=50))
    run(ldm, data, out=str(tmp_path / "ldm.safetensors"), batch_size=16, max_steps=1)
    cn = build_model(make_config("controlnet", data.shape, data=data, base=str(tmp_path / "ldm.safetensors")))
    run(cn, data, out=str(tmp_path / "cn.safetensors"), batch_size=16, max_steps=1)
    return tmp_path / "cn.safetensors"


def test_a_controlnet_generates_from_the_drawing_and_the_prompt_with_every_step(make_window, qtbot, tiny_controlnet,
                                                                                tmp_path):
    w = make_window()
    assert w.open_path(str(tiny_controlnet))
    QTest.keyClick(w, Qt.Key.Key_9, CTRL)
    s = w.sketch
    assert s.body.isVisible() and s.control.isVisible() and not s.colours.isVisible() and s.output is None
    s.control.steps.setValue(4)
    stroke(s.pad, [(8, c) for c in range(8, 24)])
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None and s.control.frames is not None, timeout=60000)
    assert s.control.frames.shape == (5, 3, 32, 32) and s.control.slider.maximum() == 4
    assert s.control.step_label.text() == "the image"
    s.control.slider.setValue(1)
    assert s.control.step_label.text() == "step 2/4: x̂_0"
    first = s.output.copy()
    s.control.prompt.clear()
    QTest.keyClicks(s.control.prompt, "a small blue circle at the top on a navy background")
    QTest.keyClick(s.control.prompt, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: s.is_ready() and not np.array_equal(s.output, first), timeout=60000)
    s.control.prompt.setText("a purple zebra")
    QTest.keyClick(s.control.prompt, Qt.Key.Key_Return)  # unknown words: said, the image kept
    assert "zebra" in s.info.text() and s.output is not None
    s.export_png(str(tmp_path / "c.png"))
    with Image.open(tmp_path / "c.png") as im:
        assert "ControlNet: edges drawn" in im.info["parameters"] and "Steps: 4" in im.info["parameters"]
