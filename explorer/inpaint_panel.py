"""Inpainting in the views (issue Q): an image to paint over — opened from a file, or one the view made — and a
mask painted on it with a brush (left button paints, right button erases, Ctrl+Z undoes, Delete clears).
The views regenerate the masked region (:mod:`models.sampling.inpaint`); only numpy leaves this module."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QKeySequence, QPainter, QShortcut
from PySide6.QtWidgets import QGridLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget

from . import dialogs

MAX_UNDO = 30
MASK_TINT = (255, 64, 160)  # the painted region, over the image


class MaskPad(QWidget):
    """An image (C, H, W) in [0, 1] drawn large, aspect kept, and a binary mask (H, W) painted over it."""

    changed = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.image: np.ndarray | None = None
        self.mask = np.zeros((1, 1), np.float32)
        self.brush = 2  # radius in image pixels
        self._undo: list[np.ndarray] = []
        self._last: tuple[int, int] | None = None
        self.setMinimumSize(160, 160)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Paint the region to regenerate with the left button, erase with the right one "
                        "(Ctrl+Z undo, Delete clears)")

    def set_image(self, image: np.ndarray) -> None:
        """A new image (C, H, W); the mask is kept where it still fits, else cleared."""
        image = np.asarray(image, np.float32)
        if image.shape[-2:] != self.mask.shape:
            self.mask = np.zeros(image.shape[-2:], np.float32)
            self._undo.clear()
            self.brush = max(1, image.shape[-1] // 16)
        self.image = image
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        if self.mask.any():
            self._push()
            self.mask[:] = 0
            self.update()
            self.changed.emit()

    def undo(self) -> None:
        if self._undo:
            self.mask = self._undo.pop()
            self.update()
            self.changed.emit()

    def _push(self) -> None:
        self._undo.append(self.mask.copy())
        del self._undo[:-MAX_UNDO]

    def _rect(self) -> QRect:
        h, w = self.mask.shape
        s = min(self.width() / w, self.height() / h)
        return QRect(int((self.width() - w * s) / 2), int((self.height() - h * s) / 2), int(w * s), int(h * s))

    def _cell(self, pos) -> tuple[int, int] | None:
        r = self._rect()
        h, w = self.mask.shape
        if r.width() < 1:
            return None
        return (int(np.clip((pos.y() - r.top()) * h // max(r.height(), 1), 0, h - 1)),
                int(np.clip((pos.x() - r.left()) * w // max(r.width(), 1), 0, w - 1)))

    def _stamp(self, cell: tuple[int, int], value: float) -> None:
        h, w = self.mask.shape
        yy, xx = np.ogrid[:h, :w]
        r0, c0 = self._last or cell
        steps = max(abs(cell[0] - r0), abs(cell[1] - c0), 1)
        for t in np.linspace(0, 1, steps + 1):  # a fast stroke has no gaps
            r, c = r0 + (cell[0] - r0) * t, c0 + (cell[1] - c0) * t
            self.mask[(yy - r) ** 2 + (xx - c) ** 2 <= (self.brush - 0.5) ** 2 + 0.5] = value
        self._last = cell

    def mousePressEvent(self, ev):  # noqa: N802 - Qt's name
        if self.image is None or ev.button() not in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
            return
        self._push()
        self._last = None
        self._paint(ev)

    def mouseMoveEvent(self, ev):  # noqa: N802
        if self.image is not None and ev.buttons() & (Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton):
            self._paint(ev)

    def mouseReleaseEvent(self, ev):  # noqa: N802
        self._last = None

    def _paint(self, ev) -> None:
        cell = self._cell(ev.position())
        if cell is None:
            return
        before = self.mask.copy()
        self._stamp(cell, 0.0 if ev.buttons() & Qt.MouseButton.RightButton else 1.0)
        if not np.array_equal(before, self.mask):
            self.update()
            self.changed.emit()

    def paintEvent(self, ev):  # noqa: N802
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202124"))
        if self.image is None:
            p.setPen(QColor("#999"))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "Open an image, or take one the view made,\nthen paint the region to regenerate")
            p.end()
            return
        img = self.image if self.image.shape[0] == 3 else np.repeat(self.image[:1], 3, 0)
        pix = np.ascontiguousarray((img.transpose(1, 2, 0).clip(0, 1) * 255).round().astype(np.uint8))
        h, w = pix.shape[:2]
        r = self._rect()
        p.drawImage(r, QImage(pix.data, w, h, 3 * w, QImage.Format.Format_RGB888))
        # the painted region: darkened and hatched, readable over any image (runs of each row, one rect each)
        sx, sy = r.width() / w, r.height() / h
        for y in range(h):
            row = np.flatnonzero(np.diff(np.concatenate([[0], self.mask[y] > 0, [0]]).astype(np.int8)))
            for x0, x1 in zip(row[::2], row[1::2]):
                cell = QRect(r.left() + int(x0 * sx), r.top() + int(y * sy), int(np.ceil((x1 - x0) * sx)),
                             int(np.ceil(sy)))
                p.fillRect(cell, QColor(0, 0, 0, 110))
                p.fillRect(cell, QBrush(QColor(*MASK_TINT), Qt.BrushStyle.BDiagPattern))
        p.end()


class InpaintBox(QWidget):
    """The image, its mask and the settings of inpainting; :meth:`inputs` gives what a view's job takes."""

    changed = Signal()
    message = Signal(str)

    def __init__(self, take_tip: str, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.pad = MaskPad()
        self.pad.changed.connect(self._update)
        lay.addWidget(self.pad, 1)
        row = QGridLayout()
        self.btn_open = QPushButton("Open image…", toolTip="An image to paint over (resized to the model's size)")
        self.btn_open.clicked.connect(self.open_image)
        self.btn_take = QPushButton("Use result", toolTip=take_tip)
        self.btn_clear = QPushButton("Clear mask", toolTip="Paint nothing (Delete)")
        self.btn_clear.clicked.connect(self.pad.clear)
        self.brush = QSpinBox(minimum=1, maximum=64, value=2, prefix="brush ", toolTip="Brush radius in pixels")
        self.brush.valueChanged.connect(lambda v: setattr(self.pad, "brush", int(v)))
        self.resample = QSpinBox(minimum=1, maximum=20, value=3, prefix="resample ×",
                                 toolTip="RePaint's resampling: each step run this many times, so the new region "
                                         "agrees with the kept one (1: none, fastest; a U-Net trained for "
                                         "inpainting reads the mask itself and runs each step once)")
        for i, w in enumerate((self.btn_open, self.btn_take, self.btn_clear, self.brush, self.resample)):
            row.addWidget(w, i // 2, i % 2)  # two a row: the pane stays as narrow as the samples' grid
        lay.addLayout(row)
        self.status = QLabel(wordWrap=True)
        self.status.setStyleSheet("color: #aaa")
        lay.addWidget(self.status)
        for key, fn in (("Ctrl+Z", self.pad.undo), ("Delete", self.pad.clear)):
            QShortcut(QKeySequence(key), self, fn).setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.shape: tuple[int, int, int] | None = None
        self._update()

    def set_shape(self, shape: tuple[int, int, int] | None) -> None:
        """The model's image shape (None: no model); a new size drops the image."""
        if shape != self.shape:
            self.shape = shape
            self.pad.image = None
            self.pad.mask = np.zeros((1, 1), np.float32)
            self.pad.update()
        self._update()

    def set_image(self, image: np.ndarray) -> None:
        self.pad.set_image(image)
        self.brush.setValue(self.pad.brush)

    def open_image(self) -> None:
        if self.shape is None:
            return
        path = dialogs.open_file(self, "inpaint-image", "Open an image to paint over",
                                 "Images (*.png *.jpg *.jpeg *.bmp *.webp);;All files (*)")
        if path:
            self.load(path)

    def load(self, path: str) -> None:
        """An image file as the one to paint over, resized to the model's size; a bad file said in a message."""
        from latent_explorer.models.io.images import read_image_for

        if self.shape is None:
            return
        try:
            self.set_image(read_image_for(self.shape, path))
        except (ValueError, OSError) as e:
            self.message.emit(f"{path}: {e}")

    def inputs(self) -> dict:
        """{} without an image and a mask; else init (1, C, H, W) and mask (1, 1, H, W) float32 numpy."""
        if self.pad.image is None or not self.pad.mask.any():
            return {}
        return {"init": self.pad.image[None].copy(), "mask": self.pad.mask[None, None].copy(),
                "resample": int(self.resample.value())}

    def _update(self) -> None:
        has = self.pad.image is not None
        self.btn_clear.setEnabled(has and bool(self.pad.mask.any()))
        share = float(self.pad.mask.mean()) if has else 0.0
        self.status.setText("no image: generating draws new images" if not has else
                            "paint the region to regenerate" if share == 0 else
                            f"{share:.0%} of the image is painted anew, the rest kept: Generate")
        self.changed.emit()
