"""Sketch: draw at the model's own resolution (shown large) and an image-to-image model answers as you draw:
a pix2pix from an edge map or silhouette (ink) or from a colour outline, a CycleGAN either way, a ControlNet
from the drawing and a prompt (every denoising step scrubbable, :mod:`explorer.sketch_control`). Pen width and
colour, paper colour, eraser (right button), undo, clear; load or drop a picture; export the drawing and the
answer side by side as a PNG carrying its parameters. Translations run in a worker, latest wins: a stroke
never waits behind stale ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QColorDialog,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from latent_explorer.models.data.scenes import BACKGROUNDS, COLOURS

from . import dialogs
from .model_view import ModelView
from .sketch_control import ControlRow
from .sketch_inpaint import InpaintSketch
from .sketch_pad import BLACK, WHITE, SketchPad
from .widgets import ImagePanel, hint, titled_columns
from .worker import Worker

PALETTE = {**COLOURS, **BACKGROUNDS}  # named colours for pen and paper
OTHER = "Other…"


def drawing_of(model) -> tuple[bool, str, int]:
    """The kind of drawing ``model`` reads: (ink on paper?, what is drawn, size). Models that read one kind share
    the drawing (a pix2pix from edges and a ControlNet on edges); another kind gets a page of its own."""
    if model.takes_ink:
        what = model.spec.source.drawn(model.config) or "drawing"
    else:
        what = "picture" if len(model.directions) > 1 else "outline"  # in colour
    return model.takes_ink, what, model.image_shape[1]


def _colour_box(tip: str, default: str) -> QComboBox:
    box = QComboBox()
    for name, rgb in PALETTE.items():
        pm = QPixmap(12, 12)
        pm.fill(QColor(*rgb))
        box.addItem(QIcon(pm), name)
    box.addItem(OTHER)
    box.setCurrentText(default)
    box.setToolTip(tip)
    return box


class SketchView(ModelView):
    message = Signal(str)

    def __init__(self, state, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.output: np.ndarray | None = None
        self._worker: Worker | None = None
        self._pending = False
        self._settings: dict | None = None  # a ControlNet's prompt and settings of the image shown
        self._drawing: tuple | None = None  # the kind of drawing on the pad (drawing_of)
        self._kept: dict[tuple, tuple] = {}  # drawings of other kinds, put aside at a model switch
        self._build()
        state.modelChanged.connect(self._on_model)
        self._on_model(None)

    def _build(self):
        root = QVBoxLayout(self)
        self.placeholder = hint("")
        root.addWidget(self.placeholder)
        self.body = QWidget()
        root.addWidget(self.body, 1)
        self.inpainter = InpaintSketch()  # a diffusion model of pixels: a mask painted, the region painted anew
        self.inpainter.message.connect(self.message)
        root.addWidget(self.inpainter, 1)
        lay = QVBoxLayout(self.body)
        bar = QHBoxLayout()
        self.pen = QSpinBox()
        self.pen.setRange(1, 4)
        self.pen.setToolTip("Pen radius in the model's pixels ([ and ] change it)")
        self.pen.valueChanged.connect(lambda v: setattr(self.pad, "pen", v))
        self.btn_eraser = QPushButton("Eraser")
        self.btn_eraser.setCheckable(True)
        self.btn_eraser.setToolTip("Erase with the left button too (E); the right button always erases")
        self.btn_eraser.toggled.connect(lambda on: setattr(self.pad, "eraser", on))
        self.btn_undo = QPushButton("Undo")
        self.btn_undo.setToolTip("Undo the last stroke (Ctrl+Z)")
        self.btn_clear = QPushButton("Clear")
        self.btn_clear.setToolTip("Clear the drawing (Delete)")
        self.btn_load = QPushButton("Load image…")
        self.btn_load.setToolTip("Start from a picture: its strokes (the minority tone) become the drawing, "
                                 "resized to the model's size (or drop a file on the view)")
        self.btn_export = QPushButton("Export PNG…")
        self.btn_export.setToolTip("Save the drawing and the model's answer side by side, with the parameters")
        for w in (QLabel("Pen:"), self.pen, self.btn_eraser, self.btn_undo, self.btn_clear, self.btn_load,
                  self.btn_export):
            bar.addWidget(w)
        bar.addStretch(1)
        lay.addLayout(bar)
        self.colours = QWidget()  # colour models only: pen and paper colours, and the direction
        row = QHBoxLayout(self.colours)
        row.setContentsMargins(0, 0, 0, 0)
        self.pen_colour = _colour_box("The pen's colour", "red")
        self.paper_colour = _colour_box("The paper's colour: the background (strokes keep theirs)", "black")
        self.pen_colour.activated.connect(lambda _: self._pick(self.pen_colour, "pen"))
        self.paper_colour.activated.connect(lambda _: self._pick(self.paper_colour, "paper"))
        self.direction = QComboBox()
        self.direction.setToolTip("Which way the model translates (CycleGAN: either)")
        self.direction.currentIndexChanged.connect(lambda _: self.translate())
        self.direction_label = QLabel("Direction:")
        for w in (QLabel("Pen colour:"), self.pen_colour, QLabel("Paper:"), self.paper_colour,
                  self.direction_label, self.direction):
            row.addWidget(w)
        row.addStretch(1)
        lay.addWidget(self.colours)
        self.control = ControlRow()  # a ControlNet: the prompt and settings the drawing is generated with
        self.control.changed.connect(self.translate)
        self.control.frame.connect(lambda k: self.out.show_image(self.control.frames[k]))
        lay.addWidget(self.control)
        self.info = QLabel()
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        self.pad = SketchPad()
        self.pad.changed.connect(self.translate)
        self.out = ImagePanel()
        self.out.setMinimumSize(256, 256)
        lay.addLayout(titled_columns((("your drawing", self.pad), ("the model's answer", self.out))), 1)
        self.btn_undo.clicked.connect(self.pad.undo)
        self.btn_clear.clicked.connect(self.pad.clear)
        self.btn_load.clicked.connect(self._load_dialog)
        self.btn_export.clicked.connect(self._export_dialog)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.pad.undo)
        QShortcut(QKeySequence(Qt.Key.Key_Delete), self, self.pad.clear)
        QShortcut(QKeySequence(Qt.Key.Key_BracketLeft), self, lambda: self.pen.setValue(self.pen.value() - 1))
        QShortcut(QKeySequence(Qt.Key.Key_BracketRight), self, lambda: self.pen.setValue(self.pen.value() + 1))
        QShortcut(QKeySequence(Qt.Key.Key_E), self, self.btn_eraser.toggle)
        self.setAcceptDrops(True)

    # -- model -----------------------------------------------------------------------------------
    def applies(self, model) -> str | None:
        if model is None:
            return "Pick a model in the list: an image-to-image model (pix2pix) answers a drawing."
        caps = model.capabilities
        if not (caps.answers_drawings or (caps.diffusion and caps.inpaints)):
            return (f"{model.spec.title} does not translate images: open an image-to-image model (pix2pix, "
                    "CycleGAN), a ControlNet to draw for it, or a diffusion model (DDPM) to paint a region anew.")
        return None

    def _on_model(self, model):
        usable = self.gate(model)
        paints = usable and not model.capabilities.answers_drawings  # a diffusion model: inpainting
        self.inpainter.setVisible(paints)
        self.inpainter.set_model(model if paints else None)
        if paints:
            self.body.setVisible(False)
            usable = False
        self.model = model if usable else None
        self._pending = False
        self.output = None
        self.out.clear_image()
        if not usable:
            return
        caps = model.capabilities
        h = model.image_shape[1]
        ink = model.takes_ink
        turned, aside = self._turn_page(drawing_of(model))
        self.colours.setVisible(not ink)
        self.direction.blockSignals(True)
        self.direction.clear()
        for d in model.directions:
            self.direction.addItem(model.direction_title(d), d)
        self.direction.blockSignals(False)
        self.direction.setVisible(len(model.directions) > 1)
        self.direction_label.setVisible(len(model.directions) > 1)
        self.control.setVisible(caps.controlled)
        self.control.set_frames(None)
        self.pad.set_size(h)
        if ink:
            self.pad.colour = BLACK.copy()
            self.pad.set_paper(WHITE)
        else:
            self._pick(self.pen_colour, "pen")
            self._pick(self.paper_colour, "paper")
        if turned:
            self.pad.undo_stack.clear()  # no undo back to another kind's drawing, nor to its paper
        what = (f"the {self._drawing[1]} of a scene" if ink else
                "a picture in colour" if len(model.directions) > 1 else "the outline of a scene in colour")
        follows = ("The image is generated from the drawing and the prompt after every stroke." if caps.controlled
                   else "The answer follows every stroke.")
        self.info.setText(f"Draw {what} at the model's {h}×{h} pixels (each square is one). {follows}" +
                          (f" The {aside} drawn for the model before is put aside: it comes back with a model "
                           "that reads one." if aside else ""))
        self.translate()

    def _turn_page(self, kind: tuple) -> tuple[bool, str | None]:
        """The pad for a model that reads ``kind`` of drawing: the drawing on it stays if it is of that kind;
        else it is put aside and the page of that kind comes back, or bare paper. (Turned?, what was put
        aside.) A drawing is never shown as the input of a model that reads another kind: a pix2pix's colour
        outline is no ControlNet's edges."""
        old = self._drawing
        if kind == old:
            return False, None
        self._drawing = kind
        aside = old is not None and bool(self.pad.ink.any())
        if aside:
            self._kept[old] = self.pad.drawing()
        self.pad.restart(kind[2], self._kept.pop(kind, None))
        return True, old[1] if aside else None

    def _pick(self, box: QComboBox, which: str) -> None:
        """The pen's or the paper's colour from its box (Other… asks)."""
        name = box.currentText()
        if name == OTHER:
            now = self.pad.colour if which == "pen" else self.pad.paper
            c = QColorDialog.getColor(QColor(*(int(v * 255) for v in now)), self, f"The {which}'s colour")
            if not c.isValid():
                return
            rgb = np.array([c.red(), c.green(), c.blue()], np.float32) / 255
        elif name in PALETTE:
            rgb = np.array(PALETTE[name], np.float32) / 255
        else:
            return
        if which == "pen":
            self.pad.colour = rgb
        else:
            self.pad.set_paper(rgb)

    def source(self) -> np.ndarray:
        """What the model translates: (S, H, W) in [0, 1], ink for ink models, else the canvas itself."""
        if self.model.takes_ink:
            return self.pad.ink[None]
        rgb = self.pad.canvas.transpose(2, 0, 1)
        if self.model.source_shape[0] == 1:
            return (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2])[None].astype(np.float32)
        return np.ascontiguousarray(rgb)

    # -- translation (latest wins) ---------------------------------------------------------------
    def translate(self) -> None:
        if self.model is None:
            return
        if self.model.needs_strokes and not self.pad.ink.any():
            self.output = None
            self.out.clear_image()
            return
        if self._worker is not None:
            self._pending = True  # the newest drawing goes next; the ones between are never translated
            return
        import torch

        model, src = self.model, self.source().copy()
        kw = {"direction": self.direction.currentData()} if len(model.directions) > 1 else {}
        if model.capabilities.controlled:
            job = self._control_job(model, src)
            if job is None:
                return
        else:
            def job(should_stop):
                yield from ()
                return model.translate(torch.from_numpy(src[None]), **kw).cpu().numpy()[0]

        w = Worker(job, "sketch")
        self._worker = w
        w.returned.connect(lambda img: self._show(model, img))
        w.errored.connect(lambda msg: self.message.emit(f"Sketch: {msg}"))
        w.finished.connect(lambda: self._ended(w))
        w.start()

    def _control_job(self, model, src):
        """A ControlNet's generation from the drawing as a job, or None (the prompt has unknown words: said)."""
        from latent_explorer.models.kinds.controlnet import controlled_steps
        from latent_explorer.models.nn.tokenizer import UnknownWords

        settings = self.control.settings()
        try:
            model.base.prompt_ids([settings["prompt"]])
        except UnknownWords as e:
            self.info.setText(f"{e}; the image shown is of the last prompt.")
            self.message.emit(f"Sketch: {e}")
            return None
        self._settings = settings

        def job(should_stop):
            return (yield from controlled_steps(model, settings["prompt"], src, settings["steps"],
                                                settings["guidance"], settings["seed"]))

        return job

    def _show(self, model, img):
        if model is not self.model:
            return
        if img.ndim == 4:  # a ControlNet's steps, then the image
            self.control.set_frames(img)
            img = img[-1]
        self.output = img
        self.out.show_image(img)

    def _ended(self, w):
        if self._worker is w:
            self._worker = None
        if self._pending:
            self._pending = False
            self.translate()

    # -- files -----------------------------------------------------------------------------------
    def load(self, path: str) -> bool:
        from latent_explorer.models.io.sketches import read_picture, read_sketch

        if self.model is None:
            return False
        h = self.model.image_shape[1]
        try:
            if self.model.takes_ink:
                ink, notes = read_sketch(path, h)
            else:
                rgb, notes = read_picture(path, 3, h, need_strokes=self.model.needs_strokes)
        except (ValueError, OSError) as e:
            from latent_explorer.models.errors import failure

            self.message.emit(failure(path, e))
            self.info.setText(f"{failure(path, e)}; the drawing is kept as it was.")
            return False
        if self.model.takes_ink:
            self.pad.set_ink(ink[0])
        else:
            border = np.concatenate([rgb[:, 0], rgb[:, -1], rgb[:, :, 0], rgb[:, :, -1]], axis=1)
            self.paper_colour.setCurrentIndex(-1)  # the picture's own paper
            self.pad.set_canvas(rgb.transpose(1, 2, 0), np.median(border, axis=1))
        self.info.setText(f"{Path(path).name}" + (f": {'; '.join(notes)}" if notes else "") + ".")
        return True

    def _load_dialog(self):
        path = dialogs.open_file(self, "sketches", "A drawing or picture", "Images (*.png *.jpg *.jpeg *.bmp *.gif)")
        if path:
            self.load(path)

    def dragEnterEvent(self, ev):  # noqa: N802
        if ev.mimeData().hasUrls() and (self.model is not None or self.inpainter.model is not None):
            ev.acceptProposedAction()

    def dropEvent(self, ev):  # noqa: N802
        urls = [u.toLocalFile() for u in ev.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.inpainter.box.load(urls[0]) if self.inpainter.model is not None else self.load(urls[0])
            ev.acceptProposedAction()

    def export_png(self, path: str) -> None:
        from latent_explorer.models.io.images import make_grid, save_png

        if self.output is None:
            raise ValueError("nothing to export: draw something first")
        h, c = self.model.image_shape[1], self.output.shape[0]
        canvas = self.pad.canvas.transpose(2, 0, 1)[None]
        sketch = canvas if c == 3 else (0.299 * canvas[:, :1] + 0.587 * canvas[:, 1:2] + 0.114 * canvas[:, 2:])
        name = Path(self.model.meta.get("path", "model")).stem
        d = self.direction.currentData() or "a2b"
        params = f"Translate: {self.model.direction_title(d)}, Direction: {d}, Size: {h}x{h}, Model: {name}"
        if self.model.capabilities.controlled and getattr(self, "_settings", None):
            from latent_explorer.models.io.images import generation_parameters

            st = self._settings
            params = generation_parameters(st["prompt"], "", st["steps"], "DDIM", st["guidance"], st["seed"],
                                           (h, h), name, control=f"{self.model.config.control} drawn")
        save_png(path, make_grid(np.concatenate([sketch, self.output[None]]), nrow=2, scale=max(1, 128 // h)),
                 {"parameters": params})

    def _export_dialog(self):
        if self.output is None:
            self.message.emit("nothing to export: draw something first")
            return
        dialogs.save_as(self, "Export the drawing and the answer", "sketch.png", "PNG (*.png)", self.export_png,
                        self.message.emit)

    # -- view protocol ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return self._worker is None and not self._pending and not self.inpainter.busy()

    def shutdown(self):
        self.inpainter.cancel()
        if self._worker is not None:
            self._worker.stop()
