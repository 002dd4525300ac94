"""The Latent Editor's row for a generator with a mapping network (StyleGAN): which space the sliders (and every
view) edit and map — Z, W, or W+ with one w per layer, grouped coarse / middle / fine — and the truncation ψ
towards the mean w̄ (StyleGAN sec. 3.3). A switch carries the current code over where there is a way (z -> w
-> W+, W+ -> W by the mean over the layers); back to Z there is none, and the editor starts from 0 there. ψ
draws towards w̄, or towards the nearest of W's modes (multi-modal truncation, Mokady et al. 2022); moving it
truncates the code shown anew (``untruncate``, ``truncate``: ψ and back gives it back), in Z every decode."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QWidget

SPACE_TIPS = {"z": "Z: the normal noise the mapping network reads (ψ truncates on the way to W)",
              "w": "W: the mapping network's output, one w for every layer: less entangled than Z",
              "w+": "W+: one w per synthesis layer (coarse, middle, fine): edit the layers apart"}


class StyleRow(QWidget):
    """Space and ψ; changes go to the model (``set_style``) and the shared state, never into a view alone."""

    message = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state, self.model = state, None
        self._drawn = None  # (untruncated code, the code it was drawn as) of the last ψ change: ψ and back, exact
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.space = QComboBox()
        for key, title in (("z", "Z"), ("w", "W"), ("w+", "W+ (per layer)")):
            self.space.addItem(title, key)
            self.space.setItemData(self.space.count() - 1, SPACE_TIPS[key], Qt.ItemDataRole.ToolTipRole)
        self.space.setToolTip("The space the sliders edit and the map shows")
        self.psi = QDoubleSpinBox(minimum=0.0, maximum=2.0, singleStep=0.05, value=1.0, decimals=2)
        self.psi.setToolTip("Truncation ψ, from 0 to 2: w' = w̄ + ψ (w − w̄), on the image shown and on every "
                            "sample. 1 is none; towards 0 images are more typical and alike (precision up, "
                            "recall down), 0 is the mean image; above 1 they are more unusual")
        self.psi.setKeyboardTracking(False)
        self.towards = QComboBox()
        self.towards.addItem("towards w̄", "mean")
        self.towards.addItem("towards the nearest mode", "modes")
        self.towards.setToolTip(
            "What ψ draws towards. w̄: the mean w (StyleGAN). The nearest mode: the nearest of W's modes, found "
            "by k-means of 10,000 w's (multi-modal truncation, Mokady et al. 2022): for data of separate kinds "
            "(the scenes' backgrounds), where w̄ lies between them and draws every image towards a blend")
        for w in (QLabel("space"), self.space, QLabel("ψ"), self.psi, self.towards):
            lay.addWidget(w)
        lay.addStretch(1)
        self.space.currentIndexChanged.connect(self._apply)
        self.psi.valueChanged.connect(self._apply)
        self.towards.currentIndexChanged.connect(self._apply)

    def set_model(self, model) -> None:
        """The editor's model, if it has a mapping network (else None: the row hides)."""
        self.model, self._drawn = model, None
        self.setVisible(model is not None)
        if model is not None:
            with QSignalBlocker(self.space), QSignalBlocker(self.psi), QSignalBlocker(self.towards):
                self.space.setCurrentIndex(self.space.findData(model.space))
                self.psi.setValue(model.psi)
                self.towards.setCurrentIndex(self.towards.findData(model.towards))

    def _apply(self, *_):
        import torch

        model = self.model
        if model is None:
            return
        space, psi, towards = self.space.currentData(), float(self.psi.value()), self.towards.currentData()
        if (space, psi, towards) == (model.space, model.psi, model.towards):
            return
        code = torch.from_numpy(np.asarray(self.state.z, np.float32)[None])
        label = self.state.label if model.conditional else None
        was, was_towards = model.space, model.towards
        if towards != was_towards:  # W's modes are fitted the first time (about a second)
            QGuiApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        raw = None
        try:
            if space != was:  # the code carried over
                carried = model.convert(code, space, label)
            else:  # ψ or its centre: the code shown, truncated anew (Z: as it is)
                drawn = self._drawn
                raw = drawn[0] if drawn is not None and np.array_equal(drawn[1], self.state.z) else \
                    model.untruncate(code)  # the untruncated code this row drew, if not edited since: exact
                carried = code if raw is None else model.truncate(raw, psi, towards)
            model.set_style(space, psi, towards)
        finally:
            if towards != was_towards:
                QGuiApplication.restoreOverrideCursor()
        self.state.set_model(model)  # every view: the new space's dimensions, samples of it on the map
        if carried is not None:
            self.state.set_z(carried[0].cpu().numpy())
        elif space == "z" and was != "z":
            self.message.emit("back in Z: the mapping network has no inverse, so the editor starts from z = 0")
        self._drawn = None if raw is None else (raw, self.state.z.copy())
