"""State objects with change signals. Widgets listen to them and change them only through setters."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QObject, QSettings, Signal

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
MODEL_SUFFIXES = (".safetensors", ".pt", ".ts", ".torchscript", ".onnx", ".pth", ".ckpt", ".pkl", ".bin")


def make_settings() -> QSettings:
    """User settings; ``LATENT_EXPLORER_SETTINGS`` (an .ini path) keeps tests away from the real ones."""
    path = os.environ.get("LATENT_EXPLORER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("LatentExplorer", "Latent Explorer")


# A settings file may be damaged, hand-edited or written by another version: every value is read as the
# type it must have, and anything else counts as absent (the window starts with its defaults, never crashes).
def setting_strings(settings: QSettings, key: str, limit: int = 1000) -> list[str]:
    v = settings.value(key, [])
    v = [v] if isinstance(v, str) else v if isinstance(v, (list, tuple)) else []
    return [s for s in v if isinstance(s, str) and s and len(s) <= 4096][:limit]


def setting_int(settings: QSettings, key: str) -> int | None:
    v = settings.value(key)
    try:
        return int(v) if isinstance(v, (int, str)) and not isinstance(v, bool) else None
    except ValueError:
        return None


def setting_bytes(settings: QSettings, key: str) -> QByteArray | None:
    v = settings.value(key)
    return v if isinstance(v, QByteArray) else QByteArray(v) if isinstance(v, bytes) else None


def setting_path(settings: QSettings, key: str) -> str | None:
    v = settings.value(key)
    return v if isinstance(v, str) and v and "\0" not in v and len(v) <= 4096 else None


@dataclass
class Opening:
    """A model being opened in the background: its first decode is tried in a child process (models.io.probe)."""

    path: str
    worker: object = None


@dataclass
class ModelEntry:
    path: str
    model: object
    bundled: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path[len("python:"):] if self.path.startswith("python:") else Path(self.path).stem

    def describe(self) -> str:
        m = self.model
        kind = m.spec
        parts = [kind.title, "x".join(map(str, m.image_shape[1:])) + (" RGB" if m.image_shape[0] == 3 else "")]
        if kind.latent_dim is not None and m.capabilities.decodes_z:  # a latent code of its own (not x_T)
            parts.append(f"z: {m.latent_dim}-D")
        if m.conditional:
            parts.append(f"{m.conditioning}-conditional")
        spec = self.meta.get("data", {}).get("spec")
        if spec and spec.startswith("python:"):
            parts.append("data: from Python" if self.path.startswith("python:") else "data: kept in the file")
        elif spec:
            parts.append(f"data: {Path(spec).name if os.sep in spec else spec}")
        status = self.meta.get("training", {}).get("status")
        if status and status != "finished":
            parts.append(status)
        return " · ".join(parts)


class ModelLibrary(QObject):
    """The list of opened models and the current one."""

    entriesChanged = Signal()
    currentChanged = Signal(object)  # ModelEntry | None
    error = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.entries: list[ModelEntry] = []
        self.current: ModelEntry | None = None
        self.opening: dict[str, Opening] = {}  # models whose first decode is being tried (by absolute path)
        # asked before a file's code may run (a TorchScript generator): (path, message) -> yes; the window
        # sets a dialog here. By default nothing runs.
        self.confirm_code = lambda path, message: False

    def _trusted(self) -> set[str]:
        return set(setting_strings(make_settings(), "trusted_code", limit=100_000))

    def _load(self, path):
        """Load a model file; a file holding code runs only once the user has trusted its content (asked
        once per content: a changed file is asked about again)."""
        from latent_explorer.models import load
        from latent_explorer.models.io.external import UntrustedCode
        from latent_explorer.models.io.probe import LATER

        try:
            return load(path, probe=LATER)  # an ONNX graph: read and checked here, its decode tried by add
        except UntrustedCode as e:
            if e.digest not in self._trusted() and not self.confirm_code(str(path), str(e)):
                raise
            trusted = self._trusted() | {e.digest}
            make_settings().setValue("trusted_code", sorted(trusted))
            # the very content the user was asked about (its digest), read once and loaded from those bytes; its
            # first decode is not tried here, on the window's thread, but by add, in a child process
            return load(path, trust_code=e.digest, probe=LATER)

    def find(self, path) -> ModelEntry | None:
        path = os.path.abspath(path)
        return next((e for e in self.entries if os.path.abspath(e.path) == path), None)

    def add(self, path, bundled: bool = False, select: bool = False, reload: bool = False,
            then: Callable[[ModelEntry], None] | None = None) -> ModelEntry | Opening | None:
        """Load and list a model file; a bad file emits ``error`` and changes nothing. A generator from
        elsewhere (ONNX, TorchScript) is listed only once one decode of z = 0 has passed, tried in a child
        process with a time and a memory limit (models.io.probe) that a worker waits on: then ``add`` returns an
        :class:`Opening` at once, and calls ``then(entry)`` once the model is listed (or emits ``error``)."""
        from latent_explorer.models import CheckpointError

        if os.path.abspath(path) in self.opening:
            return self.opening[os.path.abspath(path)]
        existing = self.find(path)
        if existing is not None and not reload:
            if select:
                self.set_current(existing)
            return existing
        try:
            model = self._load(path)
        except CheckpointError as e:
            self.error.emit(str(e))
            return None
        except Exception as e:  # noqa: BLE001 - never crash on a file
            from latent_explorer.models.errors import reason

            self.error.emit(f"{Path(path).name}: cannot open ({reason(e)})")  # in words, not an allocator's
            return None
        probe = model.pending_probe
        if probe is not None:
            model.pending_probe = None  # its bytes go with the job, and are dropped with it
            return self._open_later(path, model, probe, bundled, select, then)
        return self._list(path, model, bundled, select)

    def _list(self, path, model, bundled: bool, select: bool) -> ModelEntry:
        existing = self.find(path)
        entry = ModelEntry(str(path), model, bundled, model.meta)
        if existing is not None:
            self.entries[self.entries.index(existing)] = entry
        else:
            self.entries.append(entry)
        self.entriesChanged.emit()
        if select or existing is self.current and existing is not None:
            self.set_current(entry)
        return entry

    def _open_later(self, path, model, probe, bundled: bool, select: bool, then) -> Opening:
        """Try ``probe`` (one decode of z = 0, in a child process) in a worker; list the model if it passes.
        The window's thread never waits on it: a graph that loops without end is refused after the probe's
        time limit, with a message, and the window stays usable meanwhile."""
        from .worker import Worker

        def job(should_stop):
            probe.run(should_stop)
            return True
            yield  # a job is a generator; this one has no steps to report

        key = os.path.abspath(path)
        worker = Worker(job, "open-model")
        opening = self.opening[key] = Opening(str(path), worker)

        def passed(_):
            self.opening.pop(key, None)
            entry = self._list(path, model, bundled, select)
            if then is not None:
                then(entry)

        def failed(message: str):
            self.opening.pop(key, None)
            if not worker.aborted:  # stopped (the window closes): nothing to say
                self.error.emit(message)

        worker.returned.connect(passed)
        worker.errored.connect(failed)
        worker.cancelled.connect(lambda: self.opening.pop(key, None))
        worker.start()
        return opening

    def add_live(self, name: str, model) -> ModelEntry:
        """List a model made in this process (``latent_explorer.show``): no file behind it."""
        return self._list(f"python:{name}", model, False, False)

    def add_bundled(self) -> None:
        from latent_explorer.models.training.optim_state import is_sidecar
        from latent_explorer.models.training.run_record import is_record

        # the real-size models first (MNIST, scenes); the 8x8 digits and shapes are small examples
        first = ("mnist-", "scenes-")
        # a run's record or optimizer state is no model
        files = [f for f in ASSETS.glob("*.safetensors") if not is_record(f) and not is_sidecar(f)]
        for f in sorted(files, key=lambda f: (not f.name.startswith(first), f.name)):
            self.add(f, bundled=True)

    def set_current(self, entry: ModelEntry | None) -> None:
        if entry is self.current:
            return
        self.current = entry
        self.currentChanged.emit(entry)


class LatentState(QObject):
    """The current z (and class) being looked at, two interpolation anchors and a path to draw."""

    zChanged = Signal()
    labelChanged = Signal(int)
    anchorsChanged = Signal()
    pathChanged = Signal()
    modelChanged = Signal(object)
    dimensionsChanged = Signal()  # the KL per dimension of the current model is known (or forgotten)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.model = None
        self.z = np.zeros(2, np.float32)
        self.label = 0
        self.anchors: dict[str, np.ndarray | None] = {"A": None, "B": None}
        self.path: np.ndarray | None = None  # (K, D) latents, e.g. an interpolation
        self.dimension_kl: np.ndarray | None = None  # (D,) nats: KL of each dimension (a VAE), once measured

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
