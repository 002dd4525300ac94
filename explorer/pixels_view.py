"""Pixels: an autoregressive model (PixelCNN) draws an image one pixel at a time, in raster order, each pixel
from p(x_i | x_<i). Sample or complete a partly erased image (a held-out one, a file, or drawn here), then
scrub through the pixels: the images so far, the pixel being drawn (red), the probability the model gave it
being on for every image, and what the model believed at every pixel it drew (a heat map)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.display import square_mosaic
from latent_explorer.models.io.meta import meta_of
from latent_explorer.models.sampling.pixel_trajectory import PixelRecord, record_sampling

from . import dialogs
from .inspect_panels import plot
from .jobs import ModelJob
from .model_view import ModelView
from .widgets import ImagePanel, ProgressLine, SeedBox, placeholder_and_body

ERASE = {"bottom half": lambda h, w: np.broadcast_to(np.arange(h)[:, None] >= h // 2, (h, w)).copy(),
         "right half": lambda h, w: np.broadcast_to(np.arange(w)[None] >= w // 2, (h, w)).copy(),
         "centre square": lambda h, w: np.outer(abs(np.arange(h) - h / 2 + 0.5) < h / 4,
                                                abs(np.arange(w) - w / 2 + 0.5) < w / 4)}
BRUSHES = {"Draw on (white)": 1.0, "Draw off (black)": 0.0, "Erase (to complete)": None}
UNKNOWN_RGB = (0.45, 0.2, 0.2)  # an erased pixel, in the input


class DrawPanel(ImagePanel):
    """An image panel that reports the pixel under a pressed mouse button (row, col) while dragging."""

    painted = Signal(int, int)

    def _pixel(self, ev):
        if self.data is None:
            return None
        p = self.item.mapFromScene(self.mapToScene(ev.position().toPoint()))
        r, c = int(np.floor(p.y())), int(np.floor(p.x()))
        h, w = self.data.shape[:2]
        return (r, c) if 0 <= r < h and 0 <= c < w else None

    def mousePressEvent(self, ev):
        self._drag = ev.button() == Qt.MouseButton.LeftButton
        self.mouseMoveEvent(ev)

    def mouseMoveEvent(self, ev):
        if getattr(self, "_drag", False):
            rc = self._pixel(ev)
            if rc is not None:
                self.painted.emit(*rc)

    def mouseReleaseEvent(self, ev):
        self._drag = False


class PixelsView(ModelView):
    message = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.record: PixelRecord | None = None
        self.input: np.ndarray | None = None  # (H, W) 0/1: the image to complete
        self.erased: np.ndarray | None = None  # (H, W) bool: its pixels to draw
        self._build()
        self.job = ModelJob(self, "pixels", self.progress)
        self.job.finished.append(lambda: self.btn_run.setEnabled(self.model is not None))
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        self.placeholder, self.body, lay = placeholder_and_body(self)
        row = QHBoxLayout()
        self.mode = QComboBox()
        self.mode.addItems(["Sample", "Complete"])
        self.mode.setToolTip("Sample new images, or complete the erased part of an image")
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.n = QSpinBox()
        self.n.setRange(1, 16)
        self.n.setValue(4)
        self.n.setToolTip("How many images (completions of the same input, in Complete mode)")
        self.seed = SeedBox()  # every seed a command takes (models.sampling.samplers.SEED_MAX)
        self.seed.setToolTip("Random seed: the same seed draws the same pixels")
        self.btn_run = QPushButton("Sample")
        self.btn_run.setToolTip("Draw every pixel in raster order (Ctrl+Return; Esc cancels)")
        self.btn_run.clicked.connect(self.run)
        for w in (QLabel("Mode:"), self.mode, QLabel("Images:"), self.n, QLabel("Seed:"), self.seed, self.btn_run):
            row.addWidget(w)
        row.addStretch(1)
        lay.addLayout(row)

        self.input_row = QWidget()
        ir = QHBoxLayout(self.input_row)
        ir.setContentsMargins(0, 0, 0, 0)
        self.btn_held = QPushButton("Held-out image")
        self.btn_held.setToolTip("A random image of the model's held-out data")
        self.btn_held.clicked.connect(self.pick_held_out)
        self.btn_load = QPushButton("Load image…")
        self.btn_load.setToolTip("An image file (converted to the model's size and binarised, said so)")
        self.btn_load.clicked.connect(self._load_dialog)
        self.erase = QComboBox()
        self.erase.addItems(list(ERASE))
        self.erase.setToolTip("Erase a part of the input for the model to complete")
        self.btn_erase = QPushButton("Erase")
        self.btn_erase.clicked.connect(lambda: self.erase_part(self.erase.currentText()))
        self.brush = QComboBox()
        self.brush.addItems(list(BRUSHES))
        self.brush.setToolTip("What dragging on the input does")
        self.btn_clear = QPushButton("Clear")
        self.btn_clear.setToolTip("A blank input, every pixel erased: draw what the model must continue")
        self.btn_clear.clicked.connect(self.clear_input)
        for w in (self.btn_held, self.btn_load, self.erase, self.btn_erase, QLabel("Mouse:"), self.brush,
                  self.btn_clear):
            ir.addWidget(w)
        ir.addStretch(1)
        lay.addWidget(self.input_row)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        lay.addWidget(self.progress)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.canvas = DrawPanel(title="Images")
        self.canvas.painted.connect(self.paint)
        split.addWidget(self.canvas)
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.p_plot = plot("p(pixel on | pixels before it), per image", "probability", "image")
        self.p_plot.setMouseEnabled(False, False)
        self.p_plot.setYRange(0, 1, padding=0.02)
        rl.addWidget(self.p_plot, 1)
        self.belief = ImagePanel(title="What the model believed: p(on) at each pixel drawn (image 1)")
        rl.addWidget(self.belief, 1)
        split.addWidget(right)
        split.setSizes([700, 500])
        lay.addWidget(split, 1)

        srow = QHBoxLayout()
        self.scrub = QSlider(Qt.Orientation.Horizontal)
        self.scrub.setToolTip("Scrub through the pixels (←/→ one pixel, PgUp/PgDn one row, Home/End)")
        self.scrub.valueChanged.connect(self.show_step)
        self.step_label = QLabel()
        self.step_label.setMinimumWidth(380)
        srow.addWidget(QLabel("Pixel:"))
        srow.addWidget(self.scrub, 1)
        srow.addWidget(self.step_label)
        lay.addLayout(srow)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.run)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.cancel)
        keys = {Qt.Key.Key_Left: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_PageUp: "-row", Qt.Key.Key_PageDown: "row",
                Qt.Key.Key_Home: "home", Qt.Key.Key_End: "end"}
        for key, move in keys.items():
            QShortcut(QKeySequence(key), self, lambda move=move: self._step(move))

    # -- model -----------------------------------------------------------------------------------
    def applies(self, model) -> str | None:
        if model is None or model.capabilities.autoregressive:
            return super().applies(model)
        return (f"{model.spec.title} does not draw pixel by pixel: this view is for autoregressive models "
                "(PixelCNN).")

    def _on_model(self, model):
        ok = self.applies(model) is None
        self.model = model if ok else None
        self.cancel()
        self.record = None
        self.input = self.erased = None
        self.canvas.clear_image()
        self.belief.clear_image()
        self.p_plot.clear()
        self.step_label.setText("")
        self.gate(model)
        self.btn_run.setEnabled(ok)
        if ok:
            _, h, w = model.image_shape
            self.scrub.setRange(0, h * w - 1)
            self._on_mode()

    def _on_mode(self, *_):
        complete = self.mode.currentIndex() == 1
        self.input_row.setVisible(complete)
        self.btn_run.setText("Complete" if complete else "Sample")
        if complete and self.model is not None and self.input is None:
            self.clear_input()
        elif not complete and self.record is not None and self.record.known is None:
            self.show_step(self.scrub.value())

    # -- the input to complete -------------------------------------------------------------------
    def clear_input(self):
        _, h, w = self.model.image_shape
        self.set_input(np.zeros((h, w), np.float32), np.ones((h, w), bool))

    def set_input(self, image: np.ndarray, erased: np.ndarray | None = None):
        """``image`` (H, W) in [0, 1] (binarised here); ``erased`` (H, W) bool: the pixels to draw."""
        self.input = (np.asarray(image) > 0.5).astype(np.float32)
        self.erased = np.zeros(self.input.shape, bool) if erased is None else np.asarray(erased, bool).copy()
        self.record = None
        self._show_input()

    def erase_part(self, name: str):
        if self.input is None:
            return
        h, w = self.input.shape
        self.erased |= ERASE[name](h, w)
        self._show_input()

    def paint(self, r: int, c: int):
        if self.mode.currentIndex() != 1 or self.input is None or self.job.busy:
            return
        value = BRUSHES[self.brush.currentText()]
        if value is None:
            self.erased[r, c] = True
        else:
            self.input[r, c], self.erased[r, c] = value, False
        self.record = None
        self._show_input()

    def _show_input(self):
        rgb = np.repeat(self.input[None], 3, 0)
        rgb[:, self.erased] = np.array(UNKNOWN_RGB)[:, None]
        self.canvas.show_image(rgb)
        self.canvas.set_title(f"Input: {int(self.erased.sum())} pixels erased (dark red) to complete — drag to "
                              "draw or erase")

    def pick_held_out(self):
        from latent_explorer.models.analysis.quality import held_out
        from latent_explorer.models.data import is_builtin

        spec = meta_of(self.model).data.spec
        if not spec:
            self.message.emit("the checkpoint names no data: load an image instead")
            return
        if not is_builtin(spec):
            self.message.emit(f"reading {spec}, the data this model names")
        _, val = held_out(self.model)
        i = int(np.random.default_rng(self.seed.value() + int(self.input.sum() if self.input is not None else 0))
                .integers(len(val)))
        self.set_input(val.images[i, 0], ERASE[self.erase.currentText()](*val.images.shape[2:]))

    def _load_dialog(self):
        path = dialogs.open_file(self, "images", "Image to complete", "Images (*.png *.jpg *.jpeg *.bmp)")
        if path:
            self.load_image(path)

    def load_image(self, path: str) -> bool:
        from latent_explorer.models.io.images import read_image_for

        try:
            image = read_image_for(self.model.image_shape, path)
        except (OSError, ValueError) as e:
            from latent_explorer.models.errors import failure

            self.message.emit(failure(path, e))
            return False
        self.set_input(image[0], ERASE[self.erase.currentText()](*image.shape[1:]))
        self.message.emit(f"{path}: converted to {self.model.image_shape[1]}×{self.model.image_shape[2]} grey and "
                          "binarised (on above ½)")
        return True

    # -- running ---------------------------------------------------------------------------------
    def run(self):
        model = self.model
        if model is None or self.job.busy:
            return
        n, seed = self.n.value(), self.seed.value()
        complete = self.mode.currentIndex() == 1
        if complete:
            if self.input is None or not self.erased.any():
                self.message.emit("nothing is erased: erase a part (or drag with the eraser) to complete it")
                return
            known = np.repeat(self.input[None, None], n, 0)
            mask = (~self.erased).astype(np.float32)

            def make(should_stop):
                return record_sampling(model, n, seed, known, mask)
        else:
            def make(should_stop):
                return record_sampling(model, n, seed)
        self.btn_run.setEnabled(False)
        self.job.start(model, make, self._done, "Drawing pixel by pixel…", on_error=self.message.emit,
                       on_cancel=lambda: self.message.emit("sampling cancelled"))

    def _done(self, record: PixelRecord):
        self.record = record
        last = record.steps - 1
        if self.scrub.value() == last:
            self.show_step(last)
        self.scrub.setValue(last)
        nll = record.nll()
        self.message.emit(f"{len(nll)} images: −log p(x) {', '.join(f'{v:.1f}' for v in nll)} nats")

    def cancel(self):
        self.job.cancel()

    def _step(self, move):
        if self.record is None:
            return
        w = self.model.image_shape[2]
        k = self.scrub.value()
        k = {"row": k + w, "-row": k - w, "home": 0, "end": self.scrub.maximum()}.get(move, k + move
                                                                                      if isinstance(move, int) else k)
        self.scrub.setValue(int(np.clip(k, 0, self.scrub.maximum())))

    def show_step(self, k: int):
        rec = self.record
        if rec is None:
            return
        _, h, w = self.model.image_shape
        r, c = divmod(k, w)
        frames = np.repeat(rec.frame(k), 3, 1)  # (n, 3, H, W)
        frames[:, :, r, c] = np.array([0.95, 0.2, 0.2])[None]  # the pixel just drawn, red
        self.canvas.show_image(square_mosaic(frames))
        p = rec.p_on[:, k]
        drawn = rec.images.reshape(len(p), -1)[:, k]
        self.p_plot.clear()
        x = np.arange(1, len(p) + 1)
        self.p_plot.addItem(pg.BarGraphItem(x=x, height=p, width=0.6, brush="#4e79a7"))
        self.p_plot.addItem(pg.InfiniteLine(0.5, angle=0, pen=pg.mkPen("#777", style=Qt.PenStyle.DashLine)))
        self.p_plot.plot(x, drawn, pen=None, symbol="o", symbolSize=9, symbolBrush="#f28e2b")
        self.p_plot.setXRange(0.4, len(p) + 0.6, padding=0)
        self.p_plot.getAxis("bottom").setTicks([[(int(i), str(int(i))) for i in x]])
        belief = np.full(h * w, 0.5, np.float32)
        belief[: k + 1] = rec.p_on[0, : k + 1]
        self.belief.show_image(belief.reshape(1, h, w))
        known = rec.known is not None and bool(rec.known[0, 0, r, c])
        self.step_label.setText(
            f"pixel {k + 1:,} of {h * w:,} (row {r + 1}, column {c + 1}){' — known' if known else ''}; "
            f"image 1: p(on) {p[0]:.3f}, {'on' if drawn[0] else 'off'}; −log p so far {rec.nll(k)[0]:.1f} nats")
        self.canvas.set_title(f"{len(p)} images after pixel {k + 1} (red; orange dots on the right: drawn on = 1)")

    # -- view protocol ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return not self.job.busy

    def shutdown(self):
        self.cancel()
