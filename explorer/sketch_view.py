"""Sketch: draw an edge map or a silhouette at the model's own resolution (shown large) and an image-to-image
model (pix2pix) answers as you draw. Pen width, eraser (right button), undo, clear; load or drop a picture;
export the drawing and the answer side by side as a PNG carrying its parameters. Translations run in a worker,
latest wins: a stroke never waits behind stale ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from . import dialogs
from .widgets import ImagePanel, hint
from .worker import Worker

MAX_UNDO = 50


class SketchPad(QWidget):
    """An ink grid of the model's size (1 = ink), drawn large; the left button draws, the right one erases."""

    changed = Signal()

    def __init__(self, size: int = 32, parent=None):
        super().__init__(parent)
        self.ink = np.zeros((size, size), np.float32)
        self.pen = 1  # radius in model pixels (1: a single pixel)
        self.eraser = False
        self.undo_stack: list[np.ndarray] = []
        self._last: tuple[int, int] | None = None
        self.setMinimumSize(256, 256)
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw with the left button, erase with the right one (Ctrl+Z undo, Delete clears)")

    def set_size(self, size: int) -> None:
        if self.ink.shape != (size, size):
            self.ink = np.zeros((size, size), np.float32)
            self.undo_stack.clear()
            self.update()

    def set_ink(self, ink: np.ndarray) -> None:
        self.push_undo()
        self.ink = np.asarray(ink, np.float32).copy()
        self.update()
        self.changed.emit()

    def push_undo(self) -> None:
        self.undo_stack.append(self.ink.copy())
        del self.undo_stack[:-MAX_UNDO]

    def undo(self) -> None:
        if self.undo_stack:
            self.ink = self.undo_stack.pop()
            self.update()
            self.changed.emit()

    def clear(self) -> None:
        if self.ink.any():
            self.set_ink(np.zeros_like(self.ink))

    # -- drawing ---------------------------------------------------------------------------------
    def _square(self) -> tuple[int, int, int]:
        """(left, top, side) of the drawing, the largest square centred in the widget."""
        side = max(1, min(self.width(), self.height()))
        return (self.width() - side) // 2, (self.height() - side) // 2, side

    def _cell(self, pos: QPoint) -> tuple[int, int]:
        n = self.ink.shape[0]
        left, top, side = self._square()
        x, y = (pos.x() - left) * n // side, (pos.y() - top) * n // side
        return int(np.clip(y, 0, n - 1)), int(np.clip(x, 0, n - 1))

    def _stamp(self, r: int, c: int, value: float) -> None:
        k = self.pen - 1
        n = self.ink.shape[0]
        for dr in range(-k, k + 1):
            for dc in range(-k, k + 1):
                if dr * dr + dc * dc <= k * k and 0 <= r + dr < n and 0 <= c + dc < n:
                    self.ink[r + dr, c + dc] = value

    def _line_to(self, cell: tuple[int, int], value: float) -> None:
        """Stamp from the last cell to this one, so a fast stroke has no gaps."""
        r1, c1 = cell
        r0, c0 = self._last or cell
        steps = max(abs(r1 - r0), abs(c1 - c0), 1)
        for t in np.linspace(0, 1, steps + 1):
            self._stamp(int(round(r0 + (r1 - r0) * t)), int(round(c0 + (c1 - c0) * t)), value)
        self._last = cell

    def mousePressEvent(self, ev):  # noqa: N802 - Qt's name
        if ev.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        self.push_undo()
        self._last = None
        self._draw(ev)

    def mouseMoveEvent(self, ev):  # noqa: N802
        if ev.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
            self._draw(ev)

    def mouseReleaseEvent(self, ev):  # noqa: N802
        self._last = None

    def _draw(self, ev) -> None:
        erase = self.eraser or bool(ev.buttons() & Qt.MouseButton.RightButton)
        before = self.ink.copy()
        self._line_to(self._cell(ev.position().toPoint()), 0.0 if erase else 1.0)
        if not np.array_equal(before, self.ink):
            self.update()
            self.changed.emit()

    def paintEvent(self, ev):  # noqa: N802
        n = self.ink.shape[0]
        pix = np.ascontiguousarray(((1 - self.ink) * 255).astype(np.uint8))  # dark ink on white paper
        img = QImage(pix.data, n, n, n, QImage.Format.Format_Grayscale8)
        left, top, side = self._square()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202124"))
        p.drawImage(QRect(left, top, side, side), img)
        p.setPen(QPen(QColor(0, 0, 0, 30)))  # the model's pixels, faintly
        for i in range(1, n):
            v = i * side // n
            p.drawLine(left + v, top, left + v, top + side)
            p.drawLine(left, top + v, left + side, top + v)
        p.end()


