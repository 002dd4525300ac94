"""The Training view's "New run" form. Everything it offers comes from the kind registry: the kinds a user
can train, each kind's defaults, and a row per hyperparameter (enabled for the kinds that take it). Data
typed by hand is checked only on Enter, on picking a built-in or on Browse, in a worker: typing never
loads anything. As ``train`` does, it offers the images' channels, the size of the run's record and a
checkpoint to resume (its kind and settings then come from the file, read from its header on Enter or
choice; :func:`models.training.run.resume_info`)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from latent_explorer.models import CheckpointError, ConfigError, registry
from latent_explorer.models.data import BUILTIN_DATASETS, data_hint
from latent_explorer.models.training.run import ResumeInfo, RunSpec, resume_info

from . import dialogs
from .widgets import ImagePanel
from .worker import Worker

DATA_HINT = f"{data_hint()} — press Enter to check it"


def default_output_dir() -> Path:
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation) or str(Path.home())
    return Path(base) / "Latent Explorer"


def data_summary(spec: str, should_stop) -> dict:
    """A Worker job (plain generator): load ``spec`` and describe it; only numpy and text cross threads."""
    from latent_explorer.models.data import load_dataset

    yield from ()
    d = load_dataset(spec)
    c, h, w = d.shape
    k = min(8, len(d))
    return {"spec": spec, "n": len(d), "shape": (c, h, w), "classes": len(d.class_names) if d.labels is not None
            else 0, "skipped": len(d.skipped), "note": d.note,
            "preview": d.images[np.linspace(0, len(d) - 1, k).astype(int)]}


class FileEdit(QWidget):
    """A path typed or chosen with a file dialog (a model part's checkpoint); reads like a QLineEdit.
    ``chosen`` is emitted when the dialog picked a file."""

    chosen = Signal(str)

    def __init__(self, title: str, file_filter: str, placeholder: str = "a .safetensors file"):
        super().__init__()
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.button = QPushButton("…")
        self.button.setToolTip(f"Choose the {title.lower()} checkpoint")
        self.button.clicked.connect(lambda: self._choose(title, file_filter))
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.button)

    def _choose(self, title: str, file_filter: str) -> None:
        path = dialogs.open_file(self, "models", f"Choose the {title.lower()}", f"{file_filter};;All files (*)")
        if path:
            self.edit.setText(path)
            self.chosen.emit(path)

    def text(self) -> str:
        return self.edit.text()

    def setText(self, text: str) -> None:
        self.edit.setText(text)


class ParamField:
    """One hyperparameter row: the right widget for its type, with the value read back as typed."""

    def __init__(self, param: registry.Param):
        self.param = param
        if param.choices:
            self.widget = QComboBox()
            self.widget.addItems([str(c) for c in param.choices])
        elif param.type is int:
            self.widget = QSpinBox()
            self.widget.setRange(int(param.minimum or 0), int(param.maximum or 10**6))
        elif param.type is float:
            self.widget = QDoubleSpinBox()
            self.widget.setDecimals(3)
            self.widget.setRange(float(param.minimum or 0), float(param.maximum or 1e6))
        elif param.file_filter:
            self.widget = FileEdit(param.label, param.file_filter)
        else:
            self.widget = QLineEdit()
        self.widget.setToolTip(param.help)

    def set(self, value) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
            w.setValue(value)
        else:
            w.setText(",".join(map(str, value)) if isinstance(value, tuple) else str(value))

    def value(self):
        w = self.widget
        if isinstance(w, QComboBox):
            return self.param.parse(w.currentText(), self.param.label)
        if isinstance(w, (QSpinBox, QDoubleSpinBox)):
            return w.value()
        return self.param.parse(w.text(), self.param.label)  # its error names the row the user sees


class RunForm(QGroupBox):
    message = Signal(str)
    dataChecked = Signal(bool)  # a data check ended: True when the data loaded

    def __init__(self, parent=None):
        super().__init__("New run", parent)
        self._data_worker: Worker | None = None
        self.checked_spec: str | None = None
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.kind = QComboBox()
        for k in registry.kinds(trainable=True):
            spec = registry.get(k)
            self.kind.addItem(f"{k} — {spec.title}", k)
            self.kind.setItemData(self.kind.count() - 1, spec.description or spec.title, 3)  # tooltip role
        self.kind.setCurrentIndex(max(0, self.kind.findData("vae")))
        self.kind.currentIndexChanged.connect(self._on_kind)
        form.addRow("Model", self.kind)
        drow = QHBoxLayout()
        self.data = QComboBox()
        self.data.setEditable(True)
        self.data.addItems(list(BUILTIN_DATASETS))
        self.data.setToolTip(DATA_HINT)
        self.data.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.data.lineEdit().returnPressed.connect(self.check_data)
        self.data.activated.connect(lambda _i: self.check_data())
        self.data.editTextChanged.connect(self._on_data_typed)
        self.btn_browse = QPushButton("Folder…")
        self.btn_browse.setToolTip("A folder of images (one subfolder per class) or of MNIST IDX files")
        self.btn_browse.clicked.connect(self._browse_data)
        self.btn_file = QPushButton("File…")
        self.btn_file.setToolTip("An .npz file or an IDX images file")
        self.btn_file.clicked.connect(self._browse_file)
        drow.addWidget(self.data, 1)
        drow.addWidget(self.btn_browse)
        drow.addWidget(self.btn_file)
        form.addRow("Data", drow)
        self.data_info = QLabel()
        self.data_info.setWordWrap(True)
        self.data_info.setStyleSheet("color: #888")
        form.addRow(self.data_info)
        self.data_preview = ImagePanel()
        self.data_preview.setFixedHeight(70)
        form.addRow(self.data_preview)
        self.channels = QComboBox()
        for text, value in (("as the data", None), ("grayscale", 1), ("RGB", 3)):
            self.channels.addItem(text, value)
        self.channels.setToolTip("Train on grayscale or RGB images, converting the data's (default: as the data "
                                 "is; --channels)")
        form.addRow("Channels", self.channels)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 100000)
        self.batch = QSpinBox()
        self.batch.setRange(1, 65536)
        self.lr = QDoubleSpinBox()
        self.lr.setDecimals(6)
        self.lr.setRange(1e-6, 1e6)
        self.lr.setSingleStep(1e-4)
        self.latent = QSpinBox()
        self.latent.setRange(2, 512)
        self.latent.setToolTip("Size of the latent code z")
        self.conditional = QCheckBox("conditional on labels")
        optional = [k for k in registry.kinds(trainable=True) if registry.get(k).conditioning_optional]
        self.conditional.setToolTip(f"Class conditioning, optional for {', '.join(optional)} (with label dropout "
                                    "for classifier-free guidance); always on for the conditional kinds")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        for label, w in (("Epochs", self.epochs), ("Batch size", self.batch), ("Learning rate", self.lr),
                         ("Latent dim", self.latent)):
            form.addRow(label, w)
        self.fields = [ParamField(p) for p in registry.all_params()]
        self.field_labels = {}
        for f in self.fields:
            self.field_labels[f.param.name] = QLabel(f.param.label)
            self.field_labels[f.param.name].setToolTip(f.param.help)
            form.addRow(self.field_labels[f.param.name], f.widget)
        form.addRow("", self.conditional)
        self.binarise = QCheckBox("black and white, drawn afresh each step")
        self.binarise.setToolTip("Each image is made black and white every time it is seen, a pixel white with "
                                 "its grey value's probability (dynamic binarisation, as the likelihood papers "
                                 "train on MNIST; --binarise stochastic). A resumed run keeps its own choice")
        form.addRow("", self.binarise)
        form.addRow("Seed", self.seed)
        self.record_n = QSpinBox()
        self.record_n.setRange(0, 10_000)
        self.record_n.setValue(500)
        self.record_n.setToolTip("Held-out images encoded and images sampled after every epoch for the run's "
                                 "record, NAME.record.safetensors: the map's training movie (0: none; --record-n)")
        form.addRow("Record size", self.record_n)
        self.resume = FileEdit("Run to resume", "Checkpoints (*.safetensors)",
                               placeholder="optional: a checkpoint to go on from")
        self.resume.button.setToolTip("Choose a checkpoint trained here to go on from")
        self.resume.edit.setToolTip("Go on with a checkpoint's run (--resume): its weights, kind and settings, and "
                                    "its optimizer state, step count and random state when kept beside it, for "
                                    "Epochs more. Press Enter to check it")
        self.resume.edit.editingFinished.connect(self.check_resume)
        self.resume.edit.textChanged.connect(self._on_resume_typed)
        self.resume.chosen.connect(lambda _p: self.check_resume())
        form.addRow("Resume from", self.resume)
        self.resume_text = QLabel()
        self.resume_text.setWordWrap(True)
        self.resume_text.setStyleSheet("color: #888")
        form.addRow(self.resume_text)
        self.resumed: ResumeInfo | None = None  # the checkpoint checked, while the form resumes it
        self._resumed_path = ""
        orow = QHBoxLayout()
        self.out = QLineEdit()
        self.out.setMinimumWidth(160)
        self.out.textChanged.connect(lambda t: self.out.setToolTip(f"The checkpoint is saved here (after every "
                                                                   f"epoch, and at the end):\n{t}"))
        self.btn_out = QPushButton("…")
        self.btn_out.setToolTip("Choose where to save the checkpoint")
        self.btn_out.clicked.connect(self._browse_out)
        orow.addWidget(self.out, 1)
        orow.addWidget(self.btn_out)
        form.addRow("Save to", orow)
        self._on_kind()

    # -- kind ------------------------------------------------------------------------------------
    def current_spec(self) -> registry.KindSpec:
        return registry.get(self.kind.currentData())

    def _on_kind(self, *_):
        spec = self.current_spec()
        d = spec.defaults
        self.epochs.setValue(d.epochs)
        self.batch.setValue(d.batch_size)
        self.lr.setValue(d.lr)
        self.latent.setEnabled(spec.latent_dim is not None)
        self.latent.setValue(max(2, spec.latent_dim or 2))
        for f in self.fields:  # the kind's own hyperparameters; the others are hidden
            on = spec.param(f.param.name) is not None
            f.widget.setEnabled(on)
            self.field_labels[f.param.name].setEnabled(on)
            self.layout().setRowVisible(f.widget, on)
            f.set(spec.default(f.param.name) if on else registry.get(
                registry.kinds_with_param(f.param.name)[0]).default(f.param.name))
        self.conditional.setEnabled(spec.conditioning_optional)
        self.layout().setRowVisible(self.conditional, spec.conditioning == "class")
        self.conditional.setChecked(spec.conditional_by_default)
        self.new_output_name()

    def new_output_name(self):
        data = Path(self.data.currentText().strip() or "data").name.replace(":", "-") or "data"
        name = f"{self.kind.currentData()}-{data}-{time.strftime('%Y%m%d-%H%M%S')}.safetensors"
        self.out.setText(str(default_output_dir() / name))
        self.out.setCursorPosition(len(self.out.text()))  # the file name shows, not the start of the folder

    # -- resume ----------------------------------------------------------------------------------
    def _on_resume_typed(self, text):
        if not text.strip():
            self._leave_resume("")
        elif text.strip() != self._resumed_path:
            self.resume_text.setText("Press Enter to check this checkpoint")

    def check_resume(self) -> ResumeInfo | None:
        """Read what the checkpoint to resume offers (its header: a few KB): its kind and settings fill the
        form, whose rows that the checkpoint fixes are disabled; why it cannot be resumed otherwise."""
        path = self.resume.text().strip()
        if not path:
            self._leave_resume("")
            return None
        if path == self._resumed_path and self.resumed is not None:
            return self.resumed
        try:
            info = resume_info(path)
        except CheckpointError as e:
            self._leave_resume(f"⚠ {e}")
            self._resumed_path = path
            return None
        self.kind.setCurrentIndex(self.kind.findData(info.kind))  # its defaults first, then the run's own
        for box, value in ((self.batch, info.batch_size), (self.lr, info.lr), (self.seed, info.seed)):
            if value is not None and box.minimum() <= value <= box.maximum():
                box.setValue(value)
        self.channels.setCurrentIndex(self.channels.findData(info.image_shape[0]))
        self.resumed, self._resumed_path = info, path
        self._set_fixed(True)
        self.resume_text.setText(f"{info.text()}. Its kind and settings are the checkpoint's.")
        return info

    def _leave_resume(self, said: str) -> None:
        was = self.resumed is not None
        self.resumed, self._resumed_path = None, ""
        self.resume_text.setText(said)
        if was:
            self._set_fixed(False)

    def _set_fixed(self, fixed: bool) -> None:
        """The rows a resumed checkpoint fixes (its kind, shape and the kind's settings) off, or back as the
        kind has them."""
        self.kind.setEnabled(not fixed)
        self.channels.setEnabled(not fixed)
        self.binarise.setEnabled(not fixed)  # a resumed run goes on with the images it was trained on
        if not fixed:
            self._on_kind()
            return
        self.latent.setEnabled(False)
        self.conditional.setEnabled(False)
        for f in self.fields:
            f.widget.setEnabled(False)

    # -- data ------------------------------------------------------------------------------------
    def _on_data_typed(self, text):
        self.new_output_name()
        if text.strip() != self.checked_spec:
            self.data_info.setText("Press Enter to check this data" if text.strip() else DATA_HINT)

    def check_data(self, spec: str | None = None) -> None:
        """Load the data in a worker and show its count, size, channels, classes and a few images."""
        spec = (spec if spec is not None else self.data.currentText()).strip()
        if not spec:
            self.data_info.setText(DATA_HINT)
            return
        if self._data_worker is not None:
            if spec == self.checked_spec:
                return  # Enter also "activates" the box: one check of the same data is enough
            self._data_worker.abort()  # its result is dropped: only the newest check is shown
        self.checked_spec = spec
        self.data_info.setText(f"checking {spec}…")
        w = Worker(lambda should_stop: data_summary(spec, should_stop), "data")
        self._data_worker = w
        w.returned.connect(lambda res: self._data_worker is w and self._show_data(res))
        w.errored.connect(lambda msg: self._data_worker is w and self._data_failed(msg))
        w.finished.connect(lambda: self._data_done(w))
        w.start()

    def _data_done(self, w):
        if self._data_worker is w:
            self._data_worker = None

    def _show_data(self, d: dict):
        c, h, w = d["shape"]
        cls = f"{d['classes']} classes" if d["classes"] else "no labels"
        skipped = f"; {d['note']}" if d.get("note") else f", {d['skipped']} files skipped" if d["skipped"] else ""
        self.data_info.setText(f"{d['n']:,} images, {h}×{w}, {'RGB' if c == 3 else 'grayscale'}, {cls}{skipped}")
        from latent_explorer.models.display import mosaic

        self.data_preview.show_image(mosaic(d["preview"], len(d["preview"]), gap=1))
        self.dataChecked.emit(True)

    def _data_failed(self, msg: str):
        self.data_info.setText(f"⚠ {msg}")
        self.data_preview.clear_image()
        self.dataChecked.emit(False)

    def busy(self) -> bool:
        return self._data_worker is not None

    def _browse_data(self):
        path = dialogs.open_folder(self, "data", "Data folder (images, class subfolders or IDX files)")
        if path:
            self.data.setEditText(path)
            self.check_data()

    def _browse_file(self):
        path = dialogs.open_file(self, "data", "Data file", "Data (*.npz *idx3-ubyte *idx3-ubyte.gz);;All files (*)")
        if path:
            self.data.setEditText(path)
            self.check_data()

    def _browse_out(self):
        path = dialogs.save_file(self, "checkpoints", "Save the checkpoint as", self.out.text(),
                                 "Checkpoints (*.safetensors)")
        if path:
            self.out.setText(path if path.endswith(".safetensors") else path + ".safetensors")

    # -- the run ---------------------------------------------------------------------------------
    def spec(self) -> RunSpec:
        """The run the form describes; ConfigError (with the reason) for a value that cannot work."""
        info = self.check_resume()  # first: a checkpoint typed but not yet checked sets the kind and settings
        if info is None and self.resume.text().strip():
            raise ConfigError(self.resume_text.text().lstrip("⚠ "))
        kind = self.current_spec()
        common = dict(kind=kind.name, data=self.data.currentText().strip(), out=self.out.text().strip(),
                      epochs=self.epochs.value(), batch_size=self.batch.value(), lr=self.lr.value(),
                      seed=self.seed.value(), record_n=self.record_n.value())
        if info is not None:
            c, h, _ = info.image_shape  # the data is made the model's size, as it was trained
            return RunSpec(**common, resume=self.resume.text().strip(), channels=c, size=h)
        params = {f.param.name: f.value() for f in self.fields if kind.param(f.param.name) is not None}
        return RunSpec(**common, latent_dim=self.latent.value() if kind.latent_dim is not None else None,
                       params=params, conditional=self.conditional.isChecked() and kind.conditioning_optional,
                       channels=self.channels.currentData(),
                       binarise="stochastic" if self.binarise.isChecked() else None)

    def shutdown(self):
        if self._data_worker is not None:
            self._data_worker.stop()
