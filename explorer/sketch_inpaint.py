"""The Sketch view for a diffusion model of our own pixels (a DDPM, class-conditional or not): an image — one
it draws, or a file — a mask painted over it, and the masked region painted anew (RePaint,
:mod:`models.sampling.inpaint`) as a class the user picks; a slider through the steps shows it filling in (the
kept region, and in the painted one the model's x̂_0 of that step)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSlider, QVBoxLayout, QWidget

from .inpaint_panel import InpaintBox
from .jobs import ModelJob
from .sampling_controls import SamplingControls
from .widgets import ImagePanel, ProgressLine, titled_columns

DEFAULT_STEPS = 50  # DDIM: the known region agrees well within 50 steps (with resampling)


class InpaintSketch(QWidget):
    """Paint a mask on an image, and a diffusion model paints that region anew (Ctrl+Return)."""

    message = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = None
        self.frames: np.ndarray | None = None  # (K+1, C, H, W) x_t in [0, 1] of the last answer
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.cls = QComboBox(toolTip="The class the masked region is painted as (a class-conditional model)")
        self.controls = SamplingControls(parts=("sampler", "steps", "guidance", "seed"), steps=DEFAULT_STEPS,
                                         guidance=3.0, tips={"guidance": "Classifier-free guidance towards the "
                                                                         "class (1: plain)"})
        self.btn_paint = QPushButton("Paint", toolTip="Paint the masked region anew (Ctrl+Return)")
        self.btn_paint.clicked.connect(self.paint)
        self.cls_label = QLabel("paint as")
        for w in (self.cls_label, self.cls, self.controls, self.btn_paint):
            row.addWidget(w)
        row.addStretch(1)
        lay.addLayout(row)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        lay.addWidget(self.progress)
        self.box = InpaintBox("Draw a new image of the chosen class to paint over")
        self.box.btn_take.setText("Draw one")
        self.box.btn_take.clicked.connect(self.draw_one)
        self.box.message.connect(self.message)
        self.out = ImagePanel()
        self.out.setMinimumSize(200, 200)
        lay.addLayout(titled_columns((("the image and your mask", self.box), ("painted anew", self.out))), 1)
        scrub = QHBoxLayout()
        self.frame = QSlider(Qt.Orientation.Horizontal, toolTip="The steps of the last answer: the masked region "
                                                                "filling in")
        self.frame.valueChanged.connect(self.show_frame)
        self.frame_label = QLabel("")
        scrub.addWidget(self.frame_label)
        scrub.addWidget(self.frame, 1)
        lay.addLayout(scrub)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.paint)
        self.job = ModelJob(self, "inpaint", self.progress)
        self.draw_job = ModelJob(self, "inpaint-draw")

    def set_model(self, model) -> None:
        self.model = model
        self.cancel()
        self.frames = None
        self.out.clear_image()
        self.frame.setRange(0, 0)
        self.frame_label.setText("")
        if model is None:
            return
        self.box.set_shape(model.image_shape)
        self.cls.clear()
        self.cls.addItems(model.class_names if model.conditional else [])
        for w in (self.cls, self.cls_label):
            w.setVisible(model.conditional)
        self.controls.set_timesteps(model.config.timesteps, DEFAULT_STEPS)
        if self.box.pad.image is None:
            self.draw_one()

    def _y(self):
        return self.cls.currentIndex() if self.model is not None and self.model.conditional else None

    def draw_one(self) -> None:
        import torch

        model, y, s = self.model, self._y(), self.controls.settings()
        if model is None:
            return

        def job(should_stop):
            yield from ()
            g = torch.Generator().manual_seed(s.seed + 1)
            yy = None if y is None else torch.tensor([y])
            return model.sample(1, yy, generator=g, **s.sample_kwargs())[0].clamp(0, 1).numpy()

        self.draw_job.start(model, job, self.box.set_image, on_error=self.message.emit)

    def paint(self) -> None:
        from latent_explorer.models.sampling.trajectory import record_reverse

        model, inputs, y, s = self.model, self.box.inputs(), self._y(), self.controls.settings()
        if model is None:
            return
        if not inputs:
            self.message.emit("paint the region to regenerate on the image first")
            return

        def job(should_stop):
            import torch

            inp = model.inpaint(torch.from_numpy(inputs["init"]), torch.from_numpy(inputs["mask"]),
                                inputs["resample"])
            tr = yield from record_reverse(model, 1, y, s.sampler, s.steps, s.eta, s.guidance, s.seed, should_stop,
                                           inpaint=inp)
            if tr is None:
                return None
            # each step: the kept region as it is, the painted one as the model's x̂_0 so far (filling in)
            x0 = ((tr.x0[:, 0].astype(np.float32) + 1) / 2).clip(0, 1)
            m = inputs["mask"][0]
            frames = m * x0 + (1 - m) * inputs["init"][0]
            frames[-1] = ((tr.x[-1, 0].astype(np.float32) + 1) / 2).clip(0, 1)  # the image painted
            return frames

        self.job.start(model, job, self._set_frames, f"painting: {s.steps or model.config.timesteps} steps…",
                       on_error=self.message.emit)

    def _set_frames(self, frames) -> None:
        if frames is None:
            return
        self.frames = frames
        self.frame.blockSignals(True)
        self.frame.setRange(0, len(frames) - 1)
        self.frame.setValue(len(frames) - 1)
        self.frame.blockSignals(False)
        self.show_frame(len(frames) - 1)

    def show_frame(self, k: int) -> None:
        if self.frames is not None:
            k = int(np.clip(k, 0, len(self.frames) - 1))
            self.out.show_image(self.frames[k])
            self.frame_label.setText(f"step {k}/{len(self.frames) - 1}")

    def busy(self) -> bool:
        return self.job.busy or self.draw_job.busy

    def cancel(self) -> None:
        self.job.cancel()
        self.draw_job.cancel()