class SketchView(QWidget):
    message = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.output: np.ndarray | None = None
        self._worker: Worker | None = None
        self._pending = False
        self._build()
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    def _build(self):
        root = QVBoxLayout(self)
        self.placeholder = hint("")
        root.addWidget(self.placeholder)
        self.body = QWidget()
        root.addWidget(self.body, 1)
        lay = QVBoxLayout(self.body)
        bar = QHBoxLayout()
        self.pen = QSpinBox()
        self.pen.setRange(1, 4)
        self.pen.setToolTip("Pen radius in the model's pixels ([ and ] change it)")
        self.pen.valueChanged.connect(lambda v: setattr(self.pad, "pen", v))
        self.btn_eraser = QPushButton("Eraser")
        self.btn_eraser.setCheckable(True)
        self.btn_eraser.setToolTip("Erase with the left button too (E); the right button always erases")
        self.btn_eraser.toggled.connect(lambda on: setattr(self.pad, "eraser", on))
        self.btn_undo = QPushButton("Undo")
        self.btn_undo.setToolTip("Undo the last stroke (Ctrl+Z)")
        self.btn_clear = QPushButton("Clear")
        self.btn_clear.setToolTip("Clear the drawing (Delete)")
        self.btn_load = QPushButton("Load image…")
        self.btn_load.setToolTip("Start from a picture: its strokes (the minority tone) become the drawing, "
                                 "resized to the model's size (or drop a file on the view)")
        self.btn_export = QPushButton("Export PNG…")
        self.btn_export.setToolTip("Save the drawing and the model's answer side by side, with the parameters")
        for w in (QLabel("Pen:"), self.pen, self.btn_eraser, self.btn_undo, self.btn_clear, self.btn_load,
                  self.btn_export):
            bar.addWidget(w)
        bar.addStretch(1)
        lay.addLayout(bar)
        self.info = QLabel()
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        pads = QHBoxLayout()
        self.pad = SketchPad()
        self.pad.changed.connect(self.translate)
        self.out = ImagePanel(title="the model's answer")
        self.out.setMinimumSize(256, 256)
        pads.addWidget(self.pad, 1)
        pads.addWidget(self.out, 1)
        lay.addLayout(pads, 1)
        self.btn_undo.clicked.connect(self.pad.undo)
        self.btn_clear.clicked.connect(self.pad.clear)
        self.btn_load.clicked.connect(self._load_dialog)
        self.btn_export.clicked.connect(self._export_dialog)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.pad.undo)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self, self.pad.clear)
        QShortcut(QKeySequence(Qt.Key.Key_BracketLeft), self, lambda: self.pen.setValue(self.pen.value() - 1))
        QShortcut(QKeySequence(Qt.Key.Key_BracketRight), self, lambda: self.pen.setValue(self.pen.value() + 1))
        QShortcut(QKeySequence(Qt.Key.Key_E), self, self.btn_eraser.toggle)
        self.setAcceptDrops(True)

    # -- model -----------------------------------------------------------------------------------
    def _on_model(self, model):
        usable = model is not None and model.capabilities.image_to_image and callable(getattr(model, "translate",
                                                                                              None))
        self.model = model if usable else None
        self._pending = False
        self.output = None
        self.out.clear_image()
        self.placeholder.setVisible(not usable)
        self.body.setVisible(usable)
        if model is None:
            self.placeholder.setText("Pick a model in the list: an image-to-image model (pix2pix) answers a drawing.")
        elif not usable:
            self.placeholder.setText(f"{model.spec.title} does not translate images: open an image-to-image model "
                                     "(pix2pix) to draw for it.")
        if not usable:
            return
        h = model.image_shape[1]
        self.pad.set_size(h)
        src = getattr(model.config, "source", "edges")
        self.info.setText(f"Draw the {src} of a scene at the model's {h}×{h} pixels (each square is one). "
                          "The answer follows every stroke.")
        self.translate()

    # -- translation (latest wins) ---------------------------------------------------------------
    def translate(self) -> None:
        if self.model is None:
            return
        if not self.pad.ink.any():
            self.output = None
            self.out.clear_image()
            return
        if self._worker is not None:
            self._pending = True  # the newest drawing goes next; the ones between are never translated
            return
        import torch

        model, ink = self.model, self.pad.ink.copy()

        def job(should_stop):
            yield from ()
            return model.translate(torch.from_numpy(ink[None, None])).cpu().numpy()[0]

        w = Worker(job, "sketch")
        self._worker = w
        w.returned.connect(lambda img: self._show(model, img))
        w.errored.connect(lambda msg: self.message.emit(f"Sketch: {msg}"))
        w.finished.connect(lambda: self._ended(w))
        w.start()

    def _show(self, model, img):
        if model is self.model:
            self.output = img
            self.out.show_image(img)

    def _ended(self, w):
        if self._worker is w:
            self._worker = None
        if self._pending:
            self._pending = False
            self.translate()

    # -- files -----------------------------------------------------------------------------------
    def load(self, path: str) -> bool:
        from models.pix2pix import read_sketch

        if self.model is None:
            return False
        try:
            ink, notes = read_sketch(path, self.model.image_shape[1])
        except (ValueError, OSError) as e:
            self.message.emit(f"{Path(path).name}: {e}")
            self.info.setText(f"{Path(path).name}: {e}; the drawing is kept as it was.")
            return False
        self.pad.set_ink(ink[0])
        self.info.setText(f"{Path(path).name}" + (f": {'; '.join(notes)}" if notes else "") + ".")
        return True

    def _load_dialog(self):
        path = dialogs.open_file(self, "sketches", "A drawing or picture", "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path:
            self.load(path)

    def dragEnterEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls() and self.model is not None:
            ev.acceptProposedAction()

    def dropEvent(self, ev):  # noqa: N802
        urls = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.load(urls[0])
            ev.acceptProposedAction()

    def export_png(self, path: str) -> None:
        from models.images import make_grid, save_png

        if self.output is None:
            raise ValueError("nothing to export: draw something first")
        h = self.model.image_shape[1]
        sketch = np.repeat((1 - self.pad.ink)[None, None], self.output.shape[0], axis=1)
        name = Path(self.model.meta.get("path", "model")).stem
        params = f"Translate: {getattr(self.model.config, 'source', 'edges')} -> image, Size: {h}x{h}, Model: {name}"
        save_png(path, make_grid(np.concatenate([sketch, self.output[None]]), nrow=2, scale=max(1, 128 // h)),
                 {"parameters": params})

    def _export_dialog(self):
        if self.output is None:
            self.message.emit("nothing to export: draw something first")
            return
        dialogs.save_as(self, "Export the drawing and the answer", "sketch.png", "PNG (*.png)", self.export_png,
                        self.message.emit)

    # -- view protocol ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self._worker is None and not self._pending

    def shutdown(self):
        if self._worker is not None:
            self._worker.stop()
