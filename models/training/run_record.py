"""A training run's record, kept after every epoch beside the checkpoint: what the map scrubs through as a
movie and what shows a GAN collapsing onto few modes while it trains.

After each epoch the loop (:func:`models.training.train.train`) calls :meth:`Recorder.take`:

- a fixed subset of the held-out images (the first ``n``) is encoded, for models with an encoder, so the
  Latent Map can scrub through epochs (GAN Lab shows this for 2-D toy data only);
- ``n`` images are sampled with a fixed seed, for models that sample quickly, and labelled by the data's
  yardstick classifier (:mod:`models.analysis.classifier`, bundled or cached; none is trained in the middle of a run):
  their class histogram and coverage (:func:`models.analysis.quality.class_coverage`) go into the epoch's entry of the
  checkpoint's training history, and a few of the samples into the record.

The record is ``NAME.record.safetensors`` beside ``NAME.safetensors`` (tensors plus JSON metadata, written
atomically like checkpoints); the checkpoint's training summary names it.
"""

from __future__ import annotations

import json
import os
import re
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from latent_explorer.models.errors import CheckpointError, printable, shown
from latent_explorer.models.io.checkpoint import atomic_write
from latent_explorer.models.io.safetensors_header import read_header, read_tensors
from latent_explorer.models.io.schema import Either, Float, Int, List, Map, Null, Str, check, loads
from latent_explorer.models.registry import MAX_CLASS_NAME, MAX_SAVED_CLASSES

FORMAT = "latent-explorer-run-record"
SUFFIX = ".record.safetensors"
RECORD_N = 500  # held-out images encoded, and images sampled, per epoch
KEEP_SAMPLES = 16  # samples kept per epoch, as pictures
# A record's tensors: 500 encodings of 64 numbers for 1,000 epochs are 128 MB; a run stops its record at this
# size (the weights go on), and a reader refuses a larger file from its size alone, before it is opened.
MAX_RECORD_BYTES = 256 << 20
MAX_EPOCHS = 100_000


def record_path(checkpoint: str | os.PathLike) -> Path:
    """``runs/vae.safetensors`` → ``runs/vae.record.safetensors``."""
    p = Path(checkpoint)
    stem = p.name[: -len(".safetensors")] if p.name.endswith(".safetensors") else p.name
    return p.with_name(stem + SUFFIX)


def is_record(path: str | os.PathLike) -> bool:
    return Path(path).name.endswith(SUFFIX)


@dataclass
class RunRecord:
    """What a run kept per epoch. ``z[e]``: (n, D) encodings of the fixed subset after epoch ``epochs[e]``;
    ``samples[e]``: (k, C, H, W) in [0, 1]; ``histograms[e]``: class -> count (empty where not measured)."""

    epochs: list[int]
    labels: np.ndarray | None  # (n,) of the encoded subset
    class_names: list[str]
    z: list[np.ndarray] = field(default_factory=list)
    samples: list[np.ndarray] = field(default_factory=list)
    histograms: list[dict] = field(default_factory=list)
    coverage: list[float | None] = field(default_factory=list)
    losses: list[dict] = field(default_factory=list)  # each epoch's mean loss terms ({} where none were given)
    why_no_classes: str = ""  # why no class histogram was measured, if none was

    @property
    def has_movie(self) -> bool:
        return bool(self.z) and len(self.z) == len(self.epochs)

    @property
    def has_classes(self) -> bool:
        return any(self.histograms)

    def shares(self) -> np.ndarray:
        """(epochs, classes): each epoch's share of samples per class (zeros where not measured)."""
        out = np.zeros((len(self.epochs), len(self.class_names)), np.float32)
        for e, h in enumerate(self.histograms):
            total = sum(h.values())
            for c, name in enumerate(self.class_names):
                out[e, c] = h.get(name, 0) / total if total else 0.0
        return out


