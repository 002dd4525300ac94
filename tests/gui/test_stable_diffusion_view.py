"""A Stable Diffusion folder in the Text-to-Image view, as a user drives it (a tiny random pipeline): opened from
File → Open folder…, a long prompt greyed past the context, another size, every step scrubbed with its word
maps and its own latent map; then the Inpaint tab: the chosen sample taken, a mask painted with the brush, the
masked region painted anew while the rest is kept."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

diffusers = pytest.importorskip("diffusers")

from tests.models import sd_pipeline  # noqa: E402

CTRL = Qt.KeyboardModifier.ControlModifier


@pytest.fixture(scope="module")
def sd_folder(tmp_path_factory):
    return sd_pipeline.save(tmp_path_factory.mktemp("sd-gui") / "tiny-sd")


def test_a_stable_diffusion_folder_generates_scrubs_and_inpaints(make_window, qtbot, sd_folder, monkeypatch):
    from latent_explorer import dialogs

    w = make_window(load_bundled=False)
    monkeypatch.setattr(dialogs, "open_folder", lambda *a, **k: str(sd_folder))
    QTest.keyClick(w, Qt.Key.Key_O, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert w.library.current is not None and w.library.current.name == "tiny-sd", w.last_error
    QTest.keyClick(w, Qt.Key.Key_4, CTRL)
    t = w.txt2img
    assert w.current_view() is t and t.body.isVisible()
    qtbot.waitUntil(t.is_ready, timeout=60000)
    width = w.width()
    QTest.keyClicks(t.prompt, " ".join(["a large red circle"] * 25))  # 100 words: past 75 tokens
    qtbot.waitUntil(lambda: not t._check_timer.isActive(), timeout=5000)
    assert "longer than the text encoder's 75 tokens" in t.chips.text() and w.width() == width
    t.prompt.clear()
    QTest.keyClicks(t.prompt, "a blue star")
    assert t.size.isEnabled() and t.size.count() > 1
    t.size.setCurrentIndex(t.size.sizes.index((24, 16)))  # 16×24: another size than its own
    t.steps.setValue(4)
    t.n.setValue(2)
    t.prompt.setFocus()
    QTest.keyClick(t.prompt, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: t.trajectory is not None and t.is_ready(), timeout=60000)
    tr = t.trajectory
    assert tr.x.shape == (5, 2, 3, 24, 16) and tr.tokens == ["<bos>", "a", "blue", "star", "<eos>"]
    assert sum(p.isVisible() for p in t.attention.panels) == 3  # a map per word
    assert t.atlas is not None and t.atlas.xy.shape == (10, 2)  # its own latents: 5 frames × 2 samples
    QTest.keyClick(t.frame, Qt.Key.Key_Home)
    assert t.frame.value() == 0 and t.x_t.data is not None
    # inpainting: take sample 2, paint its right half, generate on the Inpaint tab
    t.select_sample(1)
    t.left.setCurrentWidget(t.inpaint)
    t.inpaint.btn_take.click()
    pad = t.inpaint.pad
    assert pad.image is not None and pad.image.shape == (3, 24, 16)
    pad.resize(160, 240)
    t.inpaint.brush.setValue(4)  # radius in image pixels
    r = pad._rect()
    for y in range(r.top() + 2, r.bottom(), 6):
        QTest.mousePress(pad, Qt.MouseButton.LeftButton, pos=QPoint(r.left() + r.width() * 3 // 4, y))
        QTest.mouseRelease(pad, Qt.MouseButton.LeftButton, pos=QPoint(r.left() + r.width() * 3 // 4, y))
    assert pad.mask[:, 12:].mean() > 0.5 and pad.mask[:, :4].sum() == 0
    QTest.keyClick(t.inpaint, Qt.Key.Key_Z, CTRL)  # undo one dab, then paint it again
    assert "painted anew" in t.inpaint.status.text()
    before = pad.image.copy()
    t.inpaint.resample.setValue(2)
    t.generate()
    qtbot.waitUntil(lambda: t.trajectory is not tr and t.trajectory is not None and t.is_ready(), timeout=60000)
    out = t.trajectory.x[-1].astype(np.float32)  # (2, 3, 24, 16)
    kept = pad.mask == 0
    # the kept region comes back through the autoencoder (its latents kept, then decoded): nearer the image
    # painted over than another sample of the first generation is there
    other = tr.x[-1, 0].astype(np.float32)
    assert np.abs(out[:, :, kept] - before[:, kept]).mean() < np.abs(other[:, kept] - before[:, kept]).mean()
    assert len(t.trajectory) == 5 and t.trajectory.x.shape[-2:] == (24, 16)
    assert w.last_error is None
