"""The Text-to-Image view's panels: the prompt's tokens as chips, the per-token cross-attention heat maps,
and the autoencoder's latent map with a sample's trajectory drawn on it."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from models.display import heat_overlay

from .map_points import ClassPoints
from .widgets import ImagePanel

CHIP = ("<span style='background:{bg}; color:{fg}; border-radius:3px'>&nbsp;{text}&nbsp;</span>")


class TokenChips(QLabel):
    """A prompt as the text encoder reads it: each word a chip, unknown words red and struck through, the
    words past the context greyed out; a line under it says what is wrong."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(False)  # one line (a wrapping label asks the form for the height of many)
        self.setContentsMargins(0, 0, 0, 0)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)

    def show_check(self, check, what: str = "the prompt") -> None:
        if check is None:
            self.setText("")
            return
        if not check.words:
            self.setText(f"<span style='color:#999'>{html.escape(what.capitalize())} is empty: "
                         + ("unconditional samples" if what == "the prompt" else "guidance steers away from the "
                            "unconditional prediction") + "</span>")
            return
        chips = []
        for i, w in enumerate(check.words):
            if w in check.unknown:
                chips.append(CHIP.format(bg="#5c1f1f", fg="#ff8a80", text=f"<s>{html.escape(w)}</s>"))
            elif i >= check.context:
                chips.append(CHIP.format(bg="#2a2a2a", fg="#777", text=html.escape(w)))
            else:
                chips.append(CHIP.format(bg="#23395b", fg="#cfe2ff", text=html.escape(w)))
        notes = "".join(f"<br><span style='color:#ff8a80'>{html.escape(p, quote=False)}</span>"
                        for p in check.problems(what))
        self.setText(" ".join(chips) + notes)


class AttentionPanel(QWidget):
    """One heat map per word of the prompt, over the decoded x̂_0 of the chosen sample at the current step."""

    MAX_TOKENS = 16

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        self.panels: list[ImagePanel] = []

    def show_maps(self, traj, k: int, sample: int) -> None:
        words = traj.word_tokens[: self.MAX_TOKENS]
        while len(self.panels) < len(words):
            p = ImagePanel(title=" ")
            p.setMinimumSize(90, 100)
            self.grid.addWidget(p, len(self.panels) // 8, len(self.panels) % 8)
            self.panels.append(p)
        maps = traj.attention[k, sample].astype(np.float32)  # (tokens, s, s)
        image = traj.x0[k, sample].astype(np.float32)
        for p, j in zip(self.panels, words):
            # where the word is looked at, each map on its own range (how much: its share, in the title)
            m = maps[j] - maps[j].min()
            p.setVisible(True)
            p.set_title(f"{traj.tokens[j]}  {maps[j].mean():.0%}")
            p.show_image(heat_overlay(image, m, float(m.max())))
        for p in self.panels[len(words):]:
            p.setVisible(False)

    def clear(self) -> None:
        for p in self.panels:
            p.setVisible(False)


class AtlasPlot(QWidget):
    """The autoencoder's latents of the model's data on their first two principal components, coloured by a
    chosen factor; the chosen sample's z_t from noise to image drawn over them, its current step marked."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.factor = QComboBox()
        self.factor.setToolTip("Colour the data points by this factor of the images")
        self.factor.currentIndexChanged.connect(self._draw_points)
        row.addWidget(QLabel("colour by"))
        row.addWidget(self.factor, 1)
        self.btn_load = QPushButton("Load its data")
        self.btn_load.hide()
        row.addWidget(self.btn_load)
        lay.addLayout(row)
        self.plot = pg.PlotWidget(background="#202124")
        self.plot.setLabel("bottom", "PC1 of the autoencoder's latents")
        self.plot.setLabel("left", "PC2")
        lay.addWidget(self.plot, 1)
        self.points = ClassPoints(self.plot, lambda *_: None)
        self.path = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=2), symbol="o", symbolSize=4,
                                    symbolBrush="#ffffff", symbolPen=None)
        self.marker = pg.ScatterPlotItem(size=14, pen=pg.mkPen("#000000", width=1.5), brush="#ff5050")
        for item in (self.path, self.marker):
            item.setZValue(500)
            self.plot.addItem(item)
        self.atlas = None
        self.xy = None

    def set_atlas(self, atlas) -> None:
        self.atlas = atlas
        with pg.QtCore.QSignalBlocker(self.factor):
            self.factor.clear()
            if atlas is not None:
                self.factor.addItems(list(atlas.factors))
        self._draw_points()

    def _draw_points(self, *_):
        self.points.clear()
        a = self.atlas
        if a is None:
            return
        name = self.factor.currentText()
        labels = a.factors.get(name)
        self.points.draw(a.xy, labels, a.classes.get(name, []), True)
        for s in self.points.items:  # the data behind the path, not over it
            s.setOpacity(0.55)

    def set_path(self, traj, sample: int, k: int, fit: bool = False) -> None:
        if self.atlas is None or traj is None:
            self.clear_path()
            return
        self.xy = self.atlas.place(traj.z[:, sample])
        ok = np.isfinite(self.xy).all(1) & (np.abs(self.xy) < 1e6).all(1)  # a diverged sample leaves the map
        self.path.setData(self.xy[ok, 0], self.xy[ok, 1])
        self.set_frame(k)
        if fit:
            both = np.concatenate([self.atlas.xy, self.xy[ok]]).astype(np.float64)
            lo, hi = np.percentile(both, 0.5, 0).tolist(), np.percentile(both, 99.5, 0).tolist()
            self.plot.setRange(xRange=(lo[0], hi[0]), yRange=(lo[1], hi[1]), padding=0.05)

    def set_frame(self, k: int) -> None:
        if self.xy is not None and 0 <= k < len(self.xy) and np.isfinite(self.xy[k]).all():
            self.marker.setData([float(self.xy[k, 0])], [float(self.xy[k, 1])])

    def clear_path(self) -> None:
        self.xy = None
        for item in (self.path, self.marker):
            item.setData([], [])