class Recorder:
    """Takes the record of one run; ``take(epoch)`` after every epoch returns the epoch's JSON figures."""

    def __init__(self, model, val_set, n: int = RECORD_N, seed: int = 0, data=None):
        """``data``: the whole dataset (its yardstick classifier is looked up by it), else ``val_set``."""
        self.model, self.n, self.seed = model, n, seed
        caps = model.capabilities
        self.encodes = caps.encoder
        self.samples = caps.samples and not caps.samples_slowly
        m = min(n, len(val_set))
        self.x = val_set.images[:m]
        cond = model.condition_of(val_set)
        self.cond = None if cond is None else cond[:m]
        self.labels = None if val_set.labels is None else np.asarray(val_set.labels[:m], np.int64)
        self.class_names = list(val_set.class_names)
        self.classifier, self.why_no_classes = None, ""
        if self.samples:
            self.classifier, self.why_no_classes = _ready_classifier(data if data is not None else val_set)
            if self.classifier is not None:
                _, pred_real = self.classifier.predict(val_set.images)
                k = len(self.classifier.config.heads[self.classifier.head_names[0]])
                self.real_share = np.bincount(pred_real[:, 0], minlength=k) / len(pred_real)
        self.record = RunRecord([], self.labels, self.class_names, why_no_classes=self.why_no_classes)

    @property
    def active(self) -> bool:
        return self.encodes or self.samples

    def take(self, epoch: int, losses: dict | None = None) -> dict:
        """Record epoch ``epoch`` (``losses``: its mean loss terms); its JSON figures for the training history.
        A record that cannot be taken never stops the run: what went wrong is kept in the record instead (the
        weights matter more)."""
        if not self.active:  # the record stopped (see below): later epochs add nothing to it
            return {}
        if self._size() + self._epoch_bytes() > MAX_RECORD_BYTES:  # what no reader would open again
            self.encodes = self.samples = False
            self.record.why_no_classes = (f"the record stopped at epoch {epoch}: it reached its limit of "
                                          f"{MAX_RECORD_BYTES >> 20} MB (the run went on)")
            return {}
        try:
            figures = self._take(epoch)
            self.record.losses.append(finite_losses(losses))
            return figures
        except Exception as e:  # noqa: BLE001 - see above
            self.encodes = self.samples = False
            self.record.why_no_classes = f"the record stopped at epoch {epoch}: {type(e).__name__}: {e}"
            return {}

    def _size(self) -> int:
        """The bytes of the record's tensors so far, as saved."""
        rec = self.record
        return (sum(z.size * 4 for z in rec.z) + sum(x.size for x in rec.samples)
                + (0 if rec.labels is None else rec.labels.size * 8))

    def _epoch_bytes(self) -> int:
        """What one more epoch adds: its encodings and the samples it keeps."""
        d = int(getattr(self.model, "latent_dim", 0) or 0)
        z = len(self.x) * d * 4 if self.encodes else 0
        return z + (min(self.n, KEEP_SAMPLES) * int(np.prod(self.model.image_shape)) if self.samples else 0)

    @torch.no_grad()
    def _take(self, epoch: int) -> dict:
        from latent_explorer.models.analysis.quality import class_coverage

        model, was = self.model, self.model.training
        model.eval()
        try:
            figures, dev = {}, model.device
            if self.encodes:
                z = []
                for i in range(0, len(self.x), 256):
                    x = torch.from_numpy(self.x[i : i + 256]).to(dev)
                    y = None if self.cond is None else torch.from_numpy(self.cond[i : i + 256]).to(dev)
                    z.append(model.encode(x, y if model.conditional else None).float().cpu().numpy())
                self.record.z.append(np.concatenate(z))
            hist, cov = {}, None
            if self.samples:
                g = torch.Generator().manual_seed(self.seed)
                y = (torch.arange(self.n) % model.num_classes).to(dev) if model.conditional else None
                x = model.sample(self.n, y, generator=g).detach().float().cpu().clamp(0, 1).numpy()
                self.record.samples.append(x[:KEEP_SAMPLES])
                if self.classifier is not None:
                    names = self.classifier.config.heads[self.classifier.head_names[0]]
                    counts = np.bincount(self.classifier.predict(x)[1][:, 0], minlength=len(names))
                    hist = {name: int(c) for name, c in zip(names, counts)}
                    cov = round(class_coverage(counts, self.real_share), 4)
                    figures = {"class_histogram": hist, "class_coverage": cov}
            self.record.epochs.append(epoch)
            self.record.histograms.append(hist)
            self.record.coverage.append(cov)
            return figures
        finally:
            model.train(was)

    def save(self, checkpoint: str | os.PathLike) -> Path:
        return save_record(self.record, record_path(checkpoint))


def finite_losses(losses: dict | None) -> dict:
    """An epoch's loss terms as the record keeps them: numbers, None where a term was NaN or infinite."""
    import math

    out = {}
    for k, v in (losses or {}).items():
        v = float(v)
        out[str(k)[:100]] = v if math.isfinite(v) else None
    return out


