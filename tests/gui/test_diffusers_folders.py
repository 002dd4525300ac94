"""Folders saved by diffusers open in the window: File → Open diffusers folder… (Ctrl+Shift+O) or a dropped
folder; a UNet2DModel steps in the Diffusion view, an AutoencoderKL shows its map and sliders."""

import pytest
import torch
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

diffusers = pytest.importorskip("diffusers")

from tests.models.diffusers_nets import _unet, _vae  # noqa: E402

CTRL = Qt.KeyboardModifier.ControlModifier


def test_a_unet_folder_opens_in_the_diffusion_view(make_window, qtbot, tmp_path, monkeypatch):
    from latent_explorer import dialogs

    folder = tmp_path / "my-unet"
    _unet().save_pretrained(folder)
    diffusers.DDPMScheduler(num_train_timesteps=50).save_pretrained(folder)
    w = make_window(load_bundled=False)
    monkeypatch.setattr(dialogs, "open_folder", lambda *a, **k: str(folder))
    QTest.keyClick(w, Qt.Key.Key_O, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert w.library.current is not None and w.library.current.name == "my-unet", w.last_error
    QTest.keyClick(w, Qt.Key.Key_3, CTRL)
    d = w.diffusion
    assert d.body.isVisible() and d.steps.maximum() == 50
    d.steps.setValue(5)
    d.sampler.setCurrentIndex(d.sampler.findData("ddim"))
    d.run_reverse()
    qtbot.waitUntil(lambda: d.trajectory is not None and not d.busy(), timeout=60000)
    assert len(d.trajectory) == 6 and w.last_error is None


def test_a_dropped_autoencoder_kl_folder_shows_its_map_and_sliders(make_window, qtbot, tmp_path):
    folder = tmp_path / "my-vae"
    _vae().save_pretrained(folder)
    w = make_window(load_bundled=False)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    w.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier))
    assert w.library.current is not None and w.library.current.name == "my-vae", w.last_error
    model = w.latent.model
    assert model.kind == "diffusers-vae" and model.latent_dim == 256
    QTest.keyClick(w, Qt.Key.Key_2, CTRL)
    qtbot.waitUntil(w.editor.is_ready, timeout=60000)
    assert len(w.editor.rows) == 256 and w.editor.panel.data is not None
    z = torch.from_numpy(w.latent.z)[None]
    assert w.editor.panel.data.shape[:2] == model.decode(z).shape[2:]
    assert w.last_error is None


def test_an_onnx_generator_opens_in_the_editor_and_map(make_window, qtbot, tmp_path):
    pytest.importorskip("onnx")
    from tests.models.onnx_graphs import make_onnx

    path, _ = make_onnx(tmp_path / "gen.onnx", latent=8, shape=(3, 16, 16))
    w = make_window(load_bundled=False)
    assert w.open_path(str(path)), w.last_error  # no question asked: a graph runs no code
    # listed once one decode has passed in a child process (models/io/probe.py), the window's thread never waiting
    qtbot.waitUntil(lambda: w.library.current is not None, timeout=120000)
    QTest.keyClick(w, Qt.Key.Key_2, CTRL)
    qtbot.waitUntil(w.editor.is_ready, timeout=60000)
    assert len(w.editor.rows) == 8 and w.editor.panel.data.shape == (16, 16, 3)
    QTest.keyClick(w, Qt.Key.Key_1, CTRL)
    qtbot.waitUntil(w.map.is_ready, timeout=60000)
    assert w.map.xy is not None and len(w.map.xy) > 0 and w.last_error is None
