"""Training from the desktop: a form (:mod:`explorer.training_form`) to choose a kind, data and
hyperparameters; runs (:mod:`explorer.runs`) execute the ``models.training.train`` generator in a child process
relayed by a worker thread, with live loss curves, previews and a log; runs queue, each keeps its own
curves, and finished checkpoints appear in the model list."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QGraphicsItem,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models import CheckpointError, ConfigError
from latent_explorer.models.training.run import RunSpec

from .model_view import ModelView
from .procjob import discard_spare, prestart
from .runs import Run, RunQueue
from .training_form import RunForm
from .training_job import TRAIN_NICE, WARM_IMPORTS, training_threads
from .widgets import ElidedLabel, ImagePanel, ProgressLine, room_for_top_tick, scrolled

__all__ = ["RunSpec", "TrainingView", "training_threads"]

CURVE_COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1"]


class TrainingView(ModelView):
    message = Signal(str)
    ready = Signal()
    checkpointSaved = Signal(str)  # a run's checkpoint, now in the model list (the window adds it to Open Recent)

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
        self._data_checked = False  # the data preview is made when the view is first shown (fast start-up)

    def showEvent(self, ev):
        super().showEvent(ev)
        if not self._data_checked:
            self._data_checked = True
            self.form.check_data()
        self._prestart()

    def _prestart(self):
        """A training process that has already imported PyTorch waits for the next Start (no 5 s wait)."""
        if self.isVisible() and self.queue.active is None and not self._closing:
            prestart(TRAIN_NICE, WARM_IMPORTS)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QHBoxLayout(self)
        split = QSplitter()
        root.addWidget(split)
        left = QWidget()
        ll = QVBoxLayout(left)
        self.form = RunForm()
        self.form.message.connect(self.message)
        scroll = scrolled(self.form)  # scrolls on a small screen, never forcing the height
        left.setMinimumWidth(self.form.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
                             + 24)
        ll.addWidget(scroll, 3)
        buttons = QHBoxLayout()
        self.btn_start = QPushButton("Start")
        self.btn_start.setToolTip("Queue this run; it starts when the previous one ends")
        self.btn_start.clicked.connect(lambda: self.start())
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
        self.runs.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # names that differ at the end stay apart
        self.runs.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # elide, never scroll
        self.runs.currentRowChanged.connect(self._on_select)
        ll.addWidget(self.runs, 1)
        split.addWidget(left)

        right = QWidget()
        rl = QVBoxLayout(right)
        self.progress = ProgressLine(hide_when_idle=False)  # a fixed layout: nothing moves when a run starts
        self.progress.cancel.hide()
        self.progress.label.setText("no run")
        rl.addWidget(self.progress)
        self.stats = ElidedLabel(" ")  # "stopped — saved /a/long/path…": elided, whole in its tooltip
        self.stats.setFixedHeight(self.stats.sizeHint().height())
        rl.addWidget(self.stats)
        self.plot = room_for_top_tick(pg.PlotWidget(background="#202124"))
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
        self.log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)  # long epoch lines wrap, none cut off
        self.log.setStyleSheet("font-family: monospace; font-size: 9pt;")
        low.addWidget(self.log, 2)
        rl.addLayout(low, 2)
        split.addWidget(right)
        split.setSizes([460, 820])
        self._update_buttons()

    def start(self, spec: RunSpec | None = None) -> Run | None:
        """Queue the form's run (or ``spec``); a value that cannot work is a message, nothing is started."""
        try:
            spec = spec or self.form.spec()
        except ConfigError as e:
            self.message.emit(str(e))
            return None
        from latent_explorer.models.io.checkpoint import OutputExists, check_output

        out = Path(spec.out)
        if not spec.out or out.suffix != ".safetensors":
            self.message.emit("choose an output file ending in .safetensors")
            return None
        if any(r.spec.out == spec.out and r.status in ("queued", "running", "paused") for r in self.queue.runs):
            self.message.emit("another run is already writing that file")
            return None
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            check_output(out, inputs=spec.inputs())  # never the checkpoint it resumes, nor a file it reads
        except OutputExists:
            if not self.confirm_replace(str(out)):
                self.message.emit(f"not started: {out.name} is kept; choose another file to save to")
                return None
        except OSError as e:
            self.message.emit(f"cannot create {out.parent}: {e.strerror}")
            return None
        except CheckpointError as e:
            self.message.emit(f"{e}: choose another place to save")
            return None
        run = self.queue.submit(spec)
        self.form.new_output_name()
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
            for name in self.shown.loss_names:
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
            from latent_explorer.models.display import square_mosaic

            self._shown_preview = p = run.preview
            self.preview.show_image(square_mosaic(p))
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
            self.checkpointSaved.emit(path)

    def confirm_replace(self, path: str) -> bool:
        """A checkpoint is never overwritten silently: the user says whether this one may be replaced."""
        answer = QMessageBox.question(
            self, "Replace the checkpoint?", f"{path} already exists. Replace it with the new run's weights?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def shutdown(self):
        self._closing = True
        self.form.shutdown()
        self.queue.stop_all(wait=True)
        discard_spare()
