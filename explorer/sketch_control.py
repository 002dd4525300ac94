"""The Sketch view's row for a ControlNet: the prompt and the Text-to-Image settings (steps, CFG, seed) the
drawing is generated with, and a slider through the denoising steps of the last answer (the decoded x̂_0 of
each step, then the image)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QSlider, QVBoxLayout, QWidget

from latent_explorer.models.sampling.settings import TEXT_GUIDANCE

from .sampling_controls import SamplingControls


class ControlRow(QWidget):
    """Prompt, steps, CFG and seed; ``changed`` when one is set; ``frame`` (index) when the step slider moves."""

    changed = Signal()
    frame = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.prompt = QLineEdit("a large red square at the center on a white background")
        self.prompt.setPlaceholderText("the prompt (empty: the drawing alone)")
        self.prompt.setToolTip("What to draw inside the lines; press Enter to generate again")
        self.prompt.returnPressed.connect(self.changed)
        # a ControlNet samples with DDIM: the steps, CFG and seed of Text-to-Image, with its limits
        self.controls = SamplingControls(parts=("steps", "guidance", "seed"), guidance=TEXT_GUIDANCE,
                                         tips={"steps": "DDIM steps",
                                               "guidance": "Classifier-free guidance scale (1: the prompt alone, "
                                                           "no guidance)"})
        self.controls.set_keyboard_tracking(False)  # typing a number generates once, when it is done
        self.controls.changed.connect(self.changed)
        self.steps, self.guidance, self.seed = self.controls.steps, self.controls.guidance, self.controls.seed
        top.addWidget(QLabel("Prompt:"))
        top.addWidget(self.prompt, 1)
        top.addWidget(self.controls)
        lay.addLayout(top)
        bottom = QHBoxLayout()
        self.step_label = QLabel("no image yet")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.slider.setToolTip("Scrub the denoising steps of the answer: what each step predicted (x̂_0), then "
                               "the image")
        self.slider.valueChanged.connect(self._moved)
        bottom.addWidget(self.step_label)
        bottom.addWidget(self.slider, 1)
        lay.addLayout(bottom)
        self.frames: np.ndarray | None = None

    def settings(self) -> dict:
        s = self.controls.settings()
        return {"prompt": self.prompt.text().strip(), "steps": s.steps, "guidance": s.guidance, "seed": s.seed}

    def set_frames(self, frames: np.ndarray | None) -> None:
        """The decoded x̂_0 of every step and the final image (K + 1, C, H, W); the slider goes to the image."""
        self.frames = frames
        n = 0 if frames is None else len(frames) - 1
        self.slider.blockSignals(True)
        self.slider.setRange(0, n)
        self.slider.setValue(n)
        self.slider.blockSignals(False)
        self._label(n)

    def _label(self, k: int) -> None:
        if self.frames is None:
            self.step_label.setText("no image yet")
            return
        n = len(self.frames) - 1
        self.step_label.setText("the image" if k == n else f"step {k + 1}/{n}: x̂_0")

    def _moved(self, k: int) -> None:
        self._label(k)
        if self.frames is not None:
            self.frame.emit(k)
