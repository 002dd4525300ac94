"""The Latent Editor's *Noise* tab for StyleGAN: each synthesis layer's noise input on or off, *Resample* (the
same image with other stochastic details), and where the noise acts — the per-pixel standard deviation of the
image over 16 draws of the noise (StyleGAN fig. 4): coarse layers' noise moves whole strokes, fine layers'
only texture."""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .widgets import ImagePanel

DRAWS = 16


class NoisePanel(QWidget):
    changed = Signal()  # the decode changed: the editor decodes again

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state, self.model, self.boxes, self._seed = state, None, [], 0
        lay = QVBoxLayout(self)
        self.grid = QGridLayout()
        lay.addLayout(self.grid)
        self.btn_resample = QPushButton("Resample noise", toolTip="Draw the layers' noise anew: the same image, "
                                                                  "other stochastic details")
        self.btn_resample.clicked.connect(self.resample)
        lay.addWidget(self.btn_resample)
        lay.addWidget(QLabel(f"Where the noise acts: the standard deviation of each pixel over {DRAWS} draws"))
        self.panel = ImagePanel()
        self.panel.setMinimumSize(160, 160)
        lay.addWidget(self.panel, 1)
        self._timer = QTimer(self, singleShot=True, interval=100)
        self._timer.timeout.connect(self.draw)
        state.zChanged.connect(lambda: self._timer.start())

    def set_model(self, model) -> None:
        self.model = model
        for b in self.boxes:
            self.grid.removeWidget(b)
            b.deleteLater()
        self.boxes = []
        if model is not None:
            for k, text in enumerate(model.layers()):
                b = QCheckBox(" · ".join(text.split(" · ")[:2]), checked=True)  # "L3 middle · 16×16"
                b.setToolTip(f"{text}: its noise input")
                b.toggled.connect(self._switch)
                self.grid.addWidget(b, k // 2, k % 2)
                self.boxes.append(b)
            model.set_noise([True] * len(self.boxes))
        self.panel.clear_image()
        self._timer.start()

    def _switch(self, *_):
        if self.model is not None:
            self.model.set_noise([b.isChecked() for b in self.boxes])
            self.changed.emit()
            self._timer.start()

    def resample(self):
        if self.model is not None:
            self._seed += 1
            self.model.set_noise(seed=self._seed)
            self.changed.emit()

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        self._timer.start()

    def draw(self) -> None:
        model = self.model
        if model is None or not self.isVisible() or len(self.state.z) != model.latent_dim:
            return
        std = model.noise_spread(self.state.z, self.state.label if model.conditional else None, DRAWS).numpy()
        self.panel.show_image(std / max(float(std.max()), 1e-8))
