"""The Text-to-Image view's latent map: the autoencoder's latents of the model's data on a PCA plane, or on a
t-SNE or UMAP map fitted on demand (:mod:`models.analysis.embedding`, in a worker with progress and cancel), coloured
by a chosen factor; the chosen sample's z_t from noise to image drawn over them (placed by the PCA's
projection or the fitted map's ``transform``), its current step marked."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .jobs import ModelJob
from .map_points import ClassPoints, RowLegend
from .procjob import embedding_job
from .widgets import ProgressLine, room_for_top_tick, set_axis_label

MAPS = {"pca": ("PCA", "PC1 of the autoencoder's latents", "PC2"), "tsne": ("t-SNE", "t-SNE 1", "t-SNE 2"),
        "umap": ("UMAP", "UMAP 1", "UMAP 2")}


class AtlasPlot(QWidget):
    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = None  # the view's model: a job started for another model delivers nothing
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.method = QComboBox()
        for key, (title, _, _) in MAPS.items():
            self.method.addItem(title, key)
        self.method.setToolTip("How the latents are laid out: PCA at once; t-SNE or UMAP fitted on first use "
                               "(some seconds), the trajectory placed by the fitted map's transform")
        self.method.currentIndexChanged.connect(self._on_method)
        self.factor = QComboBox()
        self.factor.setToolTip("Colour the data points by this factor of the images")
        self.factor.currentIndexChanged.connect(self._draw_points)
        for w in (QLabel("map"), self.method, QLabel("colour by")):
            row.addWidget(w)
        row.addWidget(self.factor, 1)
        self.btn_load = QPushButton("Load its data")
        self.btn_load.hide()
        row.addWidget(self.btn_load)
        lay.addLayout(row)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        lay.addWidget(self.progress)
        self.plot = room_for_top_tick(pg.PlotWidget(background="#202124"))
        legend = RowLegend()  # above the plot: inside, it would hide a third of a panel this small
        lay.addWidget(legend)
        lay.addWidget(self.plot, 1)
        self.points = ClassPoints(self.plot, lambda *_: None, legend)
        self.path = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=2), symbol="o", symbolSize=4,
                                    symbolBrush="#ffffff", symbolPen=None)
        self.marker = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#000000", width=1.5), brush="#ff5050")
        for item in (self.path, self.marker):
            item.setZValue(500)
            self.plot.addItem(item)
        self.fit_job = ModelJob(self, "atlas-fit", self.progress)
        self.place_job = ModelJob(self, "atlas-place")
        self.atlas = None
        self.xy = None
        self._path_of = None  # (trajectory, sample, step) last asked for
        self._labels()

    @property
    def current(self) -> str:
        return self.method.currentData() or "pca"

    def _labels(self):
        _, bottom, left = MAPS[self.current]
        set_axis_label(self.plot, "bottom", bottom)
        set_axis_label(self.plot, "left", left)

    def set_model(self, model) -> None:
        self.model = model
        self.cancel()
        self.set_atlas(None)
        self.clear_path()

    def cancel(self) -> None:
        self.fit_job.cancel()
        self.place_job.cancel()

    def set_atlas(self, atlas) -> None:
        self.atlas = atlas
        with QSignalBlocker(self.method):
            self.method.setCurrentIndex(0)
        self._labels()
        with QSignalBlocker(self.factor):
            self.factor.clear()
            if atlas is not None:
                self.factor.addItems(list(atlas.factors))
        self._draw_points()

    # -- the map ---------------------------------------------------------------------------------
    def _on_method(self, *_):
        a, method = self.atlas, self.current
        self.place_job.cancel()
        if a is None or method == "pca" or method in a.maps:
            self._show_map()
            return
        if a.z is None:
            self.message.emit("this latent map keeps no latents to fit a t-SNE or UMAP map on")
            return
        z = a.z
        job = embedding_job(method, z)

        def done(emb):
            if emb is not None and self.atlas is a:
                a.maps[method] = emb
                if self.current == method:
                    self._show_map()

        def back_to_pca(*_):
            with QSignalBlocker(self.method):
                self.method.setCurrentIndex(0)
            self._show_map()

        self.fit_job.start(self.model, job, done, f"{MAPS[method][0]} of {len(z):,} latents…",
                           on_error=lambda e: (self.message.emit(f"latent map: {e}"), back_to_pca()),
                           on_cancel=back_to_pca)

    def _show_map(self):
        self._labels()
        self._draw_points()
        if self._path_of is not None:
            self.set_path(*self._path_of, fit=True)

    def _draw_points(self, *_):
        self.points.clear()
        a = self.atlas
        if a is None:
            return
        name = self.factor.currentText()
        self.points.draw_mixed(a.points(self.current), a.factors.get(name), a.classes.get(name, []))
        for s in self.points.items:  # the data behind the path, not over it
            s.setOpacity(0.55)

    # -- the trajectory --------------------------------------------------------------------------
    def set_path(self, traj, sample: int, k: int, fit: bool = False) -> None:
        a, method = self.atlas, self.current
        if a is None or traj is None:
            self.clear_path()
            return
        self._path_of = (traj, sample, k)
        z = traj.z[:, sample]
        if method == "pca":
            self._draw_path(a.place(z), k, fit)
            return

        self.xy = None  # the old map's path is gone until this one's is placed
        for item in (self.path, self.marker):
            item.setData([], [])

        def job(should_stop):
            yield from ()
            return a.place(z, method)

        self.place_job.start(self.model, job, lambda xy: self.current == method and self._draw_path(xy, k, fit),
                             on_error=lambda e: self.message.emit(f"latent map: {e}"))

    def _draw_path(self, xy, k: int, fit: bool) -> None:
        self.xy = xy
        ok = np.isfinite(xy).all(1) & (np.abs(xy) < 1e6).all(1)  # a diverged sample leaves the map
        self.path.setData(xy[ok, 0], xy[ok, 1])
        self.set_frame(k)
        if fit:
            both = np.concatenate([self.atlas.points(self.current), xy[ok]]).astype(np.float64)
            lo, hi = np.percentile(both, 0.5, 0).tolist(), np.percentile(both, 99.5, 0).tolist()
            self.plot.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]), padding=0.05)

    def set_frame(self, k: int) -> None:
        if self._path_of is not None:
            self._path_of = (*self._path_of[:2], k)
        if self.xy is not None and 0 <= k < len(self.xy) and np.isfinite(self.xy[k]).all():
            self.marker.setData([float(self.xy[k, 0])], [float(self.xy[k, 1])])

    def clear_path(self) -> None:
        self.xy = None
        self._path_of = None
        for item in (self.path, self.marker):
            item.setData([], [])

    def is_ready(self) -> bool:
        return not (self.fit_job.busy or self.place_job.busy)
