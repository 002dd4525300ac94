"""Latent Editor: a slider per latent dimension decoding live, randomise/reset, class selector, PCA
directions, interpolation between two anchors, encode an image (with what the model made of it), export.
What is offered follows the model's capabilities (:mod:`models.registry`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.data import IMAGE_EXTS

from . import dialogs
from .directions import DirectionsPanel
from .interpolation import InterpolationPanel
from .layer_view import LayersPanel
from .live_decoder import LiveDecoder
from .model_view import ModelView
from .noise_panel import NoisePanel
from .sliders import SliderPanel
from .state import LatentState
from .style_controls import StyleRow
from .style_mixing import MixingPanel
from .widgets import ImagePanel, SeedBox

MAX_SLIDERS = 512
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp)"
TAB_DIMS, TAB_DIRS, TAB_INTERP = 0, 1, 2


class EncodingStrip(QWidget):
    """After "Encode image": the input as the model sees it, its reconstruction and the error, so that a
    poor encoding can be understood (the wrong size, channels, or a digit unlike the training data)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.input, self.recon, self.error = (ImagePanel(title=t) for t in ("input, as the model sees it",
                                                                             "reconstruction", "|error|"))
        for p in (self.input, self.recon, self.error):
            p.setFixedHeight(130)
            lay.addWidget(p)
        self.setVisible(False)

    def show_encoding(self, enc, name: str) -> None:
        self.input.show_image(enc.input)
        self.recon.show_image(enc.reconstruction)
        self.error.show_image(enc.error)
        self.error.set_title(f"|error| (MSE {enc.mse:.4f})")
        self.setToolTip(f"{name}: converted to the model's {enc.input.shape[0]}×{enc.input.shape[1]}×"
                        f"{enc.input.shape[2]} input, encoded, and decoded again")
        self.setVisible(True)


