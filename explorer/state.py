"""State objects with change signals. Widgets listen to them and change them only through setters."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from .library import ModelEntry, ModelLibrary, Opening  # noqa: F401 - where the window imports them from
from .settings import (  # noqa: F401 - as above
    ASSETS,
    MODEL_SUFFIXES,
    ROOT,
    make_settings,
    remember,
    setting_bytes,
    setting_int,
    setting_path,
    setting_strings,
)


class LatentState(QObject):
    """The current z (and class) being looked at, two interpolation anchors and a path to draw."""

    zChanged = Signal()
    labelChanged = Signal(int)
    anchorsChanged = Signal()
    pathChanged = Signal()
    modelChanged = Signal(object)
    dimensionsChanged = Signal()  # the KL per dimension of the current model is known (or forgotten)
    stylesMeasured = Signal()  # the current model's style report (path lengths, truncation, mixing) is known

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = None
        self.z = np.zeros(2, np.float32)
        self.label = 0
        self.anchors: dict[str, np.ndarray | None] = {"A": None, "B": None}
        self.path: np.ndarray | None = None  # (K, D) latents, e.g. an interpolation
        self.dimension_kl: np.ndarray | None = None  # (D,) nats: KL of each dimension (a VAE), once measured
        self.style_report = None  # models.analysis.style_figures.StyleReport of the model, once measured

    @property
    def dim(self) -> int:
        return len(self.z)

    def set_model(self, model) -> None:
        self.model = model
        d = model.latent_dim if model is not None else 2
        self.z = np.zeros(d, np.float32)
        if model is not None:
            self.z = model.origin().numpy().astype(np.float32).reshape(-1).copy()
        self.label = 0
        self.anchors = {"A": None, "B": None}
        self.path = None
        self.dimension_kl = None
        self.style_report = None
        self.modelChanged.emit(model)
        self.anchorsChanged.emit()
        self.pathChanged.emit()
        self.zChanged.emit()

    def set_dimension_kl(self, model, kl) -> None:
        """The KL per dimension measured for ``model`` (ignored if the current model has changed since)."""
        if model is not self.model:
            return
        kl = np.asarray(kl, np.float64).reshape(-1)
        if len(kl) != len(self.z):
            raise ValueError(f"{len(kl)} KL values for {len(self.z)} dimensions")
        self.dimension_kl = kl.copy()
        self.dimensionsChanged.emit()

    def set_style_report(self, model, report) -> None:
        """What Inspect measured of ``model``'s styles (ignored if the current model has changed since)."""
        if model is not self.model:
            return
        self.style_report = report
        self.stylesMeasured.emit()

    def set_z(self, z) -> None:
        z = np.asarray(z, np.float32).reshape(-1)
        if z.shape != self.z.shape:
            raise ValueError(f"z has {z.size} dimensions, the model has {self.z.size}")
        if np.array_equal(z, self.z):
            return
        self.z = z.copy()
        self.zChanged.emit()

    def set_component(self, i: int, value: float) -> None:
        if self.z[i] == np.float32(value):
            return
        z = self.z.copy()
        z[i] = value
        self.z = z
        self.zChanged.emit()

    def set_label(self, k: int) -> None:
        k = int(k)
        if k != self.label:
            self.label = k
            self.labelChanged.emit(k)

    def set_anchor(self, which: str, z=None) -> None:
        self.anchors[which] = (self.z if z is None else np.asarray(z, np.float32)).copy()
        self.anchorsChanged.emit()

    def set_path(self, path) -> None:
        self.path = None if path is None else np.asarray(path, np.float32)
        self.pathChanged.emit()
