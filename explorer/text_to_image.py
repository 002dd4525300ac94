"""Text to Image: the web UIs' controls (prompt, negative prompt, sampler, steps, CFG scale, seed, batch) on a
latent diffusion model, and then what they never show: every step of a sample (decoded z_t and ẑ_0, the
predicted noise), where each word of the prompt is looked at, the sample's path through the autoencoder's
latent space, and the same seed at guidance 1, 3, 5, 7 and 9. Dropping one of our PNGs restores its
settings (PNG Info)."""

from __future__ import annotations

import html

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.io.meta import meta_of
from latent_explorer.models.sampling.samplers import SAMPLERS
from latent_explorer.models.sampling.settings import TEXT_GUIDANCE

from . import dialogs, txt2img_files
from .inpaint_panel import InpaintBox
from .jobs import ModelJob
from .model_view import ModelView
from .sampling_controls import SamplingControls
from .txt2img_atlas import AtlasPlot
from .txt2img_panels import SizeChoice, StepPanels, TokenChips
from .widgets import ElidedLabel, ImagePanel, ProgressLine, elided, hint

HINT = ("The Text-to-Image view is for latent diffusion models driven by text: pick scenes-ldm in the model list, "
        "or train one (latent-explorer train --model ldm --data scenes --autoencoder … --text-encoder …).")

