"""Diffusion stepper: the forward (noising) process at any t (:mod:`explorer.diffusion_forward`), and the
reverse (denoising) process recorded frame by frame in a worker, then scrubbed instantly; with the schedule
beside it. Every panel draws model units on one value scale, shown by a colour bar."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
import torch
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from . import dialogs
from .diffusion_forward import ForwardPanel
from .jobs import ModelJob
from .model_view import ModelView
from .sampling_controls import SamplingControls
from .widgets import ImagePanel, ProgressLine, ValueBar, hint, room_for_top_tick

SCALES = {"±1 (data range)": 1.0, "±2": 2.0, "±3": 3.0}


class DiffusionView(ModelView):
    message = Signal(str)
    ready = Signal()
    frameShown = Signal(int)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.trajectory = None
        self._grid_cols = 4
        self._build()
        self.job = ModelJob(self, "reverse", self.progress)
        self.job.finished.append(self._job_done)
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QVBoxLayout(self)
        from latent_explorer.models import registry

        kinds = ", ".join(k for k in registry.kinds() if registry.get(k).capabilities.diffusion)
        self._hint = (f"The Diffusion view is for diffusion models ({kinds}): pick mnist-ddpm in the model list, "
                      "or train one (latent-explorer train --model ddpm …).")
        self.placeholder = hint(self._hint)
        root.addWidget(self.placeholder)
        self.body = QSplitter(Qt.Orientation.Vertical)
        root.addWidget(self.body, 1)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        scale_row = QHBoxLayout()
        self.scale = QComboBox()
        self.scale.addItems(list(SCALES))
        self.scale.setCurrentIndex(1)
        self.scale.setToolTip("The values drawn black to white in every panel (model units: data in [−1, 1], "
                              "noise ~ N(0, 1)), so that equal values look equal everywhere")
        self.scale.currentIndexChanged.connect(self._on_scale)
        self.value_bar = ValueBar(-2.0, 2.0, "model units")
        scale_row.addWidget(QLabel("Values:"))
        scale_row.addWidget(self.scale)
        scale_row.addWidget(self.value_bar, 1)
        tl.addLayout(scale_row)
        self.forward = ForwardPanel()
        self.forward.message.connect(self.message)
        self.forward.timestepChanged.connect(lambda t: self.cursor.setValue(t))
        tl.addWidget(self.forward, 1)
        self.body.addWidget(top)

        # reverse
        rev = QGroupBox("Reverse: denoising from seeded noise")
        rl = QVBoxLayout(rev)
        ctl = QHBoxLayout()
        self.controls = SamplingControls(steps=50, batch=(16, 64), tips={
            "steps": "Steps K (a sampler that runs all T greys this out)",
            "guidance": "Classifier-free guidance scale w: ε = ε_null + w·(ε_y − ε_null); 1 = plain",
            "batch": "Samples denoised side by side"})
        c = self.controls
        self.sampler, self.steps, self.eta, self.guidance, self.seed, self.n = (c.sampler, c.steps, c.eta, c.guidance,
                                                                                 c.seed, c.n)
        self.cls = QComboBox()
        self.cls.setToolTip("Class to generate (conditional models); 'mixed' cycles through the classes")
        self.btn_run = QPushButton("Run")
        self.btn_run.setToolTip("Record the reverse process (Ctrl+R)")
        self.btn_run.clicked.connect(self.run_reverse)
        QShortcut(QKeySequence("Ctrl+R"), self, self.run_reverse)
        for w in (self.controls, QLabel("class"), self.cls, self.btn_run):
            ctl.addWidget(w)
        ctl.addStretch(1)
        rl.addLayout(ctl)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        rl.addWidget(self.progress)
        panels = QHBoxLayout()
        self.rev_x, self.rev_x0, self.rev_eps = (ImagePanel(title=t) for t in ("x_t", "predicted x̂_0",
                                                                                 "predicted noise ε̂"))
        for p in (self.rev_x, self.rev_x0, self.rev_eps):
            p.setMinimumSize(180, 180)
            panels.addWidget(p, 1)
        self.sched_plot = room_for_top_tick(pg.PlotWidget(background="#202124"))
        self.sched_plot.setMinimumWidth(260)
        self.sched_plot.addLegend(offset=(5, 5), labelTextColor="#dddddd")
        self.sched_plot.setLabel("bottom", "t")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen("#ff5050", width=2))
        self.sched_plot.addItem(self.cursor)
        panels.addWidget(self.sched_plot, 1)
        rl.addLayout(panels, 1)
        scrub = QHBoxLayout()
        self.frame = QSlider(Qt.Orientation.Horizontal)
        self.frame.setToolTip("Frame: ←/→ one step, Shift+←/→ ten, Home/End, Space play/pause")
        self.frame.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.frame.valueChanged.connect(self.show_frame)
        self.frame_label = QLabel("no trajectory yet")
        self.btn_play = QPushButton("Play")
        self.btn_play.setCheckable(True)
        self.btn_play.toggled.connect(self._on_play)
        self.fps = QSpinBox()
        self.fps.setRange(1, 1000)
        self.fps.setValue(60)
        self.fps.setSuffix(" fps")
        self.btn_gif = QPushButton("Export animation…")
        self.btn_gif.setToolTip("Save the trajectory as a GIF or an MP4 video")
        self.btn_gif.clicked.connect(self._export_gif)
        self.btn_strip = QPushButton("Export PNG strip…")
        self.btn_strip.clicked.connect(self._export_strip)
        for w in (self.btn_play, self.fps, self.frame_label):
            scrub.addWidget(w)
        scrub.addWidget(self.frame, 1)
        scrub.addWidget(self.btn_gif)
        scrub.addWidget(self.btn_strip)
        rl.addLayout(scrub)
        self.body.addWidget(rev)
        self.body.setSizes([260, 520])

        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._advance)
        self._t0 = 0.0
        self._frame0 = 0
        for key, fn in (("Right", lambda: self.step_frames(1)), ("Left", lambda: self.step_frames(-1)),
                        ("Shift+Right", lambda: self.step_frames(10)), ("Shift+Left", lambda: self.step_frames(-10)),
                        ("Home", lambda: self.frame.setValue(0)),
                        ("End", lambda: self.frame.setValue(self.frame.maximum())),
                        ("Space", self.btn_play.toggle)):
            sc = QShortcut(QKeySequence(key), self, fn)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._set_traj_enabled(False)

    # -- model -----------------------------------------------------------------------------------
    def applies(self, model) -> str | None:
        return None if model is not None and model.capabilities.diffusion else self._hint

    def _on_model(self, model):
        ok = self.applies(model) is None
        self.model = model if ok else None  # first: results of the cancelled job are then stale
        self.cancel()
        self.btn_play.setChecked(False)
        self.gate(model)
        self.trajectory = None
        self._set_traj_enabled(False)
        self.frame_label.setText("no trajectory yet")
        for p in (self.rev_x, self.rev_x0, self.rev_eps):
            p.clear_image()
        self.forward.set_model(self.model)
        if not ok:
            return
        T = model.config.timesteps
        self.controls.set_timesteps(T, 50)
        with QSignalBlocker(self.cls):
            self.cls.clear()
            if model.conditioning == "class":
                self.cls.addItem("mixed")
                self.cls.addItems(model.class_names)
        self.cls.setEnabled(model.conditioning == "class")
        self.guidance.setEnabled(model.conditional)
        self._plot_schedule()

    @property
    def scheduler(self):
        return self.forward.scheduler

    def _plot_schedule(self):
        s = self.scheduler
        p = self.sched_plot
        for item in list(p.listDataItems()):
            p.removeItem(item)
        t = np.arange(s.T)
        lsnr = s.log_snr.numpy()
        # three curves on one axis: β scaled to [0, 1], ᾱ, and log-SNR scaled to [0, 1]
        beta = s.betas.numpy()
        p.plot(t, beta / beta.max(), pen=pg.mkPen("#f28e2b", width=2), name=f"β_t (max {beta.max():.3g})")
        p.plot(t, s.alphas_cumprod.numpy(), pen=pg.mkPen("#4e79a7", width=2), name="ᾱ_t")
        p.plot(t, (lsnr - lsnr.min()) / (lsnr.max() - lsnr.min()), pen=pg.mkPen("#59a14f", width=2),
               name=f"log-SNR ({lsnr.min():.1f}…{lsnr.max():.1f})")
        p.setXRange(0, s.T, padding=0.02)
        p.setYRange(0, 1, padding=0.05)

    def _on_scale(self, *_):
        scale = SCALES[self.scale.currentText()]
        self.value_bar.set_range(-scale, scale)
        self.forward.set_scale(scale)
        if self.trajectory is not None:
            self.show_frame(self.frame.value())

    @property
    def value_scale(self) -> float:
        return SCALES[self.scale.currentText()]

    # -- reverse ---------------------------------------------------------------------------------
    def labels(self):
        if self.model is None or not self.model.conditional:
            return None
        k = self.cls.currentIndex()
        n = self.n.value()
        return torch.arange(n) % self.model.num_classes if k <= 0 else torch.full((n,), k - 1)

    def run_reverse(self):
        from latent_explorer.models.sampling.trajectory import record_reverse

        if self.model is None:
            return
        self.cancel()
        self.btn_play.setChecked(False)
        model, s, y = self.model, self.controls.settings(), self.labels()
        n = s.batch

        def job(should_stop):
            return (yield from record_reverse(model, n, y, s.sampler, s.steps, s.eta,
                                              s.guidance if model.conditional else 1.0, s.seed, should_stop))

        total = s.steps_run(model.config.timesteps)
        self.job.start(model, job, self._set_trajectory, f"{s.title}: {total} steps × {n} samples…",
                       on_error=self.message.emit,
                       on_cancel=lambda: self.message.emit("cancelled: the previous trajectory is kept"))
        self.btn_run.setEnabled(False)

    def _job_done(self):
        self.btn_run.setEnabled(self.model is not None)

    def cancel(self):
        self.job.cancel()

    def busy(self) -> bool:
        return self.job.busy

    def _set_trajectory(self, traj):
        if traj is None:
            return
        self.trajectory = traj
        n = traj.x.shape[1]
        self._grid_cols = int(np.ceil(np.sqrt(n)))
        self._set_traj_enabled(True)
        with QSignalBlocker(self.frame):
            self.frame.setRange(0, len(traj) - 1)
            self.frame.setValue(0)
        self.show_frame(0)
        self.message.emit(f"recorded {len(traj)} frames ({traj.nbytes / 2**20:.1f} MB); scrub with ←/→")
        self.frame.setFocus()
        self.ready.emit()

    def _set_traj_enabled(self, on):
        for w in (self.frame, self.btn_play, self.fps, self.btn_gif, self.btn_strip):
            w.setEnabled(on)

    def frame_images(self, k: int):
        """Display grids (x_t, x̂_0, ε̂) of frame k, each (H', W'[, 3]) float32 in [0, 1], all three on the
        view's one value scale."""
        from latent_explorer.models.display import mosaic, signed_to_unit

        tr = self.trajectory
        return [mosaic(signed_to_unit(arr[k], self.value_scale), self._grid_cols, gap=1)
                for arr in (tr.x, tr.x0, tr.eps)]

    def show_frame(self, k: int):
        if self.trajectory is None:
            return
        k = int(np.clip(k, 0, len(self.trajectory) - 1))
        x, x0, eps = self.frame_images(k)
        self.rev_x.show_image(x)
        self.rev_x0.show_image(x0)
        self.rev_eps.show_image(eps)
        t = int(self.trajectory.timesteps[k])
        self.frame_label.setText(f"frame {k}/{len(self.trajectory) - 1}  " + (f"t = {t}" if t >= 0 else "x_0"))
        self.cursor.setValue(max(t, 0))
        self.frameShown.emit(k)

    def step_frames(self, d: int):
        if self.trajectory is not None:
            self.frame.setValue(int(np.clip(self.frame.value() + d, 0, self.frame.maximum())))

    def _on_play(self, on):
        self.btn_play.setText("Pause" if on else "Play")
        if on:
            if self.frame.value() >= self.frame.maximum():
                self.frame.setValue(0)
            self._t0 = time.monotonic()
            self._frame0 = self.frame.value()
            self._play_timer.start(15)
        else:
            self._play_timer.stop()

    def _advance(self):
        # time-based playback: the frame follows the clock, dropping frames rather than lagging
        k = self._frame0 + int((time.monotonic() - self._t0) * self.fps.value())
        if k >= self.frame.maximum():
            self.frame.setValue(self.frame.maximum())
            self.btn_play.setChecked(False)
        else:
            self.frame.setValue(k)

    # -- export ----------------------------------------------------------------------------------
    def export_frames(self, n: int = 40) -> list[np.ndarray]:
        from latent_explorer.models.io.images import to_uint8
        from latent_explorer.models.sampling.trajectory import frame_indices

        tr = self.trajectory
        idx = frame_indices(len(tr), n)
        frames = []
        for k in idx:
            x = self.frame_images(int(k))[0]
            pic = to_uint8(x)
            pic = np.repeat(pic[..., None], 3, 2) if pic.ndim == 2 else pic
            scale = max(1, 256 // pic.shape[0])
            frames.append(np.ascontiguousarray(pic.repeat(scale, 0).repeat(scale, 1)))
        return frames

    def export_gif(self, path: str, n: int = 40):
        from latent_explorer.models.io.images import save_video

        frames = self.export_frames(n)
        save_video(path, frames + [frames[-1]] * 10, fps=12)

    def export_strip(self, path: str, n: int = 10):
        from latent_explorer.models.display import signed_to_unit
        from latent_explorer.models.io.images import make_grid, save_png
        from latent_explorer.models.sampling.trajectory import frame_indices

        tr = self.trajectory
        idx = frame_indices(len(tr), n)
        rows = [signed_to_unit(tr.x[k], self.value_scale) for k in idx]  # (n_frames, N, C, H, W)
        imgs = np.stack(rows, 1).reshape(-1, *tr.x.shape[2:])  # each sample is a row, time left to right
        scale = max(1, 32 // tr.x.shape[-1])
        save_png(path, make_grid(imgs, nrow=len(idx), scale=scale))

    def _export_gif(self):
        dialogs.save_as(self, "Export trajectory", "diffusion.gif", dialogs.animation_filter(), self.export_gif,
                        self.message.emit)

    def _export_strip(self):
        dialogs.save_as(self, "Export strip", "diffusion.png", "PNG (*.png)", self.export_strip, self.message.emit)

    def is_ready(self) -> bool:
        return self.model is None or (self.trajectory is not None and not self.busy())

    def shutdown(self):
        self._play_timer.stop()
        self.forward.stop()
        self.cancel()
