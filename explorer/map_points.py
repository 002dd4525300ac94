"""The latent map's points: one scatter item per class with one shared brush (identical symbols render
once), and the legend that names them; maps of many points are drawn by :mod:`explorer.map_density`."""

from __future__ import annotations

import html

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]


class ClassPoints:
    def __init__(self, plot: pg.PlotWidget, on_click, legend=None):
        """``legend``: where the classes are named (a :class:`RowLegend` beside a small plot, whose points a
        legend inside would hide); default: inside the plot, at the top left."""
        self.plot, self.on_click = plot, on_click
        self.items: list[pg.ScatterPlotItem] = []
        self.density = None  # a DensityLayer for maps of many points
        if legend is None:
            legend = plot.addLegend(offset=(10, 10), labelTextColor="#dddddd", brush=pg.mkBrush(32, 33, 36, 200))
            legend.setZValue(1000)  # above the decoded grid, on a dark backing so the labels stay legible
        self.legend = legend

    def clear(self) -> None:
        for s in self.items:
            self.plot.removeItem(s)
        self.items = []
        if self.density is not None:
            self.density.remove()
            self.density = None
        self.legend.clear()

    def draw(self, xy: np.ndarray, labels: np.ndarray | None, class_names: list[str], visible: bool,
             palette: list[str] = PALETTE) -> None:
        """Points coloured by ``labels`` (class indices, or score bins) from ``palette``, named in the legend."""
        from .map_density import DENSITY_MIN, DensityLayer

        self.clear()
        if len(xy) > DENSITY_MIN:
            self.density = DensityLayer(self.plot, xy, labels, palette, self.on_click)
            present = [] if labels is None else np.flatnonzero(np.bincount(np.asarray(labels, np.int64)))
            for k in present:  # the legend names the classes' colours (one pass over a million labels)
                sample = pg.ScatterPlotItem(size=7, pen=None, brush=pg.mkBrush(palette[int(k) % len(palette)]))
                self.legend.addItem(sample, class_names[int(k)] if int(k) < len(class_names) else str(k))
            self.set_visible(visible)
            return
        groups = ([(np.arange(len(xy)), None)] if labels is None else
                  [(np.flatnonzero(labels == k), k) for k in np.unique(labels)])
        size = _size(len(xy))
        for idx, k in groups:
            colour = palette[int(k) % len(palette)] if k is not None else "#8ab4f8"
            name = (class_names[int(k)] if k is not None and int(k) < len(class_names) else
                    (str(k) if k is not None else "points"))
            item = pg.ScatterPlotItem(x=xy[idx, 0], y=xy[idx, 1], data=idx, size=size, pen=None,
                                      brush=pg.mkBrush(colour), name=name, hoverable=False)
            item.sigClicked.connect(self.on_click)
            self.plot.addItem(item)  # names itself in the plot's own legend
            if self.legend is not self.plot.plotItem.legend and labels is not None:
                self.legend.addItem(item, name)
            self.items.append(item)
        self.set_visible(visible)

    def draw_mixed(self, xy: np.ndarray, labels: np.ndarray | None, class_names: list[str], seed: int = 0) -> None:
        """As :meth:`draw`, but every class in one item, drawn in a seeded random order. Drawn class by class,
        the class drawn last covers the others wherever they overlap (a map of six shapes looked all diamonds);
        shuffled, each class shows on top about as often as it has points. One shared brush per class still."""
        from .map_density import DENSITY_MIN

        if labels is None or len(xy) > DENSITY_MIN:  # one colour anyway; a density picture blends by count
            self.draw(xy, labels, class_names, True)
            return
        self.clear()
        labels = np.asarray(labels, np.int64)
        order = np.random.default_rng(seed).permutation(len(xy))
        brushes = [pg.mkBrush(c) for c in PALETTE]
        item = pg.ScatterPlotItem(x=xy[order, 0], y=xy[order, 1], data=order, size=_size(len(xy)), pen=None,
                                  brush=[brushes[k % len(brushes)] for k in labels[order]], hoverable=False)
        item.sigClicked.connect(self.on_click)
        self.plot.addItem(item)
        self.items.append(item)
        for k in np.unique(labels):  # the legend names each class's colour
            sample = pg.ScatterPlotItem(size=7, pen=None, brush=brushes[k % len(brushes)])
            self.legend.addItem(sample, class_names[k] if k < len(class_names) else str(k))
        self.set_visible(True)

    def set_visible(self, on: bool) -> None:
        """Points and legend together: no legend of hidden points (and no ⊘ icons) in grid-only mode."""
        for s in self.items:
            s.setVisible(on)
        if self.density is not None:
            self.density.set_visible(on)
        self.legend.setVisible(on)


def _size(n: int) -> int:
    return 4 if n > 30000 else 5 if n > 5000 else 7  # smaller for big maps


class RowLegend(QLabel):
    """A legend as a line of coloured dots and names (wrapped), for a plot too small to hold one inside."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self._entries: list[str] = []

    def clear(self) -> None:
        self._entries = []
        self.setText("")

    def addItem(self, item: pg.ScatterPlotItem, name: str) -> None:  # noqa: N802 - pyqtgraph's LegendItem's name
        colour = item.opts["brush"].color().name()
        self._entries.append(f'<span style="color:{colour}">&#9679;</span>&nbsp;{html.escape(name)}')
        self.setText(" &nbsp; ".join(self._entries))
