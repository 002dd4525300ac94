"""Training from the desktop: choose a model kind, data and hyperparameters; runs execute the
``models.train`` generator in a child process relayed by a worker thread (:mod:`explorer.procjob`), with
live loss curves, previews and a log; runs queue, each keeps its own curves, and finished checkpoints
appear in the model list."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QStandardPaths, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGraphicsItem,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from .procjob import discard_spare, in_process, prestart
from .training_job import TRAIN_NICE, WARM_IMPORTS, RunSpec, training_threads
from .widgets import ImagePanel, ProgressLine
from .worker import Worker

__all__ = ["RunSpec", "TrainingView", "training_threads"]

CURVE_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"]
BUILTIN = ["digits", "shapes"]
# a run's records reach the UI at most this often (progress, speed, curve points). Each update wakes the UI
# thread, which preempts a training thread on a small machine: 10 Hz reads as smooth and wakes it half as
# often as 20 Hz (measured: the UI process used 5.6% of a core during a run, against 6.3%).
UPDATE_HZ = 10.0


def default_output_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
    return Path(base) / "Latent Explorer"


@dataclass
class Run:
    spec: RunSpec
    status: str = "queued"  # queued | running | paused | finished | stopped | failed
    steps: list = field(default_factory=list)
    losses: dict = field(default_factory=dict)  # name -> list of values at ``steps``
    log: list = field(default_factory=list)
    preview: np.ndarray | None = None
    fraction: float = 0.0
    total_steps: int = 0
    rate: float = 0.0
    eta: float = 0.0
    checkpoint: str | None = None
    error: str | None = None
    worker: Worker | None = None

    @property
    def name(self) -> str:
        return Path(self.spec.out).stem


class RunQueue(QObject):
    """Runs in order, one at a time; emits when a run changes or a checkpoint is ready."""

    changed = Signal(object)  # Run
    added = Signal(object)
    checkpointReady = Signal(str)
    failed = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.runs: list[Run] = []
        self.threads = training_threads()
        self._last_ui = 0.0

    @property
    def active(self) -> Run | None:
        return next((r for r in self.runs if r.status in ("running", "paused")), None)

    def submit(self, spec: RunSpec) -> Run:
        run = Run(spec)
        self.runs.append(run)
        self.added.emit(run)
        self._next()
        return run

    def _next(self):
        if self.active is not None:
            return
        run = next((r for r in self.runs if r.status == "queued"), None)
        if run is None:
            return
        job = in_process("explorer.training_job:run_training", run.spec, threads=self.threads, nice=TRAIN_NICE,
                         rate=UPDATE_HZ)
        w = Worker(job, f"train-{run.name}", max_rate=UPDATE_HZ)
        run.worker, run.status = w, "running"
        run.log.append(f"started {run.spec.kind} on {run.spec.data} → {run.spec.out}")
        w.yielded.connect(lambda rec, run=run: self._on_record(run, rec))
        w.returned.connect(lambda summary, run=run: self._on_done(run, summary))
        w.errored.connect(lambda msg, run=run: self._on_error(run, msg))
        w.cancelled.connect(lambda run=run: self._on_cancelled(run))
        w.finished.connect(lambda run=run: self._on_finished(run))
        self.changed.emit(run)
        w.start()

    def _on_record(self, run: Run, rec):
        from models.train import Progress

        if not isinstance(rec, Progress):
            run.log.append(getattr(rec, "message", ""))
            self.changed.emit(run)
            return
        if rec.event == "step":
            run.steps.append(rec.step)
            for k, v in rec.losses.items():
                run.losses.setdefault(k, []).append(v)
        elif rec.event == "epoch":
            tr = "  ".join(f"{k} {v:.4g}" for k, v in rec.losses.items())
            va = "  ".join(f"{k} {v:.4g}" for k, v in (rec.val or {}).items())
            run.log.append(f"epoch {rec.epoch}/{rec.epochs}  train: {tr}  |  held-out: {va}")
        elif rec.event in ("done", "stopped"):
            run.checkpoint = rec.checkpoint
            run.log.append(f"{rec.message}: {rec.checkpoint}" if rec.checkpoint else rec.message)
        if rec.preview is not None:
            run.preview = rec.preview
        run.fraction, run.eta, run.total_steps = rec.fraction, rec.eta_s, rec.total_steps
        if rec.samples_per_s > 0:
            run.rate = rec.samples_per_s
        self.changed.emit(run)

    def _on_done(self, run, summary):
        run.status = "stopped" if (summary or {}).get("status") == "stopped" else "finished"
        run.fraction = 1.0 if run.status == "finished" else run.fraction
        if run.checkpoint:
            self.checkpointReady.emit(run.checkpoint)

    def _on_cancelled(self, run):
        run.status = "stopped"
        if Path(run.spec.out).exists():
            run.checkpoint = run.spec.out
            run.log.append(f"stopped: the last weights were saved to {run.spec.out}")
            self.checkpointReady.emit(run.spec.out)

    def _on_error(self, run, msg):
        run.status, run.error = "failed", msg
        run.log.append(f"error: {msg}")
        self.failed.emit(msg)
        if Path(run.spec.out).exists():  # the last good weights
            run.checkpoint = run.spec.out
            self.checkpointReady.emit(run.spec.out)

    def _on_finished(self, run):
        run.worker = None
        self.changed.emit(run)
        self._next()

    def pause(self, run: Run):
        if run.worker is not None and run.status == "running":
            run.worker.pause()
            run.status = "paused"
            self.changed.emit(run)

    def resume(self, run: Run):
        if run.worker is not None and run.status == "paused":
            run.worker.resume()
            run.status = "running"
            self.changed.emit(run)

    def stop(self, run: Run, wait: bool = False):
        if run.status == "queued":
            run.status = "stopped"
            self.changed.emit(run)
        elif run.worker is not None:
            run.worker.abort()
            if wait:
                run.worker.wait()

    def stop_all(self, wait: bool = True) -> None:
        for r in self.runs:
            if r.status == "queued":
                r.status = "stopped"
        for r in list(self.runs):
            if r.worker is not None:
                self.stop(r, wait=wait)

    def running(self) -> bool:
        return self.active is not None


class TrainingView(QWidget):
    message = Signal(str)
    ready = Signal()

    def __init__(self, library, parent=None):
        super().__init__(parent)
        self.library = library
        self.queue = RunQueue(self)
        self.shown: Run | None = None
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._last_draw = 0.0
        self._y_range: tuple[float, float] | None = None
        self._closing = False
        self._shown_preview = None
        self._build()
        self.queue.added.connect(self._on_added)
        self.queue.changed.connect(self._on_changed)
        self.queue.checkpointReady.connect(self._on_checkpoint)
        self.queue.failed.connect(self.message)
        self._data_dirty = True  # the data preview is made when the view is first shown (fast start-up)
        self._on_kind()

    def showEvent(self, ev):
        super().showEvent(ev)
        if self._data_dirty:
            self._on_data(self.data.currentText())
        self._prestart()

    def _prestart(self):
        """A training process that has already imported PyTorch waits for the next Start (no 5 s wait)."""
        if self.isVisible() and self.queue.active is None and not self._closing:
            prestart(TRAIN_NICE, WARM_IMPORTS)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        from models.base import KIND_NAMES, KINDS

        root = QHBoxLayout(self)
        split = QSplitter()
        root.addWidget(split)
        left = QWidget()
        ll = QVBoxLayout(left)
        form_box = QGroupBox("New run")
        form = QFormLayout(form_box)
        self.kind = QComboBox()
        for k in KINDS:
            self.kind.addItem(f"{k} — {KIND_NAMES[k]}", k)
        self.kind.setCurrentIndex(KINDS.index("vae"))
        self.kind.currentIndexChanged.connect(self._on_kind)
        form.addRow("Model", self.kind)
        drow = QHBoxLayout()
        self.data = QComboBox()
        self.data.setEditable(True)
        self.data.addItems(BUILTIN)
        self.data.setToolTip("digits, shapes[:N], or a folder of images, IDX files or an .npz")
        self.data.currentTextChanged.connect(self._on_data)
        self.btn_browse = QPushButton("Folder…")
        self.btn_browse.clicked.connect(self._browse_data)
        self.btn_file = QPushButton("File…")
        self.btn_file.clicked.connect(self._browse_file)
        drow.addWidget(self.data, 1)
        drow.addWidget(self.btn_browse)
        drow.addWidget(self.btn_file)
        form.addRow("Data", drow)
        self.data_info = QLabel()
        self.data_info.setWordWrap(True)
        self.data_info.setStyleSheet("color: #888")
        form.addRow(self.data_info)
        self.data_preview = ImagePanel()
        self.data_preview.setFixedHeight(70)
        form.addRow(self.data_preview)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.batch = QSpinBox()
        self.batch.setRange(1, 65536)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1e6)
        self.lr.setSingleStep(1e-4)
        self.latent = QSpinBox()
        self.latent.setRange(2, 512)
        self.beta = QDoubleSpinBox()
        self.beta.setRange(0, 100)
        self.beta.setValue(1.0)
        self.beta.setToolTip("VAE: weight of the KL term (β-VAE)")
        self.conditional = QCheckBox("conditional on labels")
        self.conditional.setToolTip("DDPM: class conditioning with label dropout (classifier-free guidance). "
                                    "cvae and cgan are always conditional.")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        for label, w in (("Epochs", self.epochs), ("Batch size", self.batch), ("Learning rate", self.lr),
                         ("Latent dim", self.latent), ("β", self.beta), ("", self.conditional), ("Seed", self.seed)):
            form.addRow(label, w)
        orow = QHBoxLayout()
        self.out = QLineEdit()
        self.out.setToolTip("Where the checkpoint is saved (after every epoch, and at the end)")
        self.btn_out = QPushButton("…")
        self.btn_out.clicked.connect(self._browse_out)
        orow.addWidget(self.out, 1)
        orow.addWidget(self.btn_out)
        form.addRow("Save to", orow)
        ll.addWidget(form_box)
        buttons = QHBoxLayout()
        self.btn_start = QPushButton("Start")
        self.btn_start.setToolTip("Queue this run; it starts when the previous one ends")
        self.btn_start.clicked.connect(self.start)
        self.btn_pause = QPushButton("Pause")
        self.btn_pause.setCheckable(True)
        self.btn_pause.toggled.connect(self._on_pause)
        self.btn_stop = QPushButton("Stop")
        self.btn_stop.setToolTip("Stop the selected run; its last weights are saved")
        self.btn_stop.clicked.connect(lambda: self.shown and self.queue.stop(self.shown))
        for b in (self.btn_start, self.btn_pause, self.btn_stop):
            buttons.addWidget(b)
        ll.addLayout(buttons)
        ll.addWidget(QLabel("Runs"))
        self.runs = QListWidget()
        self.runs.currentRowChanged.connect(self._on_select)
        ll.addWidget(self.runs, 1)
        split.addWidget(left)

        right = QWidget()
        rl = QVBoxLayout(right)
        self.progress = ProgressLine(hide_when_idle=False)  # a fixed layout: nothing moves when a run starts
        self.progress.cancel.hide()
        self.progress.label.setText("no run")
        rl.addWidget(self.progress)
        self.stats = QLabel(" ")
        self.stats.setFixedHeight(self.stats.sizeHint().height())
        rl.addWidget(self.stats)
        self.plot = pg.PlotWidget(background="#202124")
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.addLegend(offset=(10, 10), labelTextColor="#dddddd")
        # No grid: pyqtgraph's axes draw it across the whole plot, so each curve update replayed their
        # picture (5-15 ms on the UI thread). The axes are cached as pixmaps, redrawn when the range changes.
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.plot.plotItem.legend.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._own_y = True  # we fit y with hysteresis until the user pans or zooms; "A" hands it back to us
        self.plot.getViewBox().sigRangeChangedManually.connect(self._on_manual_range)
        rl.addWidget(self.plot, 3)
        low = QHBoxLayout()
        self.preview = ImagePanel(title="preview")
        self.preview.setToolTip("Samples from the model as it trains (reconstructions of held-out images for AEs)")
        self.preview.setMinimumSize(220, 220)
        low.addWidget(self.preview, 1)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.log.setStyleSheet("font-family: monospace; font-size: 9pt;")
        low.addWidget(self.log, 2)
        rl.addLayout(low, 2)
        split.addWidget(right)
        split.setSizes([380, 900])
        self._update_buttons()

    # -- form ------------------------------------------------------------------------------------
    def _on_kind(self, *_):
        from models.registry import DEFAULTS

        k = self.kind.currentData()
        d = DEFAULTS[k]
        self.epochs.setValue(d["epochs"])
        self.batch.setValue(d["batch_size"])
        self.lr.setValue(d["lr"])
        self.latent.setValue(max(2, d["latent_dim"]))
        self.latent.setEnabled(k != "ddpm")
        self.beta.setEnabled(k in ("vae", "cvae"))
        self.conditional.setEnabled(k == "ddpm")
        self.conditional.setChecked(k in ("cvae", "cgan"))
        self._default_out()

    def _default_out(self):
        data = Path(self.data.currentText().strip() or "data").name.replace(":", "-") or "data"
        name = f"{self.kind.currentData()}-{data}-{time.strftime('%Y%m%d-%H%M%S')}.safetensors"
        self.out.setText(str(default_output_dir() / name))

    def _on_data(self, spec):
        from models.data import DataError, load_dataset

        spec = spec.strip()
        self._default_out()
        if not self.isVisible():
            self._data_dirty = True
            return
        self._data_dirty = False
        if not spec:
            return
        try:
            d = load_dataset(spec)
        except DataError as e:
            self.data_info.setText(f"⚠ {e}")
            self.data_preview.clear_image()
            return
        except Exception as e:  # noqa: BLE001
            self.data_info.setText(f"⚠ {type(e).__name__}: {e}")
            return
        c, h, w = d.shape
        cls = f"{len(d.class_names)} classes" if d.labels is not None else "no labels"
        skipped = f", {len(d.skipped)} files skipped" if d.skipped else ""
        self.data_info.setText(f"{len(d):,} images, {h}×{w}, {'RGB' if c == 3 else 'grayscale'}, {cls}{skipped}")
        from models.latent import mosaic

        k = min(8, len(d))
        self.data_preview.show_image(mosaic(d.images[np.linspace(0, len(d) - 1, k).astype(int)], k, gap=1))

    def _browse_data(self):
        path = QFileDialog.getExistingDirectory(self, "Data folder (images, class subfolders or IDX files)")
        if path:
            self.data.setCurrentText(path)

    def _browse_file(self):
        path, _ = QFileDialog.getOpenFileName(self, "Data file", "", "Data (*.npz *idx3-ubyte *idx3-ubyte.gz)")
        if path:
            self.data.setCurrentText(path)

    def _browse_out(self):
        path, _ = QFileDialog.getSaveFileName(self, "Save the checkpoint as", self.out.text(),
                                              "Checkpoints (*.safetensors)")
        if path:
            self.out.setText(path if path.endswith(".safetensors") else path + ".safetensors")

    def spec(self) -> RunSpec:
        return RunSpec(kind=self.kind.currentData(), data=self.data.currentText().strip(), out=self.out.text().strip(),
                       epochs=self.epochs.value(), batch_size=self.batch.value(), lr=self.lr.value(),
                       latent_dim=self.latent.value(), beta=self.beta.value(),
                       conditional=self.conditional.isChecked() and self.kind.currentData() == "ddpm",
                       seed=self.seed.value())

    def start(self, spec: RunSpec | None = None) -> Run | None:
        spec = spec or self.spec()
        out = Path(spec.out)
        if not spec.out or out.suffix != ".safetensors":
            self.message.emit("choose an output file ending in .safetensors")
            return None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            self.message.emit(f"cannot create {out.parent}: {e.strerror}")
            return None
        if not os.access(out.parent, os.W_OK):
            self.message.emit(f"{out.parent} is not writable: choose another place to save")
            return None
        if any(r.spec.out == spec.out and r.status in ("queued", "running", "paused") for r in self.queue.runs):
            self.message.emit("another run is already writing that file")
            return None
        run = self.queue.submit(spec)
        self._default_out()
        return run

    # -- runs ------------------------------------------------------------------------------------
    def _on_added(self, run):
        self.runs.addItem(QListWidgetItem(self._run_text(run)))
        self.runs.setCurrentRow(self.runs.count() - 1)

    def _run_text(self, run: Run) -> str:
        pct = f" {int(100 * run.fraction)}%" if run.status in ("running", "paused") else ""  # as the bar
        return f"{run.name}  [{run.status}{pct}]"

    def _on_select(self, row):
        self.shown = self.queue.runs[row] if 0 <= row < len(self.queue.runs) else None
        for c in self._curves.values():
            self.plot.removeItem(c)
        self._curves = {}
        self.plot.plotItem.legend.clear()
        self.plot.getViewBox().enableAutoRange(x=True)
        self.plot.getViewBox().enableAutoRange(y=False)
        self._own_y, self._y_range = True, None
        if self.shown is not None:  # the curves exist before the first loss arrives (no hitch mid-run)
            from models.registry import CLASSES

            for name in CLASSES[self.shown.spec.kind].loss_names:
                self._curve(name)
        self._redraw(force=True)

    def _on_changed(self, run):
        item = self.runs.item(self.queue.runs.index(run))
        text = self._run_text(run)
        if item.text() != text:  # the list repaints on every setText
            item.setText(text)
        if run is self.shown:
            self._redraw(force=run.status not in ("running",))
        self._update_buttons()
        if run.status in ("finished", "stopped", "failed") and run.worker is None:
            self.ready.emit()
            QTimer.singleShot(0, self._prestart)  # after the queue has started any next run

    def _redraw(self, force=False):
        run = self.shown
        self._update_buttons()
        if run is None:
            return
        self._update_progress(run)
        now = time.monotonic()
        # curves at most 4 times a second: each new range re-lays-out the axes, the UI thread's main cost
        if not force and now - self._last_draw < 0.25:
            return
        self._last_draw = now
        vb = self.plot.getViewBox()
        if run.total_steps and vb.state["autoRange"][0] is not False:
            vb.setXRange(0, run.total_steps, padding=0.02)  # fixed for the run: the x axis never re-lays-out
            vb.enableAutoRange(x=False)
        steps = np.asarray(run.steps, np.float64)
        lo, hi = np.inf, -np.inf
        for name, vals in run.losses.items():
            curve = self._curve(name)
            n = min(len(steps), len(vals))
            ys = np.asarray(vals[:n], np.float64)
            curve.setData(steps[:n], ys)
            finite = ys[np.isfinite(ys)]
            if finite.size:
                lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
        if np.isfinite(lo):
            self._fit_y(vb, lo, hi)
        if run.preview is not None and run.preview is not self._shown_preview:  # only a new preview
            from models.latent import mosaic

            self._shown_preview = p = run.preview
            self.preview.show_image(mosaic(p, int(np.ceil(np.sqrt(len(p)))), gap=1))
        text = "\n".join(run.log)
        if self.log.toPlainText() != text:
            self.log.setPlainText(text)
            self.log.verticalScrollBar().setValue(self.log.verticalScrollBar().maximum())

    def _fit_y(self, vb, lo: float, hi: float) -> None:
        """Fit the y range to the losses with hysteresis: it changes only when a curve leaves it or fills
        less than half of it, so the axes are not re-laid-out on every update as loss creeps down."""
        if vb.state["autoRange"][1] is not False:  # the "A" button: ours again
            vb.enableAutoRange(y=False)
            self._own_y = True
            self._y_range = None
        if not self._own_y:
            return
        cur = self._y_range
        if cur is not None and cur[0] <= lo and hi <= cur[1] and (hi - lo) >= 0.5 * (cur[1] - cur[0]):
            return
        pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.1, 1e-3)
        self._y_range = (lo - pad, hi + pad)
        vb.setYRange(*self._y_range, padding=0)

    def _on_manual_range(self, *_):
        self._own_y = False

    def _curve(self, name: str) -> pg.PlotDataItem:
        curve = self._curves.get(name)
        if curve is None:
            colour = CURVE_COLOURS[len(self._curves) % len(CURVE_COLOURS)]
            curve = self.plot.plot(pen=pg.mkPen(colour, width=2), name=name)
            curve.setDownsampling(auto=True, method="mean")
            curve.setClipToView(True)
            self._curves[name] = curve
        return curve

    def _update_progress(self, run: Run):
        if run.status in ("running", "paused"):
            if not self.progress.active:
                self.progress.start(f"training {run.name}", cancellable=False)
            self.progress.update_fraction(run.fraction, eta=run.eta or None)
            self.stats.setText(f"{run.status}: {float(f'{run.rate:.3g}'):,.0f} images/s")  # 3 figures
        else:
            if self.progress.active:
                self.progress.finish(run.name)
            self.progress.update_fraction(run.fraction)
            self.stats.setText(run.status + (f": {run.error}" if run.error else "") +
                               (f" — saved {run.checkpoint}" if run.checkpoint else ""))

    def _update_buttons(self):
        run = self.shown
        live = run is not None and run.status in ("running", "paused", "queued")
        self.btn_stop.setEnabled(live)
        self.btn_pause.setEnabled(run is not None and run.status in ("running", "paused"))
        self.btn_pause.blockSignals(True)
        self.btn_pause.setChecked(run is not None and run.status == "paused")
        self.btn_pause.setText("Resume" if run is not None and run.status == "paused" else "Pause")
        self.btn_pause.blockSignals(False)

    def _on_pause(self, on):
        if self.shown is None:
            return
        (self.queue.pause if on else self.queue.resume)(self.shown)

    def _on_checkpoint(self, path):
        entry = self.library.add(path, reload=True)
        if entry is not None:
            self.message.emit(f"{Path(path).name} is in the model list")

    def is_ready(self) -> bool:
        return True

    def shutdown(self):
        self._closing = True
        self.queue.stop_all(wait=True)
        discard_spare()
