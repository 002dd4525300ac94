"""The Latent Editor's *Mixing* tab for a generator with a mapping network: StyleGAN's style-mixing figure
(Karras et al. 2019, fig. 3) drawn live — source B's images along the top, source A's down the left, and in
each cell A's styles below the crossover layer with B's from there on: crossing over early takes only the
coarse styles (pose, shape) from A, late only the fine ones (colour, texture). Once Inspect › Styles has
measured the model, each crossover's tooltip says what it takes from each source, as the classifier reads it."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QComboBox, QGridLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from .widgets import ImagePanel, SeedBox


class MixingPanel(QWidget):
    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state, self.model = state, None
        lay = QVBoxLayout(self)
        form = QGridLayout()
        self.seed_a, self.seed_b = SeedBox(), SeedBox()
        self.seed_a.setValue(1)
        self.seed_b.setValue(101)
        self.seed_a.setToolTip("Source A (rows): this seed and the next ones")
        self.seed_b.setToolTip("Source B (columns): this seed and the next ones")
        self.count = QSpinBox(minimum=1, maximum=6, value=3, toolTip="Images of each source")
        self.cut = QComboBox(toolTip="The crossover: layers before it take A's style, the rest B's")
        self.source = QComboBox(toolTip="Mix the images of seeds, or the two points A and B picked on the Latent Map "
                                        "(A ↔ B there) or in the Interpolate tab")
        self.source.addItem("seeds", "seeds")
        self.source.addItem("the map's A and B", "anchors")
        for i, (label, w) in enumerate((("A (rows) seed", self.seed_a), ("B (columns) seed", self.seed_b),
                                        ("images each", self.count), ("sources", self.source))):
            form.addWidget(QLabel(label), i // 2, 2 * (i % 2))
            form.addWidget(w, i // 2, 2 * (i % 2) + 1)
        form.addWidget(QLabel("crossover at"), 2, 0)
        form.addWidget(self.cut, 2, 1, 1, 3)  # a row of its own: its items name the layers each source gives
        lay.addLayout(form)
        self.note = QLabel(wordWrap=True)
        lay.addWidget(self.note)
        self.panel = ImagePanel()
        self.panel.setMinimumSize(200, 200)
        lay.addWidget(self.panel, 1)
        self._timer = QTimer(self, singleShot=True, interval=33)
        self._timer.timeout.connect(self.draw)
        for w in (self.seed_a, self.seed_b, self.count):
            w.valueChanged.connect(lambda *_: self._timer.start())
        self.cut.currentIndexChanged.connect(lambda *_: self._timer.start())
        self.source.currentIndexChanged.connect(lambda *_: self._timer.start())
        state.labelChanged.connect(lambda *_: self._timer.start())
        state.anchorsChanged.connect(lambda *_: self._timer.start())
        state.stylesMeasured.connect(self._tooltips)

    def set_model(self, model) -> None:
        self.model = model
        self.cut.blockSignals(True)
        self.cut.clear()
        if model is not None:
            for k in range(1, model.num_ws):
                # crossover k: A's styles in layers 0 … k-1, B's from layer k on
                self.cut.addItem(f"layer {k}: A's {_span(0, k - 1)}, B's {_span(k, model.num_ws - 1)}", k)
            self.cut.setCurrentIndex(max(0, model.num_ws // 3 - 1))
        self.cut.blockSignals(False)
        self._tooltips()
        self.panel.clear_image()
        self._timer.start()

    def _tooltips(self) -> None:
        """The measured style-mixing table in the crossover's tooltip (each item: its own row), or where to
        measure it."""
        report = self.state.style_report if self.state.model is self.model else None
        base = "The crossover: layers before it take A's style, the rest B's." + _groups(self.model)
        if report is None or self.model is None:
            self.cut.setToolTip(base + " What each crossover takes from each source: Inspect › Styles, Measure.")
            for i in range(self.cut.count()):
                self.cut.setItemData(i, None, Qt.ItemDataRole.ToolTipRole)
            return
        t = report.mixing
        self.cut.setToolTip(f"{base}\nMeasured (share of mixed images whose factor is A's / B's):\n{t.text()}")
        for i in range(self.cut.count()):
            k = self.cut.itemData(i)
            if k in t.cuts:
                r = t.cuts.index(k)
                row = ", ".join(f"{f} {a:.0%} A / {b:.0%} B" for f, a, b in zip(t.factors, t.from_a[r], t.from_b[r]))
                self.cut.setItemData(i, row, Qt.ItemDataRole.ToolTipRole)

    def showEvent(self, e):  # noqa: N802
        super().showEvent(e)
        self._timer.start()

    def draw(self) -> None:
        import torch

        from latent_explorer.models.display import mosaic
        from latent_explorer.models.kinds.stylegan import grid_of, mixing_grid

        model = self.model
        if model is None or not self.isVisible() or self.cut.currentData() is None:
            return
        n, a, b = self.count.value(), int(self.seed_a.value()), int(self.seed_b.value())
        y = self.state.label if model.conditional else None
        anchors = self.source.currentData() == "anchors"
        for w in (self.seed_a, self.seed_b, self.count):
            w.setEnabled(not anchors)
        cut = int(self.cut.currentData())
        if not anchors:
            self.note.setText("")
            grid = mixing_grid(model, list(range(a, a + n)), list(range(b, b + n)), cut, y)
        else:
            za, zb = self.state.anchors["A"], self.state.anchors["B"]
            if za is None or zb is None:
                self.note.setText("Pick A and B first: two points on the Latent Map (A ↔ B), or Set A / Set B in "
                                  "the Interpolate tab.")
                self.panel.clear_image()
                return
            self.note.setText("A (left): the map's point A; B (top): its point B.")
            yy = None if y is None else torch.tensor([y])
            wa, wb = (model.ws_of(torch.from_numpy(np.asarray(c, np.float32)[None]), yy) for c in (za, zb))
            grid, n = grid_of(model, wa, wb, cut), 1
        self.panel.show_image(mosaic(grid.cpu().numpy(), n + 1, gap=1))


def _span(first: int, last: int) -> str:
    return f"L{first}" if first == last else f"L{first}–{last}"


def _groups(model) -> str:
    """" Coarse: L0–1, middle: L2–3, fine: L4–5." for the crossover's tooltip ("" without a model)."""
    if model is None:
        return ""
    groups: dict[str, list[int]] = {}
    for k in range(model.num_ws):
        groups.setdefault(model.layer_group(k), []).append(k)
    said = ", ".join(f"{g}: {_span(ks[0], ks[-1])}" for g, ks in groups.items())
    return f" {said[:1].upper()}{said[1:]}."
