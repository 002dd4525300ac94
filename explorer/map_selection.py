"""Pointing at and selecting points on the Latent Map, and taking them elsewhere. Hover shows a point's image
(the nearest within a few pixels, by the spatial index on maps of many points); a click sends its z to the
editor. Shift+drag draws a lasso, Ctrl+Shift+drag a rectangle, Ctrl+click adds or removes one point; the
selection (or every point) is exported as .npz / .csv, and two selected points become the editor's
interpolation anchors A and B; latents saved so (or made elsewhere, millions of them) are opened back into
the map. A mixin of the LatentMap."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton

from latent_explorer.models.analysis.latent import decode_one
from latent_explorer.models.analysis.projection import nearest_point, points_in_polygon

from . import dialogs
from .map_state import MODE_GRID


class _Hit:
    """A point found under the mouse, as a scatter item's click reports one."""

    def __init__(self, i: int):
        self.i = i

    def data(self) -> int:
        return self.i


class SelectViewBox(pg.ViewBox):
    """A ViewBox whose Shift+drag draws a lasso (Ctrl+Shift+drag: a rectangle) instead of panning."""

    sigSelected = Signal(object, object)  # polygon (K, 2) in view coordinates, keyboard modifiers

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        self._trace: list[QPointF] = []
        self.outline = pg.PlotCurveItem(pen=pg.mkPen("#ffd54f", width=1.5, style=Qt.PenStyle.DashLine))
        self.outline.setZValue(1000)
        self.addItem(self.outline, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):
        mods = ev.modifiers()
        if ev.button() != Qt.MouseButton.LeftButton or not mods & Qt.KeyboardModifier.ShiftModifier:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        rect = bool(mods & Qt.KeyboardModifier.ControlModifier)
        p = self.mapSceneToView(ev.scenePos())
        if ev.isStart():
            self._trace = [self.mapSceneToView(ev.buttonDownScenePos())]
        if rect:
            a = self._trace[0]
            self._trace = [a, QPointF(p.x(), a.y()), p, QPointF(a.x(), p.y())]
        else:
            self._trace.append(p)
        pts = np.array([[q.x(), q.y()] for q in self._trace + self._trace[:1]])
        self.outline.setData(pts[:, 0], pts[:, 1])
        if ev.isFinish():
            self.outline.setData([], [])
            self.sigSelected.emit(pts[:-1], mods)
            self._trace = []


