"""Rows of sliders with number boxes, one per value (latent dimensions, PCA directions). The panel owns
its rows: rebuilding it drops the old ones, so nothing ever touches a deleted slider. A slider and its
number box always agree: whichever the user moves, the other follows (the number boxes at <= 25 Hz, off
the slider-to-image path)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QGridLayout, QLabel, QScrollArea, QSlider, QWidget

from .widgets import hint

SLIDER_SCALE = 100  # slider ticks per unit


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
        self.tooltip = tooltip
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

    def set_slider(self, v: float):
        with QSignalBlocker(self.slider):
            self.slider.setValue(int(round(v * SLIDER_SCALE)))

    def set_spin(self, v: float):
        with QSignalBlocker(self.spin):
            self.spin.setValue(float(v))


class SliderPanel(QScrollArea):
    """A scrolling column of :class:`SliderRow`; ``valueChanged(i, v)`` when the user moves row i."""

    valueChanged = Signal(int, float)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.rows: list[SliderRow] = []
        self.range = 3.0
        self._shown: np.ndarray | None = None
        self._spins_due: set[int] = set()
        self._spin_timer = QTimer(self)
        self._spin_timer.setSingleShot(True)
        self._spin_timer.setInterval(40)
        self._spin_timer.timeout.connect(self._sync_spins)
        self.show_hint("")

    def show_hint(self, text: str) -> None:
        """No rows: a line of text in their place."""
        self.rows = []
        self._shown = None
        self._spins_due.clear()
        self.setWidget(hint(text))

    def set_rows(self, names: list[str], tooltips: list[str], note: str = "") -> None:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        self.rows = [SliderRow(grid, i, name, lambda v, i=i: self.valueChanged.emit(i, float(v)), tip)
                     for i, (name, tip) in enumerate(zip(names, tooltips))]
        if note:
            grid.addWidget(QLabel(note), len(names), 0, 1, 3)
        grid.setRowStretch(len(names) + 1, 1)
        self._shown = None
        self._spins_due.clear()
        self.setWidget(box)
        self.set_range(self.range)

    def set_inactive(self, inactive: dict[int, str]) -> None:
        """Grey out the rows in ``inactive`` (index -> why, shown as their tooltip); the others are active."""
        for i, row in enumerate(self.rows):
            why = inactive.get(i)
            for w in (row.slider, row.spin):
                w.setEnabled(why is None)
            row.label.setStyleSheet("color: #777" if why else "")
            for w in (row.label, row.slider, row.spin):
                w.setToolTip(why or row.tooltip)

    def set_range(self, r: float) -> None:
        self.range = r
        for row in self.rows:
            row.set_range(r)
        if self._shown is not None:
            self.show_values(self._shown, force=True)

    def show_values(self, values: np.ndarray, force: bool = False) -> None:
        """Show ``values`` on the rows. Only rows whose value changed are touched (a drag moves one); their
        sliders move at once, their number boxes follow at <= 25 Hz. ``force``: every row, both at once."""
        values = np.asarray(values, np.float32)[: len(self.rows)]
        shown = self._shown
        if force or shown is None or shown.shape != values.shape:
            changed = range(len(values))
        else:
            changed = np.flatnonzero(shown != values)
        for i in changed:
            self.rows[i].set_slider(float(values[i]))
            if force:
                self.rows[i].set_spin(float(values[i]))
        self._shown = values.copy()
        if not force and len(changed):
            self._spins_due.update(int(i) for i in changed)
            if not self._spin_timer.isActive():
                self._spin_timer.start()

    def _sync_spins(self) -> None:
        if self._shown is None:
            return
        for i in sorted(self._spins_due):
            if i < len(self.rows):
                self.rows[i].set_spin(float(self._shown[i]))
        self._spins_due.clear()
