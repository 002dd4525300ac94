"""Latent Map: the dataset encoded (or latents sampled) and coloured by label, PCA / dimensions / t-SNE / UMAP
projections, hover to see an image, click to edit its z, and a decoded-image grid over a plane.

What the map shows is one state object, :class:`explorer.map_state.MapState`; the view is composed of parts that are
handed it (and the plot) explicitly and listen to its signals: :class:`MapProjections` (the projection and its axes,
t-SNE, UMAP), :class:`MapSelection` (hover, click, lasso, export, A ↔ B), :class:`MapColouring` (label or score) and
:class:`MapMovie` (a run's encodings epoch by epoch). This module draws the points, the marker, the path and the
decoded grid, and loads the data; the projection maths is :class:`models.analysis.projection.Projection`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSignalBlocker, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout

from latent_explorer.models.analysis.projection import auto_extent
from latent_explorer.models.data import is_builtin

from . import dialogs
from .jobs import ModelJob
from .map_colour import MapColouring
from .map_movie import MapMovie
from .map_points import ClassPoints
from .map_projection import MapProjections
from .map_selection import MapSelection, SelectViewBox
from .map_state import MODE_BOTH, MODE_GRID, MODE_POINTS, MapState
from .model_view import ModelView
from .state import LatentState
from .widgets import ImagePanel, ProgressLine

HOVER_HINT = "Hover a point to see it;\nclick it to edit its z."


_NOTHING = object()  # no load waiting for the map to be shown


class LatentMap(ModelView):
    message = Signal(str)
    ready = Signal()  # points (or the grid) are drawn
    pointClicked = Signal(int)

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state  # the editor's: z, label, the interpolation path and anchors
        self.shown = MapState(self)  # what the map shows
        self.shown.message.connect(self.message)
        self.data_spec: str | None = None
        self.failed: str | None = None  # why the data could not be shown (the view is settled, not loading)
        self._deferred = _NOTHING  # the data spec to load once the map is shown
        self._build()
        self.shown.latentsChanged.connect(self._on_latents)
        self.shown.projectionChanged.connect(self._apply_projection)
        self.shown.modeChanged.connect(self._on_mode)
        self.shown.sourceChanged.connect(self.source.setText)
        self.colouring.changed.connect(self._draw_points)
        self.movie.toggled.connect(self._on_movie)
        state.modelChanged.connect(self._on_model)
        state.zChanged.connect(self._on_z)
        state.pathChanged.connect(self._draw_path)

    # what the parts hold, as the window and tests read it
    model = property(lambda self: self.shown.model)
    latents = property(lambda self: self.shown.latents)
    xy = property(lambda self: self.shown.xy)
    projection = property(lambda self: self.shown.projection)
    selected = property(lambda self: self.shown.selected)
    clicked = property(lambda self: self.shown.clicked)
    scores = property(lambda self: self.colouring.scores)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QVBoxLayout(self)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self._user_cancel)
        self.data_job = ModelJob(self.shown, "map", self.progress)
        self.data_job.finished.append(self._job_ended)
        self.grid_job = ModelJob(self.shown, "map-grid", self.progress)
        self.grid_job.finished.append(self._job_ended)
        self.projections = MapProjections(self.shown, self.data_job, self)
        self.colouring = MapColouring(self.shown, self.progress, self)
        self.colouring.score_job.finished.append(self._job_ended)
        self.movie = MapMovie(self.shown, self)
        # the parts' controls and actions, under the names the window (and a user's script) reach them by
        p, m = self.projections, self.movie
        self.proj, self.ax_a, self.ax_b, self.btn_tsne, self.btn_umap = p.proj, p.ax_a, p.ax_b, p.btn_tsne, p.btn_umap
        self.run_tsne, self.run_umap, self.place = p.run_tsne, p.run_umap, p.place
        self.colour = self.colouring.colour
        self.btn_movie, self.movie_slider, self.movie_label = m.btn_movie, m.movie_slider, m.movie_label
        self.movie_job, self.show_movie = m.movie_job, m.show_movie

        bar = QHBoxLayout()
        self.source = QLabel("—")
        self.source.setToolTip("The data shown: the model's own dataset (from its checkpoint) or sampled latents")
        self.btn_data = QPushButton("Other data…")
        self.btn_data.setToolTip("Encode another dataset: a folder of images, IDX files or an .npz")
        self.btn_data.clicked.connect(self._pick_data)
        self.btn_own, self.pending_spec = QPushButton("Load its data"), None
        self.btn_own.clicked.connect(lambda: self.load(self.pending_spec))
        self.btn_own.hide()
        for w in (QLabel("Data:"), self.source, self.btn_own, self.btn_data, QLabel("Projection:"), self.proj,
                  QLabel("axes"), self.ax_a, self.ax_b, self.btn_tsne, self.btn_umap, self.btn_movie):
            bar.addWidget(w)
        bar.addStretch(1)
        root.addLayout(bar)

        bar2 = QHBoxLayout()
        self.mode = QComboBox()
        self.mode.addItems(["Points", "Decoded grid", "Grid + points"])
        self.mode.setToolTip("Draw the points, or images decoded over a grid of the 2-D plane")
        self.mode.currentIndexChanged.connect(self.shown.set_mode)
        self.grid_n = QSpinBox()
        self.grid_n.setRange(2, 40)
        self.grid_n.setValue(15)
        self.grid_n.setToolTip("Images per side of the decoded grid")
        self.grid_n.valueChanged.connect(self._refresh_grid)
        self.extent = QDoubleSpinBox()
        self.extent.setRange(0.1, 100)
        self.extent.setValue(3.0)
        self.extent.setSingleStep(0.5)
        self.extent.setToolTip("The grid spans ± this much along each axis, around its centre")
        self.extent.valueChanged.connect(self._refresh_grid)
        self.n_label = QLabel()
        for w in (QLabel("View:"), self.mode, QLabel("grid"), self.grid_n, QLabel("range ±"), self.extent,
                  *self.colouring.widgets):
            bar2.addWidget(w)
        bar2.addStretch(1)
        bar2.addWidget(self.n_label)
        root.addLayout(bar2)
        root.addWidget(self.movie.row)
        root.addWidget(self.progress)

        body = QHBoxLayout()
        self.plot = pg.PlotWidget(background="#202124", viewBox=SelectViewBox())
        for axis in ("left", "bottom"):  # "z0 (x0.001)" with ticks 360…500 reads as nonsense when zoomed in
            self.plot.getAxis(axis).enableAutoSIPrefix(False)
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setAspectLocked(False)
        self.points = ClassPoints(self.plot, lambda *a: self.selection._on_click(*a))
        self.legend = self.points.legend
        self.grid_item = pg.ImageItem(levels=(0.0, 1.0))
        self.grid_item.setZValue(-10)
        self.plot.addItem(self.grid_item)
        self.path_item = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=2), symbol="o", symbolSize=5,
                                         symbolBrush="#ffffff")
        self.path_item.setZValue(20)
        self.plot.addItem(self.path_item)
        self.marker = pg.ScatterPlotItem(size=18, symbol="star", pen=pg.mkPen("k", width=1.5),
                                         brush=pg.mkBrush("#ff3030"))
        self.marker.setZValue(30)
        self.plot.addItem(self.marker)
        self.hover = ImagePanel()
        self.hover.setFixedSize(170, 170)
        self.hover_label = QLabel(HOVER_HINT)
        self.hover_label.setWordWrap(True)
        self.selection = MapSelection(self.shown, self.state, self.plot, self.points, self.hover,
                                      self.hover_label, self)
        self.selection.pointClicked.connect(self.pointClicked)
        sel = self.selection
        self.select, self.nearest, self.set_selection = sel.select, sel.nearest, self.shown.set_selection
        self.export_points, self.send_to_interpolation = sel.export_points, sel.send_to_interpolation
        self.btn_ab, self.btn_export, self.sel_label, self.sel_item = sel.btn_ab, sel.btn_export, sel.sel_label, \
            sel.sel_item
        self.btn_points = QPushButton("Open latents…")
        self.btn_points.setToolTip("Show latents saved as .npz (as Export writes them: z, and optionally labels "
                                   "and class_names) — millions of points are drawn as a density picture")
        self.btn_points.clicked.connect(self._open_points_dialog)
        for w in (*self.selection.widgets, self.btn_points):
            bar2.addWidget(w)
        body.addWidget(self.plot, 1)
        side = QVBoxLayout()
        side.addWidget(self.hover)
        side.addWidget(self.hover_label)
        side.addStretch(1)
        body.addLayout(side)
        root.addLayout(body, 1)
        self._set_enabled(False)

    def _set_enabled(self, on):
        for w in (self.btn_data, self.proj, self.ax_a, self.ax_b, self.btn_tsne, self.btn_umap, self.mode,
                  self.grid_n, self.extent, self.selection.btn_export, self.btn_movie):
            w.setEnabled(on)
        self.selection.btn_ab.setEnabled(on and len(self.selected) == 2)
        self.btn_points.setEnabled(self.model is not None)  # another set of latents can be opened any time

    def _on_movie(self, on: bool) -> None:
        """While the movie shows, no other data or map is loaded."""
        for w in (self.btn_tsne, self.btn_umap, self.btn_data, self.btn_points):
            w.setEnabled(not on and self.model is not None)

    # -- model and data --------------------------------------------------------------------------
    def _on_model(self, model):
        self._deferred = _NOTHING
        caps = model.capabilities if model is not None else None
        self.cancel()
        self.pending_spec = None
        self.btn_own.setVisible(False)
        self.n_label.setText("")  # the last model's count is no count of this one's (none: no latent space)
        self.shown.set_model(model if caps is not None and caps.maps else None)
        self._clear_points()
        self.grid_item.setVisible(False)
        self.hover.clear_image()
        self.hover_label.setText(HOVER_HINT)
        self._set_enabled(False)
        if model is None:
            self.shown.set_source("—")
        elif self.model is None:
            self.shown.set_source(f"{model.spec.title}: no latent space to map")
        else:
            spec = model.meta.get("data", {}).get("spec") if caps.encoder else None
            if spec and not is_builtin(spec):  # a path a file names is read only on the user's say
                self._ask_to_load(spec)
            else:
                self.load(spec)

    def _ask_to_load(self, spec: str) -> None:
        self.pending_spec = spec
        self.shown.set_source(f"trained on {Path(spec).name or spec}")
        self.btn_own.setToolTip(f"Encode the data this model names: {spec}")
        self.btn_own.setVisible(True)
        self.btn_data.setEnabled(True)
        self.hover_label.setText(f"This model was trained on {spec}. A checkpoint does not decide what is read: "
                                 "press 'Load its data' to encode it, or choose Other data…")

    def _pick_data(self):
        path = dialogs.open_folder(self, "data", "Dataset folder (images or IDX files)")
        if path:
            self.load(path)

    def load(self, spec: str | None) -> None:
        """Encode the dataset ``spec`` (models with an encoder) or sample latents, in a worker."""
        from latent_explorer.models.analysis.latent import encode_dataset, sample_latents
        from latent_explorer.models.data import load_dataset

        model = self.model
        if model is None:
            return
        if not self.isVisible():  # a hidden map encodes when it is shown: a model switch costs nothing here
            self._deferred = spec
            return
        self._deferred = _NOTHING
        self.data_spec, self.failed = spec, None
        self.btn_own.setVisible(False)
        encode = bool(spec) and model.capabilities.encoder
        n_sampled = model.spec.map_samples

        def job(should_stop):
            if not encode:  # unlabelled samples: coloured by the data's bundled classifier where there is one
                return (yield from sample_latents(model, n_sampled, seed=0, classifier="bundled"))
            return (yield from encode_dataset(model, load_dataset(spec).conform(*model.image_shape[:2])))

        self.shown.set_source(spec if encode else f"{n_sampled} sampled z")
        self.data_job.start(model, job, self._show_latents, f"Encoding {spec}…" if encode else
                            f"Sampling {n_sampled} latents…", on_error=self._failed)

    def _show_latents(self, latents) -> None:
        if latents.source.startswith("sampled, labelled"):  # the colours are the yardstick classifier's reading
            self.shown.set_source(f"{len(latents.z)} samples, coloured by the classifier's label of each")
        self.shown.set_latents(latents)

    def open_points(self, path: str) -> None:
        """Show the latents of an .npz file (read in a worker) instead of the model's data."""
        from latent_explorer.models.analysis.latent import LatentSet
        from latent_explorer.models.io.exports import read_points

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
        self.shown.set_source(Path(path).name)
        self.data_spec, self.failed = None, None
        self.data_job.start(model, job, self.shown.set_latents, f"Reading {Path(path).name}…",
                            on_error=self._failed)

    def _open_points_dialog(self):
        path = dialogs.open_file(self, "exports", "Latents to show (.npz)", "numpy (*.npz)")
        if path:
            self.open_points(path)

    def _failed(self, msg):
        self.failed = msg
        self.message.emit(msg)
        self.shown.set_source(f"(no data: {msg[:60]})")
        self.btn_data.setEnabled(self.model is not None and self.model.capabilities.encoder)

    def _user_cancel(self):
        self.cancel()
        self.message.emit("cancelled")

    def _jobs(self) -> list[ModelJob]:
        return [self.data_job, self.grid_job, self.colouring.score_job, *self.projections.jobs]

    def cancel(self):
        for job in self._jobs():
            job.cancel()

    def busy(self) -> bool:
        return any(j.busy for j in self._jobs())

    def _job_ended(self):
        if not self.busy():
            self.progress.finish()

    def _on_latents(self):
        """New points (a projectionChanged follows, which draws them)."""
        self._set_enabled(True)
        self.btn_data.setEnabled(self.model.capabilities.encoder)
        if self.movie.on:
            self._on_movie(True)
        self.n_label.setText(f"{len(self.latents.z):,} points")

    def _apply_projection(self):
        p = self.projection
        self._clear_points()  # the marker and the path, too: drawn again where this projection puts them
        grid_ok = p.linear and self.model.capabilities.decodes_z
        for i in (MODE_GRID, MODE_BOTH):
            self.mode.model().item(i).setEnabled(grid_ok)
        if not grid_ok:
            self.shown.set_mode(MODE_POINTS)
        self._update_grid_controls()
        if p.linear:
            with QSignalBlocker(self.extent):
                self.extent.setValue(auto_extent(self.xy))
        self._draw_points()
        self._on_z()
        self._draw_path()
        self._refresh_grid()
        self.ready.emit()

    def _update_grid_controls(self):
        on = self.shown.mode != MODE_POINTS and self.projection.linear
        self.grid_n.setEnabled(on)
        self.extent.setEnabled(on)
        tip = "" if self.projection.linear else " (a non-linear map has no plane of latents to decode over)"
        self.grid_n.setToolTip("Images per side of the decoded grid" + tip)
        self.extent.setToolTip("The grid spans ± this much along each axis, around its centre" + tip)

    # -- drawing ---------------------------------------------------------------------------------
    def _clear_points(self):
        self.points.clear()
        self.marker.clear()
        self.path_item.clear()

    def _draw_points(self):
        self.points.clear()
        res = self.latents
        if res is None or self.xy is None:
            return
        labels, names, palette = self.colouring.colouring()  # by label, or by a score in bins
        self.points.draw(self.xy, labels, names, self.shown.mode != MODE_GRID, palette)
        x, y = self.projection.axis_labels()
        self.plot.setLabel("bottom", x)
        self.plot.setLabel("left", y)
        vb = self.plot.getViewBox()
        if self.movie.range is not None:  # every epoch of the movie on the same axes
            vb.setRange(xRange=self.movie.range[0], yRange=self.movie.range[1], padding=0)
        else:
            vb.autoRange(padding=0.05)
        if self.points.density is not None and self.shown.mode != MODE_GRID:
            # once the layout this draw changed (axis labels, legend) has settled: rendered at once, the picture
            # was of the old size and drawn again a moment later (twice the work of a first draw)
            layer = self.points.density
            QTimer.singleShot(0, lambda: layer.render() if layer is self.points.density else None)

    def _on_z(self):
        res = self.latents
        if res is None or self.xy is None or self.model is None or len(self.state.z) != res.z.shape[1]:
            return
        pos = self.projection.project(self.state.z)
        if pos is None:  # t-SNE, UMAP: the clicked point if z is still its latent, else placed by a job
            i = self.clicked
            ok = i is not None and np.array_equal(self.latents.z[i], self.state.z)
            pos = self.xy[i : i + 1] if ok else None
            if pos is None:
                self.place("marker", self.state.z, lambda xy: self.marker.setData(pos=xy))
        if pos is None:
            self.marker.clear()
        else:
            self.marker.setData(pos=pos)
        if self.shown.mode != MODE_POINTS and self.projection.method != "latent":
            self._refresh_grid()  # the plane goes through the current z

    def _draw_path(self):
        path = self.state.path
        if path is None or self.latents is None or self.model is None or len(path[0]) != self.latents.z.shape[1]:
            self.path_item.clear()
            return
        xy = self.projection.project(path)
        if xy is None:
            self.path_item.clear()
            self.place("path", path, lambda xy: self.path_item.setData(xy[:, 0], xy[:, 1]))
        else:
            self.path_item.setData(xy[:, 0], xy[:, 1])

    # -- decoded grid ----------------------------------------------------------------------------
    def _on_mode(self, i):
        with QSignalBlocker(self.mode):
            self.mode.setCurrentIndex(i)
        self.points.set_visible(i != MODE_GRID)
        if i == MODE_POINTS:
            self.grid_item.setVisible(False)
        self._update_grid_controls()
        self._refresh_grid()

    def _refresh_grid(self, *_):
        from latent_explorer.models.analysis.projection import decode_plane

        if self.latents is None or self.shown.mode == MODE_POINTS or not self.projection.linear:
            return
        n, e, model, proj, z, label = self.grid_n.value(), self.extent.value(), self.model, self.projection, \
            self.state.z, self.state.label

        def done(res):
            pic, rect = res
            self.grid_item.setImage(np.ascontiguousarray(pic[::-1]), autoLevels=False, levels=(0.0, 1.0))
            self.grid_item.setVisible(True)
            self.grid_item.setRect(QRectF(*rect))
            self.ready.emit()

        self.grid_job.start(model, lambda stop: decode_plane(model, proj, z, label, n, e), done,
                            f"Decoding a {n}×{n} grid…", on_error=self.message.emit)

    def is_ready(self) -> bool:
        """Settled: points drawn, nothing to draw, data failed (with a message), waiting for the user's say, or
        hidden with its data to load when shown."""
        layer = self.points.density  # a million points: settled once their first picture is drawn
        drawn = layer is None or not layer.visible or layer.drawn
        return (self.model is None or self.latents is not None or self.failed is not None
                or self.btn_own.isVisibleTo(self) or self._deferred is not _NOTHING) and not self.busy() and drawn

    def showEvent(self, ev):  # noqa: N802 - Qt's name
        super().showEvent(ev)
        if self._deferred is not _NOTHING and self.model is not None:
            self.load(self._deferred)

    def shutdown(self):
        self.cancel()
        if self.points.density is not None:
            self.points.density.remove()  # its settle timer, too
            self.points.density = None
