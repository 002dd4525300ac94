"""Colouring the Latent Map by a per-image score instead of the label: reconstruction error, KL or −ELBO
(:func:`models.analysis.diagnostics.per_image_scores`, computed in a worker), in eight quantile bins on a sequential
palette — the same bins colour the density picture of a big map. A part of the LatentMap, handed its
:class:`explorer.map_state.MapState` and progress line."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QSignalBlocker, Signal
from PySide6.QtWidgets import QComboBox, QLabel

from .jobs import ModelJob
from .map_points import PALETTE

# viridis at eight steps: dark (low score) to yellow (high score)
SEQUENTIAL = ["#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725"]
COLOURINGS = {"neg_elbo": "−ELBO", "kl": "KL", "recon_error": "reconstruction error"}


def quantile_bins(values: np.ndarray, n: int = len(SEQUENTIAL)) -> tuple[np.ndarray, list[str]]:
    """Values -> (bin index per value, a label per bin "lo – hi"), bins holding equal shares of the values."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, n + 1)))
    if len(edges) < 2:
        edges = np.array([values.min(), values.max() + 1e-9])
    idx = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
    return idx.astype(np.int64), [f"{a:.3g} – {b:.3g}" for a, b in zip(edges[:-1], edges[1:])]


class MapColouring(QObject):
    """The colour choice; ``changed`` asks the map to draw its points again (:meth:`colouring` says how)."""

    changed = Signal()

    def __init__(self, state, progress, parent=None):
        super().__init__(parent)
        self.state = state
        self.colour = QComboBox()
        self.colour.setToolTip("Colour the points by their label, or by how well the model explains each image "
                               "(computed once, in the background)")
        self.colour.currentIndexChanged.connect(self._on_colour)
        self.scores: dict[str, np.ndarray] | None = None
        self.score_job = ModelJob(state, "map-scores", progress)
        self.reset()
        state.modelChanged.connect(self.reset)
        state.latentsChanged.connect(self.reset)

    @property
    def widgets(self) -> list:
        return [QLabel("colour"), self.colour]

    def reset(self, *_) -> None:
        """The choices for the current model and data: scores only for encoded images of a model that gives
        them."""
        from latent_explorer.models.analysis.diagnostics import score_names

        self.score_job.cancel()
        self.scores = None
        model, res = self.state.model, self.state.latents
        names = [] if model is None or res is None or res.images is None else \
            [s for s in score_names(model) if s in COLOURINGS]
        with QSignalBlocker(self.colour):
            self.colour.clear()
            self.colour.addItem("label", "label")
            for s in names:
                self.colour.addItem(COLOURINGS[s], s)
        self.colour.setEnabled(bool(names))

    def colouring(self) -> tuple[np.ndarray | None, list[str], list[str]]:
        """(labels, their names, palette) the points are drawn with now."""
        res, key = self.state.latents, self.colour.currentData() or "label"
        if key == "label" or self.scores is None or key not in self.scores:
            return res.labels, res.class_names, PALETTE
        bins, names = quantile_bins(self.scores[key])
        return bins, names, SEQUENTIAL

    def _on_colour(self, *_):
        from latent_explorer.models.analysis.diagnostics import per_image_scores

        key = self.colour.currentData()
        if key == "label" or self.scores is not None:
            self.changed.emit()
            return
        model, res = self.state.model, self.state.latents
        self.score_job.start(model, lambda should_stop: per_image_scores(model, res.images, res.labels),
                             self._scores_done, f"Scoring {len(res.images):,} images…",
                             on_error=self.state.message.emit, on_cancel=self._back_to_labels)

    def _scores_done(self, scores):
        self.scores = scores
        self.changed.emit()

    def _back_to_labels(self):
        with QSignalBlocker(self.colour):
            self.colour.setCurrentIndex(0)
        self.changed.emit()
