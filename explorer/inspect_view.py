"""Inspect: what the current model's numbers say about it (:mod:`models.analysis.diagnostics`), each page computed in
a worker with progress and cancel.

- Latent dimensions: KL per dimension, the active units marked (KL > 0.01 nats); the editor greys out the
  sliders of the others (the result goes to the shared state).
- Likelihood: −ELBO, the importance-weighted bound and exact −log p(x) of every open model of the same
  images, on the same binarised held-out images.
- Anomaly: the model's own held-out data against another dataset: score histograms, ROC and AUROC, the most
  anomalous images.
- PCA vs autoencoder: the model's reconstructions against PCA with as many components as its code.
- Modes: the class histogram of N samples by the data's yardstick classifier and the coverage (a collapsed
  GAN covers few classes), and how both moved during training, from the run's record.
- Styles (a mapping network): path lengths in Z and W, truncation, style mixing (:mod:`.inspect_styles`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.analysis.diagnostics import (
    ACTIVE_KL,
    DEFAULT_DRAWS,
    SCORES,
    active_units,
    anomaly_job,
    applicable,
    kl_per_dimension,
    likelihood_rows,
    pca_vs_model,
    score_names,
    why_no_scores,
)
from latent_explorer.models.analysis.quality import train_and_held_out
from latent_explorer.models.data import BUILTIN_DATASETS, is_builtin, load_dataset
from latent_explorer.models.display import mosaic, square_mosaic
from latent_explorer.models.io.meta import meta_of
from latent_explorer.models.progress import Step

from . import dialogs
from .inspect_modes import ModesPage
from .inspect_panels import FigureTable, KLBars, ScorePlots, likelihood_rows_text
from .inspect_styles import StylesPage
from .jobs import ModelJob
from .model_view import ModelView
from .widgets import ImagePanel, ProgressLine, hint

PAGES = ("dims", "likelihood", "anomaly", "pca", "modes", "styles")
OTHER_FOLDER = "Folder…"


def _data_spec(model) -> str | None:
    return meta_of(model).data.spec if model is not None else None


def _held_out_job(model, spec=None):
    """(training part, held-out part) of the model's data, as a job step (reading it may take a while)."""
    yield Step(0, 1, "reading the data")
    return train_and_held_out(model, spec)