class LatentEditor(ModelView):
    imageUpdated = Signal()
    message = Signal(str)
    ready = Signal()

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.decoder = LiveDecoder(state, self)
        self.last_dim = 0
        self._build()
        self.setAcceptDrops(True)
        state.modelChanged.connect(self._on_model)
        state.zChanged.connect(self._on_z)
        state.labelChanged.connect(self._on_label)
        state.dimensionsChanged.connect(self._on_dimensions)
        self.decoder.decoded.connect(self._show)
        self.decoder.failed.connect(self.message)
        self.decoder.busy.connect(lambda b: self.busy.setText("decoding…" if b else ""))
        self._on_model(None)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QHBoxLayout(self)
        left = QVBoxLayout()
        self.panel = ImagePanel()
        self.panel.setMinimumSize(300, 300)
        left.addWidget(self.panel, 1)
        self.busy = QLabel()
        self.busy.setStyleSheet("color: #888")
        left.addWidget(self.busy)
        self.encoding = EncodingStrip()
        left.addWidget(self.encoding)
        form = QFormLayout()
        self.cls = QComboBox()
        self.cls.setToolTip("The class a conditional model generates")
        self.cls.currentIndexChanged.connect(lambda k: self.state.set_label(max(0, k)))
        form.addRow("Class", self.cls)
        self.range = QDoubleSpinBox()
        self.range.setRange(0.5, 20)
        self.range.setValue(3.0)
        self.range.setSingleStep(0.5)
        self.range.setToolTip("Slider range: each slider spans ± this value")
        self.range.valueChanged.connect(self._on_range)
        form.addRow("Slider range ±", self.range)
        self.style = StyleRow(self.state)  # a mapping network (StyleGAN): Z / W / W+ and ψ
        self.style.message.connect(self.message)
        form.addRow(self.style)
        left.addLayout(form)
        buttons = QGridLayout()
        self.btn_random = QPushButton("Randomise")
        self.btn_random.setToolTip("Draw z from the prior, seeded (R)")
        self.btn_random.clicked.connect(self.randomise)
        self.seed_box = SeedBox()  # every seed a command takes (models.sampling.samplers.SEED_MAX)
        self.seed_box.setPrefix("seed ")
        self.seed_box.setToolTip("Seed of the next random z; it advances after each draw")
        self.btn_reset = QPushButton("Reset")
        self.btn_reset.setToolTip("Back to the centre of the latent space")
        self.btn_reset.clicked.connect(self.reset)
        self.btn_encode = QPushButton("Encode image…")
        self.btn_encode.clicked.connect(self._pick_image)
        self.btn_png = QPushButton("Export PNG…")
        self.btn_png.setToolTip("Save the current image (Ctrl+E)")
        self.btn_png.clicked.connect(self._export_png)
        self.btn_gif = QPushButton("Export animation…")
        self.btn_gif.setToolTip("Save the interpolation A→B (its Steps and Speed), or a traversal of the last "
                                "dimension you moved, as a GIF or an MP4 video")
        self.btn_gif.clicked.connect(self._export_gif)
        for i, w in enumerate([self.btn_random, self.seed_box, self.btn_reset, self.btn_encode, self.btn_png,
                               self.btn_gif]):
            buttons.addWidget(w, i // 2, i % 2)
        left.addLayout(buttons)
        root.addLayout(left, 3)

        self.tabs = QTabWidget()
        self.dims = SliderPanel()
        self.dims.valueChanged.connect(self._set_dim)
        self.tabs.addTab(self.dims, "Dimensions")
        self.dirs = DirectionsPanel(self.state)
        self.dirs.ready.connect(self.ready)
        self.dirs.message.connect(self.message)
        self.tabs.addTab(self.dirs, "PCA")  # short: the six tabs fit the panel at 1280 × 800
        self.tabs.setTabToolTip(self.tabs.count() - 1, "PCA directions of the samples' codes (GANSpace)")
        self.interp = InterpolationPanel(self.state, self._thumbnail)
        self.tabs.addTab(self.interp, "Interpolate")
        self.layers = LayersPanel(self.state)  # a mapping network's synthesis layers, channel by channel
        self.tabs.addTab(self.layers, "Layers")
        self.mixing = MixingPanel(self.state)  # the style-mixing figure, live
        self.tabs.addTab(self.mixing, "Mixing")
        self.noise = NoisePanel(self.state)  # each layer's noise on or off, resampled, where it acts
        self.noise.changed.connect(lambda: self.decoder.request())
        self.tabs.addTab(self.noise, "Noise")
        self.tabs.currentChanged.connect(self._on_tab)
        root.addWidget(self.tabs, 2)
        QShortcut(QKeySequence("R"), self, self.randomise)
        QShortcut(QKeySequence("P"), self, self.interp.btn_play.toggle)

    # -- model -----------------------------------------------------------------------------------
    def _on_model(self, model):
        caps = model.capabilities if model is not None else None
        usable = caps is not None and caps.decodes_z
        self.model = model if usable else None
        self.decoder.set_model(self.model)  # a decode still in flight for the old model is dropped
        self.interp.stop()
        self.panel.clear_image()
        self.encoding.setVisible(False)
        for w in (self.btn_reset, self.btn_png, self.btn_gif, self.range):
            w.setEnabled(usable)
        self.interp.set_model_enabled(usable)
        self.btn_random.setEnabled(usable and caps.prior)
        self.seed_box.setEnabled(usable and caps.prior)
        self.btn_encode.setEnabled(usable and caps.encoder)
        self.btn_encode.setToolTip("Encode an image file (or drop one here) and edit its z" if usable and
                                   caps.encoder else "This model has no encoder")
        with QSignalBlocker(self.cls):
            self.cls.clear()
            takes_class = usable and model.conditioning == "class"
            if takes_class:
                self.cls.addItems(list(model.class_names))
            self.cls.setEnabled(takes_class)
        styles = usable and caps.styles
        self.style.set_model(self.model if styles else None)
        for panel in (self.layers, self.mixing, self.noise):
            panel.set_model(self.model if styles else None)
            self.tabs.setTabVisible(self.tabs.indexOf(panel), bool(styles))
        self._build_sliders(model)
        on_dirs = self.tabs.currentIndex() == TAB_DIRS  # Qt moves off a tab that gets disabled: to the next one
        self.tabs.setTabEnabled(TAB_DIRS, usable and caps.directions)
        self.tabs.setTabToolTip(TAB_DIRS, "" if usable and caps.directions else
                                "PCA directions are for generators without an encoder")
        self.dirs.set_model(self.model if usable and caps.directions else None)
        if on_dirs and not self.tabs.isTabEnabled(TAB_DIRS):
            self.tabs.setCurrentIndex(TAB_DIMS)  # back to the sliders, not on to Interpolate
        if usable:
            self.decoder.request()
            self._on_tab(self.tabs.currentIndex())

    def _build_sliders(self, model):
        if model is None:
            self.dims.show_hint("Open a model to edit its latent code.")
            return
        if self.model is None:
            self.dims.show_hint(f"{model.spec.title} does not decode a latent code: there is nothing to edit "
                                "here.")
            return
        d = min(model.latent_dim, MAX_SLIDERS)
        names = model.latent_names()[:d]
        note = f"(first {MAX_SLIDERS} of {model.latent_dim} dimensions)" if model.latent_dim > MAX_SLIDERS else ""
        self.dims.set_rows(names, [f"{n}: drag, or type a value; sliders span the range set on the left"
                                   for n in names], note)
        self.dims.set_range(self.range.value())
        self.dims.show_values(self.state.z, force=True)
        self._on_dimensions()

    def _on_dimensions(self):
        """Grey out the dimensions whose KL says the decoder ignores them (measured by the Inspect view)."""
        from latent_explorer.models.analysis.diagnostics import ACTIVE_KL

        kl = self.state.dimension_kl
        if kl is None or self.model is None:
            return
        self.dims.set_inactive({i: f"{self.model.latent_names()[i]}: inactive, KL {v:.4f} nats (< {ACTIVE_KL}): "
                                   "collapsed onto the prior, the decoder ignores it"
                                for i, v in enumerate(kl[: len(self.dims.rows)]) if v <= ACTIVE_KL})

    @property
    def rows(self):
        return self.dims.rows

    def _set_dim(self, i, v):
        self.last_dim = i
        self.state.set_component(i, v)

    def _on_range(self, r):
        self.dims.set_range(r)
        self.dirs.set_range(r)

    def _on_z(self):
        if self.model is None:
            return
        self.dims.show_values(self.state.z)
        self.decoder.request()

    def _on_label(self, k):
        with QSignalBlocker(self.cls):
            self.cls.setCurrentIndex(k)
        self.decoder.request()

    def _show(self, img):
        self.panel.show_image(img)
        self.imageUpdated.emit()
        self.ready.emit()

    def _thumbnail(self, z, label):
        return self.decoder.decode_now(z, label) if self.model is not None and self.decoder.sync else None

    def is_ready(self) -> bool:
        return self.model is None or self.panel.data is not None

    def _on_tab(self, i):
        if i == TAB_DIRS and self.model is not None:
            self.dirs.compute()

    # -- actions ---------------------------------------------------------------------------------
    def randomise(self):
        if self.model is None or not self.model.capabilities.prior:
            return
        g = torch.Generator().manual_seed(self.seed_box.value())
        self.seed_box.setValue((self.seed_box.value() + 1) % (int(self.seed_box.maximum()) + 1))
        self.state.set_z(self.model.prior(1, g)[0].detach().cpu().numpy())
        self.dirs.rebase()

    def reset(self):
        if self.model is None:
            return
        self.state.set_z(self.model.origin().numpy())
        self.dirs.rebase()

    def accepts_drop(self, path, current: bool) -> bool:
        return path.suffix.lower() in IMAGE_EXTS  # a picture: encoded, its z shown

    def drop(self, path) -> None:
        self.encode_file(str(path))

    def encode_file(self, path: str) -> bool:
        """Encode an image file and make its z current; False (with a message) if it cannot."""
        from latent_explorer.models.analysis.latent import encode_image
        from latent_explorer.models.io.images import read_image_for

        if self.model is None or not self.model.capabilities.encoder:
            self.message.emit("this model has no encoder: it cannot encode an image")
            return False
        try:
            x = read_image_for(self.model.image_shape, path)
        except (ValueError, OSError) as e:
            from latent_explorer.models.errors import failure

            self.message.emit(failure(path, e))
            return False
        enc = encode_image(self.model, x, self.state.label)
        self.state.set_z(enc.z)
        self.encoding.show_encoding(enc, Path(path).name)
        self.message.emit(f"encoded {Path(path).name}: reconstruction MSE {enc.mse:.4f}")
        return True

    def _pick_image(self):
        path = dialogs.open_file(self, "images", "Encode an image", IMAGE_FILTER)
        if path:
            self.encode_file(path)

    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        for url in e.mimeData().urls():
            p = url.toLocalFile()
            if Path(p).suffix.lower() in IMAGE_SUFFIXES:
                self.encode_file(p)
                e.acceptProposedAction()
                return
        e.ignore()

    def export_png(self, path: str) -> None:
        from latent_explorer.models.io.images import make_grid, save_png

        img = self.decoder.last
        if img is None:
            raise ValueError("nothing to export yet")
        scale = max(1, 256 // img.shape[-1])
        save_png(path, make_grid(img[None], nrow=1, pad=0, scale=scale))

    def gif_path(self) -> np.ndarray:
        """The latents of an exported GIF: the interpolation (its Steps), else a traversal of the last
        dimension moved over the slider range (as many frames as the Steps box says)."""
        from latent_explorer.models.analysis.latent import traversal

        if self.interp.ready:
            return self.interp.path()
        return traversal(self.state.z, self.last_dim, self.range.value(), self.interp.steps.value())

    def export_gif(self, path: str) -> None:
        from latent_explorer.models.analysis.latent import decode_batched
        from latent_explorer.models.io.images import make_grid, save_video
        from latent_explorer.models.progress import run_to_end

        frames = run_to_end(decode_batched(self.model, self.gif_path(), self.state.label))
        scale = max(1, 256 // frames.shape[-1])
        seq = [make_grid(f[None], nrow=1, pad=0, scale=scale) for f in frames]
        save_video(path, seq + seq[-2:0:-1], fps=self.interp.fps.value())

    def _export_png(self):
        if self.model is None:
            self.message.emit("open a model that decodes a latent code to export its image")
            return
        dialogs.save_as(self, "Export image", "latent.png", "PNG (*.png)", self.export_png, self.message.emit)

    def _export_gif(self):
        if self.model is not None:
            dialogs.save_as(self, "Export animation", "latent.gif", dialogs.animation_filter(), self.export_gif,
                            self.message.emit)

    def shutdown(self):
        self.interp.stop()
        self.decoder.shutdown()
        self.dirs.shutdown()
