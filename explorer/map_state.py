"""What the Latent Map shows, as a state object with a signal per change (napari's layers do the same): the
model mapped, its latents, the projection and where it draws them, the point clicked, the selection, and
what the points show. The map's parts (:mod:`explorer.map_projection`, :mod:`explorer.map_selection`,
:mod:`explorer.map_colour`, :mod:`explorer.map_movie`) are handed this object and the plot; they read it and
change it only through its setters, and listen to its signals."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from latent_explorer.models.analysis.projection import Projection, methods_for

MODE_POINTS, MODE_GRID, MODE_BOTH = 0, 1, 2  # the map's View choice: points, decoded grid, both


def default_projection(z: np.ndarray) -> Projection:
    """The first projection a set of latents (N, D) is drawn with: its dimensions (D ≤ 2) or PCA."""
    from latent_explorer.models.analysis.latent import PCA

    d = z.shape[1]
    return Projection(methods_for(d)[0], (0, 1), PCA(z, min(d, 20)) if d > 2 else None)


class MapState(QObject):
    modelChanged = Signal(object)  # the model mapped (None: none, or one without a latent space)
    latentsChanged = Signal()  # a new set of points (a projectionChanged follows)
    projectionChanged = Signal()  # a projection, and so ``xy``
    selectionChanged = Signal()
    modeChanged = Signal(int)  # MODE_POINTS, MODE_GRID or MODE_BOTH
    sourceChanged = Signal(str)  # what the points are, in words
    message = Signal(str)  # for the status bar

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = None
        self.latents = None  # models.analysis.latent.LatentSet
        self.projection = Projection()
        self.xy: np.ndarray | None = None  # (N, 2) where the points are drawn
        self.clicked: int | None = None  # the point whose z went to the editor
        self.selected = np.zeros(0, np.int64)  # indices into the latents
        self.mode = MODE_POINTS
        self.source = "—"

    @property
    def dim(self) -> int:
        return 0 if self.latents is None else self.latents.z.shape[1]

    def set_model(self, model) -> None:
        """A new model: nothing of the last one's points is kept."""
        self.model = model
        self.latents, self.xy, self.clicked = None, None, None
        self.projection = Projection()
        self.selected = np.zeros(0, np.int64)
        self.modelChanged.emit(model)
        self.selectionChanged.emit()

    def set_latents(self, latents, projection: Projection | None = None, keep_selection: bool = False) -> None:
        """Show ``latents`` with ``projection`` (default: the first that suits them). ``keep_selection``: the
        same points as before (a training movie's next epoch), so the selection still means them."""
        self.latents, self.clicked = latents, None
        if not keep_selection or len(self.selected) and self.selected.max() >= len(latents.z):
            self.selected = np.zeros(0, np.int64)
        self.projection = projection if projection is not None else default_projection(latents.z)
        self.xy = self.projection.coordinates(latents.z)
        self.latentsChanged.emit()
        self.projectionChanged.emit()
        self.selectionChanged.emit()

    def set_projection(self, projection: Projection) -> None:
        if self.latents is None:
            return
        self.projection = projection
        self.xy = projection.coordinates(self.latents.z)
        self.projectionChanged.emit()

    def set_selection(self, idx) -> None:
        idx = np.asarray(idx, np.int64).reshape(-1)
        self.selected = idx if self.xy is not None else np.zeros(0, np.int64)
        self.selectionChanged.emit()

    def set_clicked(self, i: int | None) -> None:
        self.clicked = i

    def set_mode(self, mode: int) -> None:
        if mode != self.mode:
            self.mode = mode
            self.modeChanged.emit(mode)

    def set_source(self, text: str) -> None:
        self.source = text
        self.sourceChanged.emit(text)
