"""The Latent Map's training movie: the fixed held-out subset a run encoded after every epoch
(:mod:`models.training.run_record`), scrubbed epoch by epoch on fixed axes, so a user watches the classes pull apart
as the model learns; beside it the run's loss curves (a line at the epoch shown) and the epoch's samples. A part
of :class:`explorer.latent_map.LatentMap`, handed its :class:`explorer.map_state.MapState`.

**Live**: while a run writes its record (ours, or a user's loop with ``latent_explorer.Recorder``), the movie
follows it: a file-system watch on the record's folder (no polling: nothing runs while the file is still) reads
the record again shortly after it is replaced, and a new epoch appears; a user at the last epoch stays there."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QFileSystemWatcher, QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from latent_explorer.models.display import square_mosaic

from .jobs import ModelJob
from .widgets import ImagePanel, set_axis_label

FOLLOW_DELAY_MS = 150  # after the record's folder changes: a writer's temporary file and rename are one change
LOSS_PENS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2")


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
        col = QVBoxLayout(self.row)
        col.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(QLabel("Epoch:"))
        line.addWidget(self.movie_slider, 1)
        line.addWidget(self.movie_label)
        col.addLayout(line)
        self.losses = pg.PlotWidget(background="#202124")
        self.losses.setToolTip("The run's mean losses per epoch; the line marks the epoch shown")
        self.losses.addLegend(offset=(-4, 4), labelTextSize="8pt")
        set_axis_label(self.losses, "bottom", "epoch")
        self.epoch_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ffdd55"))
        self.samples = ImagePanel(title="samples")
        self.samples.setToolTip("Images the model drew after this epoch, from the same draws every epoch")
        panel = QHBoxLayout()
        panel.addWidget(self.losses, 3)
        panel.addWidget(self.samples, 1)
        self.run_panel = QWidget()
        self.run_panel.setLayout(panel)
        self.run_panel.setFixedHeight(140)
        panel.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.run_panel)
        self.movie_job = ModelJob(state, "map-movie")
        for w in (self.btn_movie, self.row):
            w.setVisible(False)
        self.watcher = QFileSystemWatcher(self)  # the record's folder, while a model with a record is shown
        self.watcher.directoryChanged.connect(self._changed)
        self.watcher.fileChanged.connect(self._changed)
        self._follow = QTimer(self, singleShot=True, interval=FOLLOW_DELAY_MS)
        self._follow.timeout.connect(self._reread)
        self._record_file: Path | None = None
        self._seen = None  # the record's (size, mtime) when last read
        self._model = None
        state.modelChanged.connect(self._on_model)

    @property
    def on(self) -> bool:
        return self.btn_movie.isChecked()

    def _on_model(self, model) -> None:
        """A new model: forget the old movie, and read the new model's record in a worker."""
        self.movie_job.cancel()
        self.movie, self._saved, self.range = None, None, None
        for w in (self.btn_movie, self.row):
            w.setVisible(False)
        if self.btn_movie.isChecked():
            with QSignalBlocker(self.btn_movie):  # the map resets its buttons for the new model itself
                self.btn_movie.setChecked(False)
        self._watch(None)
        self._model, self._seen = model, None
        if model is None or not model.capabilities.encoder:
            return
        self._watch(_record_file(model))
        self._reread()

    def _watch(self, path: Path | None) -> None:
        """Watch ``path``'s folder (a writer replaces the file: a watch on the file alone ends at the first
        rename) and the file itself while it exists; None: watch nothing."""
        for paths in (self.watcher.files(), self.watcher.directories()):
            if paths:
                self.watcher.removePaths(paths)
        self._follow.stop()
        self._record_file = path
        if path is not None and path.parent.is_dir():
            self.watcher.addPath(str(path.parent))
            if path.is_file():
                self.watcher.addPath(str(path))

    def _changed(self, _path: str) -> None:
        if self._record_file is not None:
            self._follow.start()  # once the writer is done: a temporary file, then its rename

    def _reread(self) -> None:
        """Read the shown model's record (in a worker) if it changed since it was last read."""
        from latent_explorer.models.training.run_record import record_of

        model, path = self._model, self._record_file
        if model is None or path is None:
            return
        try:
            st = os.stat(path)
            seen = (st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            return  # not written yet (a run that has just begun), or gone: the watch says when it comes
        if seen == self._seen:
            return
        if str(path) not in self.watcher.files():
            self.watcher.addPath(str(path))
        if self.movie_job.busy:  # a read is under way: read again once it is done
            self._follow.start()
            return

        def job(should_stop):
            yield from ()
            return record_of(model)

        def done(rec):
            self._seen = seen
            if rec is not None and rec.has_movie and len(rec.epochs) >= 1 and model is self._model:
                self._take(rec)

        def failed(msg):
            self._seen = seen  # said once per content of the file, not at every change of its folder
            self.state.message.emit(f"training movie: {msg}")

        self.movie_job.start(model, job, done, on_error=failed)

    def _take(self, rec) -> None:
        """Show ``rec``, the model's record as read now (the first time, or with epochs added since)."""
        old, at = self.movie, self.movie_slider.value()
        at_end = old is None or at >= len(old.epochs) - 1
        self.movie = rec
        with QSignalBlocker(self.movie_slider):
            self.movie_slider.setRange(0, len(rec.epochs) - 1)
            self.movie_slider.setValue(len(rec.epochs) - 1 if at_end else min(at, len(rec.epochs) - 1))
        self.btn_movie.setVisible(True)
        self.btn_movie.setToolTip(self.btn_movie.toolTip().split(" (")[0] +
                                  f" ({len(rec.z[0]):,} images, {len(rec.epochs)} epochs)")
        self._draw_losses()
        if self.btn_movie.isChecked():
            if old is not None and len(old.epochs) != len(rec.epochs):
                self.state.message.emit(f"training movie: epoch {rec.epochs[-1]} recorded")
                if self._projection is not None:
                    self._fit_range()  # the new epochs' points in view too
            self._frame(self.movie_slider.value())

    def _draw_losses(self) -> None:
        rec = self.movie
        self.losses.clear()
        self.losses.addItem(self.epoch_line)
        terms = sorted({k for d in rec.losses for k in d})
        for i, term in enumerate(terms[: len(LOSS_PENS)]):
            pts = [(e, d[term]) for e, d in zip(rec.epochs, rec.losses) if d.get(term) is not None]
            if pts:
                x, y = np.array(pts, np.float64).T
                self.losses.plot(x, y, pen=pg.mkPen(LOSS_PENS[i], width=2), symbol="o", symbolSize=4,
                                 symbolBrush=LOSS_PENS[i], name=term)
        self.losses.setVisible(bool(terms))

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
            self._projection = default_projection(rec.z[-1])  # one set of axes for every epoch: the trained model's
            self._fit_range()
            s.set_source("the run's held-out subset")
            self._frame(self.movie_slider.value(), first=True)
            self.movie_slider.setFocus()  # ← → scrub at once
            return
        saved, self._saved, self.range = self._saved, None, None
        if saved is not None and saved[0] is not None:
            s.set_latents(saved[0], saved[1])
            s.set_source(saved[2])

    def _fit_range(self) -> None:
        """The range every epoch is drawn in (all epochs' points, on the movie's first axes)."""
        xy = np.concatenate([self._projection.coordinates(z) for z in self.movie.z])
        lo, hi = (np.percentile(xy.astype(np.float64), q, axis=0) for q in (0.5, 99.5))
        pad = (hi - lo) * 0.05 + 1e-6
        self.range = tuple((float(lo[i] - pad[i]), float(hi[i] + pad[i])) for i in (0, 1))

    def _frame(self, e: int, first: bool = False) -> None:
        from latent_explorer.models.analysis.latent import LatentSet

        rec, s = self.movie, self.state
        if rec is None or not self.btn_movie.isChecked() or not 0 <= e < len(rec.epochs):
            return
        self.movie_label.setText(f"epoch {rec.epochs[e]} of {rec.epochs[-1]}")
        self.epoch_line.setValue(rec.epochs[e])
        if e < len(rec.samples) and len(rec.samples) == len(rec.epochs):
            self.samples.show_image(square_mosaic(rec.samples[e]))
        self.samples.setVisible(len(rec.samples) == len(rec.epochs))
        proj = self._projection if first else s.projection  # as the user set it since: other axes, dimensions
        s.set_latents(LatentSet(rec.z[e], rec.labels, rec.class_names, None, "record"), proj,
                      keep_selection=not first)  # the same held-out images every epoch


def _record_file(model) -> Path | None:
    """Where the record of the run that made ``model``'s file is (or will be), if the file names one."""
    from latent_explorer.models.training.run_record import record_path

    meta = model.meta or {}
    training = meta.get("training")
    if not meta.get("path") or not isinstance(training, dict) or not training.get("record"):
        return None
    return record_path(meta["path"])
