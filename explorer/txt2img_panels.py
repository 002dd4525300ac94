"""The Text-to-Image view's panels: the prompt's tokens as chips, the per-token cross-attention heat maps,
(the autoencoder's latent map with a sample's trajectory is in :mod:`explorer.txt2img_atlas`)."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QLayout,
    QSizePolicy,
    QWidget,
)

from models.display import heat_overlay

from .widgets import ImagePanel

MORE_CHIPS = 6  # words shown past the context before the rest are only counted
CHIP = ("<span style='background:{bg}; color:{fg}; border-radius:3px'>&nbsp;{text}&nbsp;</span>")


class TokenChips(QLabel):
    """A prompt as the text encoder reads it: each word a chip, unknown words red and struck through, the
    words past the context greyed out; a line under it says what is wrong."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        # chips wrap to the width the form gives (the text a user types never widens the window); past the
        # context a few greyed words show what is cut, the rest are counted, so the height stays a few lines
        self.setWordWrap(True)
        self.setContentsMargins(0, 0, 0, 0)
        self.setMinimumWidth(1)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)

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
        shown = max(check.context, 1) + MORE_CHIPS
        for i, w in enumerate(check.words[:shown]):
            if w in check.unknown:
                chips.append(CHIP.format(bg="#5c1f1f", fg="#ff8a80", text=f"<s>{html.escape(w)}</s>"))
            elif i >= check.context:
                chips.append(CHIP.format(bg="#2a2a2a", fg="#777", text=html.escape(w)))
            else:
                chips.append(CHIP.format(bg="#23395b", fg="#cfe2ff", text=html.escape(w)))
        notes = "".join(f"<br><span style='color:#ff8a80'>{html.escape(p, quote=False)}</span>"
                        for p in check.problems(what))
        if len(check.words) > shown:
            chips.append(f"<span style='color:#999'>… {len(check.words) - shown} more words</span>")
        self.setText(" ".join(chips) + notes)
        self.setToolTip(html.escape(" ".join(check.words)) if len(check.words) > shown else "")


class AttentionPanel(QWidget):
    """One heat map per word of the prompt, over the decoded x̂_0 of the chosen sample at the current step."""

    MAX_TOKENS = 16
    TILE = QSize(90, 100)  # the smallest a heat map is shown
    MAX_COLUMNS = 8

    def __init__(self, parent=None):
        super().__init__(parent)
        self.grid = QGridLayout(self)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        # the tiles wrap to the width they are given (in a scroll area, downwards), never widening the window
        self.grid.setSizeConstraint(QLayout.SizeConstraint.SetNoConstraint)
        self.panels: list[ImagePanel] = []
        self._columns = 0

    def _fit_columns(self) -> int:
        step = self.TILE.width() + self.grid.spacing()
        return max(1, min(self.MAX_COLUMNS, (self.width() + self.grid.spacing()) // step))

    def _place(self) -> None:
        """Lay the tiles out in as many columns as the width holds."""
        cols = self._fit_columns()
        if cols == self._columns:
            return
        self._columns = cols
        for i, p in enumerate(self.panels):
            self.grid.removeWidget(p)
            self.grid.addWidget(p, i // cols, i % cols)
        self.updateGeometry()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        shown = sum(not p.isHidden() for p in self.panels)
        rows = -(-shown // max(self._columns, 1))
        return QSize(self.TILE.width(), rows * (self.TILE.height() + self.grid.spacing()))

    def resizeEvent(self, ev):  # noqa: N802
        super().resizeEvent(ev)
        self._place()

    def show_maps(self, traj, k: int, sample: int) -> None:
        words = traj.word_tokens[: self.MAX_TOKENS]
        if len(self.panels) < len(words):
            while len(self.panels) < len(words):
                p = ImagePanel(title=" ")
                p.setMinimumSize(self.TILE)
                self.panels.append(p)
            self._columns = 0  # lay them all out again, the new ones too
            self._place()
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
        self.updateGeometry()

    def clear(self) -> None:
        for p in self.panels:
            p.setVisible(False)