class InspectView(ModesPage, ModelView):
    message = Signal(str)

    def __init__(self, state, library, parent=None):
        super().__init__(parent)
        self.state, self.library = state, library
        self.model = None
        self.kl: np.ndarray | None = None
        self.anomaly = None
        self.comparison = None
        self.rows = None
        self.other_folder: str | None = None
        self._build()
        self.job = ModelJob(self, "inspect", self.progress)
        self.job.finished.append(self._enable)
        self.job.finished.append(self._auto_modes)
        self.record_job = ModelJob(self, "inspect-record")
        self.modes = self.record = None
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QVBoxLayout(self)
        self.placeholder = hint("")
        root.addWidget(self.placeholder)
        self.source = QLabel()
        self.source.setStyleSheet("color: #888")
        root.addWidget(self.source)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        root.addWidget(self.progress)
        self.pages = self.body = QTabWidget()  # the view, where it applies (ModelView.gate)
        self._wanted, self._enabling = 0, False  # the page the user chose last
        self.pages.currentChanged.connect(lambda i: None if self._enabling else setattr(self, "_wanted", i))
        self.pages.currentChanged.connect(lambda _i: None if self._enabling else self._auto_modes())
        root.addWidget(self.pages, 1)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.cancel)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.compute_current)

        # latent dimensions
        self.dims_page, lay = self._page("Latent dimensions")
        self.btn_dims = QPushButton("Compute KL per dimension")
        self.btn_dims.setToolTip("KL(q(z_d|x) ‖ N(0, 1)) of each dimension over the held-out images (Ctrl+Return)")
        self.btn_dims.clicked.connect(lambda: self.compute_dims())
        self.dims_text = QLabel()
        self.dims_text.setWordWrap(True)
        self.kl_bars = KLBars()
        lay.addWidget(self._row(self.btn_dims, self.dims_text))
        lay.addWidget(self.kl_bars, 1)

        # likelihoods
        self.lik_page, lay = self._page("Likelihood")
        self.k = self._spin(1, 5000, 100, "Importance samples per image of the tighter bound (Burda et al. 2016)")
        self.n_lik = self._spin(10, 10000, 500, "Held-out images, made black and white as the next box says")
        self.binarise = QComboBox()
        self.binarise.addItem("at ½", "threshold")
        self.binarise.addItem(f"drawn, {DEFAULT_DRAWS} times", "stochastic")
        self.binarise.setToolTip(
            "How the grey held-out images are made black and white. At ½: a pixel is on above ½ (one set of "
            f"images). Drawn: a pixel is on with its grey value's probability, {DEFAULT_DRAWS} seeded draws "
            "averaged: the likelihood papers' convention, so the figures compare with theirs")
        self.btn_lik = QPushButton("Compute")
        self.btn_lik.setToolTip("−log p(x) of this model and every open model of the same images (Ctrl+Return)")
        self.btn_lik.clicked.connect(self.compute_likelihood)
        lay.addWidget(self._row(QLabel("k:"), self.k, QLabel("Images:"), self.n_lik, QLabel("Binarised:"),
                                self.binarise, self.btn_lik))
        self.lik_table = FigureTable(["Model", "Kind", "−ELBO (nats)", "−IW bound (nats)", "Exact −log p(x)",
                                      "Bits/dim", "Gap (nats)"])
        self.lik_note = hint("")
        lay.addWidget(self.lik_table, 1)
        lay.addWidget(self.lik_note)

        # anomaly detection
        self.anom_page, lay = self._page("Anomaly")
        self.other = QComboBox()
        self.other.setToolTip("The data to tell apart from the model's own (converted to its image size)")
        self.other.activated.connect(self._on_other)
        self.score = QComboBox()
        self.score.setToolTip("The per-image score: higher means more anomalous")
        self.n_anom = self._spin(10, 20000, 1000, "Images on each side")
        self.btn_anom = QPushButton("Score")
        self.btn_anom.setToolTip("Score both datasets and draw the ROC curve (Ctrl+Return)")
        self.btn_anom.clicked.connect(self.compute_anomaly)
        lay.addWidget(self._row(QLabel("Against:"), self.other, QLabel("Score:"), self.score, QLabel("Images:"),
                                self.n_anom, self.btn_anom))
        self.anom_text = QLabel()
        self.anom_text.setWordWrap(True)
        lay.addWidget(self.anom_text)
        self.score_plots = ScorePlots()
        self.worst = ImagePanel(title="Most anomalous images of the other data")
        split = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.score_plots.hist, self.score_plots.roc, self.worst):
            split.addWidget(w)
        lay.addWidget(split, 1)

        # PCA against the autoencoder
        self.pca_page, lay = self._page("PCA vs autoencoder")
        self.btn_pca = QPushButton("Compare")
        self.btn_pca.setToolTip("PCA with as many components as the model's code, fitted on its training part "
                                "(Ctrl+Return)")
        self.btn_pca.clicked.connect(self.compute_pca)
        self.pca_text = QLabel()
        self.pca_text.setWordWrap(True)
        lay.addWidget(self._row(self.btn_pca, self.pca_text))
        self.pca_images = ImagePanel(title="Rows: held-out images, the model's reconstructions, PCA's")
        lay.addWidget(self.pca_images, 1)

        self._build_modes()
        self.styles = StylesPage()
        self.styles.button.clicked.connect(lambda: self.compute_styles())
        self.pages.addTab(self.styles, "Styles")

    def _page(self, title):
        w = QWidget()
        lay = QVBoxLayout(w)
        self.pages.addTab(w, title)
        return w, lay

    @staticmethod
    def _row(*widgets):
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            lay.addWidget(x, 1 if isinstance(x, QLabel) and x.wordWrap() else 0)
        if not any(isinstance(x, QLabel) and x.wordWrap() for x in widgets):
            lay.addStretch(1)
        return w

    @staticmethod
    def _spin(lo, hi, value, tip):
        s = QSpinBox()
        s.setRange(lo, hi)
        s.setValue(value)
        s.setToolTip(tip)
        return s

    # -- model -----------------------------------------------------------------------------------
    def applies(self, model) -> str | None:
        """Inspect applies where one of its pages does (:func:`models.analysis.diagnostics.applicable`) and the
        checkpoint names data to inspect the model on."""
        if model is None:
            return "Pick a model in the list to inspect it."
        if all(why is not None for why in applicable(model).values()):
            return why_no_scores(model) + ". Nothing here applies to it."
        if not _data_spec(model):
            return f"{model.spec.title}: the checkpoint names no data to inspect it on."
        return None

    def _on_model(self, model):
        self.model = model
        self.cancel()
        self.kl = self.anomaly = self.comparison = self.rows = self.modes = self.record = None
        self.record_job.cancel()
        self.mode_plots.clear()
        self.kl_bars.clear()
        self.lik_table.setRowCount(0)
        self.score_plots.clear()
        self.worst.clear_image()
        self.pca_images.clear_image()
        self.styles.clear()
        for lab in (self.dims_text, self.anom_text, self.pca_text, self.lik_note, self.modes_text,
                    self.record_text):
            lab.setText("")
        spec = _data_spec(model)
        scores = score_names(model) if model is not None else []
        why = applicable(model) if model is not None else dict.fromkeys(PAGES, "")  # None: the page applies
        pages = {name: why[name] is None for name in PAGES}
        self._enabling = True  # Qt moves off a tab that gets disabled: not the user's choice
        for i, name in enumerate(PAGES):
            self.pages.setTabEnabled(i, pages[name])
            self.pages.setTabToolTip(i, "" if pages[name] or model is None else f"{model.spec.title} {why[name]}")
        if any(pages.values()):  # the page chosen last, where it applies
            self.pages.setCurrentIndex(self._wanted if pages[PAGES[self._wanted]] else
                                       next(i for i, n in enumerate(PAGES) if pages[n]))
        self._enabling = False
        usable = self.gate(model)
        self.source.setText(f"on held-out images of {spec}" if usable else "")
        if not usable:
            return
        self.score.clear()
        for s in scores:
            self.score.addItem(SCORES[s], s)
        self.other.clear()
        own = spec.split(":")[0]
        self.other.addItems([d for d in BUILTIN_DATASETS if d != own] + [OTHER_FOLDER])
        if "scenes" in BUILTIN_DATASETS and own != "scenes":
            self.other.setCurrentText("scenes")
        self._enable()
        if pages["dims"]:  # first: the editor greys its sliders from it, whichever page is shown
            if is_builtin(spec):  # a path a file names is read only on the user's press
                self.compute_dims(auto=True)
            else:
                self.dims_text.setText(f"This model was trained on {spec}: press the button to read it.")
        if pages["modes"]:
            self._read_record()
            self._auto_modes()  # at once, or when the KL job ends

    def _enable(self):
        idle = not self.job.busy and self.model is not None
        for b in (self.btn_dims, self.btn_lik, self.btn_anom, self.btn_pca, self.btn_modes, self.styles.button):
            b.setEnabled(idle)

    def _on_other(self, _):
        if self.other.currentText() == OTHER_FOLDER:
            path = dialogs.open_folder(self, "data", "Another dataset (a folder of images or IDX files)")
            if path:
                self.other_folder = path
                self.other.setItemText(self.other.count() - 1, f"{Path(path).name} (folder)")
                self.other.setItemData(self.other.count() - 1, path)

    def other_spec(self) -> str:
        data = self.other.currentData()
        return data if data else self.other.currentText()

    # -- jobs ------------------------------------------------------------------------------------
    def _start(self, make, done, text, auto: bool = False):
        """Run a page's job. A user's press waits for the job running; one the view starts by itself (``auto``)
        replaces it (a job of the model shown before, still winding down, never blocks the new one's)."""
        model = self.model
        if model is None or (self.job.busy and not auto):
            return
        self.job.start(model, lambda should_stop: make(model), done, text, on_error=self._failed,
                       on_cancel=lambda: self.message.emit("inspection cancelled"))
        self._enable()

    def compute_current(self):
        page = PAGES[self.pages.currentIndex()]
        {"dims": self.compute_dims, "likelihood": self.compute_likelihood, "anomaly": self.compute_anomaly,
         "pca": self.compute_pca, "modes": self.compute_modes, "styles": self.compute_styles}[page]()

    def compute_dims(self, auto: bool = False):
        def make(model):
            _, val = yield from _held_out_job(model)
            return kl_per_dimension(model, val.images, val.labels)

        self._start(make, self._show_kl, "KL per dimension…", auto)

    def _show_kl(self, kl):
        self.kl = kl
        act = active_units(kl)
        names = self.model.latent_names()
        self.kl_bars.show_kl(kl, names, ACTIVE_KL, act)
        d = len(kl)
        self.dims_text.setText(
            f"{len(act)} of {d} dimensions active (KL > {ACTIVE_KL} nats). " +
            (f"{d - len(act)} collapsed onto the prior: the decoder ignores them, and their sliders are greyed "
             "out in the editor." if len(act) < d else "None collapsed."))
        self.state.set_dimension_kl(self.model, kl)

    def compute_likelihood(self):
        k, n, how = self.k.value(), self.n_lik.value(), self.binarise.currentData()
        draws = DEFAULT_DRAWS if how == "stochastic" else 1
        me = self.model
        # the other models of the same image size (from their headers); read in the job, not here
        candidates = [e for e in self.library.entries if e is not self.library.current and e.known
                      and not e.broken and tuple(e.image_shape) == tuple(me.image_shape)]
        name = Path(self.library.current.path).stem if self.library.current else "this model"

        def make(model):
            from latent_explorer.models import CheckpointError

            others = {}
            for e in candidates:
                try:
                    other = e.model  # its weights read and checked here, in the job's worker
                except CheckpointError:
                    continue  # marked in the list; the others are measured
                if applicable(other)["likelihood"] is None:
                    others[Path(e.path).stem] = other
            _, val = yield from _held_out_job(model)
            val = val.subset(slice(0, n))
            models = {name: model, **others} if applicable(model)["likelihood"] is None else dict(others)
            rows = yield from likelihood_rows(models, val, k=k, binarisation=how, draws=draws)
            return rows, len(val), val.spec, how, draws

        self._start(make, self._show_likelihood, "Likelihoods of the models of this image size…")

    def _show_likelihood(self, result):
        self.rows, n, spec, binarised, draws = result
        self.lik_table.set_rows(likelihood_rows_text(self.rows))
        how = (f"drawn black and white {draws} times (x ~ Bernoulli(grey), the figures averaged)"
               if binarised == "stochastic" else "binarised at ½")
        self.lik_note.setText(
            f"−log p(x) in nats per image on {n:,} held-out images of {spec}, {how}; lower is better. A bound "
            "(ELBO, IW) lies above the true value; the IW bound tightens as k grows, and the gap to the ELBO is "
            "(at least) the variational gap. An autoregressive model's figure is exact.")

    def compute_anomaly(self):
        other, n, score = self.other_spec(), self.n_anom.value(), self.score.currentData()

        def make(model):
            _, val = yield from _held_out_job(model)
            data = load_dataset(other)
            return (yield from anomaly_job(model, val, data, n=n, score=score)), data.conform(*model.image_shape[:2])

        self._start(make, self._show_anomaly, f"Scoring against {other}…")

    def _show_anomaly(self, result):
        self.anomaly, other = result
        r = self.anomaly
        self.score_plots.show_report(r, SCORES[r.score])
        worst = other.images[r.most_anomalous[:16]]
        if len(worst):
            self.worst.show_image(square_mosaic(worst))
        notes = " ".join(r.notes)
        self.anom_text.setText(f"AUROC {r.auroc:.3f} on {len(r.inside):,} + {len(r.outside):,} images "
                               f"(1: every other image scores above every own one; 0.5: chance). {notes}")
        self.message.emit(f"anomaly detection: AUROC {r.auroc:.3f}")

    def compute_pca(self):
        def make(model):
            train, val = yield from _held_out_job(model)
            return pca_vs_model(model, train, val)

        self._start(make, self._show_pca, "PCA and reconstructions…")

    def _show_pca(self, c):
        self.comparison = c
        self.pca_text.setText(f"Mean squared error per pixel at a {c.code_size}-D code: the model "
                              f"{c.mse_model:.4f}, PCA {c.mse_pca:.4f} "
                              f"({'the model is better' if c.mse_model < c.mse_pca else 'PCA is better'}).")
        rows = np.concatenate([c.originals, c.model_recon, c.pca_recon])
        self.pca_images.show_image(mosaic(rows, cols=len(c.originals), gap=1))

    def compute_styles(self):
        self._start(self.styles.job(), self._show_styles, "Path lengths, truncation and style mixing…")

    def _show_styles(self, report):
        self.styles.show_report(report)
        self.state.set_style_report(self.model, report)
        self.message.emit(f"styles: PPL in W {report.ppl['w']:.1f}, in Z {report.ppl['z']:.1f}")

    def _failed(self, msg):
        self.message.emit(f"Inspect: {msg}")
        page = PAGES[self.pages.currentIndex()]
        {"dims": self.dims_text, "likelihood": self.lik_note, "anomaly": self.anom_text,
         "pca": self.pca_text, "modes": self.modes_text, "styles": self.styles.text}[page].setText(
            f"Could not compute: {msg}")

    def cancel(self):
        self.job.cancel()
        self.record_job.cancel()

    # -- view protocol ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return not self.job.busy and not self.record_job.busy

    def shutdown(self):
        self.cancel()
