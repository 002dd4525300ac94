"""The model list as state: the models opened or listed, and the current one (issue S: listed from headers).

A checkpoint of ours is listed from its header alone (:func:`models.io.listing.read_facts`: kind, sizes,
data, parameter count): the bundled models at start and a folder of models opened at once, however many.
Its weights are read and checked (the same refusals as ever) when it is chosen, in a worker; the model
object is handed to the window once, complete, when that worker ends. A file whose header is broken is
listed and marked with its reason; choosing it says so. Other formats (ONNX, TorchScript, a diffusers
folder, a model saved from Python) are opened as before, when the user opens them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .settings import ASSETS, make_settings, setting_strings


@dataclass
class Opening:
    """A model being opened in the background: its first decode is tried in a child process (models.io.probe)."""

    path: str
    worker: object = None


class ModelEntry:
    """A listed model: its file, what its header says (``facts``), and the model once loaded. ``model`` loads
    it on first use where it was listed from its header (the window chooses it in a worker first:
    :meth:`ModelLibrary.set_current`); ``broken``: why it cannot be opened, once known."""

    def __init__(self, path, model=None, bundled: bool = False, meta: dict | None = None, facts=None,
                 broken: str | None = None):
        self.path = str(path)
        self._model = model
        self.bundled = bundled
        self.facts = facts  # models.io.listing.Facts, for an entry listed from its header
        self.meta = meta if meta is not None else (model.meta if model is not None else
                                                   facts.meta if facts is not None else {})
        self.broken = broken
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.path[len("python:"):] if self.path.startswith("python:") else Path(self.path).stem

    @property
    def loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):
        """The model; read from its file now if it was listed from its header (CheckpointError if it cannot
        be: the entry is then marked broken)."""
        if self._model is None:
            self.load()
        return self._model

    def load(self):
        """Read and check the weights (once; any thread): the model, or CheckpointError."""
        from latent_explorer.models import CheckpointError, load

        with self._lock:
            if self._model is None:
                if self.broken is not None:
                    raise CheckpointError(self.broken)
                try:
                    model = load(self.path)
                except CheckpointError as e:
                    self.broken = str(e)
                    raise
                except Exception as e:  # noqa: BLE001 - a file never crashes the window
                    from latent_explorer.models.errors import reason

                    self.broken = f"{Path(self.path).name}: cannot open ({reason(e)})"
                    raise CheckpointError(self.broken) from e
                self.meta = model.meta
                self._model = model
            return self._model

    # what the list shows, from the model once loaded, else from the header
    @property
    def spec(self):
        return self._model.spec if self._model is not None else self.facts.spec

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self._model.image_shape) if self._model is not None else self.facts.image_shape

    @property
    def latent_dim(self) -> int:
        return self._model.latent_dim if self._model is not None else self.facts.latent_dim

    @property
    def known(self) -> bool:
        """Its kind and sizes are known (loaded, or listed from a header that was read)."""
        return self._model is not None or self.facts is not None

    def describe(self) -> str:
        if not self.known:
            return f"cannot be opened: {self.broken}" if self.broken else "not opened yet"
        kind = self.spec
        shape = self.image_shape
        parts = [kind.title, "x".join(map(str, shape[1:])) + (" RGB" if shape[0] == 3 else "")]
        decodes_z = kind.capabilities.decodes_z
        if kind.latent_dim is not None and decodes_z:  # a latent code of its own (not x_T)
            # a mapping network's model says which of its spaces the views edit (Z, W or W+)
            space = self._model.space.upper() if self._model is not None and kind.capabilities.styles else "z"
            parts.append(f"{space}: {self.latent_dim}-D")
        conditioning = self._model.conditioning if self._model is not None else self.facts.conditioning
        if conditioning != "none":
            parts.append(f"{conditioning}-conditional")
        spec = self.meta.get("data", {}).get("spec")
        if spec and spec.startswith("python:"):
            parts.append("data: from Python" if self.path.startswith("python:") else "data: kept in the file")
        elif spec:
            parts.append(f"data: {Path(spec).name if os.sep in spec else spec}")
        status = self.meta.get("training", {}).get("status")
        if status and status != "finished":
            parts.append(status)
        if self._model is None and self.facts is not None:
            parts.append(f"{_count(self.facts.parameters)} parameters")
        if self.broken:
            parts.append(f"cannot be opened: {self.broken}")
        return " · ".join(parts)


def _count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


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
        self.loading: tuple | None = None  # (entry, worker): a listed model whose weights are being read
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
        """List the bundled models from their headers (their weights are read when one is chosen)."""
        from latent_explorer.models.io.listing import model_files

        # the real-size models first (MNIST, scenes); the 8x8 digits and shapes are small examples
        first = ("mnist-", "scenes-")
        files = sorted(model_files(ASSETS), key=lambda f: (not f.name.startswith(first), f.name))
        self.list_files(files, bundled=True)

    def list_files(self, files, bundled: bool = False, python_too: bool = False) -> list[ModelEntry]:
        """List checkpoints of ours from their headers, at once: a file whose header is broken is listed and
        marked with its reason. Files already listed stay as they are. One ``entriesChanged`` for all.
        ``python_too``: a model saved from Python (its header names code) is listed by name, to be opened
        (and asked about) when chosen."""
        from latent_explorer.models import CheckpointError
        from latent_explorer.models.io.checkpoint import safetensors_format
        from latent_explorer.models.io.listing import read_facts
        from latent_explorer.models.io.python_checkpoint import FORMAT as PYTHON_FORMAT

        added = []
        listed = {os.path.abspath(e.path) for e in self.entries}  # once, not a search of the list per file
        for f in files:
            if os.path.abspath(f) in listed:
                continue
            listed.add(os.path.abspath(f))
            try:
                entry = ModelEntry(str(f), bundled=bundled, facts=read_facts(f))
            except CheckpointError as e:  # (a second look at its header only for a file that is not ours)
                named = python_too and safetensors_format(f) == PYTHON_FORMAT
                entry = ModelEntry(str(f), bundled=bundled) if named else ModelEntry(str(f), bundled=bundled,
                                                                                     broken=str(e))
            except Exception as e:  # noqa: BLE001 - a file never stops the listing
                from latent_explorer.models.errors import reason

                entry = ModelEntry(str(f), bundled=bundled, broken=f"{Path(f).name}: cannot read ({reason(e)})")
            self.entries.append(entry)
            added.append(entry)
        if added:
            self.entriesChanged.emit()
        return added

    def open_folder(self, folder) -> list[ModelEntry]:
        """List every checkpoint in ``folder`` (File → Open folder…); an error when it holds none."""
        from latent_explorer.models.io.listing import model_files

        files = model_files(folder)
        if not files:
            self.error.emit(f"{Path(folder).name}: no models in this folder (checkpoints are .safetensors files)")
            return []
        return self.list_files(files, python_too=True)

    def set_current(self, entry: ModelEntry | None) -> None:
        """Make ``entry`` the current model: at once when it is loaded, else once its weights are read and
        checked in a worker (meanwhile the current model stays; a file that fails is marked and said)."""
        if entry is not None and not entry.loaded:
            self._open_listed(entry)
            return
        if self.loading is not None:  # one chosen before and still being read: this later choice wins
            self.loading[1].abort()
            self.loading = None
        if entry is self.current:
            return
        self.current = entry
        self.currentChanged.emit(entry)

    def _open_listed(self, entry: ModelEntry) -> None:
        from .worker import Worker

        if entry.broken is not None:
            self.error.emit(entry.broken)
            return
        if entry.facts is None:  # not a checkpoint of ours (a model saved from Python): opened as a file is
            self.add(entry.path, bundled=entry.bundled, select=True, reload=True)
            return
        if self.loading is not None and self.loading[0] is entry:
            return  # already on its way
        if self.loading is not None:
            self.loading[1].abort()  # the user chose another meanwhile: the last choice wins (no wait)

        def job(should_stop):
            yield from ()
            entry.load()  # in this worker: the file read, every tensor checked
            return True

        worker = Worker(job, "open-model")
        self.loading = (entry, worker)

        def loaded(_):
            if self.loading is not None and self.loading[0] is entry:
                self.loading = None
                self.set_current(entry)

        def failed(message: str):
            if self.loading is not None and self.loading[0] is entry:
                self.loading = None
            self.entriesChanged.emit()  # marked in the list
            if not worker.aborted:
                self.error.emit(message)

        worker.returned.connect(loaded)
        worker.errored.connect(failed)
        worker.cancelled.connect(lambda: self.loading is not None and self.loading[0] is entry and
                                 setattr(self, "loading", None))
        worker.start()
