"""Quality: how good are the current model's samples? The yardstick of :mod:`models.analysis.quality` (Fréchet
distance, precision, recall, class coverage and histogram, conditional accuracy) measured in a worker with
progress and cancel; the class histogram against the real data's; a sample grid with the classifier's
label on every sample (red where a conditional model missed the class it was asked for)."""

from __future__ import annotations

import weakref

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.display import square_mosaic
from latent_explorer.models.io.meta import meta_of

from .jobs import ModelJob
from .model_view import ModelView
from .sampling_controls import SamplingControls
from .widgets import ImagePanel, ProgressLine, placeholder_and_body

# figure key -> (what a user reads, what it means)
FIGURES = {
    "frechet_distance": ("Fréchet distance ↓", "distance between the Gaussians fitted to the classifier's features "
                         "of the samples and of held-out real images (Heusel et al. 2017); compare models of the "
                         "same data only"),
    "precision": ("Precision ↑", "share of samples that lie on the real data's manifold (k = 3 nearest "
                  "neighbours, Kynkäänniemi et al. 2019): realism"),
    "recall": ("Recall ↑", "share of real images that lie on the samples' manifold: how much of the data's "
               "variety the model covers"),
    "class_coverage": ("Class coverage ↑", "share of classes that get at least a fifth of the samples they "
                       "would get at the real data's class frequencies (a collapsed GAN covers few)"),
    "conditional_accuracy": ("Conditional accuracy ↑", "share of samples the classifier puts in the class they "
                             "were asked for"),
    "n_samples": ("Samples", "images sampled from the model"),
    "n_real": ("Held-out real images", "real images the model never trained on"),
}


