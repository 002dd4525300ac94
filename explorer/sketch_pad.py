"""The Sketch view's drawing surface: a canvas of the model's own pixels, drawn large. The left button draws
in the pen's colour, the right button erases (paints the paper's colour). Ink models (edges, silhouettes)
draw black on white; colour models (a pix2pix outline, a CycleGAN) choose both colours. Every stroke can be
undone; changing the paper recolours the paper, never the strokes."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import QWidget

MAX_UNDO = 50
WHITE, BLACK = np.ones(3, np.float32), np.zeros(3, np.float32)


class SketchPad(QWidget):
    """A (size, size, 3) canvas in [0, 1] on a paper colour; :attr:`ink` is where it differs from the paper."""

    changed = Signal()

    def __init__(self, size: int = 32, parent=None):
        super().__init__(parent)
        self.paper = WHITE.copy()
        self.colour = BLACK.copy()  # the pen's
        self.canvas = np.ones((size, size, 3), np.float32)
        self.pen = 1  # radius in model pixels (1: a single pixel)
        self.eraser = False
        self.undo_stack: list[tuple[np.ndarray, np.ndarray]] = []
        self._last: tuple[int, int] | None = None
        self.setMinimumSize(256, 256)
        self.setMouseTracking(False)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setToolTip("Draw with the left button, erase with the right one (Ctrl+Z undo, Delete clears)")

    @property
    def ink(self) -> np.ndarray:
        """(size, size) float32: 1 where something is drawn (the canvas is not the paper's colour)."""
        return (np.abs(self.canvas - self.paper).max(-1) > 1e-3).astype(np.float32)

    def set_size(self, size: int) -> None:
        if self.canvas.shape[:2] != (size, size):
            self.canvas = np.broadcast_to(self.paper, (size, size, 3)).copy()
            self.undo_stack.clear()
            self.update()

    def drawing(self) -> tuple[np.ndarray, np.ndarray]:
        """(canvas, paper), copied: what :meth:`restart` takes back."""
        return self.canvas.copy(), self.paper.copy()

    def restart(self, size: int, drawing: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """A page for another kind of drawing: ``drawing`` (from :meth:`drawing`) or bare paper. Undo never
        reaches back past it (to a drawing of another kind)."""
        if drawing is None:
            self.canvas = np.broadcast_to(self.paper, (size, size, 3)).copy()
        else:
            self.canvas, self.paper = (a.copy() for a in drawing)
        self.undo_stack.clear()
        self.update()

    def set_ink(self, ink: np.ndarray) -> None:
        """Draw ``ink`` (size, size; non-zero = drawn) in the pen's colour on clean paper."""
        self.set_canvas(np.where(np.asarray(ink)[..., None] > 0, self.colour, self.paper))

    def set_canvas(self, rgb: np.ndarray, paper: np.ndarray | None = None) -> None:
        """Replace the drawing with a picture (size, size, 3) in [0, 1], optionally on a new paper colour."""
        self.push_undo()
        if paper is not None:
            self.paper = np.asarray(paper, np.float32).copy()
        self.canvas = np.asarray(rgb, np.float32).copy()
        self.update()
        self.changed.emit()

    def set_paper(self, rgb) -> None:
        """A new paper colour: the paper (every cell of the old colour) takes it; strokes keep theirs."""
        rgb = np.asarray(rgb, np.float32)
        if np.array_equal(rgb, self.paper):
            return
        bare = self.ink == 0
        canvas = self.canvas.copy()
        canvas[bare] = rgb
        self.set_canvas(canvas, rgb)

    def push_undo(self) -> None:
        self.undo_stack.append((self.canvas.copy(), self.paper.copy()))
        del self.undo_stack[:-MAX_UNDO]

    def undo(self) -> None:
        if self.undo_stack:
            self.canvas, self.paper = self.undo_stack.pop()
            self.update()
            self.changed.emit()

    def clear(self) -> None:
        if self.ink.any():
            self.set_ink(np.zeros(self.canvas.shape[:2]))

    # -- drawing ---------------------------------------------------------------------------------
    def _square(self) -> tuple[int, int, int]:
        """(left, top, side) of the drawing, the largest square centred in the widget."""
        side = max(1, min(self.width(), self.height()))
        return (self.width() - side) // 2, (self.height() - side) // 2, side

    def _cell(self, pos: QPoint) -> tuple[int, int]:
        n = self.canvas.shape[0]
        left, top, side = self._square()
        x, y = (pos.x() - left) * n // side, (pos.y() - top) * n // side
        return int(np.clip(y, 0, n - 1)), int(np.clip(x, 0, n - 1))

    def _stamp(self, r: int, c: int, value: np.ndarray) -> None:
        k = self.pen - 1
        n = self.canvas.shape[0]
        for dr in range(-k, k + 1):
            for dc in range(-k, k + 1):
                if dr * dr + dc * dc <= k * k and 0 <= r + dr < n and 0 <= c + dc < n:
                    self.canvas[r + dr, c + dc] = value

    def _line_to(self, cell: tuple[int, int], value: np.ndarray) -> None:
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
        before = self.canvas.copy()
        self._line_to(self._cell(ev.position().toPoint()), self.paper if erase else self.colour)
        if not np.array_equal(before, self.canvas):
            self.update()
            self.changed.emit()

    def paintEvent(self, ev):  # noqa: N802
        n = self.canvas.shape[0]
        pix = np.ascontiguousarray((self.canvas.clip(0, 1) * 255).round().astype(np.uint8))
        img = QImage(pix.data, n, n, 3 * n, QImage.Format.Format_RGB888)
        left, top, side = self._square()
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#202124"))
        p.drawImage(QRect(left, top, side, side), img)
        grid = 255 if self.paper.mean() < 0.5 else 0  # the model's pixels, faintly, on any paper
        p.setPen(QPen(QColor(grid, grid, grid, 30)))
        for i in range(1, n):
            v = i * side // n
            p.drawLine(left + v, top, left + v, top + side)
            p.drawLine(left, top + v, left + side, top + v)
        p.end()