class MapSelection(QObject):
    """The map's selection, and pointing at its points: hover, click, Ctrl+click, lasso."""

    pointClicked = Signal(int)

    def __init__(self, state, editor_state, plot: pg.PlotWidget, points, hover, hover_label: QLabel, parent=None):
        super().__init__(parent)
        self.state, self.editor_state, self.plot, self.points = state, editor_state, plot, points
        self.hover, self.hover_label = hover, hover_label
        self.sel_item = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#ffd54f", width=2), brush=None)
        self.sel_item.setZValue(25)
        plot.addItem(self.sel_item)
        plot.getViewBox().sigSelected.connect(self._on_lasso)
        plot.scene().sigMouseMoved.connect(self._on_hover)
        plot.scene().sigMouseClicked.connect(self._on_density_click)
        self.sel_label = QLabel("")
        self.sel_label.setToolTip("Shift+drag: lasso; Ctrl+Shift+drag: rectangle; Ctrl+click: add or remove a "
                                  "point; Esc clears")
        self.btn_export = QPushButton("Export…")
        self.btn_export.setToolTip("Save the latents, labels and map coordinates of the selection (or of every "
                                   "point) as .npz or .csv")
        self.btn_export.clicked.connect(self._export_dialog)
        self.btn_ab = QPushButton("A ↔ B")
        self.btn_ab.setToolTip("Send the two selected points to the editor's interpolation as anchors A and B")
        self.btn_ab.clicked.connect(self.send_to_interpolation)
        state.selectionChanged.connect(self.draw)
        state.projectionChanged.connect(self.draw)  # the selected points, where this projection draws them

    @property
    def widgets(self) -> list:
        return [self.sel_label, self.btn_ab, self.btn_export]

    def _on_lasso(self, polygon, mods):
        if self.state.xy is None:
            return
        self.state.set_selection(np.flatnonzero(points_in_polygon(self.state.xy, polygon)))

    def toggle_selected(self, i: int) -> None:
        sel = set(self.state.selected.tolist())
        sel ^= {int(i)}
        self.state.set_selection(np.array(sorted(sel), np.int64))

    def draw(self):
        s = self.state
        n = len(s.selected)
        if s.xy is None or n == 0:
            self.sel_item.clear()
            n = 0
        else:
            self.sel_item.setData(pos=s.xy[s.selected])
        self.sel_label.setText(f"{n:,} selected" if n else "")
        self.btn_ab.setEnabled(n == 2)

    def send_to_interpolation(self) -> None:
        s = self.state
        if len(s.selected) != 2 or s.latents is None:
            s.message.emit("select exactly two points (Ctrl+click) to interpolate between them")
            return
        a, b = (int(i) for i in s.selected)
        self.editor_state.set_anchor("A", s.latents.z[a])
        self.editor_state.set_anchor("B", s.latents.z[b])
        s.message.emit(f"anchors A = point #{a}, B = point #{b}: see the editor's Interpolate panel")

    def export_points(self, path: str) -> None:
        from latent_explorer.models.io.exports import export_points

        s = self.state
        res = s.latents
        idx = s.selected if len(s.selected) else np.arange(len(res.z))
        export_points(path, res.z[idx], s.xy[idx], None if res.labels is None else res.labels[idx],
                      res.class_names, idx, s.projection.axis_labels(), s.projection.method)

    def _export_dialog(self):
        s = self.state
        if s.latents is None:
            return
        what = f"{len(s.selected):,} selected points" if len(s.selected) else "all points"
        dialogs.save_as(self.plot, f"Export {what}", "points.npz", "numpy (*.npz);;CSV (*.csv)",
                        self.export_points, s.message.emit)

    # -- pointing: click, hover, the nearest point -------------------------------------------------
    def _on_click(self, item, points, ev=None):
        if len(points) == 0 or self.state.latents is None:
            return
        if ev is not None and ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.toggle_selected(int(points[0].data()))  # Ctrl+click: the selection, not the editor
            return
        self.select(int(points[0].data()))

    def _on_density_click(self, ev):
        """A click on the density picture of a map of many points: the point under it, by the spatial index."""
        d = self.points.density
        if d is None or not d.image.isVisible() or ev.button() != Qt.MouseButton.LeftButton:
            return
        p = self.plot.getViewBox().mapSceneToView(ev.scenePos())
        i = self.nearest(p.x(), p.y())
        if i is not None:
            self._on_click(None, [_Hit(i)], ev)

    def select(self, i: int) -> None:
        """Make point ``i`` current: its z goes to the editor (and its class, when conditional)."""
        s = self.state
        s.set_clicked(i)
        if s.model is not None and s.model.conditional and s.latents.labels is not None:
            self.editor_state.set_label(int(s.latents.labels[i]))
        self.editor_state.set_z(s.latents.z[i])
        self.pointClicked.emit(i)
        self.show_hover(i)

    def nearest(self, x: float, y: float, max_px: float = 8.0) -> int | None:
        if self.state.xy is None:
            return None
        pixel = self.plot.getViewBox().viewPixelSize()
        if self.points.density is not None:  # a map of many points: its spatial index
            return self.points.density.nearest(x, y, pixel, max_px)
        return nearest_point(self.state.xy, x, y, pixel, max_px)

    def _on_hover(self, pos):
        if self.state.xy is None or self.state.mode == MODE_GRID:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        i = self.nearest(p.x(), p.y())
        if i is not None:
            self.show_hover(i)

    def show_hover(self, i):
        s = self.state
        res, model = s.latents, s.model
        if res.images is not None:
            self.hover.show_image(res.images[i])
        elif model.capabilities.decodes_z and not model.capabilities.slow_decode:  # opened latents
            k = int(res.labels[i]) if res.labels is not None else 0
            self.hover.show_image(decode_one(model, res.z[i], k if k < model.num_classes else 0))
        lab = ""
        if res.labels is not None:
            k = int(res.labels[i])
            lab = f"label {res.class_names[k] if k < len(res.class_names) else k}\n"
        self.hover_label.setText(f"#{i}\n{lab}({s.xy[i, 0]:.2f}, {s.xy[i, 1]:.2f})")
