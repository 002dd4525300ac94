"""The editor's PCA directions panel (GANSpace, Härkönen et al. 2020): sliders that move z along the
principal directions of what sampled latents produce, from a base z."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Signal

from .jobs import ModelJob
from .sliders import SliderPanel
from .state import LatentState

N_SAMPLES = 2000


class DirectionsPanel(SliderPanel):
    ready = Signal()
    message = Signal(str)

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.directions: np.ndarray | None = None  # (k, D), unit rows
        self.base: np.ndarray | None = None  # z where every coefficient is 0
        self.coeffs: np.ndarray | None = None  # (k,)
        self.job = ModelJob(self, "directions")
        self.valueChanged.connect(self._set_coeff)

    def set_model(self, model) -> None:
        self.model = model
        self.job.cancel()
        self.directions = self.base = self.coeffs = None
        self.show_hint("Open this tab to compute the directions." if model is not None else "")

    def compute(self) -> None:
        """Compute the directions in a worker, once per model (when the tab is first opened)."""
        from latent_explorer.models.analysis.latent import ganspace_directions

        model = self.model
        if model is None or self.directions is not None or self.job.busy:
            return
        self.show_hint(f"Computing PCA directions from {N_SAMPLES:,} samples…")

        def job(should_stop):
            yield from ()
            return ganspace_directions(model, n=N_SAMPLES, k=min(10, model.latent_dim))

        self.job.start(model, job, lambda res: self._set_directions(*res), on_error=self.message.emit)

    def _set_directions(self, dirs, ratios):
        self.directions = dirs
        self.coeffs = np.zeros(len(dirs), np.float32)
        self.base = self.state.z.copy()
        self.set_rows([f"PC{k + 1}" for k in range(len(dirs))],
                      [f"Principal direction {k + 1}: {100 * ratios[k]:.1f}% of the image variance of sampled "
                       "latents" for k in range(len(dirs))])
        self.show_values(self.coeffs, force=True)
        self.ready.emit()

    def _set_coeff(self, k: int, v: float):
        if self.directions is None:
            return
        self.coeffs[k] = v
        self.show_values(self.coeffs)  # the row's other widget follows (slider <-> number box)
        self.state.set_z(self.base + self.coeffs @ self.directions)

    def rebase(self) -> None:
        """z was set elsewhere (randomise, reset): it becomes the base, every coefficient 0."""
        if self.directions is not None:
            self.base = self.state.z.copy()
            self.coeffs[:] = 0
            self.show_values(self.coeffs, force=True)

    def shutdown(self):
        self.job.cancel()
