"""Selecting on the Latent Map as a user does (Shift+drag lasso, Ctrl+Shift+drag rectangle, Ctrl+click),
then exporting the selection and sending two points to the interpolation."""

import numpy as np
from PySide6.QtCore import QPointF, Qt

from latent_explorer.models.analysis.projection import points_in_polygon

from .conftest import select

SHIFT, CTRL = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.ControlModifier


class _Drag:
    """What pyqtgraph hands a ViewBox during a drag, for a path of scene points."""

    def __init__(self, points, k, mods):
        self.points, self.k, self.mods = points, k, mods

    def button(self):
        return Qt.MouseButton.LeftButton

    def modifiers(self):
        return self.mods

    def scenePos(self):
        return self.points[self.k]

    def buttonDownScenePos(self):
        return self.points[0]

    def isStart(self):
        return self.k == 0

    def isFinish(self):
        return self.k == len(self.points) - 1

    def accept(self):
        pass


def drag(vb, view_points, mods):
    scene = [vb.mapViewToScene(QPointF(*p)) for p in view_points]
    for k in range(len(scene)):
        vb.mouseDragEvent(_Drag(scene, k, mods))


class _Click:
    def __init__(self, mods):
        self.mods = mods

    def modifiers(self):
        return self.mods


class _Point:
    def __init__(self, i):
        self.i = i

    def data(self):
        return self.i


def test_lasso_rectangle_ctrl_click_export_and_interpolation(make_window, qtbot, tmp_path):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    m = w.map
    vb = m.plot.getViewBox()
    c = np.median(m.xy, 0)
    r = np.percentile(np.abs(m.xy - c), 40)
    lasso = [(c[0] + r * np.cos(a), c[1] + r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 24)]
    before = vb.viewRange()
    drag(vb, lasso, SHIFT)
    want = np.flatnonzero(points_in_polygon(m.xy, np.array(lasso)[:-1]))
    assert 10 < len(m.selected) < len(m.xy) and set(m.selected) == set(want)
    assert vb.viewRange() == before  # a lasso does not pan the map
    assert m.sel_label.text() == f"{len(want):,} selected" and len(m.sel_item.data) == len(want)
    # the selection, exported
    m.export_points(str(tmp_path / "sel.npz"))
    f = np.load(tmp_path / "sel.npz")
    assert f["index"].tolist() == sorted(want.tolist()) and np.allclose(f["z"], m.latents.z[f["index"]])
    assert np.array_equal(f["labels"], m.latents.labels[f["index"]])
    # a rectangle replaces it
    drag(vb, [(c[0] - r, c[1] - r), (c[0], c[1]), (c[0] + r, c[1] + r)], SHIFT | CTRL)
    box = (np.abs(m.xy - c) <= r).all(1)
    assert set(m.selected) == set(np.flatnonzero(box))
    # Ctrl+click: exactly two points, then A and B for the interpolation
    m.set_selection([])
    assert not m.btn_ab.isEnabled()
    for i in (4, 9):
        m.selection._on_click(None, [_Point(i)], _Click(CTRL))
    assert m.selected.tolist() == [4, 9] and m.btn_ab.isEnabled()
    assert not np.array_equal(w.latent.z, m.latents.z[9])  # Ctrl+click does not edit z
    m.send_to_interpolation()
    assert np.array_equal(w.latent.anchors["A"], m.latents.z[4]) and np.array_equal(w.latent.anchors["B"],
                                                                                       m.latents.z[9])
    # nothing selected: every point goes to the CSV
    m.set_selection([])
    m.export_points(str(tmp_path / "all.csv"))
    assert len((tmp_path / "all.csv").read_text().splitlines()) == len(m.xy) + 1
    assert w.last_error is None


def test_a_million_latents_opened_from_a_file_draw_as_density_and_a_bad_file_changes_nothing(make_window, qtbot,
                                                                                            tmp_path):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    m = w.map
    rng = np.random.default_rng(0)
    n = 1_000_000
    labels = rng.integers(0, 10, n)
    z = (rng.normal(size=(n, 2)) + 3 * np.stack([np.cos(labels), np.sin(labels)], 1)).astype(np.float32)
    np.savez(tmp_path / "million.npz", z=z, labels=labels)
    np.savez(tmp_path / "wrong.npz", z=np.ones((10, 16), np.float32))
    m.open_points(str(tmp_path / "wrong.npz"))
    qtbot.waitUntil(lambda: not m.busy(), timeout=60000)
    assert "16 dimensions" in m.failed and len(m.xy) < n  # the map keeps what it showed
    m.open_points(str(tmp_path / "million.npz"))
    qtbot.waitUntil(lambda: not m.busy() and m.xy is not None and len(m.xy) == n, timeout=180000)
    assert m.n_label.text() == "1,000,000 points" and m.points.density is not None
    assert m.source.text() == "million.npz" and m.latents.class_names == [str(i) for i in range(10)]
