"""The editor's Interpolate panel: two anchors, lerp or slerp between them, a position slider, playback
that follows the clock, and the path drawn on the map (through the shared state)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget

from latent_explorer.models.analysis.latent import interpolate

from .state import LatentState
from .widgets import ImagePanel


class InterpolationPanel(QWidget):
    def __init__(self, state: LatentState, decode, parent=None):
        """``decode(z, label)`` -> (C, H, W): how the anchors' thumbnails are made (None: too slow to)."""
        super().__init__(parent)
        self.state = state
        self.decode = decode
        lay = QVBoxLayout(self)
        row = QHBoxLayout()
        self.btn_a = QPushButton("Set A = current")
        self.btn_a.setToolTip("The current z becomes the start of the path")
        self.btn_a.clicked.connect(lambda: self.state.set_anchor("A"))
        self.btn_b = QPushButton("Set B = current")
        self.btn_b.setToolTip("The current z becomes the end of the path")
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
        self.steps.setToolTip("Points on the path from A to B (also the frames of an exported GIF)")
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
        self.fps.setToolTip("Playback speed, and the frame rate of an exported GIF")
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
        state.anchorsChanged.connect(self._on_anchors)
        state.labelChanged.connect(lambda _k: self.update_thumbs())
        self.set_enabled(False)

    def set_model_enabled(self, on: bool) -> None:
        self.btn_play.setChecked(False)
        self.btn_a.setEnabled(on)
        self.btn_b.setEnabled(on)

    def set_enabled(self, on: bool) -> None:
        for w in (self.mode, self.steps, self.step, self.btn_play, self.fps):
            w.setEnabled(on)

    @property
    def ready(self) -> bool:
        return all(v is not None for v in self.state.anchors.values())

    def _on_anchors(self):
        self.set_enabled(self.ready)
        self.update_thumbs()
        if self.ready:
            self.state.set_path(self.path())

    def update_thumbs(self):
        for key, panel in (("A", self.thumb_a), ("B", self.thumb_b)):
            z = self.state.anchors[key]
            img = None if z is None or self.state.model is None else self.decode(z, self.state.label)
            if img is None:
                panel.clear_image()
            else:
                panel.show_image(img)

    def path(self, steps: int | None = None) -> np.ndarray:
        """(steps, D) latents from A to B (default: the Steps box)."""
        return interpolate(self.state.anchors["A"], self.state.anchors["B"], steps or self.steps.value(),
                           self.mode.currentText())

    def _on_steps(self, n):
        self.step.setRange(0, n - 1)
        self._on_interp()

    def _on_interp(self, *_):
        if not self.ready:
            return
        path = self.path()
        self.state.set_path(path)
        self.state.set_z(path[min(self.step.value(), len(path) - 1)])

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

    def stop(self):
        self.btn_play.setChecked(False)
        self._play_timer.stop()