class TextToImageView(ModelView):
    message = Signal(str)
    ready = Signal()
    frameShown = Signal(int)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.trajectory = None
        self.atlas = None
        self.sample = 0
        self._cols = 1
        self._strip_pending = ""
        self._build()
        self.job = ModelJob(self, "txt2img", self.progress)
        self.job.finished.append(self._job_done)
        self.atlas_job = ModelJob(self, "atlas")
        self.strip_job = ModelJob(self, "cfg-strip", self.progress)
        self._check_timer = QTimer(self, singleShot=True, interval=150)
        self._check_timer.timeout.connect(self._check_prompts)
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QVBoxLayout(self)
        self.placeholder = hint(HINT)
        root.addWidget(self.placeholder)
        self.body = QWidget()
        root.addWidget(self.body, 1)
        lay = QVBoxLayout(self.body)
        lay.setContentsMargins(0, 0, 0, 0)
        form = QFormLayout()
        form.setVerticalSpacing(3)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("a large red triangle at the center on a white background")
        self.prompt.setToolTip("What to draw, in the words of the training captions (Ctrl+Return generates)")
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("(empty: the unconditional prediction)")
        self.negative.setToolTip("What to steer away from: its prediction replaces the unconditional one in "
                                 "ε̂ = ε_neg + w·(ε_prompt − ε_neg)")
        self.chips, self.neg_chips = TokenChips(), TokenChips()
        for edit in (self.prompt, self.negative):
            edit.textChanged.connect(lambda *_: self._check_timer.start())
            edit.returnPressed.connect(self.generate)
        form.addRow("Prompt", self.prompt)
        form.addRow("", self.chips)
        form.addRow("Negative prompt", self.negative)
        form.addRow("", self.neg_chips)
        lay.addLayout(form, 0)

        ctl = QHBoxLayout()
        self.controls = SamplingControls(guidance=TEXT_GUIDANCE, batch=(8, 16), tips={
            "guidance": "CFG scale w: 1 is the prompt alone, higher follows it harder; 0 ignores it",
            "batch": "Images drawn from the prompt side by side"})
        c = self.controls  # its fields, by the names the view and its files use
        self.sampler, self.steps, self.guidance, self.eta, self.seed, self.n = (c.sampler, c.steps, c.guidance,
                                                                                 c.eta, c.seed, c.n)
        self.size = SizeChoice()
        self.btn_go = QPushButton("Generate", toolTip="Draw the batch and record every step (Ctrl+Return)")
        self.btn_go.clicked.connect(self.generate)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.generate)
        self.btn_strip = QPushButton("CFG strip", toolTip="The chosen sample's seed at guidance 1, 3, 5, 7, 9")
        self.btn_strip.clicked.connect(self.make_strip)
        for w in (self.controls, self.size, self.btn_go, self.btn_strip):
            ctl.addWidget(w)
        ctl.addStretch(1)
        lay.addLayout(ctl)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        QShortcut(QKeySequence("Esc"), self, self.cancel).setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        lay.addWidget(self.progress)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.grid = ImagePanel(title="samples: click one")
        self.grid.setMinimumWidth(200)
        self.grid.scene().sigMouseClicked.connect(self._grid_click)
        self.inpaint = InpaintBox("Paint over the chosen sample of the last generation")
        self.inpaint.btn_take.clicked.connect(self._take_sample)
        self.inpaint.message.connect(self.message)
        self.left = QTabWidget()
        self.left.addTab(self.grid, "Samples")
        self.left.addTab(self.inpaint, "Inpaint")
        self.left.setTabToolTip(1, "An image and a painted mask: Generate paints the masked region anew")
        split.addWidget(self.left)
        mid = StepPanels()
        self.x_t, self.x_0, self.eps_panel, self.attention = mid.x_t, mid.x_0, mid.eps_panel, mid.attention
        split.addWidget(mid)
        self.atlas_plot = AtlasPlot()
        self.atlas_plot.btn_load.clicked.connect(self.load_atlas)
        self.atlas_plot.message.connect(self.message)
        self.atlas_plot.setMinimumWidth(260)
        split.addWidget(self.atlas_plot)
        split.setSizes([300, 600, 360])
        lay.addWidget(split, 1)

        scrub = QHBoxLayout()
        self.frame = QSlider(Qt.Orientation.Horizontal, toolTip="Step: ←/→ one, Home/End")
        self.frame.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.frame.valueChanged.connect(self.show_frame)
        self.frame_label = QLabel("nothing generated yet")
        self.btn_png = QPushButton("Save PNG…", toolTip="Save the grid with its generation parameters inside "
                                                         "(drop it here later to restore them)")
        self.btn_png.clicked.connect(lambda: dialogs.save_as(self, "Save images", "txt2img.png", "PNG (*.png)",
                                                             self.save_png, self.message.emit))
        self.btn_anim = QPushButton("Export animation…", toolTip="The chosen sample from noise to image: decoded "
                                                                 "z_t beside ẑ_0, as a GIF or an MP4 video")
        self.btn_anim.clicked.connect(lambda: dialogs.save_as(self, "Export animation", "txt2img.gif",
                                                              dialogs.animation_filter(), self.export_animation,
                                                              self.message.emit))
        scrub.addWidget(self.frame_label)
        scrub.addWidget(self.frame, 1)
        scrub.addWidget(self.btn_png)
        scrub.addWidget(self.btn_anim)
        lay.addLayout(scrub)
        self.strip_label = ElidedLabel("", mode=Qt.TextElideMode.ElideRight)
        self.strip_label.setStyleSheet("color: #aaa")
        lay.addWidget(self.strip_label)
        strip = QHBoxLayout()
        self.strip_panels = [ImagePanel(title=f"CFG {w:g}") for w in (1, 3, 5, 7, 9)]
        for p in self.strip_panels:
            p.setMinimumSize(90, 110)
            p.setMaximumHeight(150)
            strip.addWidget(p, 1)
        lay.addLayout(strip)
        for key, fn in (("Right", lambda: self.step_frames(1)), ("Left", lambda: self.step_frames(-1)),
                        ("Home", lambda: self.frame.setValue(0)),
                        ("End", lambda: self.frame.setValue(self.frame.maximum()))):
            QShortcut(QKeySequence(key), self, fn).setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self._set_enabled(False)

    # -- model -----------------------------------------------------------------------------------
    def applies(self, model) -> str | None:
        return None if model is not None and model.capabilities.text_to_image else HINT

    def _on_model(self, model):
        ok = self.applies(model) is None
        self.model = model if ok else None  # first: results of cancelled jobs are then stale
        self.cancel()
        self.atlas_job.cancel()
        self.gate(model)
        self.trajectory, self.atlas = None, None
        self._set_enabled(False)
        self.frame_label.setText("nothing generated yet")
        for p in (self.grid, self.x_t, self.x_0, self.eps_panel):
            p.clear_image()
        self._clear_strip()
        self._title_grid()
        self.attention.clear()
        self.atlas_plot.set_model(self.model)
        if not ok:
            return
        self.controls.set_timesteps(model.config.timesteps)
        caps = model.capabilities
        self.size.set_model(model.image_shape, caps.any_size, model.image_shape[1] // model.config.latent_shape[1])
        self.inpaint.set_shape(model.image_shape if caps.inpaints else None)
        self.left.setTabEnabled(1, caps.inpaints)
        self._check_prompts()
        from latent_explorer.models.data import is_builtin

        spec = meta_of(model).data.spec
        self.atlas_plot.btn_load.setVisible(False)
        if spec and not is_builtin(spec):  # a path a checkpoint names is read only on the user's say
            self.atlas_plot.btn_load.setToolTip(f"Encode the data this model names, for its latent map: {spec}")
            self.atlas_plot.btn_load.setVisible(True)
        elif spec:
            self.load_atlas()  # no data of its own (Stable Diffusion): each generation's latents make its map

    def load_atlas(self):
        from latent_explorer.models.sampling.text_trajectory import latent_atlas

        model = self.model
        if model is None:
            return
        self.atlas_plot.btn_load.setVisible(False)
        self.atlas_job.start(model, lambda stop: latent_atlas(model), self._set_atlas,
                             on_error=lambda e: self.message.emit(f"latent map: {e}"))

    def _set_atlas(self, atlas):
        self.atlas = atlas
        self.atlas_plot.set_atlas(atlas)
        if self.trajectory is not None:
            self.atlas_plot.set_path(self.trajectory, self.sample, self.frame.value(), fit=True)

    def _check_prompts(self):
        from latent_explorer.models.sampling.text_trajectory import check_prompt

        if self.model is None:
            return
        self.chips.show_check(check_prompt(self.model, self.prompt.text()))
        self.neg_chips.show_check(check_prompt(self.model, self.negative.text()), "the negative prompt")
        self._title_grid()

    def _title_grid(self):
        """The grid says which prompt made it, and when that is no longer the text in the box."""
        tr = self.trajectory
        if tr is None:
            self.grid.set_title("samples: click one")
            return
        n = tr.x.shape[1]
        which = f"{self.sample + 1} of {n}" if n > 1 else "click it"
        if (tr.prompt, tr.negative) != (self.prompt.text(), self.negative.text()):
            self.grid.set_title(f"<span style='color:#ffb74d'>made from “{html.escape(elided(tr.prompt, 30))}”, "
                                f"not the prompt in the box</span> ({which})")
        else:
            self.grid.set_title(f"“{html.escape(elided(tr.prompt, 30))}”: {which}")

    def settings(self) -> dict:
        """The generation settings in the form, as record_txt2img takes them."""
        s = self.controls.settings()
        return dict(prompt=self.prompt.text(), negative=self.negative.text(), n=s.batch, **s.sample_kwargs(),
                    seed=s.seed, size=self.size.value(), **(self.inpaint.inputs() if self.painting() else {}))

    # -- generating ------------------------------------------------------------------------------
    def generate(self):
        from latent_explorer.models.sampling.text_trajectory import check_prompt, record_txt2img

        if self.model is None:
            return
        model, kw = self.model, self.settings()
        problems = [p for text, what in ((kw["prompt"], "the prompt"), (kw["negative"], "the negative prompt"))
                    for p in check_prompt(model, text).problems(what)]
        if any("unknown word" in p for p in problems):
            self.message.emit(problems[0])  # nothing runs: the words would be left out silently
            return
        notes = problems + (["an empty prompt: unconditional samples"] if not kw["prompt"].strip() else [])
        total = kw["steps"] or model.config.timesteps

        def job(should_stop):
            import torch

            from latent_explorer.models.sampling.text_trajectory import sampling_threads

            torch.set_num_threads(sampling_threads(model))  # measured once per model (models.threads)
            return (yield from record_txt2img(model, should_stop=should_stop, **kw))

        self.job.start(model, job, self._set_trajectory, f"{SAMPLERS[kw['sampler']].title}: {total} steps × "
                       f"{kw['n']} images…", on_error=self.message.emit,
                       on_cancel=lambda: self.message.emit("cancelled: the previous images are kept"))
        self.btn_go.setEnabled(False)
        if notes:
            self.message.emit("; ".join(notes))

    def make_strip(self):
        from latent_explorer.models.sampling.text_trajectory import cfg_strip

        tr = self.trajectory
        if self.model is None or tr is None:
            return
        from latent_explorer.models.sampling.text_trajectory import check_prompt

        model, s, sample = self.model, tr.settings, self.sample
        # the text in the box, on the chosen sample's starting noise (its seed and place in the batch)
        prompt, negative = self.prompt.text(), self.negative.text()
        problems = [p for text, what in ((prompt, "the prompt"), (negative, "the negative prompt"))
                    for p in check_prompt(model, text).problems(what) if "unknown word" in p]
        if problems:
            self.message.emit(problems[0])
            return

        def job(should_stop):
            return (yield from cfg_strip(model, prompt, negative, len(tr.x[0]), sample, s["sampler"], s["steps"],
                                         s["seed"], s["eta"], should_stop=should_stop))

        label = f"CFG strip: “{elided(prompt, 80)}” on the starting noise of sample {sample + 1} (seed {s['seed']})"
        self._strip_pending = label
        self.strip_job.start(model, job, self._set_strip, f"sample {sample + 1} at guidance 1, 3, 5, 7, 9…",
                             on_error=self.message.emit)

    def _set_strip(self, images):
        if images is not None:
            for p, im in zip(self.strip_panels, images):
                p.show_image(im)
            self.strip_label.setText(self._strip_pending)
            self.ready.emit()

    def _clear_strip(self):
        for p in self.strip_panels:
            p.clear_image()
        self.strip_label.setText("")

    def _job_done(self):
        self.btn_go.setEnabled(self.model is not None)

    def cancel(self):
        self.job.cancel()
        self.strip_job.cancel()

    def busy(self) -> bool:
        return self.job.busy or self.strip_job.busy

    def _set_trajectory(self, traj):
        from latent_explorer.models.display import mosaic

        if traj is None:
            return
        self.trajectory = traj
        n = traj.x.shape[1]
        self._cols = int(np.ceil(np.sqrt(n)))
        self.grid.show_image(mosaic(traj.x[-1].astype(np.float32), self._cols, gap=1))
        self.sample = 0
        self._set_enabled(True)
        with QSignalBlocker(self.frame):
            self.frame.setRange(0, len(traj) - 1)
            self.frame.setValue(len(traj) - 1)
        self.show_frame(len(traj) - 1)
        if not meta_of(self.model).data.spec:
            from latent_explorer.models.sampling.text_trajectory import trajectory_atlas

            self._set_atlas(trajectory_atlas(traj))
        self.atlas_plot.set_path(traj, 0, len(traj) - 1, fit=True)
        self._clear_strip()
        self._title_grid()
        self.message.emit(f"{n} images, {len(traj) - 1} steps recorded ({traj.nbytes / 2**20:.1f} MB): click "
                          "one, scrub with ←/→")
        self.frame.setFocus()
        self.ready.emit()

    def _take_sample(self):
        if self.trajectory is not None:
            self.inpaint.set_image(self.trajectory.x[-1, self.sample].astype(np.float32))

    def _set_enabled(self, on: bool):
        for w in (self.frame, self.btn_strip, self.btn_png, self.btn_anim):
            w.setEnabled(on)

    def _grid_click(self, ev):
        tr = self.trajectory
        if tr is None:
            return
        pos = self.grid.item.mapFromScene(ev.scenePos())
        h, w = tr.x.shape[-2:]
        col, row = int(pos.x() // (w + 1)), int(pos.y() // (h + 1))
        if 0 <= col < self._cols and row >= 0:
            self.select_sample(row * self._cols + col)

    def select_sample(self, i: int):
        tr = self.trajectory
        if tr is None or not 0 <= i < tr.x.shape[1]:
            return
        self.sample = i
        self._title_grid()
        self.show_frame(self.frame.value())
        self.atlas_plot.set_path(tr, i, self.frame.value())
        self._clear_strip()

    def show_frame(self, k: int):
        from latent_explorer.models.display import mosaic, signed_to_unit

        tr = self.trajectory
        if tr is None:
            return
        k, i = int(np.clip(k, 0, len(tr) - 1)), self.sample
        self.x_t.show_image(tr.x[k, i].astype(np.float32))
        self.x_0.show_image(tr.x0[k, i].astype(np.float32))
        eps = signed_to_unit(tr.eps[k, i].astype(np.float32)[:, None], 3.0)  # (zc, 1, s, s), ±3 -> 0..1
        self.eps_panel.show_image(mosaic(eps, 2, gap=1))
        self.attention.show_maps(tr, min(k, len(tr) - 2), i)
        t = int(tr.timesteps[k])
        self.frame_label.setText(f"step {k}/{len(tr) - 1}  " + (f"t = {t}" if t >= 0 else "final z_0"))
        self.atlas_plot.set_frame(k)
        self.frameShown.emit(k)

    def step_frames(self, d: int):
        if self.trajectory is not None:
            self.frame.setValue(int(np.clip(self.frame.value() + d, 0, self.frame.maximum())))

    # -- files: the grid with its parameters, the animation, PNG Info (explorer.txt2img_files) ----------
    def parameters(self) -> str:
        return txt2img_files.parameters(self)

    def save_png(self, path: str) -> None:
        txt2img_files.save_png(self, path)

    def export_animation(self, path: str, n: int = 40) -> None:
        txt2img_files.export_animation(self, path, n)

    def painting(self) -> bool:
        """The Inpaint tab is shown: Generate paints its mask, a dropped image is the one to paint over."""
        return self.left.currentWidget() is self.inpaint and self.left.isTabEnabled(1)

    def accepts_drop(self, path, current: bool) -> bool:  # (the main window hands drops to the shown view)
        image = path.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".webp")
        return current and (path.suffix.lower() == ".png" or (image and self.painting()))  # PNG Info, or paint

    def drop(self, path) -> None:
        if self.painting():
            self.inpaint.load(str(path))
        else:
            self.restore_from_png(str(path))

    def restore_from_png(self, path: str) -> bool:
        return txt2img_files.restore_from_png(self, path)

    def is_ready(self) -> bool:
        return self.model is None or not (self.busy() or self.atlas_job.busy or not self.atlas_plot.is_ready())

    def shutdown(self):
        self.cancel()
        self.atlas_job.cancel()
        self.atlas_plot.cancel()
