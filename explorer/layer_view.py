"""The Latent Editor's *Layers* tab for a generator with a mapping network (as NVIDIA's StyleGAN3 visualizer
shows a layer): pick a synthesis layer and see each of its channels as a feature map for the current code,
each on its own range, updated as the sliders move (at most 30 times a second)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QLabel, QVBoxLayout, QWidget

from .widgets import ImagePanel

MAX_CHANNELS = 64
FRAME_MS = 33  # ≤ 30 updates a second


class LayersPanel(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state, self.model = state, None
        lay = QVBoxLayout(self)
        self.layer = QComboBox(toolTip="The synthesis layer whose channels are shown")
        self.layer.currentIndexChanged.connect(lambda _: self.request())
        lay.addWidget(self.layer)
        self.panel = ImagePanel()
        self.panel.setMinimumSize(200, 200)
        lay.addWidget(self.panel, 1)
        self.note = QLabel(wordWrap=True)
        self.note.setStyleSheet("color: #aaa")
        lay.addWidget(self.note)
        self._timer = QTimer(self, singleShot=True, interval=FRAME_MS)
        self._timer.timeout.connect(self.draw)
        state.zChanged.connect(self.request)
        state.labelChanged.connect(lambda _: self.request())

    def set_model(self, model) -> None:
        self.model = model
        self.layer.blockSignals(True)
        self.layer.clear()
        if model is not None:
            self.layer.addItems(model.layers())
        self.layer.blockSignals(False)
        self.panel.clear_image()
        self.request()

    def request(self) -> None:
        if self.model is not None and self.isVisible():
            self._timer.start()

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        self.request()

    def draw(self) -> None:
        from latent_explorer.models.display import mosaic

        model = self.model
        if model is None or len(self.state.z) != model.latent_dim:
            return
        label = self.state.label if model.conditional else None
        full = model.layer_features(self.state.z, label, max(0, self.layer.currentIndex())).numpy()
        c, f = len(full), full[:MAX_CHANNELS]
        lo, hi = f.min((1, 2), keepdims=True), f.max((1, 2), keepdims=True)
        maps = ((f - lo) / np.maximum(hi - lo, 1e-8))[:, None]  # (C, 1, s, s), each channel on its own range
        self.panel.show_image(mosaic(maps, int(np.ceil(np.sqrt(len(maps)))), gap=1))
        self.note.setText(f"{min(c, MAX_CHANNELS)} of {c} channels, each from its darkest to its brightest value")
