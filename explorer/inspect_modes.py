"""The Inspect view's Modes page: how many classes a generator's samples cover (a collapsed GAN covers few),
now and after every epoch of the run that trained it (:mod:`models.training.run_record`). A mixin of
:class:`explorer.inspect_view.InspectView`."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QPushButton, QSplitter

from latent_explorer.models.analysis.quality import COVERAGE_SHARE, quality_job
from latent_explorer.models.data import is_builtin
from latent_explorer.models.io.meta import meta_of

from .inspect_panels import ModePlots
from .widgets import hint


def _data_spec(model) -> str:
    return (meta_of(model).data.spec or "") if model is not None else ""


class ModesPage:
    """``self`` is the InspectView."""

    def _build_modes(self):
        self.modes_page, lay = self._page("Modes")
        self.n_modes = self._spin(100, 50000, 1000, "Samples to draw (seeded) and sort by class")
        self.btn_modes = QPushButton("Sample and sort")
        self.btn_modes.setToolTip("Draw samples and label them with the data's yardstick classifier: a collapsed "
                                  "generator puts most of them in few classes (Ctrl+Return)")
        self.btn_modes.clicked.connect(lambda: self.compute_modes())
        self.modes_text = QLabel()
        self.modes_text.setWordWrap(True)
        lay.addWidget(self._row(QLabel("Samples:"), self.n_modes, self.btn_modes, self.modes_text))
        self.record_text = hint("")
        lay.addWidget(self.record_text)
        self.mode_plots = ModePlots()
        split = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.mode_plots.hist, self.mode_plots.shares, self.mode_plots.coverage):
            split.addWidget(w)
        lay.addWidget(split, 1)
        self._modes_tried = None  # the model the page sorted samples of by itself (once, even if it failed)

    def compute_modes(self, auto: bool = False):
        if not self.pages.isTabEnabled(self.pages.indexOf(self.modes_page)):
            return  # the model draws no samples (the tab's tooltip says so)
        n = self.n_modes.value()

        def make(model):
            return (yield from quality_job(model, n=n))

        self._start(make, self._show_modes, f"Sampling {n:,} images and sorting them by class…", auto)

    def _auto_modes(self):
        """The Modes page shown for a model that samples fast, of built-in data: sort 1,000 samples at once
        (a second or two); slow samplers and data a file names wait for the button."""
        m = self.model
        if (m is None or self.modes is not None or self.job.busy or not self.pages.isVisible()
                or self.pages.currentWidget() is not self.modes_page
                or not self.pages.isTabEnabled(self.pages.indexOf(self.modes_page))
                or m.capabilities.samples_slowly or not is_builtin(_data_spec(m))
                or self._modes_tried is m):
            return
        self._modes_tried = m
        self.compute_modes(auto=True)

    def showEvent(self, ev):  # noqa: N802 - Qt's name
        super().showEvent(ev)
        self._auto_modes()

    def _show_modes(self, report):
        self.modes = report
        f, names = report.figures, report.class_names
        counts = np.array([f["class_histogram"].get(c, 0) for c in names], np.float64)
        expected = report.real_share * counts.sum()
        self.mode_plots.show_histogram(counts, expected, names)
        covered = int(round(f["class_coverage"] * int((report.real_share > 0).sum())))
        top = int(np.argmax(counts))
        self.modes_text.setText(
            f"Coverage {f['class_coverage']:.2f}: {covered} of {int((report.real_share > 0).sum())} classes get at "
            f"least {COVERAGE_SHARE:.0%} of their share. The most drawn class, {names[top]}, takes "
            f"{counts[top] / counts.sum():.0%} of the samples." + (
                f" Asked-for class right: {f['conditional_accuracy']:.0%}." if "conditional_accuracy" in f else ""))
        self.message.emit(f"modes: coverage {f['class_coverage']:.2f}")

    def _read_record(self):
        from latent_explorer.models.training.run_record import record_of

        def job(should_stop):
            yield from ()
            return record_of(self_model)

        def done(rec):
            self.record = rec
            shown = rec is not None and rec.has_classes  # no record: no empty plots beside the histogram
            self.mode_plots.shares.setVisible(shown)
            self.mode_plots.coverage.setVisible(shown)
            if rec is None:
                self.record_text.setText("No record of the run that trained this model: runs of Latent Explorer "
                                         "keep one (the class shares of samples after every epoch).")
            elif not rec.has_classes:
                self.record_text.setText(f"The run's record has no class histograms: {rec.why_no_classes or '—'}")
            else:
                last = next((c for c in reversed(rec.coverage) if c is not None), None)
                self.record_text.setText(f"The run's record: {len(rec.epochs)} epochs, coverage after the last "
                                         f"{last:.2f} (dashed: 0.5).")
                self.mode_plots.show_record(rec.epochs, rec.shares(), rec.coverage, rec.class_names)

        def failed(msg):  # a record too large or not typed as a record is: one line, here and on the status line
            self.record_text.setText(f"The run's record could not be read: {msg}")
            self.message.emit(f"run record: {msg}")

        self_model = self.model  # read in a worker, one record read at a time (models.training.run_record.read_record)
        self.record_job.start(self_model, job, done, on_error=failed)
