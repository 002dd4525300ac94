"""The Sketch view with a class-conditional DDPM (issue Q): it draws an image of the chosen class, the user paints
a mask over half of it with the brush, picks another class and paints (Ctrl+Return); the kept half stays as it
was and the step slider shows the masked half filling in."""

import numpy as np
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from .conftest import select


def test_a_ddpm_paints_the_masked_half_as_another_class(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "mnist-ddpm")
    w.show_view("sketch")
    s = w.sketch
    p = s.inpainter
    assert p.isVisible() and not s.body.isVisible() and not s.placeholder.isVisible()
    p.cls.setCurrentIndex(3)
    p.controls.steps.setValue(10)
    p.draw_one()
    qtbot.waitUntil(lambda: not p.busy() and p.box.pad.image is not None, timeout=60000)
    image = p.box.pad.image.copy()
    assert image.shape == (1, 28, 28)
    pad = p.box.pad
    pad.resize(280, 280)
    p.box.brush.setValue(3)
    r = pad._rect()
    for y in range(r.top() + 2, r.bottom(), 8):  # the right half, top to bottom
        for x in (r.left() + r.width() * k // 16 for k in (9, 11, 13, 15)):
            QTest.mouseClick(pad, Qt.MouseButton.LeftButton, pos=QPoint(x, y))
    assert pad.mask[:, 16:].mean() > 0.9 and pad.mask[:, :10].sum() == 0
    p.cls.setCurrentIndex(8)
    QTest.keyClick(p, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not p.busy() and p.frames is not None, timeout=60000)
    frames = p.frames
    assert frames.shape == (11, 1, 28, 28) and p.frame.value() == 10
    kept = pad.mask == 0
    np.testing.assert_allclose(frames[-1][:, kept], image[:, kept], atol=2e-3)  # frames are float16
    assert np.abs(frames[-1][:, ~kept] - image[:, ~kept]).mean() > 0.01  # painted anew
    QTest.keyClick(p.frame, Qt.Key.Key_Home)
    assert p.frame.value() == 0 and "step 0/10" in p.frame_label.text()
    select(w, qtbot, "digits-vae2d")
    assert not p.isVisible() and s.placeholder.isVisible()
    assert w.last_error is None
