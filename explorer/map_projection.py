"""The Latent Map's projections: choosing one and its axes, and the non-linear maps fitted by libraries
(t-SNE by openTSNE, UMAP by umap-learn; :mod:`models.analysis.embedding`), on which new latents (the current z, an
interpolation path) are placed by a job. A mixin of :class:`explorer.latent_map.LatentMap`."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QPushButton

from models.analysis.projection import METHODS, Projection, methods_for

from .jobs import ModelJob
from .procjob import in_process


def embedding_job(method: str, z: np.ndarray):
    """A job fitting a t-SNE or UMAP map of ``z`` in a child process; it returns a models.analysis.embedding.Embedding
    (packed: its library is imported here only when it first places a latent) or None.

    A process, not a worker thread (issue T): openTSNE's import (scikit-learn, SciPy) and its nearest-neighbour
    search (Annoy, queried item by item from joblib threads) are Python that holds the interpreter lock beside
    the window's thread; and neither that search nor UMAP's fit checks for a stop, so a cancel waited for
    them (the window froze 6.5-20 s when a model switch cancelled a t-SNE). A child that does not heed a stop
    is ended 1 s after it."""
    target = {"tsne": "models.analysis.embedding:tsne_job", "umap": "models.analysis.embedding:umap_job"}[method]
    return in_process(target, z, grace_s=1.0)


class MapProjections:
    """What the map does with projections (``self`` is the LatentMap)."""

    def _build_projection_buttons(self) -> list[QPushButton]:
        self.btn_tsne = QPushButton("t-SNE")
        self.btn_tsne.setToolTip("Compute a t-SNE map of all points with openTSNE (cancellable, with progress); "
                                 "new latents are then placed on it")
        self.btn_tsne.clicked.connect(self.run_tsne)
        self.btn_umap = QPushButton("UMAP")
        self.btn_umap.setToolTip("Compute a UMAP of all points with umap-learn, in a separate process "
                                 "(Cancel stops it at once); new latents are then placed on it")
        self.btn_umap.clicked.connect(self.run_umap)
        self.place_jobs = {what: ModelJob(self, f"map-place-{what}") for what in ("marker", "path")}
        return [self.btn_tsne, self.btn_umap]

    # -- projection ------------------------------------------------------------------------------
    def _fill_methods(self):
        d = self.latents.z.shape[1]
        with QSignalBlocker(self.proj):
            self.proj.clear()
            for m in methods_for(d, self.projection.maps):
                self.proj.addItem(METHODS[m], m)
            self.proj.setCurrentIndex(max(0, self.proj.findData(self.projection.method)))

    def _on_projection(self, *_):
        if self.latents is None:
            return
        p = self.projection
        proj = Projection(self.proj.currentData(), p.axes, p.pca, p.maps)
        self.projection = proj.with_axes(*p.axes, self.latents.z.shape[1]) if proj.has_axes else proj
        self._apply_projection()

    def _on_axes(self, *_):
        if self.latents is None or not self.projection.has_axes:
            return
        off = 1 if self.projection.method == "pca" else 0
        a, b = self.ax_a.value() - off, self.ax_b.value() - off
        old = self.projection.axes
        if a == b:  # the box the user moved wins; the other moves out of its way
            a, b = (a, old[0]) if old[0] != a else (old[1], b)
        self.projection = self.projection.with_axes(a, b, self.latents.z.shape[1])
        self._apply_projection()

    def _sync_axis_boxes(self):
        """The axis boxes count as the axes are named: PC1, PC2… for PCA (from 1), z0, z1… for dimensions."""
        p = self.projection
        n = p.axis_count(self.latents.z.shape[1])
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
        if self.latents is None:
            return
        z = self.latents.z
        job = embedding_job(method, z)

        def done(emb):
            if emb is None:
                return
            p = self.projection
            self.projection = Projection(method, p.axes, p.pca, {**p.maps, method: emb})
            self._fill_methods()
            self._apply_projection()
            self.ready.emit()

        self.data_job.start(self.model, job, done, f"{METHODS[method]} of {len(z):,} points…",
                            on_error=self.message.emit)

    def place(self, what: str, z: np.ndarray, draw) -> None:
        """Place latents (M, D) on the current non-linear map in a worker, then ``draw(xy)``; ``what`` is
        "marker" or "path": a newer call for the same replaces an older one still running."""
        emb = self.projection.maps.get(self.projection.method)
        if emb is None:
            return
        z = np.array(z, np.float32, ndmin=2)
        method = self.projection.method

        def job(should_stop):
            yield from ()
            return emb.place(z)

        def done(xy):
            if self.projection.method == method:  # still the map it was placed on
                draw(xy)

        self.place_jobs[what].start(self.model, job, done, on_error=self.message.emit)
