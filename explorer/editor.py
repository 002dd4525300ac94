"""Latent Editor: a slider per latent dimension decoding live, randomise/reset, class selector,
GANSpace-style PCA directions, interpolation between two anchors, encode an image, export."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QObject, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from .state import LatentState
from .widgets import ImagePanel, hint, save_as
from .worker import Worker

SLIDER_SCALE = 100  # slider ticks per unit of z
MAX_SLIDERS = 512
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp)"


class LiveDecoder(QObject):
    """Decodes the newest z. Fast models decode on the UI thread: at once for the first request in an
    event-loop pass (a slider drag delivers one move per pass), and any further requests in that pass
    coalesce into one decode in a zero-delay timer. Slow ones (DDPM) decode in a
    worker, latest wins and stale requests are dropped, never queued."""

    decoded = Signal(object)  # (C, H, W) float32 in [0, 1]
    busy = Signal(bool)
    failed = Signal(str)

    SYNC_LIMIT_S = 0.015

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.sync = True
        self._scheduled = False
        self._pending: tuple | None = None
        self._worker: Worker | None = None
        self.last: np.ndarray | None = None
        self.last_request: tuple | None = None
        self._in_pass = False

    def set_model(self, model) -> None:
        self.model = model
        self._pending = None
        if model is None:
            return
        z = torch.zeros(1, model.latent_dim)
        y = self._y()
        times = []
        with torch.no_grad():
            for _ in range(2):
                t = time.perf_counter()
                model.decode(z, y)
                times.append(time.perf_counter() - t)
        self.sync = min(times) < self.SYNC_LIMIT_S

    def _y(self):
        return torch.tensor([self.state.label]) if self.model is not None and self.model.conditional else None

    def request(self) -> None:
        if self.model is None:
            return
        self._pending = (self.state.z.copy(), self.state.label)
        if self.sync:
            if self._scheduled:
                return  # the scheduled decode takes the newest z
            if not self._in_pass:  # the first request in this event-loop pass: decode and show now
                self._in_pass = True
                QTimer.singleShot(0, self._end_pass)
                self._flush()
            else:  # more in the same pass (one handler moving z repeatedly): one decode, next pass
                self._scheduled = True
                QTimer.singleShot(0, self._flush)
        elif self._worker is None:
            self._start_worker()

    def decode_now(self, z: np.ndarray, label: int) -> np.ndarray:
        y = torch.tensor([label]) if self.model.conditional else None
        with torch.no_grad():
            return self.model.decode(torch.from_numpy(z[None]).to(self.model.device), y)[0].float().cpu().numpy()

    def _flush(self) -> None:
        self._scheduled = False
        if self._pending is None or self.model is None:
            return
        z, label = self._pending
        self._pending = None
        try:
            img = self.decode_now(z, label)
        except Exception as e:  # noqa: BLE001
            self.failed.emit(f"decoding failed: {e}")
            return
        self.last, self.last_request = img, (z, label)
        self.decoded.emit(img)

    def _end_pass(self) -> None:
        self._in_pass = False

    def _start_worker(self) -> None:
        z, label = self._pending
        self._pending = None
        model = self.model

        def job(should_stop):
            y = torch.tensor([label]) if model.conditional else None
            with torch.no_grad():
                img = model.decode(torch.from_numpy(z[None]), y)[0].float().cpu().numpy()
            yield from ()
            return img

        w = Worker(job, "decode")
        self._worker = w
        self.busy.emit(True)

        def done(img):
            if model is not self.model:
                return
            self.last, self.last_request = img, (z, label)
            self.decoded.emit(img)

        w.returned.connect(done)
        w.errored.connect(lambda m: self.failed.emit(f"decoding failed: {m}"))
        w.finished.connect(self._worker_done)
        w.start()

    def _worker_done(self) -> None:
        self._worker = None
        if self._pending is not None and self.model is not None:
            self._start_worker()
        else:
            self.busy.emit(False)

    def shutdown(self) -> None:
        self._pending = None
        if self._worker is not None:
            self._worker.stop()


class SliderRow:
    def __init__(self, grid: QGridLayout, row: int, name: str, on_change, tooltip: str = ""):
        self.label = QLabel(name)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setMinimumWidth(160)
        self.spin = QDoubleSpinBox()
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.1)
        self.spin.setRange(-100, 100)
        self.spin.setKeyboardTracking(False)
        for w in (self.label, self.slider, self.spin):
            w.setToolTip(tooltip)
        grid.addWidget(self.label, row, 0)
        grid.addWidget(self.slider, row, 1)
        grid.addWidget(self.spin, row, 2)
        self.slider.valueChanged.connect(lambda v: on_change(v / SLIDER_SCALE))
        self.spin.valueChanged.connect(on_change)

    def set_range(self, r: float):
        with QSignalBlocker(self.slider):
            self.slider.setRange(int(-r * SLIDER_SCALE), int(r * SLIDER_SCALE))

    def set_value(self, v: float, spin: bool = True):
        with QSignalBlocker(self.slider):
            self.slider.setValue(int(round(v * SLIDER_SCALE)))
        if spin:
            self.set_spin(v)

    def set_spin(self, v: float):
        with QSignalBlocker(self.spin):
            self.spin.setValue(float(v))


class LatentEditor(QWidget):
    imageUpdated = Signal()
    message = Signal(str)
    ready = Signal()

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.decoder = LiveDecoder(state, self)
        self.rows: list[SliderRow] = []
        self.dir_rows: list[SliderRow] = []
        self.directions: np.ndarray | None = None
        self.dir_base: np.ndarray | None = None
        self.dir_coeffs: np.ndarray | None = None
        self._dir_worker: Worker | None = None
        self.seed = 0
        self.last_dim = 0
        self._shown_z: np.ndarray | None = None
        self._spins_due: set[int] = set()
        self._spin_timer = QTimer(self)
        self._spin_timer.setSingleShot(True)
        self._spin_timer.setInterval(40)
        self._spin_timer.timeout.connect(self._sync_spins)
        self._build()
        self.setAcceptDrops(True)
        state.modelChanged.connect(self._on_model)
        state.zChanged.connect(self._on_z)
        state.labelChanged.connect(self._on_label)
        state.anchorsChanged.connect(self._on_anchors)
        self.decoder.decoded.connect(self._show)
        self.decoder.failed.connect(self.message)
        self.decoder.busy.connect(lambda b: self.busy.setText("decoding…" if b else ""))
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QHBoxLayout(self)
        left = QVBoxLayout()
        self.panel = ImagePanel()
        self.panel.setMinimumSize(300, 300)
        left.addWidget(self.panel, 1)
        self.busy = QLabel()
        self.busy.setStyleSheet("color: #888")
        left.addWidget(self.busy)
        form = QFormLayout()
        self.cls = QComboBox()
        self.cls.setToolTip("The class a conditional model generates")
        self.cls.currentIndexChanged.connect(lambda k: self.state.set_label(max(0, k)))
        form.addRow("Class", self.cls)
        self.range = QDoubleSpinBox()
        self.range.setRange(0.5, 20)
        self.range.setValue(3.0)
        self.range.setSingleStep(0.5)
        self.range.setToolTip("Slider range: each slider spans ± this value")
        self.range.valueChanged.connect(self._on_range)
        form.addRow("Slider range ±", self.range)
        left.addLayout(form)
        buttons = QGridLayout()
        self.btn_random = QPushButton("Randomise")
        self.btn_random.setToolTip("Draw z from the prior, seeded (R)")
        self.btn_random.clicked.connect(self.randomise)
        self.seed_box = QSpinBox()
        self.seed_box.setRange(0, 2**31 - 1)
        self.seed_box.setPrefix("seed ")
        self.seed_box.setToolTip("Seed of the next random z; it advances after each draw")
        self.btn_reset = QPushButton("Reset")
        self.btn_reset.setToolTip("Back to the centre of the latent space (0)")
        self.btn_reset.clicked.connect(self.reset)
        self.btn_encode = QPushButton("Encode image…")
        self.btn_encode.setToolTip("Encode an image file (or drop one here) and edit its z")
        self.btn_encode.clicked.connect(self._pick_image)
        self.btn_png = QPushButton("Export PNG…")
        self.btn_png.setToolTip("Save the current image (Ctrl+E)")
        self.btn_png.clicked.connect(self._export_png)
        self.btn_gif = QPushButton("Export GIF…")
        self.btn_gif.setToolTip("Save the interpolation A→B, or a traversal of the last dimension you moved")
        self.btn_gif.clicked.connect(self._export_gif)
        for i, w in enumerate([self.btn_random, self.seed_box, self.btn_reset, self.btn_encode, self.btn_png,
                               self.btn_gif]):
            buttons.addWidget(w, i // 2, i % 2)
        left.addLayout(buttons)
        root.addLayout(left, 3)

        self.tabs = QTabWidget()
        self.dims_area = QScrollArea()
        self.dims_area.setWidgetResizable(True)
        self.tabs.addTab(self.dims_area, "Dimensions")
        self.dirs_area = QScrollArea()
        self.dirs_area.setWidgetResizable(True)
        self.tabs.addTab(self.dirs_area, "PCA directions")
        self.tabs.addTab(self._build_interp(), "Interpolate")
        self.tabs.currentChanged.connect(self._on_tab)
        root.addWidget(self.tabs, 2)
        QShortcut(QKeySequence("R"), self, self.randomise)

    def _build_interp(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        row = QHBoxLayout()
        self.btn_a = QPushButton("Set A = current")
        self.btn_a.clicked.connect(lambda: self.state.set_anchor("A"))
        self.btn_b = QPushButton("Set B = current")
        self.btn_b.clicked.connect(lambda: self.state.set_anchor("B"))
        row.addWidget(self.btn_a)
        row.addWidget(self.btn_b)
        lay.addLayout(row)
        thumbs = QHBoxLayout()
        self.thumb_a, self.thumb_b = ImagePanel(title="A"), ImagePanel(title="B")
        for t in (self.thumb_a, self.thumb_b):
            t.setFixedHeight(120)
            thumbs.addWidget(t)
        lay.addLayout(thumbs)
        form = QFormLayout()
        self.mode = QComboBox()
        self.mode.addItems(["lerp", "slerp"])
        self.mode.setToolTip("Linear, or spherical interpolation (keeps the norm of Gaussian latents)")
        self.mode.currentIndexChanged.connect(self._on_interp)
        form.addRow("Mode", self.mode)
        self.steps = QSpinBox()
        self.steps.setRange(2, 256)
        self.steps.setValue(16)
        self.steps.valueChanged.connect(self._on_steps)
        form.addRow("Steps", self.steps)
        self.step = QSlider(Qt.Orientation.Horizontal)
        self.step.setRange(0, 15)
        self.step.setToolTip("Position along the path from A (left) to B (right)")
        self.step.valueChanged.connect(self._on_interp)
        form.addRow("Position", self.step)
        self.fps = QSpinBox()
        self.fps.setRange(1, 60)
        self.fps.setValue(8)
        self.fps.setSuffix(" fps")
        form.addRow("Speed", self.fps)
        lay.addLayout(form)
        self.btn_play = QPushButton("Play")
        self.btn_play.setCheckable(True)
        self.btn_play.setToolTip("Play / pause the interpolation (P)")
        self.btn_play.toggled.connect(self._on_play)
        lay.addWidget(self.btn_play)
        lay.addStretch(1)
        self._play_timer = QTimer(self)
        self._play_timer.timeout.connect(self._advance)
        self._play_t0 = 0.0
        QShortcut(QKeySequence("P"), self, self.btn_play.toggle)
        self._set_interp_enabled(False)
        return w

    # -- model -----------------------------------------------------------------------------------
    def _on_model(self, model):
        self.model = model
        self.decoder.model = None  # a decode still in flight for the old model is dropped
        self.decoder.shutdown()
        self.directions = None
        self.btn_play.setChecked(False)
        self.panel.clear_image()
        has = model is not None
        for w in (self.btn_random, self.btn_reset, self.btn_png, self.btn_gif, self.btn_a, self.btn_b):
            w.setEnabled(has)
        self.btn_encode.setEnabled(has and model.has_encoder)
        self.btn_encode.setToolTip("Encode an image file (or drop one here) and edit its z" if has and
                                   model.has_encoder else "This model has no encoder")
        with QSignalBlocker(self.cls):
            self.cls.clear()
            if has and model.conditional:
                self.cls.addItems(list(model.class_names))
            self.cls.setEnabled(has and model.conditional)
        self._build_sliders()
        gan_like = has and not model.has_encoder and model.kind != "ddpm"
        self.tabs.setTabEnabled(1, gan_like)
        self.tabs.setTabToolTip(1, "" if gan_like else "PCA directions are for generators without an encoder")
        self.dirs_area.setWidget(hint("Open this tab to compute the directions."))
        if has:
            self.decoder.set_model(model)
            self.decoder.request()

    def _build_sliders(self):
        self.rows = []
        box = QWidget()
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        if self.model is None:
            self.dims_area.setWidget(hint("Open a model to edit its latent code."))
            return
        d = min(self.model.latent_dim, MAX_SLIDERS)
        tip = "z{}: drag, or type a value; sliders span the range set on the left"
        for i in range(d):
            self.rows.append(SliderRow(grid, i, f"z{i}", lambda v, i=i: self._set_dim(i, v), tip.format(i)))
        if self.model.latent_dim > MAX_SLIDERS:
            grid.addWidget(QLabel(f"(first {MAX_SLIDERS} of {self.model.latent_dim} dimensions)"), d, 0, 1, 3)
        grid.setRowStretch(d + 1, 1)
        self.dims_area.setWidget(box)
        self._on_range(self.range.value())
        self._sync_sliders(force=True)

    def _set_dim(self, i, v):
        self.last_dim = i
        self.state.set_component(i, v)

    def _on_range(self, r):
        for row in self.rows + self.dir_rows:
            row.set_range(r)
        self._sync_sliders(force=True)

    def _sync_sliders(self, force: bool = False):
        """Show the state's z on the rows; only rows whose value changed are touched (a drag moves one)."""
        z = self.state.z
        shown = self._shown_z
        if force or shown is None or shown.shape != z.shape:
            changed = range(len(self.rows))
        else:
            changed = np.flatnonzero(shown[: len(self.rows)] != z[: len(self.rows)])
        for i in changed:
            self.rows[i].set_value(float(z[i]), spin=force)
        self._shown_z = z.copy()
        if not force and len(changed):  # number boxes follow at <= 25 Hz: not on the slider-to-image path
            self._spins_due.update(int(i) for i in changed)
            if not self._spin_timer.isActive():
                self._spin_timer.start()

    def _sync_spins(self):
        z = self.state.z
        for i in sorted(self._spins_due):
            if i < len(self.rows) and i < len(z):
                self.rows[i].set_spin(float(z[i]))
        self._spins_due.clear()

    def _on_z(self):
        if self.model is None:
            return
        self._sync_sliders()
        self.decoder.request()

    def _on_label(self, k):
        with QSignalBlocker(self.cls):
            self.cls.setCurrentIndex(k)
        self.decoder.request()
        self._update_thumbs()

    def _show(self, img):
        self.panel.show_image(img)
        self.imageUpdated.emit()
        self.ready.emit()

    def is_ready(self) -> bool:
        return self.model is not None and self.panel.data is not None

    # -- actions ---------------------------------------------------------------------------------
    def randomise(self):
        if self.model is None:
            return
        g = torch.Generator().manual_seed(self.seed_box.value())
        self.seed_box.setValue((self.seed_box.value() + 1) % (2**31 - 1))
        self.state.set_z(self.model.prior(1, g)[0].detach().cpu().numpy())
        self._rebase_directions()

    def reset(self):
        if self.model is None:
            return
        z = np.zeros(self.model.latent_dim, np.float32)
        if hasattr(self.model, "z_mean"):
            z = self.model.z_mean.detach().cpu().numpy().astype(np.float32)
        self.state.set_z(z)
        self._rebase_directions()

    def encode_file(self, path: str) -> bool:
        """Encode an image file and make its z current; False (with a message) if it cannot."""
        from models.data import _read_image, conform_images

        if self.model is None or not self.model.has_encoder:
            self.message.emit("this model has no encoder: it cannot encode an image")
            return False
        try:
            img = _read_image(Path(path))
        except (ValueError, OSError) as e:
            self.message.emit(f"{Path(path).name}: {e}")
            return False
        c, h, _ = self.model.image_shape
        x = conform_images(img[None], c, h)
        y = torch.tensor([self.state.label]) if self.model.conditional else None
        with torch.no_grad():
            z = self.model.encode(torch.from_numpy(x), y)[0].cpu().numpy()
        self.state.set_z(z)
        self.message.emit(f"encoded {Path(path).name}")
        return True

    def _pick_image(self):
        path, _ = QFileDialog.getOpenFileName(self, "Encode an image", "", IMAGE_FILTER)
        if path:
            self.encode_file(path)

    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        for url in e.mimeData().urls():
            p = url.toLocalFile()
            if Path(p).suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"):
                self.encode_file(p)
                e.acceptProposedAction()
                return
        e.ignore()

    def export_png(self, path: str) -> None:
        from models.images import make_grid, save_png

        img = self.decoder.last
        if img is None:
            raise ValueError("nothing to export yet")
        scale = max(1, 256 // img.shape[-1])
        save_png(path, make_grid(img[None], nrow=1, pad=0, scale=scale))

    def frames_for_gif(self, n: int = 24) -> np.ndarray:
        from models.latent import decode_batched, interpolate, run_to_end

        a, b = self.state.anchors["A"], self.state.anchors["B"]
        if a is not None and b is not None:
            path = interpolate(a, b, n, self.mode.currentText())
        else:
            r = self.range.value()
            path = np.repeat(self.state.z[None], n, 0)
            path[:, self.last_dim] = np.linspace(-r, r, n)
        return run_to_end(decode_batched(self.model, path, self.state.label))

    def export_gif(self, path: str, n: int = 24) -> None:
        from models.images import make_grid, save_gif

        frames = self.frames_for_gif(n)
        scale = max(1, 256 // frames.shape[-1])
        seq = [make_grid(f[None], nrow=1, pad=0, scale=scale) for f in frames]
        save_gif(path, seq + seq[-2:0:-1], fps=self.fps.value())

    def _export_png(self):
        save_as(self, "Export image", "latent.png", "PNG (*.png)", self.export_png, self.message.emit)

    def _export_gif(self):
        save_as(self, "Export animation", "latent.gif", "GIF (*.gif)", self.export_gif, self.message.emit)

    # -- interpolation ---------------------------------------------------------------------------
    def _set_interp_enabled(self, on):
        for w in (self.mode, self.steps, self.step, self.btn_play, self.fps):
            w.setEnabled(on)

    def _on_anchors(self):
        ok = all(v is not None for v in self.state.anchors.values())
        self._set_interp_enabled(ok)
        self._update_thumbs()
        if ok:
            self._update_path()

    def _update_thumbs(self):
        if self.model is None:
            return
        for key, panel in (("A", self.thumb_a), ("B", self.thumb_b)):
            z = self.state.anchors[key]
            if z is None:
                panel.clear_image()
            elif self.decoder.sync:
                panel.show_image(self.decoder.decode_now(z, self.state.label))

    def interpolation_path(self) -> np.ndarray:
        from models.latent import interpolate

        return interpolate(self.state.anchors["A"], self.state.anchors["B"], self.steps.value(),
                           self.mode.currentText())

    def _update_path(self):
        self.state.set_path(self.interpolation_path())

    def _on_steps(self, n):
        self.step.setRange(0, n - 1)
        self._on_interp()

    def _on_interp(self, *_):
        if any(v is None for v in self.state.anchors.values()):
            return
        path = self.interpolation_path()
        self.state.set_path(path)
        self.state.set_z(path[self.step.value()])

    def _on_play(self, on):
        self.btn_play.setText("Pause" if on else "Play")
        if on:
            self._play_t0 = time.monotonic() - self.step.value() / self.fps.value()
            self._play_timer.start(15)
        else:
            self._play_timer.stop()

    def _advance(self):
        # time-based: the frame follows the clock, so slow decodes drop frames instead of lagging
        n = self.steps.value()
        k = int((time.monotonic() - self._play_t0) * self.fps.value())
        k = k % (2 * (n - 1)) if n > 1 else 0
        self.step.setValue(k if k < n else 2 * (n - 1) - k)

    # -- GANSpace directions -------------------------------------------------------------------------
    def _on_tab(self, i):
        if i == 1 and self.directions is None and self._dir_worker is None and self.model is not None:
            self._compute_directions()

    def _compute_directions(self):
        from models.latent import ganspace_directions

        model = self.model
        self.dirs_area.setWidget(hint("Computing PCA directions from 2,000 samples…"))

        def job(should_stop):
            yield from ()
            return ganspace_directions(model, n=2000, k=min(10, model.latent_dim))

        w = Worker(job, "directions")
        self._dir_worker = w
        w.returned.connect(lambda r: self._set_directions(model, *r))
        w.errored.connect(self.message)
        w.finished.connect(lambda: setattr(self, "_dir_worker", None))
        w.start()

    def _set_directions(self, model, dirs, ratios):
        if model is not self.model:
            return
        self.directions = dirs
        self.dir_coeffs = np.zeros(len(dirs), np.float32)
        self.dir_base = self.state.z.copy()
        box = QWidget()
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        self.dir_rows = []
        for k in range(len(dirs)):
            self.dir_rows.append(SliderRow(grid, k, f"PC{k + 1}", lambda v, k=k: self._set_coeff(k, v),
                                           f"Principal direction {k + 1}: {100 * ratios[k]:.1f}% of the "
                                           "image variance of sampled latents"))
        grid.setRowStretch(len(dirs), 1)
        self.dirs_area.setWidget(box)
        self._on_range(self.range.value())
        for row in self.dir_rows:
            row.set_value(0.0)
        self.ready.emit()

    def _set_coeff(self, k, v):
        if self.directions is None:
            return
        self.dir_coeffs[k] = v
        self.state.set_z(self.dir_base + self.dir_coeffs @ self.directions)

    def _rebase_directions(self):
        if self.directions is not None:
            self.dir_base = self.state.z.copy()
            self.dir_coeffs[:] = 0
            for row in self.dir_rows:
                row.set_value(0.0)

    def shutdown(self):
        self._play_timer.stop()
        self.decoder.shutdown()
        if self._dir_worker is not None:
            self._dir_worker.stop()
