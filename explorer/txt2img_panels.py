"""The Text-to-Image view's panels: the prompt's tokens as chips, the per-token cross-attention heat maps,
(the autoencoder's latent map with a sample's trajectory is in :mod:`explorer.txt2img_atlas`)."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLayout,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.display import heat_overlay

from .widgets import ImagePanel, scrolled

CHIP = ("<span style='background:{bg}; color:{fg}; border-radius:3px'>&nbsp;{text}&nbsp;</span>")


class TokenChips(QLabel):
    """A prompt as the text encoder reads it: each word a chip, unknown words red and struck through, the
    words past the context greyed out; a line under it says what is wrong.

    One line of chips, as many as the width the form gives (then "… N more words", the whole prompt in the
    tooltip), and one line for the problems, elided: the text a user types never widens the window nor
    makes the form taller (a word-wrapped label asks the form for the height of many lines)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setWordWrap(False)
        self.setContentsMargins(0, 0, 0, 0)
        self.setMinimumWidth(1)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Maximum)
        self._check, self._what = None, "the prompt"

    def show_check(self, check, what: str = "the prompt") -> None:
        self._check, self._what = check, what
        self._render()

    def resizeEvent(self, e):  # noqa: N802
        super().resizeEvent(e)
        self._render()

    def _render(self) -> None:
        check, what = self._check, self._what
        self.setToolTip("")
        if check is None:
            self.setText("")
            return
        if not check.words:
            self.setText(f"<span style='color:#999'>{html.escape(what.capitalize())} is empty: "
                         + ("unconditional samples" if what == "the prompt" else "guidance steers away from the "
                            "unconditional prediction") + "</span>")
            return
        fm, room = self.fontMetrics(), max(self.width(), 1)
        more = fm.horizontalAdvance(f"  … {len(check.words)} more words")
        chips, used = [], 0
        for i, w in enumerate(check.words):
            need = fm.horizontalAdvance(f"  {w}  ") + 2
            if used + need > room - (more if i < len(check.words) - 1 else 0):
                break
            used += need
            if w in check.unknown:
                chips.append(CHIP.format(bg="#5c1f1f", fg="#ff8a80", text=f"<s>{html.escape(w)}</s>"))
            elif i >= check.context:
                chips.append(CHIP.format(bg="#2a2a2a", fg="#777", text=html.escape(w)))
            else:
                chips.append(CHIP.format(bg="#23395b", fg="#cfe2ff", text=html.escape(w)))
        if len(chips) < len(check.words):
            chips.append(f"<span style='color:#999'>… {len(check.words) - len(chips)} more words</span>")
            self.setToolTip(html.escape(" ".join(check.words)))
        notes = "".join("<br><span style='color:#ff8a80'>"
                        + html.escape(fm.elidedText(p, Qt.TextElideMode.ElideRight, room), quote=False) + "</span>"
                        for p in check.problems(what))
        self.setText(" ".join(chips) + notes)


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


class SizeChoice(QComboBox):
    """The size to draw at: the model's own, or — a model that draws at any size (Stable Diffusion) — one of a
    few around it, each a multiple of its latent cell."""

    def set_model(self, shape: tuple[int, int, int], any_size: bool, cell: int = 8) -> None:
        self.blockSignals(True)
        self.clear()
        _, h, w = shape
        sizes = [(h, w)]
        if any_size:
            for f in (0.5, 0.75, 1.25, 1.5):
                sizes.append((max(cell, int(h * f) // cell * cell), max(cell, int(w * f) // cell * cell)))
            sizes += [(h, max(cell, int(w * 1.5) // cell * cell)), (max(cell, int(h * 1.5) // cell * cell), w)]
        self.sizes = list(dict.fromkeys(sizes))  # (H, W) of each item
        for hh, ww in self.sizes:
            self.addItem(f"{ww}×{hh}" + ("  (its own)" if (hh, ww) == (h, w) else ""))
        self.setEnabled(any_size)
        self.setToolTip("The size to draw at: larger costs more time and memory per step" if any_size else
                        "The size the model draws: its autoencoder's")
        self.blockSignals(False)

    def value(self) -> tuple[int, int] | None:
        """(H, W) chosen; None: the model's own size (a model that draws at one size only)."""
        return self.sizes[self.currentIndex()] if self.isEnabled() and self.currentIndex() >= 0 else None


class StepPanels(QWidget):
    """One step of the chosen sample: decoded z_t and ẑ_0, the predicted noise, and each word's map."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.x_t, self.x_0, self.eps_panel = (ImagePanel(title=t) for t in (
            "decoded z_t", "decoded ẑ_0", "predicted noise ε̂"))
        self.eps_panel.setToolTip("ε̂ in the autoencoder's latent space: its channels side by side")
        for p in (self.x_t, self.x_0, self.eps_panel):
            p.setMinimumSize(150, 160)
            row.addWidget(p, 1)
        lay.addLayout(row, 3)
        lay.addWidget(QLabel("Cross-attention of each word at this step (heads averaged, layers combined; % = its "
                             "share)"))
        self.attention = AttentionPanel()
        lay.addWidget(scrolled(self.attention), 2)  # long prompts wrap and scroll down