def _ready_classifier(data):
    """The data's yardstick classifier if one is at hand now (bundled or cached), else (None, why)."""
    from latent_explorer.models.analysis.classifier import find_classifier
    from latent_explorer.models.data import DataError

    if data.labels is None:
        return None, "the data has no labels, so there is no classifier to sort samples by class"
    try:
        net = find_classifier(data)
    except (DataError, ValueError) as e:  # one class only, or labels a classifier cannot take
        return None, f"no classifier for this data: {e}"
    if net is None:
        return None, ("no classifier for this data yet: measure the model once in the Quality view (it trains "
                      "and keeps one), and later runs record their class histograms")
    return net, ""


def save_record(rec: RunRecord, path: str | os.PathLike) -> Path:
    """Write the record (atomically); a file at ``path`` that is not a run record is never replaced."""
    from latent_explorer.models.io.checkpoint import safetensors_format

    if Path(path).exists() and safetensors_format(path) != FORMAT:
        raise CheckpointError(f"{Path(path).name} is not a run record: the record was not written over it")
    tensors = {}
    for e, epoch in enumerate(rec.epochs):
        if e < len(rec.z):
            tensors[f"z.{epoch:05d}"] = torch.from_numpy(np.ascontiguousarray(rec.z[e], np.float32))
        if e < len(rec.samples):
            pix = np.round(np.clip(rec.samples[e], 0, 1) * 255).astype(np.uint8)
            tensors[f"samples.{epoch:05d}"] = torch.from_numpy(np.ascontiguousarray(pix))
    if rec.labels is not None:
        tensors["labels"] = torch.from_numpy(np.ascontiguousarray(rec.labels, np.int64))
    meta = {"format": FORMAT, "version": "1", "epochs": json.dumps(rec.epochs),
            "class_names": json.dumps(rec.class_names), "histograms": json.dumps(rec.histograms),
            "coverage": json.dumps(rec.coverage), "losses": json.dumps(rec.losses),
            "why_no_classes": rec.why_no_classes}
    from safetensors.torch import save

    return atomic_write(path, save(tensors, metadata=meta))


_COUNT = Int(0, 10**9)
RECORD_FIELDS = {  # the record's JSON metadata, each read typed (models.io.schema)
    "epochs": List(Int(0, 10**9), 0, MAX_EPOCHS),
    "class_names": List(Str(MAX_CLASS_NAME, printable=True), 0, MAX_SAVED_CLASSES, default=[]),
    "histograms": List(Map(_COUNT, MAX_SAVED_CLASSES, MAX_CLASS_NAME), 0, MAX_EPOCHS, default=[]),
    "coverage": List(Either((Float(0, 1), Null())), 0, MAX_EPOCHS, default=[]),
    "losses": List(Map(Either((Float(), Null())), 64, 100), 0, MAX_EPOCHS, default=[]),
}
_TENSOR = re.compile(r"(z|samples)\.(\d{5,9})")


def _check_tensors(header, epochs: list[int], latent_dim: int | None) -> None:
    """The record's tensors from its header, before any is read: ``z.EPOCH`` (images, latent_dim) float32,
    ``samples.EPOCH`` (k, C, H, W) uint8, ``labels`` (images,) int64, of epochs the record lists; one line
    naming the file and the tensor otherwise."""
    name, known, rows = header.path.name, set(epochs), set()
    for key, e in header.entries.items():
        m = _TENSOR.fullmatch(key)
        if key == "labels":
            ok, want = e.dtype == "I64" and len(e.shape) == 1, "int64 of shape (images,)"
        elif m is None or int(m.group(2)) not in known:
            raise CheckpointError(f"{name}: unexpected tensor {shown(key)} (a record holds z.EPOCH, "
                                  "samples.EPOCH and labels of the epochs it lists)")
        elif m.group(1) == "z":
            d = f"{latent_dim}" if latent_dim else "dimensions"
            ok = e.dtype == "F32" and len(e.shape) == 2 and (not latent_dim or e.shape[1] == latent_dim)
            want = f"float32 of shape (images, {d}), the model's encodings"
            rows.add(e.shape[0] if e.shape else None)
        else:
            ok, want = e.dtype == "U8" and len(e.shape) == 4 and 1 <= e.shape[1] <= 4, "uint8 of shape (k, C, H, W)"
        if not ok:
            raise CheckpointError(f"{name}: tensor {shown(key)} is {e.dtype} of shape {e.shape}; expected {want}")
    if len(rows) > 1:
        raise CheckpointError(f"{name}: its encodings differ in shape between epochs")
    if "labels" in header.entries and rows and rows != {header.entries["labels"].shape[0]}:
        raise CheckpointError(f"{name}: {header.entries['labels'].shape[0]} labels for {rows.pop()} encoded images")