class QualityView(ModelView):
    message = Signal(str)
    measured = Signal(object)  # the QualityReport

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.report = None
        self.failed: str | None = None
        self._reports: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # model -> its last report
        self._build()
        self.job = ModelJob(self, "quality", self.progress)
        self.job.finished.append(self._job_done)
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        self.placeholder, self.body, lay = placeholder_and_body(self)
        row = QHBoxLayout()
        self.n = QSpinBox()
        self.n.setRange(100, 50_000)
        self.n.setSingleStep(500)
        self.n.setValue(2000)
        self.n.setToolTip("How many samples to draw (more: steadier figures, longer wait)")
        # quality is measured with DDIM: its steps, and the guidance of a conditional model
        self.controls = SamplingControls(parts=("steps", "guidance"), steps=50, tips={
            "steps": "Diffusion: DDIM steps per sample",
            "guidance": "Classifier-free guidance scale (1: plain conditional sampling)"})
        self.steps, self.guidance = self.controls.steps, self.controls.guidance
        self.btn = QPushButton("Measure")
        self.btn.setToolTip("Sample the model and measure its samples against held-out real data (Ctrl+Return)")
        self.btn.clicked.connect(self.measure)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.measure)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.cancel)
        for w in (QLabel("Samples:"), self.n, self.controls):
            row.addWidget(w)
        row.addWidget(self.btn)
        self.source = QLabel("—")
        self.source.setStyleSheet("color: #888")
        row.addWidget(self.source, 1)
        lay.addLayout(row)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        lay.addWidget(self.progress)

        split = QSplitter(Qt.Orientation.Horizontal)
        lay.addWidget(split, 1)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 2)
        self.table.setHorizontalHeaderLabels(["Figure", "Value"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        ll.addWidget(self.table, 1)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #888")
        ll.addWidget(self.note)
        split.addWidget(left)

        self.hist = pg.PlotWidget(background="#202124")
        self.hist.setTitle("Classes: samples (bars), real data (line)", color="#cccccc", size="9pt")
        self.hist.setLabel("left", "% of images")
        self.hist.getAxis("left").enableAutoSIPrefix(False)
        self.hist.setMinimumWidth(200)
        self.hist.setMouseEnabled(False, False)
        self.hist.hideButtons()
        split.addWidget(self.hist)

        self.grid = ImagePanel(title="Samples, labelled by the classifier")
        split.addWidget(self.grid)
        split.setSizes([330, 420, 420])

    # -- model -----------------------------------------------------------------------------------
    def applies(self, model) -> str | None:
        if model is None:
            return "Pick a model in the list to measure the quality of its samples."
        if not model.capabilities.samples:
            return f"{model.spec.title} draws no samples from a latent code: there is no sample quality to measure."
        return None

    def _on_model(self, model):
        ok = self.applies(model) is None
        self.model = model if ok else None  # first: the results of a cancelled job are then stale
        self.cancel()
        self._clear()
        self.failed = None
        if not self.gate(model):
            return
        diffusion = model.capabilities.diffusion
        self.controls.show_part("steps", diffusion)
        if diffusion:
            self.controls.set_timesteps(model.config.timesteps, 50)
        self.controls.show_part("guidance", diffusion and model.conditional)
        spec = meta_of(model).data.spec
        self.source.setText(f"against held-out images of {spec}" if spec else "(the checkpoint names no data)")
        self.btn.setEnabled(bool(spec))
        self.note.setText("Press Measure: samples are drawn and compared with held-out real images on a small "
                          "classifier trained on the same data (bundled for mnist and scenes, trained once and "
                          "cached for other data).")
        if model in self._reports:  # measured before: show it again at once
            self._show(self._reports[model])

    def _clear(self):
        self.report = None
        self.table.setRowCount(0)
        self.hist.clear()
        self.hist.setRange(xRange=(0, 1), yRange=(0, 100), padding=0)  # empty: a percent axis, no class ticks
        self.hist.getAxis("bottom").setTicks([[]])
        self.grid.clear_image()
        for item in getattr(self, "_labels", []):
            self.grid.view.removeItem(item)
        self._labels = []

    # -- measuring -------------------------------------------------------------------------------
    def sample_kw(self) -> dict:
        if self.model is None or not self.model.capabilities.diffusion:
            return {}
        return self.controls.settings().sample_kwargs()

    def measure(self):
        from latent_explorer.models.analysis.quality import quality_job

        model = self.model
        if model is None or not self.btn.isEnabled():
            return
        n, kw = self.n.value(), self.sample_kw()
        self.failed = None
        self.btn.setEnabled(False)
        self.job.start(model, lambda should_stop: quality_job(model, None, n=n, seed=0, sample_kw=kw),
                       self._show, f"Measuring {n:,} samples…", on_error=self._failed,
                       on_cancel=lambda: self.message.emit("quality measurement cancelled"))

    def cancel(self):
        self.job.cancel()

    def _job_done(self):
        self.btn.setEnabled(self.model is not None and "against" in self.source.text())

    def _failed(self, msg):
        self.failed = msg
        self.note.setText(f"Could not measure: {msg}")
        self.message.emit(msg)

    def _show(self, report):
        self._clear()
        self.report = report
        self._reports[self.model] = report
        fig = report.figures
        rows = [k for k in FIGURES if k in fig]
        self.table.setRowCount(len(rows))
        for i, key in enumerate(rows):
            title, tip = FIGURES[key]
            v = fig[key]
            name, value = QTableWidgetItem(title), QTableWidgetItem(f"{v:,.4g}" if isinstance(v, float) else f"{v:,}")
            for item in (name, value):
                item.setToolTip(tip)
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, value)
        self.table.resizeColumnToContents(0)
        acc = ", ".join(f"{k} {v:.1%}" for k, v in report.classifier.get("held_out_accuracy", {}).items())
        self.note.setText(f"Classifier trained on {report.classifier.get('data', '?')} (held-out accuracy: {acc}). "
                          "Hover a figure for its meaning.")
        self._draw_histogram(report)
        self._draw_grid(report)
        self.measured.emit(report)
        self.message.emit(f"quality: Fréchet distance {fig['frechet_distance']:.4g}, precision "
                          f"{fig['precision']:.3f}, recall {fig['recall']:.3f}")

    def _draw_histogram(self, report):
        names = report.class_names
        counts = np.array([report.figures["class_histogram"][c] for c in names], float)
        x = np.arange(len(names))
        self.hist.addItem(pg.BarGraphItem(x=x, height=100 * counts / max(counts.sum(), 1), width=0.7,
                                          brush="#4e79a7"))
        if report.real_share is not None:
            self.hist.plot(x, 100 * report.real_share, pen=pg.mkPen("#f28e2b", width=2), symbol="o",
                           symbolSize=6, symbolBrush="#f28e2b")
        self.hist.getAxis("bottom").setTicks([[(i, n[:10]) for i, n in enumerate(names)]])
        self.hist.setXRange(-0.6, len(names) - 0.4, padding=0)
        self.hist.enableAutoRange(axis="y")

    def _draw_grid(self, report):
        images = report.samples
        if len(images) == 0:
            return
        gap = 1
        mosaic, cols = square_mosaic(images, gap=gap), int(np.ceil(np.sqrt(len(images))))
        self.grid.show_image(mosaic)
        _, h, w = images.shape[1:]
        for i, label in enumerate(report.sample_labels):
            r, c = divmod(i, cols)
            missed = bool(report.asked) and report.asked[i] != label
            text = pg.TextItem(label[:8], color="#ff5050" if missed else "#ffdd55", anchor=(0, 0))
            text.setPos(c * (w + gap), r * (h + gap))
            self.grid.view.addItem(text)
            self._labels.append(text)

    # -- view protocol ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return not self.job.busy

    def shutdown(self):
        self.cancel()
