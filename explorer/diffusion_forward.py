"""The Diffusion view's forward panel: x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε at any t, for a dataset image or the
user's own, with a fixed seeded ε; x_0, x_t and ε are drawn on one value scale (the view's)."""

from __future__ import annotations

import time

import numpy as np
import torch
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtWidgets import QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton, QSlider, QSpinBox

from . import dialogs
from .widgets import ImagePanel

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp)"


class ForwardPanel(QGroupBox):
    message = Signal(str)
    timestepChanged = Signal(int)

    def __init__(self, parent=None):
        super().__init__("Forward: x_t = √ᾱ_t·x_0 + √(1−ᾱ_t)·ε", parent)
        self.model = None
        self.scheduler = None
        self.data = None
        self.scale = 2.0  # the value range ± shown black to white (model units)
        self.x0: torch.Tensor | None = None  # (1, C, H, W) in [-1, 1]
        self.noise: torch.Tensor | None = None
        fl = QHBoxLayout(self)
        self.fwd_x0, self.fwd_xt, self.fwd_eps = (ImagePanel(title=t) for t in ("x_0", "x_t", "ε (fixed, seeded)"))
        for p in (self.fwd_x0, self.fwd_xt, self.fwd_eps):
            p.setMinimumSize(140, 140)
            fl.addWidget(p, 1)
        fc = QFormLayout()
        src = QHBoxLayout()
        self.btn_random = QPushButton("Random image")
        self.btn_random.setToolTip("Pick another image of the model's dataset")
        self.btn_random.clicked.connect(lambda: self.random_image())
        self.btn_file = QPushButton("Your image…")
        self.btn_file.setToolTip("Noise an image file of your own (converted to the model's size)")
        self.btn_file.clicked.connect(self._pick_file)
        src.addWidget(self.btn_random)
        src.addWidget(self.btn_file)
        fc.addRow(src)
        self.t_slider = QSlider(Qt.Orientation.Horizontal)
        self.t_slider.setToolTip("Timestep t of the forward process (leftmost: x_0 itself)")
        self.t_slider.valueChanged.connect(self.show_forward)
        self.t_label = QLabel("t = 0")
        self.t_label.setMinimumWidth(60)
        fc.addRow(self.t_label, self.t_slider)
        play = QHBoxLayout()
        self.btn_play = QPushButton("Play")
        self.btn_play.setCheckable(True)
        self.btn_play.setToolTip("Play / pause the forward process")
        self.btn_play.toggled.connect(self._on_play)
        self.fps = QSpinBox()
        self.fps.setRange(1, 1000)
        self.fps.setValue(100)
        self.fps.setSuffix(" steps/s")
        play.addWidget(self.btn_play)
        play.addWidget(self.fps)
        fc.addRow(play)
        fl.addLayout(fc, 1)
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._advance)
        self._t0 = 0.0
        self._frame0 = 0

    def set_model(self, model) -> None:
        self.btn_play.setChecked(False)
        self.model = model
        self.data = None
        if model is None:
            return
        self.scheduler = model.make_scheduler()
        T = self.scheduler.T
        with QSignalBlocker(self.t_slider):
            self.t_slider.setRange(-1, T - 1)
            self.t_slider.setValue(T // 4)
        self.random_image(seed=0, asked=False)

    def set_scale(self, scale: float) -> None:
        self.scale = scale
        if self.x0 is not None:
            self.set_image(self._image, self._noise_seed)

    def random_image(self, seed: int | None = None, asked: bool = True):
        """x_0 = a random image of the model's data. Data at a path the checkpoint names is read only once
        the user asks (the button), never because a file said so (``asked`` False: the view's own call)."""
        from latent_explorer.models.data import is_builtin, load_dataset

        if self.model is None:
            return
        rng = np.random.default_rng(seed)
        if self.data is None:
            spec = self.model.meta.get("data", {}).get("spec")
            if spec and not is_builtin(spec) and not asked:
                self.message.emit(f"This model was trained on {spec}: press 'Random image' to read an image "
                                  "from it (a checkpoint does not decide what is read)")
                self.set_image(np.zeros(self.model.image_shape, np.float32))
                return
            try:
                c, h, _ = self.model.image_shape
                self.data = load_dataset(spec or "digits").conform(c, h)
            except Exception as e:  # noqa: BLE001
                self.message.emit(f"cannot load the model's dataset ({e}); showing a blank x_0")
                self.set_image(np.zeros(self.model.image_shape, np.float32))
                return
        self.set_image(self.data.images[int(rng.integers(len(self.data)))])

    def set_image(self, image: np.ndarray, noise_seed: int = 0):
        """x_0 for the forward process: (C, H, W) in [0, 1]; ε is fixed by ``noise_seed``."""
        from latent_explorer.models.display import signed_to_unit

        self._image, self._noise_seed = np.asarray(image, np.float32), noise_seed
        self.x0 = torch.from_numpy(self._image[None]) * 2 - 1
        self.noise = torch.randn(self.x0.shape, generator=torch.Generator().manual_seed(noise_seed))
        self.fwd_x0.show_image(signed_to_unit(self.x0[0].numpy(), self.scale))
        self.fwd_eps.show_image(signed_to_unit(self.noise[0].numpy(), self.scale))
        self.show_forward()

    def forward_image(self, t: int) -> np.ndarray:
        """x_t (t = −1: x_0) on the view's value scale, (C, H, W) in [0, 1]."""
        from latent_explorer.models.display import signed_to_unit
        from latent_explorer.models.sampling.trajectory import forward_frame

        return signed_to_unit(forward_frame(self.scheduler, self.x0, self.noise, t)[0].numpy(), self.scale)

    def show_forward(self, *_):
        if self.model is None or self.x0 is None:
            return
        t = self.t_slider.value()
        self.t_label.setText(f"t = {t}" if t >= 0 else "x_0")
        self.fwd_xt.show_image(self.forward_image(t))
        if t >= 0:
            self.timestepChanged.emit(t)

    def _pick_file(self):
        from latent_explorer.models.io.images import read_image_for

        path = dialogs.open_file(self, "images", "An image to noise", IMAGE_FILTER)
        if not path or self.model is None:
            return
        try:
            self.set_image(read_image_for(self.model.image_shape, path))
        except (ValueError, OSError) as e:
            from latent_explorer.models.errors import failure

            self.message.emit(failure(path, e))

    def _on_play(self, on):
        self.btn_play.setText("Pause" if on else "Play")
        if on:
            self._t0 = time.monotonic()
            self._frame0 = max(0, self.t_slider.value())
            self._timer.start(15)
        else:
            self._timer.stop()

    def _advance(self):
        T = self.scheduler.T
        t = self._frame0 + int((time.monotonic() - self._t0) * self.fps.value())
        self.t_slider.setValue(t % T)

    def stop(self):
        self.btn_play.setChecked(False)
        self._timer.stop()
