"""The sampler, steps, η, guidance, seed and batch of one generation, as one row of fields every view that samples
builds the same way: the samplers come from :data:`models.sampling.samplers.SAMPLERS` (a sampler that takes no
step count greys out the steps, one that takes η enables η), the limits and defaults from
:mod:`models.sampling.settings`, and :meth:`SamplingControls.settings` hands the view a
:class:`~models.sampling.settings.SamplingSettings`."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QSpinBox, QWidget

from latent_explorer.models.sampling.samplers import GUIDANCE_MAX, SAMPLERS
from latent_explorer.models.sampling.settings import (
    DEFAULT_GUIDANCE,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    ETA_MAX,
    SamplingSettings,
)

from .widgets import SeedBox

STEPS_MAX = 1000  # until a model says its T (set_timesteps)


def sampler_tooltip() -> str:
    """What each sampler runs, from its class."""
    return "; ".join(cls.describe("K steps", " (η = 0: deterministic)") for cls in SAMPLERS.values())


class SamplingControls(QWidget):
    """One row: [sampler] [steps] [η] [CFG] [seed] [batch]; each part may be left out (``parts``)."""

    changed = Signal()  # any value changed (a typed number: once, when it is done)

    def __init__(self, parent=None, *, parts=("sampler", "steps", "eta", "guidance", "seed", "batch"),
                 steps: int = DEFAULT_STEPS, guidance: float = DEFAULT_GUIDANCE, batch: tuple[int, int] = (16, 64),
                 tips: dict[str, str] | None = None):
        super().__init__(parent)
        tips = tips or {}
        self.parts = tuple(parts)
        self.sampler = QComboBox(toolTip=tips.get("sampler", sampler_tooltip()))
        for cls in SAMPLERS.values():
            self.sampler.addItem(cls.title, cls.name)
        self.sampler.setCurrentIndex(list(SAMPLERS).index(DEFAULT_SAMPLER))
        self.steps = QSpinBox(minimum=1, maximum=STEPS_MAX, value=steps,
                              toolTip=tips.get("steps", "Sampling steps K"))
        self.eta = QDoubleSpinBox(minimum=0.0, maximum=ETA_MAX, singleStep=0.1,
                                  toolTip=tips.get("eta", "η: 0 is deterministic, 1 is as stochastic as DDPM"))
        self.guidance = QDoubleSpinBox(minimum=0.0, maximum=GUIDANCE_MAX, value=guidance, singleStep=0.5, decimals=2,
                                       toolTip=tips.get("guidance", "Classifier-free guidance scale w: ε = ε_null + "
                                                                    "w·(ε_c − ε_null); 1 is plain, 0 ignores the "
                                                                    "condition"))
        self.seed = SeedBox(toolTip=tips.get("seed", "The seed of the starting noise"))
        self.n = QSpinBox(minimum=1, maximum=batch[1], value=batch[0],
                          toolTip=tips.get("batch", "Images drawn side by side"))
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        labels = {"sampler": "sampler", "steps": "steps", "eta": "η", "guidance": "CFG", "seed": "seed",
                  "batch": "batch"}
        widgets = {"sampler": self.sampler, "steps": self.steps, "eta": self.eta, "guidance": self.guidance,
                   "seed": self.seed, "batch": self.n}
        self._pairs: dict[str, tuple[QLabel, QWidget]] = {}
        for part, w in widgets.items():
            if part in self.parts:
                label = QLabel(labels[part])
                lay.addWidget(label)
                lay.addWidget(w)
                self._pairs[part] = (label, w)
            else:
                w.hide()
        for w in (self.steps, self.eta, self.guidance, self.seed, self.n):
            w.valueChanged.connect(self.changed)
        self.sampler.currentIndexChanged.connect(self._on_sampler)
        self._on_sampler()

    def _on_sampler(self, *_):
        cls = SAMPLERS[self.sampler.currentData()]
        self.steps.setEnabled(cls.takes_steps)
        self.eta.setEnabled(cls.takes_eta)
        self.changed.emit()

    def show_part(self, part: str, visible: bool) -> None:
        """Show or hide one field with its label (a model without guidance has no CFG to set)."""
        for w in self._pairs[part]:
            w.setVisible(visible)

    def set_keyboard_tracking(self, on: bool) -> None:
        for w in (self.steps, self.eta, self.guidance, self.seed, self.n):
            w.setKeyboardTracking(on)

    def set_timesteps(self, T: int, steps: int | None = None) -> None:
        """A model of T steps: K at most T (and ``steps`` if given, else the current K within T)."""
        self.steps.setMaximum(T)
        if steps is not None:
            self.steps.setValue(min(steps, T))

    def settings(self) -> SamplingSettings:
        """The settings in the row: steps None for a sampler that runs all T, η 0 for one that takes none."""
        name = self.sampler.currentData() if "sampler" in self.parts else DEFAULT_SAMPLER
        cls = SAMPLERS[name]
        return SamplingSettings(name, self.steps.value() if cls.takes_steps else None,
                                self.eta.value() if cls.takes_eta and "eta" in self.parts else 0.0,
                                self.guidance.value(), self.seed.value(), self.n.value())

    def set_settings(self, s: SamplingSettings) -> None:
        """Show ``s`` (restoring a PNG's parameters)."""
        if s.sampler is not None:
            self.sampler.setCurrentIndex(list(SAMPLERS).index(s.sampler))
        if s.steps is not None:
            self.steps.setValue(s.steps)
        self.eta.setValue(s.eta)
        self.guidance.setValue(s.guidance)
        self.seed.setValue(s.seed)
        self.n.setValue(min(max(s.batch, 1), self.n.maximum()))