def load_record(path: str | os.PathLike, latent_dim: int | None = None) -> RunRecord:
    """Read a record: its size first (at most MAX_RECORD_BYTES, from ``stat``, before it is opened), then its
    header (the metadata read typed by models.io.schema; each tensor's name, dtype and shape, ``latent_dim``:
    the model's), and only then its tensors. A CheckpointError of one line naming the file and the field or
    tensor for anything else, never a crash."""
    path = Path(path)
    header = read_header(path, MAX_RECORD_BYTES, what="run record")
    meta, name = header.meta, path.name
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{name}: not a training run's record")
    doc = {key: loads(meta[key], f"{name} ({key})") for key in RECORD_FIELDS if key in meta}
    f = check(doc, RECORD_FIELDS, name)
    epochs, hists, cover = f["epochs"], f["histograms"], f["coverage"]
    if not len(hists) == len(cover) == len(epochs):
        raise CheckpointError(f"{name}: a damaged run record ({len(epochs)} epochs, but {len(hists)} histograms "
                              f"and {len(cover)} coverages)")
    if f["losses"] and len(f["losses"]) != len(epochs):
        raise CheckpointError(f"{name}: a damaged run record ({len(epochs)} epochs, but {len(f['losses'])} sets of "
                              "losses)")
    _check_tensors(header, epochs, latent_dim)
    tensors = read_tensors(header)
    labels = tensors["labels"].numpy() if "labels" in tensors else None
    if labels is not None and len(labels) and not 0 <= labels.min() <= labels.max() < MAX_SAVED_CLASSES:
        raise CheckpointError(f"{name}: its labels are not class numbers from 0 to {MAX_SAVED_CLASSES - 1}")
    names = f["class_names"]
    if labels is not None and len(labels) and labels.max() >= len(names):  # bounded: < MAX_SAVED_CLASSES
        names = names + [str(i) for i in range(len(names), int(labels.max()) + 1)]
    rec = RunRecord(epochs, labels, names, histograms=hists, coverage=cover, losses=f["losses"],
                    why_no_classes=printable(meta.get("why_no_classes", "")[:1000]))
    zs = [tensors.get(f"z.{e:05d}") for e in epochs]
    if all(z is not None for z in zs) and zs:
        if not all(torch.isfinite(z).all() for z in zs):
            raise CheckpointError(f"{name}: its encodings are not finite")
        rec.z = [z.numpy() for z in zs]
    rec.samples = [tensors.pop(f"samples.{e:05d}").float().div_(255).numpy() for e in epochs
                   if f"samples.{e:05d}" in tensors]
    return rec


_READING = threading.Lock()  # one record read at a time, in the whole process
_LAST: list = [None, None]  # (the file's identity, a weak reference to its RunRecord or the error message)


def read_record(path: str | os.PathLike, latent_dim: int | None = None) -> RunRecord:
    """:func:`load_record`, one read at a time: the Latent Map and the Inspect view ask for a model's record
    at once when it is opened; the second waits for the first's read (in its worker) and takes its answer."""
    path = Path(path)
    with _READING:
        try:
            st = os.stat(path)
            key = (str(path.resolve()), latent_dim, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        if key is not None and _LAST[0] == key:
            if isinstance(_LAST[1], str):
                raise CheckpointError(_LAST[1])
            rec = _LAST[1]()
            if rec is not None:
                return rec
        try:
            rec = load_record(path, latent_dim)
        except CheckpointError as e:
            _LAST[:] = [key, str(e)]
            raise
        _LAST[:] = [key, weakref.ref(rec)]  # kept while a view holds it, never by this cache alone
        return rec


def record_of(model) -> RunRecord | None:
    """The record kept beside ``model``'s checkpoint by the run that trained it, if there is one."""
    path = (model.meta or {}).get("path")
    training = (model.meta or {}).get("training")
    if not path or not isinstance(training, dict) or not training.get("record"):
        return None
    where = record_path(path)
    if not where.is_file():
        return None
    return read_record(where, getattr(model, "latent_dim", None) or None)
