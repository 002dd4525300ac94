"""Small reusable widgets: a fast image panel, a value scale bar, a progress line with ETA, a seed box."""

from __future__ import annotations

import time

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFontMetrics, QLinearGradient, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QDoubleSpinBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.display import to_display

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)


class SeedBox(QDoubleSpinBox):
    """A seed from 0 to :data:`models.sampling.samplers.SEED_MAX` (2^32 − 1), every seed a command takes: a QSpinBox
    holds a signed 32-bit number and stops at 2^31 − 1. A double holds every whole number to 2^53 exactly;
    ``value()`` is an int."""

    def __init__(self, parent=None, **kw):
        from latent_explorer.models.sampling.samplers import SEED_MAX

        super().__init__(parent, decimals=0, minimum=0, maximum=SEED_MAX, singleStep=1, **kw)

    def value(self) -> int:
        return int(round(super().value()))


class ImagePanel(pg.GraphicsLayoutWidget):
    """One reused ImageItem with fixed levels (0..1) and locked aspect: no per-frame allocation."""

    imageShown = Signal()

    def __init__(self, parent=None, title: str | None = None):
        super().__init__(parent)
        self.setBackground("#202124")
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.title = None
        if title:
            self.title = self.addLabel(title, color="#cccccc", size="9pt")
            self.nextRow()
        self.view = self.addViewBox(lockAspect=True, invertY=True, enableMouse=False)
        self.view.setMenuEnabled(False)
        self.item = pg.ImageItem(levels=(0.0, 1.0))
        self.view.addItem(self.item)
        self._shape = None
        self.data: np.ndarray | None = None

    def set_title(self, text: str) -> None:
        if self.title is not None:
            self.title.setText(text, color="#cccccc", size="9pt")

    def show_image(self, image: np.ndarray) -> None:
        """``image``: (C, H, W) in [0, 1] or an already displayable (H, W[, 3]) float array."""
        frame = to_display(image) if image.ndim == 3 and image.shape[0] in (1, 3) else image
        self.data = frame
        self.item.setVisible(True)  # before setImage: an image set on a hidden item is never painted
        self.item.setImage(frame, autoLevels=False, levels=(0.0, 1.0))
        if frame.shape[:2] != self._shape:
            self._shape = frame.shape[:2]
            self.view.autoRange(padding=0)
        self.imageShown.emit()

    def _fit(self):
        if getattr(self, "_shape", None) is not None:
            self.view.autoRange(padding=0)

    def resizeEvent(self, ev):  # a range fitted while hidden (zero size) is wrong: fit again
        super().resizeEvent(ev)
        self._fit()

    def showEvent(self, ev):
        super().showEvent(ev)
        self._fit()

    def clear_image(self):
        # hide rather than ImageItem.clear(); not named clear(): pyqtgraph's GraphicsView.clear() is used inside
        self.item.setVisible(False)
        self.data = None
        self._shape = None


