"""The Compare view: open models side by side on the same seed, z, data and one table, driven as a user does."""

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .conftest import select

CTRL = Qt.KeyboardModifier.ControlModifier


def test_two_models_of_one_latent_size_share_z_and_their_maps_are_linked(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    QTest.keyClick(w, Qt.Key.Key_8, CTRL)  # Compare
    c = w.compare
    assert w.current_view() is c and c.chosen_names() == ["digits-vae2d"] and not c.btn.isEnabled()
    c.choose(["digits-vae2d", "digits-aae", "digits-gan"])
    assert c.btn.isEnabled()
    c.n_points.setValue(300)
    c.n_quality.setValue(200)
    QTest.keyClick(c, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: c.result is not None, timeout=300000)
    sides = {s.name: s for s in c.result.sides}
    # the two 2-D models decoded the same z; the GAN (32-D) drew its own, and the notes say so
    assert sides["digits-vae2d"].z_synced and sides["digits-aae"].z_synced and not sides["digits-gan"].z_synced
    assert "z sync is off" in c.notes.text() and "digits-gan: 32" in c.notes.text()
    n = len(c.result.images)  # digits holds out 180 images, fewer than asked for
    assert n == 180 and sides["digits-gan"].xy is None and sides["digits-vae2d"].xy.shape == (n, 2)
    # one table: a row per model, reconstruction error where there is an encoder, FD for every sampler
    rows = [[c.table.item(r, k).text() for k in range(c.table.columnCount())] for r in range(c.table.rowCount())]
    assert [r[0] for r in rows] == ["digits-vae2d", "digits-aae", "digits-gan"]  # the current model first
    assert rows[2][3] == "—" and float(rows[0][3]) > 0 and all(float(r[4]) > 0 for r in rows)
    assert rows[0][8].endswith("(−ELBO)")
    # the maps are linked: image 5 is starred in both maps at its own place in each
    c.link(5)
    for col in c.columns:
        if col["marker"] is not None:
            np.testing.assert_allclose(col["marker"].data["x"], col["side"].xy[5:6, 0])
    assert c.hover.text().startswith("held-out image #5")


def test_models_of_different_image_sizes_are_refused_with_the_reason(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    w.show_view("compare")
    c = w.compare
    c.choose(["digits-vae2d", "mnist-vae2d"])
    QTest.mouseClick(c.btn, Qt.MouseButton.LeftButton)
    assert c.result is None and not c.job.busy
    assert "compare models of one image size" in c.notes.text()
