"""Pointing at and selecting points on the Latent Map, and taking them elsewhere. Hover shows a point's image
(the nearest within a few pixels, by the spatial index on maps of many points); a click sends its z to the
editor. Shift+drag draws a lasso, Ctrl+Shift+drag a rectangle, Ctrl+click adds or removes one point; the
selection (or every point) is exported as .npz / .csv, and two selected points become the editor's
interpolation anchors A and B; latents saved so (or made elsewhere, millions of them) are opened back into
the map. A mixin of the LatentMap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QPushButton

from models.analysis.latent import decode_one
from models.analysis.projection import nearest_point, points_in_polygon

from . import dialogs

MODE_POINTS, MODE_GRID, MODE_BOTH = 0, 1, 2  # the map's View choice: points, decoded grid, both


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


class MapSelection:
    """The selection of the map (``self`` is the LatentMap)."""

    def _build_selection(self) -> list:
        self.selected = np.zeros(0, np.int64)
        self.sel_item = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#ffd54f", width=2), brush=None)
        self.sel_item.setZValue(25)
        self.plot.addItem(self.sel_item)
        self.plot.getViewBox().sigSelected.connect(self._on_lasso)
        self.sel_label = QLabel("")
        self.sel_label.setToolTip("Shift+drag: lasso; Ctrl+Shift+drag: rectangle; Ctrl+click: add or remove a "
                                  "point; Esc clears")
        self.btn_export = QPushButton("Export…")
        self.btn_export.setToolTip("Save the latents, labels and map coordinates of the selection (or of every "
                                   "point) as .npz or .csv")
        self.btn_export.clicked.connect(self._export_dialog)
        self.btn_points = QPushButton("Open latents…")
        self.btn_points.setToolTip("Show latents saved as .npz (as Export writes them: z, and optionally labels "
                                   "and class_names) — millions of points are drawn as a density picture")
        self.btn_points.clicked.connect(self._open_points_dialog)
        self.btn_ab = QPushButton("A ↔ B")
        self.btn_ab.setToolTip("Send the two selected points to the editor's interpolation as anchors A and B")
        self.btn_ab.clicked.connect(self.send_to_interpolation)
        return [self.sel_label, self.btn_ab, self.btn_export, self.btn_points]

    def _on_lasso(self, polygon, mods):
        if self.xy is None:
            return
        inside = np.flatnonzero(points_in_polygon(self.xy, polygon))
        self.set_selection(inside)

    def toggle_selected(self, i: int) -> None:
        sel = set(self.selected.tolist())
        sel ^= {int(i)}
        self.set_selection(np.array(sorted(sel), np.int64))

    def set_selection(self, idx) -> None:
        self.selected = np.asarray(idx, np.int64).reshape(-1)
        self._draw_selection()

    def _draw_selection(self):
        n = len(self.selected)
        if self.xy is None or n == 0:
            self.sel_item.clear()
            self.selected = np.zeros(0, np.int64)
        else:
            self.sel_item.setData(pos=self.xy[self.selected])
        self.sel_label.setText(f"{n:,} selected" if n else "")
        self.btn_ab.setEnabled(n == 2)

    def send_to_interpolation(self) -> None:
        if len(self.selected) != 2 or self.latents is None:
            self.message.emit("select exactly two points (Ctrl+click) to interpolate between them")
            return
        a, b = (int(i) for i in self.selected)
        self.state.set_anchor("A", self.latents.z[a])
        self.state.set_anchor("B", self.latents.z[b])
        self.message.emit(f"anchors A = point #{a}, B = point #{b}: see the editor's Interpolate panel")

    def export_points(self, path: str) -> None:
        from models.io.exports import export_points

        res = self.latents
        idx = self.selected if len(self.selected) else np.arange(len(res.z))
        export_points(path, res.z[idx], self.xy[idx], None if res.labels is None else res.labels[idx],
                      res.class_names, idx, self.projection.axis_labels(), self.projection.method)

    def open_points(self, path: str) -> None:
        """Show the latents of an .npz file (read in a worker) instead of the model's data."""
        from models.analysis.latent import LatentSet
        from models.io.exports import read_points

        model = self.model
        if model is None:
            return

        def job(should_stop):
            yield from ()
            z, labels, names = read_points(path, model.latent_dim)
            k = 0 if labels is None or not len(labels) else int(labels.max()) + 1
            names = names if len(names) >= k else names + [str(i) for i in range(len(names), k)]
            return LatentSet(z, labels, names, None, "file")

        self.btn_own.setVisible(False)
        self.source.setText(Path(path).name)
        self.data_spec, self.failed = None, None
        self.data_job.start(model, job, self._set_latents, f"Reading {Path(path).name}…", on_error=self._failed)

    def _open_points_dialog(self):
        path = dialogs.open_file(self, "exports", "Latents to show (.npz)", "numpy (*.npz)")
        if path:
            self.open_points(path)

    def _export_dialog(self):
        if self.latents is None:
            return
        what = f"{len(self.selected):,} selected points" if len(self.selected) else "all points"
        dialogs.save_as(self, f"Export {what}", "points.npz", "numpy (*.npz);;CSV (*.csv)", self.export_points,
                        self.message.emit)

    # -- pointing: click, hover, the nearest point -------------------------------------------------
    def _on_click(self, item, points, ev=None):
        if len(points) == 0 or self.latents is None:
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
        self.clicked = i
        if self.model is not None and self.model.conditional and self.latents.labels is not None:
            self.state.set_label(int(self.latents.labels[i]))
        self.state.set_z(self.latents.z[i])
        self.pointClicked.emit(i)
        self._show_hover(i)

    def nearest(self, x: float, y: float, max_px: float = 8.0) -> int | None:
        if self.xy is None:
            return None
        pixel = self.plot.getViewBox().viewPixelSize()
        if self.points.density is not None:  # a map of many points: its spatial index
            return self.points.density.nearest(x, y, pixel, max_px)
        return nearest_point(self.xy, x, y, pixel, max_px)

    def _on_hover(self, pos):
        if self.xy is None or self.mode.currentIndex() == MODE_GRID:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        i = self.nearest(p.x(), p.y())
        if i is not None:
            self._show_hover(i)

    def _show_hover(self, i):
        res = self.latents
        if res.images is not None:
            self.hover.show_image(res.images[i])
        elif self.model.capabilities.decodes_z and not self.model.capabilities.slow_decode:  # opened latents
            k = int(res.labels[i]) if res.labels is not None else 0
            self.hover.show_image(decode_one(self.model, res.z[i], k if k < self.model.num_classes else 0))
        lab = ""
        if res.labels is not None:
            k = int(res.labels[i])
            lab = f"label {res.class_names[k] if k < len(res.class_names) else k}\n"
        self.hover_label.setText(f"#{i}\n{lab}({self.xy[i, 0]:.2f}, {self.xy[i, 1]:.2f})")
