"""The Latent Map's training movie: the fixed held-out subset a run encoded after every epoch
(:mod:`models.training.run_record`), scrubbed epoch by epoch on fixed axes, so a user watches the classes pull apart
as the model learns. A mixin of :class:`explorer.latent_map.LatentMap`."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from .jobs import ModelJob


class MapMovie:
    """What the map does with a run's record (``self`` is the LatentMap)."""

    def _build_movie(self) -> list:
        """The button (for the top bar); the epoch slider gets a row of its own, ``self.movie_row``."""
        self.movie = None  # the model's models.training.run_record.RunRecord with encodings, once read
        self._movie_saved = None  # (latents, projection, source text) shown before the movie started
        self._movie_range = None  # ((x0, x1), (y0, y1)) every epoch is drawn in
        self.btn_movie = QPushButton("Training movie")
        self.btn_movie.setCheckable(True)
        self.btn_movie.setToolTip("Show how the run that trained this model encoded a fixed set of held-out "
                                  "images after each epoch; scrub the epochs with the slider (← →)")
        self.btn_movie.toggled.connect(self.show_movie)
        self.movie_slider = QSlider(Qt.Orientation.Horizontal)
        self.movie_slider.setToolTip("The epoch whose encodings are shown (← → one epoch, Home / End)")
        self.movie_slider.valueChanged.connect(self._movie_frame)
        self.movie_label = QLabel()
        self.movie_label.setMinimumWidth(110)
        self.movie_row = QWidget()
        row = QHBoxLayout(self.movie_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Epoch:"))
        row.addWidget(self.movie_slider, 1)
        row.addWidget(self.movie_label)
        self.movie_job = ModelJob(self, "map-movie")
        for w in (self.btn_movie, self.movie_row):
            w.setVisible(False)
        return [self.btn_movie]

    def _movie_on_model(self, model) -> None:
        """A new model: forget the old movie, and read the new model's record in a worker."""
        from models.training.run_record import record_of

        self.movie_job.cancel()
        self.movie, self._movie_saved, self._movie_range = None, None, None
        for w in (self.btn_movie, self.movie_row):
            w.setVisible(False)
        if self.btn_movie.isChecked():
            self.btn_movie.blockSignals(True)
            self.btn_movie.setChecked(False)
            self.btn_movie.blockSignals(False)
        if model is None or not model.capabilities.encoder:
            return

        def job(should_stop):
            yield from ()
            return record_of(model)

        def done(rec):
            if rec is not None and rec.has_movie and len(rec.epochs) >= 1:
                self.movie = rec
                self.movie_slider.setRange(0, len(rec.epochs) - 1)
                self.movie_slider.setValue(len(rec.epochs) - 1)
                self.btn_movie.setVisible(True)
                self.btn_movie.setToolTip(self.btn_movie.toolTip().split(" (")[0] +
                                          f" ({len(rec.z[0]):,} images, {len(rec.epochs)} epochs)")

        self.movie_job.start(model, job, done, on_error=lambda msg: self.message.emit(f"training movie: {msg}"))

    def show_movie(self, on: bool) -> None:
        """Show the run's encodings (on) or go back to the data shown before (off)."""
        from models.analysis.latent import PCA
        from models.analysis.projection import Projection, methods_for

        rec = self.movie
        self.movie_row.setVisible(on and rec is not None)
        for w in (self.btn_tsne, self.btn_umap, self.btn_data, self.btn_points):
            w.setEnabled(not on and self.model is not None)
        if self.btn_movie.isChecked() != on:
            self.btn_movie.setChecked(on)
            return
        if on and rec is not None and self.model is not None:
            if self._movie_saved is None:
                self._movie_saved = (self.latents, self.projection, self.source.text())
            d = rec.z[-1].shape[1]
            last = rec.z[-1]  # one set of axes for every epoch: those of the trained model
            pca = PCA(last, min(d, 20)) if d > 2 else None
            self.projection = Projection(methods_for(d)[0], (0, 1), pca)
            xy = np.concatenate([self.projection.coordinates(z) for z in rec.z])
            lo, hi = (np.percentile(xy.astype(np.float64), q, axis=0) for q in (0.5, 99.5))
            pad = (hi - lo) * 0.05 + 1e-6
            self._movie_range = tuple((float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i in (0, 1))
            self.source.setText("the run's held-out subset")
            self._movie_frame(self.movie_slider.value())
            self.movie_slider.setFocus()  # ← → scrub at once
            return
        saved, self._movie_saved, self._movie_range = self._movie_saved, None, None
        if saved is not None and saved[0] is not None:
            self.latents, self.projection = saved[0], saved[1]
            self.source.setText(saved[2])
            self._fill_methods()
            self._apply_projection()

    def _movie_frame(self, e: int) -> None:
        from models.analysis.latent import LatentSet

        rec = self.movie
        if rec is None or not self.btn_movie.isChecked() or not 0 <= e < len(rec.epochs):
            return
        self.latents = LatentSet(rec.z[e], rec.labels, rec.class_names, None, "record")
        self.clicked = None
        self.movie_label.setText(f"epoch {rec.epochs[e]} of {rec.epochs[-1]}")
        self.n_label.setText(f"{len(rec.z[e]):,} points")
        self._fill_methods()
        self._apply_projection()

    def _fit_range(self) -> None:
        """Every epoch of the movie on the same axes; anything else fitted to its points."""
        vb = self.plot.getViewBox()
        if self._movie_range is not None:
            vb.setRange(xRange=self._movie_range[0], yRange=self._movie_range[1], padding=0)
        else:
            vb.autoRange(padding=0.05)