class ProgressLine(QWidget):
    """A progress bar with ETA and a Cancel button, hidden when idle."""

    cancelRequested = Signal()
    MIN_INTERVAL_S = 0.1

    def __init__(self, parent=None, hide_when_idle: bool = True):
        super().__init__(parent)
        self.hide_when_idle = hide_when_idle
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.label = ElidedLabel(mode=Qt.TextElideMode.ElideRight, max_hint=420)  # a long name never widens it
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(True)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop this job (Esc)")
        self.cancel.clicked.connect(self.cancelRequested)
        lay.addWidget(self.label)
        lay.addWidget(self.bar, 1)
        lay.addWidget(self.cancel)
        self._t0 = 0.0
        self._shown_at = -1.0
        self._pending: tuple[float, float | None] | None = None  # the newest value held back by the limit
        self._later = QTimer(self)
        self._later.setSingleShot(True)
        self._later.timeout.connect(self._show_pending)
        self.active = False
        self._owner = None
        if hide_when_idle:  # never shown here: shown while it has no parent, it would be a window of its own
            self.setVisible(False)

    def start(self, text: str, cancellable: bool = True, owner=None):
        """Show a job's progress; ``owner`` (the job) is the only one whose ``finish`` hides it again, so
        jobs that share the line do not end each other's progress."""
        self._owner = owner
        self._t0 = time.monotonic()
        self._shown_at = -1.0
        self._pending = None
        self._later.stop()
        self.label.setText(text)
        self.bar.setValue(0)
        self.bar.setFormat("%p%")
        self.cancel.setVisible(cancellable)
        self.active = True
        self.show()

    def update_fraction(self, fraction: float, text: str | None = None, eta: float | None = None):
        """Show progress and ETA (from ``eta`` seconds, else extrapolated from the elapsed time). The bar
        is redrawn at most 10 times a second (QProgressBar.setValue repaints at once, on the UI thread); a
        value that comes sooner is shown when the interval is up, so the bar never stays behind."""
        if text:
            self.label.setText(text)
        now = time.monotonic()
        fraction = max(0.0, min(1.0, fraction))
        wait = self.MIN_INTERVAL_S - (now - self._shown_at)
        if 0 < fraction < 1 and wait > 0:
            self._pending = (fraction, eta)
            if not self._later.isActive():
                self._later.start(max(1, int(wait * 1000)))
            return
        self._later.stop()
        self._pending = None
        self._show(fraction, eta, now)

    def _show_pending(self):
        if self._pending is not None:
            fraction, eta = self._pending
            self._pending = None
            self._show(fraction, eta, time.monotonic())

    def _show(self, fraction: float, eta: float | None, now: float):
        self._shown_at = now
        elapsed = now - self._t0
        if eta is None and 0.02 < fraction < 1 and elapsed > 0.5:
            eta = elapsed * (1 - fraction) / fraction
        self.bar.setFormat(f"%p%  ETA {format_eta(eta)}" if eta is not None and 0 < fraction < 1 else "%p%")
        self.bar.setValue(int(1000 * fraction))

    def finish(self, text: str = "", owner=None):
        if owner is not None and owner is not self._owner:
            return
        self.active = False
        self._pending = None
        self._later.stop()
        if self.hide_when_idle:
            self.hide()
        else:  # stays in place, so the layout around it does not move
            self.label.setText(text)
            self.bar.setFormat("%p%")


def format_eta(seconds: float) -> str:
    s = max(0, int(round(seconds)))
    if s >= 3600:
        return f"{s // 3600}h {s // 60 % 60:02d}m"
    return f"{s // 60}:{s % 60:02d}"


def placeholder_and_body(view: QWidget) -> tuple[QLabel, QWidget, QVBoxLayout]:
    """A view's two faces, stacked in ``view``: a line saying why there is nothing to show (hidden when there
    is), and the body shown otherwise. Returns (placeholder, body, the body's layout)."""
    root = QVBoxLayout(view)
    placeholder = hint("")
    root.addWidget(placeholder)
    body = QWidget()
    root.addWidget(body, 1)
    lay = QVBoxLayout(body)
    lay.setContentsMargins(0, 0, 0, 0)
    return placeholder, body, lay


