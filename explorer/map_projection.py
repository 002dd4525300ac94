"""The Latent Map's projections: choosing one and its axes, and the non-linear maps fitted by libraries
(t-SNE by openTSNE, UMAP by umap-learn; :mod:`models.analysis.embedding`), on which new latents (the current z, an
interpolation path) are placed by a job. A part of :class:`explorer.latent_map.LatentMap`, handed the map's
:class:`explorer.map_state.MapState` and the job its long work runs in."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QSignalBlocker
from PySide6.QtWidgets import QComboBox, QPushButton, QSpinBox

from latent_explorer.models.analysis.projection import METHODS, Projection, methods_for

from .jobs import ModelJob
from .procjob import embedding_job


class MapProjections(QObject):
    """The projection choice, its axes, and the t-SNE / UMAP buttons of the map. ``data_job`` runs the fits
    (the map's job for its data: one cancel, one progress line); new latents are placed by jobs of its own."""

    def __init__(self, state, data_job, parent=None):
        super().__init__(parent)
        self.state, self.data_job = state, data_job
        self.proj = QComboBox()
        self.proj.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.proj.setMinimumContentsLength(12)
        self.proj.setToolTip("How latents with more than 2 dimensions are drawn in 2-D")
        self.proj.currentIndexChanged.connect(self._on_projection)
        self.ax_a, self.ax_b = QSpinBox(), QSpinBox()
        for sb, tip in ((self.ax_a, "horizontal axis"), (self.ax_b, "vertical axis")):
            sb.setToolTip(f"Component or dimension on the {tip}")
            sb.valueChanged.connect(self._on_axes)
        self.btn_tsne = QPushButton("t-SNE")
        self.btn_tsne.setToolTip("Compute a t-SNE map of all points with openTSNE (cancellable, with progress); "
                                 "new latents are then placed on it")
        self.btn_tsne.clicked.connect(self.run_tsne)
        self.btn_umap = QPushButton("UMAP")
        self.btn_umap.setToolTip("Compute a UMAP of all points with umap-learn, in a separate process "
                                 "(Cancel stops it at once); new latents are then placed on it")
        self.btn_umap.clicked.connect(self.run_umap)
        self.place_jobs = {what: ModelJob(state, f"map-place-{what}") for what in ("marker", "path")}
        state.projectionChanged.connect(self._fill_methods)  # a fitted map joins the choices
        state.projectionChanged.connect(self._sync_axis_boxes)

    @property
    def jobs(self) -> list[ModelJob]:
        return list(self.place_jobs.values())

    # -- projection ------------------------------------------------------------------------------
    def _fill_methods(self):
        s = self.state
        if s.latents is None:
            return
        with QSignalBlocker(self.proj):
            self.proj.clear()
            for m in methods_for(s.dim, s.projection.maps):
                self.proj.addItem(METHODS[m], m)
            self.proj.setCurrentIndex(max(0, self.proj.findData(s.projection.method)))

    def _on_projection(self, *_):
        s = self.state
        if s.latents is None:
            return
        p = s.projection
        proj = Projection(self.proj.currentData(), p.axes, p.pca, p.maps)
        s.set_projection(proj.with_axes(*p.axes, s.dim) if proj.has_axes else proj)

    def _on_axes(self, *_):
        s = self.state
        if s.latents is None or not s.projection.has_axes:
            return
        off = 1 if s.projection.method == "pca" else 0
        a, b = self.ax_a.value() - off, self.ax_b.value() - off
        old = s.projection.axes
        if a == b:  # the box the user moved wins; the other moves out of its way
            a, b = (a, old[0]) if old[0] != a else (old[1], b)
        s.set_projection(s.projection.with_axes(a, b, s.dim))

    def _sync_axis_boxes(self):
        """The axis boxes count as the axes are named: PC1, PC2… for PCA (from 1), z0, z1… for dimensions."""
        p = self.state.projection
        if self.state.latents is None:
            return
        n = p.axis_count(self.state.dim)
        off = 1 if p.method == "pca" else 0
        for sb, v in ((self.ax_a, p.axes[0]), (self.ax_b, p.axes[1])):
            with QSignalBlocker(sb):
                sb.setPrefix("PC" if p.method == "pca" else "z")
                sb.setRange(off, off + max(1, n - 1))
                sb.setValue(v + off)
            sb.setEnabled(p.has_axes)

    # -- non-linear maps -------------------------------------------------------------------------
    def run_tsne(self):
        self.run_embedding("tsne")

    def run_umap(self):
        self.run_embedding("umap")

    def run_embedding(self, method: str):
        """Fit a t-SNE or UMAP map of all the points, in a worker (UMAP: in a child process)."""
        s = self.state
        if s.latents is None:
            return
        z = s.latents.z
        job = embedding_job(method, z)

        def done(emb):
            if emb is None:
                return
            p = s.projection
            s.set_projection(Projection(method, p.axes, p.pca, {**p.maps, method: emb}))

        self.data_job.start(s.model, job, done, f"{METHODS[method]} of {len(z):,} points…",
                            on_error=s.message.emit)

    def place(self, what: str, z: np.ndarray, draw) -> None:
        """Place latents (M, D) on the current non-linear map in a worker, then ``draw(xy)``; ``what`` is
        "marker" or "path": a newer call for the same replaces an older one still running."""
        s = self.state
        emb = s.projection.maps.get(s.projection.method)
        if emb is None:
            return
        z = np.array(z, np.float32, ndmin=2)
        method = s.projection.method

        def job(should_stop):
            yield from ()
            return emb.place(z)

        def done(xy):
            if s.projection.method == method:  # still the map it was placed on
                draw(xy)

        self.place_jobs[what].start(s.model, job, done, on_error=s.message.emit)
