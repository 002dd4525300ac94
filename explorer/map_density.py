"""Maps of many points (hundreds of thousands to millions): while many points are in view they are drawn as
one density picture (:func:`models.display.density_image`, class colours blended by count), and when the
user zooms in to a few thousand they are drawn as points again. During a pan or zoom the last picture moves
with the view (one image to repaint); it is recomputed for the new range once the view rests."""

from __future__ import annotations

import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QTimer

from latent_explorer.models.display import density_image

DENSITY_MIN = 200_000  # maps with more points than this use the density picture
POINTS_IN_VIEW = 30_000  # ... unless at most this many are in view: then they are points
SETTLE_MS = 60  # the picture is recomputed this long after the view last moved


class DensityLayer:
    """One ImageItem under the plot, plus a scatter of the points in view when few are."""

    def __init__(self, plot: pg.PlotWidget, xy: np.ndarray, labels: np.ndarray | None, colours: list[str],
                 on_click=None):
        self.plot, self.xy = plot, np.ascontiguousarray(xy, np.float32)
        self.labels = labels
        rgb = np.array([pg.mkColor(c).getRgbF()[:3] for c in colours], np.float32)
        self.point_rgb = None if labels is None else rgb[np.asarray(labels, np.int64) % len(rgb)]
        self.brushes = [pg.mkBrush(c) for c in colours]
        self.image = pg.ImageItem(levels=(0.0, 1.0))
        self.image.setZValue(-5)
        plot.addItem(self.image, ignoreBounds=True)  # its rect is the view: the outline below bounds it
        lo, hi = self.xy.min(0), self.xy.max(0)  # an invisible outline: "fit the view" sees all the points
        self.bounds = pg.PlotCurveItem([lo[0], hi[0]], [lo[1], hi[1]], pen=None)
        plot.addItem(self.bounds)
        self.scatter = pg.ScatterPlotItem(size=5, pen=None, hoverable=False)
        if on_click is not None:
            self.scatter.sigClicked.connect(on_click)
        plot.addItem(self.scatter, ignoreBounds=True)
        self.in_view = len(self.xy)
        self.visible = True
        self._drawn = None  # (view range, size) of the picture shown: the same view is never drawn twice
        self._timer = QTimer(plot, singleShot=True, interval=SETTLE_MS)  # dies with the plot
        self._timer.timeout.connect(self.render)
        plot.getViewBox().sigRangeChanged.connect(self._moved)
        self.index = None  # models.analysis.projection.PointIndex, built in a thread after the first picture
        self._indexing = False

    def _build_index(self):
        from latent_explorer.models.analysis.projection import PointIndex

        self.index = PointIndex(self.xy)

    @property
    def drawn(self) -> bool:
        """Its picture (or its points) has been drawn for some view."""
        return self._drawn is not None

    def _moved(self, *_):
        self._timer.start()  # the image moves with the view meanwhile (it is placed in view coordinates)

    def render(self) -> None:
        """Recompute for the current view: the density picture, or the points when few are in view."""
        if not self.visible:
            return
        vb = self.plot.getViewBox()
        (x0, x1), (y0, y1) = vb.viewRange()
        w, h = (max(1, int(v)) for v in (vb.width(), vb.height()))
        if self._drawn == (x0, x1, y0, y1, w, h):  # the settle timer after a render for this very view
            return
        self._drawn = (x0, x1, y0, y1, w, h)
        pic, n = density_image(self.xy, self.point_rgb, (x0, x1), (y0, y1), w, h)
        self.in_view = n
        if n <= POINTS_IN_VIEW:
            inside = np.flatnonzero((self.xy[:, 0] >= x0) & (self.xy[:, 0] <= x1) & (self.xy[:, 1] >= y0)
                                    & (self.xy[:, 1] <= y1))
            brushes = "#8ab4f8" if self.labels is None else [
                self.brushes[k] for k in (np.asarray(self.labels[inside], np.int64) % len(self.brushes)).tolist()]
            self.scatter.setData(pos=self.xy[inside], data=inside, brush=brushes)
            self.scatter.setVisible(True)
            self.image.setVisible(False)
            self._start_index()
            return
        self.scatter.setVisible(False)
        self.image.setImage(pic, autoLevels=False, levels=(0.0, 1.0))  # row 0 at y0: the bottom
        self.image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        self.image.setVisible(True)
        self._start_index()

    def _start_index(self) -> None:
        """The hover index, built once the first picture is drawn (built beside it, it slowed it down)."""
        if not self._indexing:
            self._indexing = True
            threading.Thread(target=self._build_index, daemon=True, name="map-index").start()

    def set_visible(self, on: bool) -> None:
        self.visible = on
        self.image.setVisible(on and self.in_view > POINTS_IN_VIEW)
        self.scatter.setVisible(on and self.in_view <= POINTS_IN_VIEW)
        if on:
            self._timer.start()  # soon, for the range the view is given meanwhile

    def nearest(self, x: float, y: float, pixel, max_px: float = 8.0) -> int | None:
        from latent_explorer.models.analysis.projection import nearest_point

        if self.index is not None:
            return self.index.nearest(x, y, pixel, max_px)
        return nearest_point(self.xy, x, y, pixel, max_px)  # a few ms, until the index is built

    def remove(self) -> None:
        self._timer.stop()
        try:
            self.plot.getViewBox().sigRangeChanged.disconnect(self._moved)
        except (RuntimeError, TypeError):
            pass
        for item in (self.image, self.scatter, self.bounds):
            self.plot.removeItem(item)