def scrolled(widget: QWidget) -> QScrollArea:
    """``widget`` in a frameless scroll area that fits it to its width and scrolls it down when there is too
    little room, rather than asking the window for more (and squeezing the rest)."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(widget)
    return scroll


def elided(text: str, n: int = 60) -> str:
    """``text`` in at most ``n`` characters, cut in the middle (a prompt or a path keeps both ends)."""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: (n - 1) // 2] + "…" + text[len(text) - (n - 1 - (n - 1) // 2):]


class ElidedLabel(QLabel):
    """One line that never asks for more width than it is given: the text is elided (in the middle by
    default, so a file name keeps its start and its end) to the label's width, the whole of it a tooltip.
    ``text()`` is the whole text."""

    def __init__(self, text: str = "", mode=Qt.TextElideMode.ElideMiddle, parent=None, max_hint: int = 0):
        super().__init__(parent)
        self._full, self._mode, self._max_hint = "", mode, max_hint
        # with max_hint: asks for its text's width up to max_hint beside other widgets, and gives way to them
        self.setSizePolicy(QSizePolicy.Policy.Preferred if max_hint else QSizePolicy.Policy.Ignored,
                           QSizePolicy.Policy.Preferred)
        self.setMinimumWidth(1)
        self.setText(text)

    def sizeHint(self):  # noqa: N802
        hint = super().sizeHint()
        if self._max_hint:
            hint.setWidth(min(self._max_hint, self.fontMetrics().horizontalAdvance(self._full) + 8))
        return hint

    def minimumSizeHint(self):  # noqa: N802
        hint = super().minimumSizeHint()
        hint.setWidth(min(hint.width(), 40))
        return hint

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._full = str(text)
        self.setToolTip(self._full)
        self._fit()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, e):  # noqa: N802
        super().resizeEvent(e)
        self._fit()

    def _fit(self) -> None:
        super().setText(self.fontMetrics().elidedText(self._full, self._mode, max(1, self.width())))


def set_axis_label(plot: pg.PlotWidget, side: str, text: str) -> None:
    """``plot.setLabel`` that centres the new text: pyqtgraph places an axis label only when the axis is resized,
    so a longer label set later kept the short one's place and ran off the plot's edge."""
    plot.setLabel(side, text)
    plot.getAxis(side).resizeEvent()


def room_for_top_tick(plot: pg.PlotWidget) -> pg.PlotWidget:
    """A plot without a title has no room above its left axis, whose top tick label, centred on its tick, lost
    its upper half (the "1.0" of an empty plot). Half a label's height of margin keeps it whole."""
    plot.plotItem.layout.setContentsMargins(1, QFontMetrics(plot.font()).height() // 2 + 1, 1, 1)
    return plot


def titled_columns(columns) -> QGridLayout:
    """Widgets side by side, each under its title, titles in one row (so the pictures start at the same
    height) and the columns sharing the width: ``columns`` is ((title, widget), ...)."""
    grid = QGridLayout()
    for col, (title, w) in enumerate(columns):
        grid.addWidget(QLabel(title), 0, col, Qt.AlignmentFlag.AlignHCenter)
        grid.addWidget(w, 1, col)
        grid.setColumnStretch(col, 1)
    grid.setRowStretch(1, 1)
    return grid


def hint(text: str) -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lab.setStyleSheet("color: #888; padding: 12px;")
    return lab


class ValueBar(QWidget):
    """A colour bar: the grey ramp the image panels beside it use, with the values at its ends and middle,
    so that a reader knows what black and white mean (e.g. −3 … 0 … +3 in model units)."""

    def __init__(self, lo: float = -1.0, hi: float = 1.0, label: str = "", parent=None):
        super().__init__(parent)
        self.lo, self.hi, self.label = lo, hi, label
        self.setMinimumHeight(34)
        self.setMinimumWidth(160)

    def set_range(self, lo: float, hi: float, label: str | None = None) -> None:
        self.lo, self.hi = lo, hi
        if label is not None:
            self.label = label
        self.update()

    def paintEvent(self, ev):
        p = QPainter(self)
        h = self.height()
        bar = self.rect().adjusted(6, 2, -6, -(h // 2))
        grad = QLinearGradient(bar.left(), 0, bar.right(), 0)
        grad.setColorAt(0.0, QColor(0, 0, 0))
        grad.setColorAt(1.0, QColor(255, 255, 255))
        p.fillRect(bar, grad)
        p.setPen(self.palette().windowText().color())
        p.drawRect(bar)
        y = bar.bottom() + 2
        th = h - y
        mid = (self.lo + self.hi) / 2
        p.drawText(bar.left(), y, 80, th, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, f"{self.lo:g}")
        p.drawText(bar.center().x() - 120, y, 240, th, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                   f"{mid:g}" + (f"   {self.label}" if self.label else ""))
        p.drawText(bar.right() - 80, y, 80, th, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop, f"{self.hi:g}")
        p.end()


def fit_to_screen(window: QWidget) -> None:
    """A window no larger than the screen it is on (a restored or grown geometry is cut to it)."""
    screen = window.screen() or QApplication.primaryScreen()
    if screen is None or window.isMaximized() or window.isFullScreen():
        return
    room = screen.availableGeometry()
    w, h = min(window.width(), room.width()), min(window.height(), room.height())
    if (w, h) != (window.width(), window.height()):
        window.resize(w, h)
    frame = window.frameGeometry()
    if not room.contains(frame):
        window.move(min(max(frame.left(), room.left()), room.right() - frame.width() + 1),
                    min(max(frame.top(), room.top()), room.bottom() - frame.height() + 1))
