"""The Latent Map's training movie: the fixed held-out subset a run encoded after every epoch
(:mod:`models.training.run_record`), scrubbed epoch by epoch on fixed axes, so a user watches the classes pull apart
as the model learns. A part of :class:`explorer.latent_map.LatentMap`, handed its
:class:`explorer.map_state.MapState`."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QWidget

from .jobs import ModelJob


class MapMovie(QObject):
    """The movie's button (for the map's top bar) and its epoch slider (``row``, a row of its own).
    ``toggled(on)`` tells the map the movie started or ended (other data cannot be loaded meanwhile)."""

    toggled = Signal(bool)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.movie = None  # the model's models.training.run_record.RunRecord with encodings, once read
        self._saved = None  # (latents, projection, source text) shown before the movie started
        self.range = None  # ((x0, x1), (y0, y1)) every epoch is drawn in, while the movie shows
        self._projection = None  # the projection of the trained model's encodings, the movie's first
        self.btn_movie = QPushButton("Training movie")
        self.btn_movie.setCheckable(True)
        self.btn_movie.setToolTip("Show how the run that trained this model encoded a fixed set of held-out "
                                  "images after each epoch; scrub the epochs with the slider (← →)")
        self.btn_movie.toggled.connect(self.show_movie)
        self.movie_slider = QSlider(Qt.Orientation.Horizontal)
        self.movie_slider.setToolTip("The epoch whose encodings are shown (← → one epoch, Home / End)")
        self.movie_slider.valueChanged.connect(self._frame)
        self.movie_label = QLabel()
        self.movie_label.setMinimumWidth(110)
        self.row = QWidget()
        row = QHBoxLayout(self.row)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Epoch:"))
        row.addWidget(self.movie_slider, 1)
        row.addWidget(self.movie_label)
        self.movie_job = ModelJob(state, "map-movie")
        for w in (self.btn_movie, self.row):
            w.setVisible(False)
        state.modelChanged.connect(self._on_model)

    @property
    def on(self) -> bool:
        return self.btn_movie.isChecked()

    def _on_model(self, model) -> None:
        """A new model: forget the old movie, and read the new model's record in a worker."""
        from latent_explorer.models.training.run_record import record_of

        self.movie_job.cancel()
        self.movie, self._saved, self.range = None, None, None
        for w in (self.btn_movie, self.row):
            w.setVisible(False)
        if self.btn_movie.isChecked():
            with QSignalBlocker(self.btn_movie):  # the map resets its buttons for the new model itself
                self.btn_movie.setChecked(False)
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

        self.movie_job.start(model, job, done,
                             on_error=lambda msg: self.state.message.emit(f"training movie: {msg}"))

    def show_movie(self, on: bool) -> None:
        """Show the run's encodings (on) or go back to the data shown before (off)."""
        from .map_state import default_projection

        rec, s = self.movie, self.state
        self.row.setVisible(on and rec is not None)
        if self.btn_movie.isChecked() != on:
            self.btn_movie.setChecked(on)
            return
        self.toggled.emit(on)
        if on and rec is not None and s.model is not None:
            if self._saved is None:
                self._saved = (s.latents, s.projection, s.source)
            proj = default_projection(rec.z[-1])  # one set of axes for every epoch: those of the trained model
            xy = np.concatenate([proj.coordinates(z) for z in rec.z])
            lo, hi = (np.percentile(xy.astype(np.float64), q, axis=0) for q in (0.5, 99.5))
            pad = (hi - lo) * 0.05 + 1e-6
            self.range = tuple((float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i in (0, 1))
            self._projection = proj
            s.set_source("the run's held-out subset")
            self._frame(self.movie_slider.value(), first=True)
            self.movie_slider.setFocus()  # ← → scrub at once
            return
        saved, self._saved, self.range = self._saved, None, None
        if saved is not None and saved[0] is not None:
            s.set_latents(saved[0], saved[1])
            s.set_source(saved[2])

    def _frame(self, e: int, first: bool = False) -> None:
        from latent_explorer.models.analysis.latent import LatentSet

        rec, s = self.movie, self.state
        if rec is None or not self.btn_movie.isChecked() or not 0 <= e < len(rec.epochs):
            return
        self.movie_label.setText(f"epoch {rec.epochs[e]} of {rec.epochs[-1]}")
        proj = self._projection if first else s.projection  # as the user set it since: other axes, dimensions
        s.set_latents(LatentSet(rec.z[e], rec.labels, rec.class_names, None, "record"), proj,
                      keep_selection=not first)  # the same held-out images every epoch
