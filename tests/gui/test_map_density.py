"""A map of many points: drawn as a density picture while many are in view and as points when few are;
hovering, clicking and selecting find the real points at every zoom."""

import numpy as np
from PySide6.QtCore import QPointF, Qt

from latent_explorer.latent_map import LatentMap
from latent_explorer.map_density import DENSITY_MIN, POINTS_IN_VIEW
from latent_explorer.models import build_model, make_config
from latent_explorer.models.analysis.latent import LatentSet
from latent_explorer.models.analysis.projection import nearest_point
from latent_explorer.state import LatentState


class _Click:
    def __init__(self, scene_pos):
        self.pos = scene_pos

    def button(self):
        return Qt.MouseButton.LeftButton

    def scenePos(self):
        return self.pos

    def modifiers(self):
        return Qt.KeyboardModifier.NoModifier


def test_many_points_draw_as_density_and_stay_reachable(qtbot):
    n = DENSITY_MIN + 50_000
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    z = (rng.normal(size=(n, 2)) + np.stack([np.cos(labels), np.sin(labels)], 1) * 3).astype(np.float32)
    state = LatentState()
    m = LatentMap(state)
    qtbot.addWidget(m)
    m.resize(900, 600)
    m.show()
    m.shown.set_model(build_model(make_config("vae", (1, 8, 8), 2)))
    state.model = m.model
    m.shown.set_latents(LatentSet(z, labels, [f"c{i}" for i in range(10)], None, "encoded"))
    qtbot.waitUntil(m.is_ready, timeout=60000)  # the picture is drawn once the layout has settled
    d = m.points.density
    assert d is not None and m.points.items == [] and d.image.isVisible() and not d.scatter.isVisible()
    assert d.in_view == n and len(m.legend.items) == 10
    pic = d.image.image
    assert pic.shape[2] == 4 and (pic[..., 3] > 0).mean() > 0.05  # the picture covers the points' area
    (x0, x1), (y0, y1) = m.plot.getViewBox().viewRange()
    assert x0 <= z[:, 0].min() and x1 >= z[:, 0].max()  # fitted to all the points
    # hover and click: the spatial index finds what scanning every point finds
    qtbot.waitUntil(lambda: d.index is not None, timeout=60000)
    vb = m.plot.getViewBox()
    pixel = vb.viewPixelSize()
    for x, y in ((0.3, 0.1), (2.5, -1.0), (40.0, 40.0)):
        assert m.nearest(x, y) == nearest_point(z, x, y, pixel)
    i = m.nearest(2.5, -1.0)
    m.selection._on_density_click(_Click(vb.mapViewToScene(QPointF(float(z[i, 0]), float(z[i, 1])))))
    assert m.clicked == i and np.array_equal(state.z, z[i])
    # zoomed in to a few points: real points again, each clickable as before
    vb.setRange(xRange=(0, 0.2), yRange=(0, 0.2), padding=0)
    d.render()
    assert d.in_view <= POINTS_IN_VIEW and d.scatter.isVisible() and not d.image.isVisible()
    inside = ((z >= 0) & (z <= 0.2)).all(1)
    assert len(d.scatter.data) == inside.sum()
    # a lasso selects among all the points, wherever the view is
    m.selection._on_lasso(np.array([[0, 0], [0.2, 0], [0.2, 0.2], [0, 0.2]]), Qt.KeyboardModifier.ShiftModifier)
    assert set(m.selected) == set(np.flatnonzero(inside))
    m.shutdown()
