"""External generators: a TorchScript file plus a JSON sidecar, opened as a decode-only model.

``gen.pt`` + ``gen.pt.json`` (or ``gen.json``)::

    {"latent_dim": 64, "image_shape": [3, 32, 32], "output_range": [-1, 1], "class_names": []}

The generator is a real model object of the registered kind ``torchscript``: the views ask its
capabilities (it decodes z and samples from N(0, I); it has no encoder and cannot be trained here).

**A TorchScript file is code.** Loading one runs its ``__setstate__`` methods and calling it runs its
``forward``: either can read, create or change files. So nothing in such a file runs unless the user says
so: :func:`load_torchscript` checks the archive and the sidecar, then refuses with
:class:`UntrustedCode` unless ``trust_code`` is given (the CLI's ``--trust-code``; the window asks once per
file content). :func:`describe_torchscript` reads the sidecar and the archive's listing only. Every output
of a trusted generator is still checked (shape, dtype, finite) on every call, and its first decode is tried
in a child process with a time and a memory limit (:mod:`models.io.probe`) before it is used. ONNX (a graph, no
code) is the safe format for generators from elsewhere.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from latent_explorer.models.base import GenerativeModel, ModelConfig, need
from latent_explorer.models.errors import CheckpointError
from latent_explorer.models.io.readers import Reader, register_reader
from latent_explorer.models.io.schema import Float, Int, List, SchemaError, Str, check, read_json
from latent_explorer.models.io.zip_bounds import ListingTooLarge, check_listing
from latent_explorer.models.registry import (
    MAX_CLASS_NAME,
    MAX_SAVED_CLASSES,
    Capabilities,
    KindSpec,
    TrainDefaults,
    register,
)


@dataclass
class ExternalConfig(ModelConfig):
    output_range: tuple[float, float] = (-1.0, 1.0)  # what the generator's outputs span

    image_sizes = (4, 1024)
    square = False
    latent_dims = (1, 4096)

    def validate(self) -> None:
        super().validate()
        lo, hi = self.output_range
        need(hi > lo, f"output_range must be (low, high) with high > low, got {self.output_range}")


class ExternalGenerator(GenerativeModel):
    """A decode-only generator from a TorchScript module: decode(z) = its output mapped to [0, 1]."""

    def __init__(self, config: ExternalConfig, module=None):
        super().__init__(config)
        self.module = module

    @property
    def device(self):
        for p in self.module.parameters():
            return p.device
        return torch.device("cpu")

    @torch.no_grad()
    def decode(self, z, y=None):
        lo, hi = self.config.output_range
        out = self.module(z)
        want = (len(z), *self.image_shape)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != want or not out.is_floating_point():
            got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the external generator returned {got}, not float images of shape {want}")
        if not torch.isfinite(out).all():
            raise ValueError("the external generator returned NaN or infinite values")
        return ((out - lo) / (hi - lo)).clamp(0, 1)

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("an external generator cannot be trained here")


def _load(path: Path, device, trust_code=False, probe=True):
    return load_torchscript(path, device, trust_code=trust_code, probe=probe)


def _opens(path: Path, head: bytes | None) -> bool:
    return head is not None and head.startswith(b"PK\x03\x04") and path.suffix.lower() != ".onnx"


register_reader(Reader("a TorchScript archive", _opens, _load))
register(KindSpec("torchscript", "External generator (TorchScript)", ExternalGenerator, ExternalConfig,
                  TrainDefaults(1, 1, 1e-3), Capabilities(directions=True, slow_decode=True), trainable=False,
                  latent_dim=None))


class UntrustedCode(CheckpointError):
    """A TorchScript file the user has not said to trust: it holds code that would run when loaded."""

    def __init__(self, path: Path, digest: str):
        self.path, self.digest = Path(path), digest
        super().__init__(f"{self.path.name} is a TorchScript file: it contains code, which runs when it is loaded "
                         "and used and can read, create or change files. Open it only if you trust where it came "
                         "from (command line: --trust-code). ONNX is the safe format for generators from elsewhere.")


def _sidecar(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


SIDECAR_FIELDS = {
    "latent_dim": Int(1, 1 << 20),
    "image_shape": List(Int(1, 4096), 3, 3),
    "output_range": List(Float(), 2, 2, default=[-1.0, 1.0]),
    "class_names": List(Str(MAX_CLASS_NAME, printable=True), 0, MAX_SAVED_CLASSES, default=[]),
}


def read_sidecar(path: Path, kind: str = "torchscript", what: str = "a TorchScript generator"
                 ) -> tuple[ExternalConfig, Path]:
    """The JSON sidecar of a generator file (``gen.pt.json`` or ``gen.json``), read typed (models.io.schema:
    at most 1 MB, nested at most a few levels): (config, its path)."""
    side = _sidecar(path)
    if side is None:
        raise CheckpointError(f"{path.name}: {what} needs a JSON sidecar "
                              f"({path.name}.json) with latent_dim and image_shape")
    if side.stat().st_size > 1 << 20:
        raise CheckpointError(f"{side.name}: a sidecar of {side.stat().st_size:,} bytes is not a sidecar "
                              "(at most 1 MB)")
    try:
        spec = check(read_json(side, 1 << 20), SIDECAR_FIELDS, side.name)
    except SchemaError as e:
        raise CheckpointError(f"invalid sidecar: {e}") from None
    latent_dim, shape, out_range = spec["latent_dim"], spec["image_shape"], spec["output_range"]
    try:
        config = ExternalConfig(kind=kind, image_shape=tuple(shape), latent_dim=latent_dim,
                                class_names=spec["class_names"], output_range=tuple(out_range))
        config.validate()
    except (ValueError, TypeError):
        raise CheckpointError(f"{side.name}: invalid sidecar values (latent_dim {latent_dim}, "
                              f"image_shape {shape}, output_range {out_range})") from None
    return config, side


MAX_TORCHSCRIPT_BYTES = 2 << 30  # a generator of 2 GB; larger files are refused before they are read
MAX_ARCHIVE_ENTRIES = 65_534  # a TorchScript archive holds hundreds; its listing is counted before it is read
MAX_ARCHIVE_LISTING = 32 << 20  # bytes of its central directory: 65,534 entries of long names fit


def read_bytes(path: Path, limit: int = MAX_TORCHSCRIPT_BYTES) -> bytes:
    """A regular file's whole content, refused (CheckpointError) past ``limit`` bytes or when it is a FIFO, a
    device or a special file (checked with ``stat`` before it is opened)."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"{path.name}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{path.name}: not a regular file (a pipe, a device or a socket)")
    if st.st_size > limit:
        raise CheckpointError(f"{path.name}: {st.st_size:,} bytes; a generator file is at most {limit:,}")
    try:
        with open(path, "rb") as f:
            data = f.read(min(limit, st.st_size) + 1)  # not limit + 1: Python allocates what it is asked for
    except OSError as e:
        raise CheckpointError(f"{path.name}: cannot read ({e.strerror})") from None
    if len(data) > limit:
        raise CheckpointError(f"{path.name}: more than {limit:,} bytes")
    if len(data) > st.st_size:
        raise CheckpointError(f"{path.name}: its size changed while it was read")
    return data


def _entry_count(data: bytes) -> int | None:
    """The entries the archive's central directory holds, counted from its end records (ZIP64 too) before
    zipfile builds one object per entry: ListingTooLarge past MAX_ARCHIVE_ENTRIES (zipfile ignores the count
    an end record declares, so a listing of 2.5 million entries took 1.8 GB); None: no end record."""
    return check_listing(lambda at, n: data[at : at + n], len(data), MAX_ARCHIVE_ENTRIES, MAX_ARCHIVE_LISTING)


def _checked(path: Path, data: bytes | None = None) -> tuple[ExternalConfig, list[str], Path]:
    """The archive (``data``: its bytes, read once) and its sidecar checked without running anything:
    (config, archive listing, sidecar)."""
    data = read_bytes(path) if data is None else data
    try:
        _entry_count(data)
    except ListingTooLarge as e:
        raise CheckpointError(f"{path.name}: not a TorchScript generator: {e}") from None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        raise CheckpointError(f"{path.name}: a damaged zip/TorchScript file") from None
    if len(names) > MAX_ARCHIVE_ENTRIES:
        raise CheckpointError(f"{path.name}: a zip of {len(names):,} entries is not a TorchScript generator")
    if not any("/code/" in n for n in names):
        raise CheckpointError(f"{path.name}: refused: a pickled PyTorch file, not a TorchScript generator "
                              "(Latent Explorer never unpickles; export with torch.jit.script/trace)")
    config, side = read_sidecar(path)
    return config, names, side


def describe_torchscript(path: Path) -> dict:
    """What ``info`` shows of a TorchScript file: its sidecar and archive listing. Nothing in it runs."""
    path = Path(path)
    data = read_bytes(path)
    config, names, side = _checked(path, data)
    return {"path": str(path), "kind": "torchscript", "title": "External generator (TorchScript)",
            "contains_code": True, "sha256": hashlib.sha256(data).hexdigest(), "sidecar": str(side),
            "config": {"latent_dim": config.latent_dim, "image_shape": list(config.image_shape),
                       "output_range": list(config.output_range)},
            "class_names": list(config.class_names), "archive": sorted(names)[:50],
            "note": "not loaded: TorchScript is code (sample with --trust-code to run it)"}


def _probe(gen: ExternalGenerator, path: Path) -> None:
    """One decode of z = 0: a generator that fails, or makes images of another shape, is refused now. Run in
    the child process of :mod:`models.io.probe`, never in ours (a decode may never end)."""
    latent_dim, shape = gen.config.latent_dim, tuple(gen.config.image_shape)
    try:
        gen.decode(torch.zeros(2, latent_dim))  # decode checks the output's shape, dtype and values
    except ValueError as e:
        if "returned" in str(e) and "shape" in str(e):
            raise CheckpointError(f"{path.name}: the generator makes images of another shape than the sidecar's "
                                  f"{shape} ({e})") from None
        raise CheckpointError(f"{path.name}: {e}") from None
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path.name}: the generator fails on z of size {latent_dim} given by the "
                              f"sidecar ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
                              ) from None


def generator_from_bytes(probe) -> ExternalGenerator:
    """A generator from the bytes a :class:`models.io.probe.Probe` carries (in its child process): the code is
    loaded from those bytes, never from the path."""
    config = ExternalConfig(kind="torchscript", image_shape=tuple(probe.image_shape), latent_dim=probe.latent_dim,
                            output_range=tuple(probe.output_range))
    return ExternalGenerator(config, _module(Path(probe.name), probe.data))


def _module(path: Path, data: bytes):
    try:
        return torch.jit.load(io.BytesIO(data), map_location="cpu").eval()
    except Exception as e:  # noqa: BLE001 - TorchScript raises RuntimeError and others
        raise CheckpointError(f"{path.name}: not a loadable TorchScript file ({type(e).__name__})") from None


class _ProbeThenLoad:
    """A TorchScript generator's pending probe (``probe="later"``): the child process's load and decode first,
    then the module loaded from the same bytes, in the thread that runs this (the window's worker), never in
    the thread that opened the file: a ``__setstate__`` that never returns cannot freeze the window."""

    def __init__(self, probe, gen: ExternalGenerator, path: Path, data: bytes):
        self.probe, self.gen, self.path, self.data = probe, gen, path, data

    def run(self, should_stop=None) -> None:
        self.probe.run(should_stop)
        self.gen.module = _module(self.path, self.data)
        self.data = b""


def load_torchscript(path: Path, device="cpu", trust_code: bool | str = False, probe=True) -> ExternalGenerator:
    """Load a TorchScript generator, only with ``trust_code``: else :class:`UntrustedCode` once the file and
    its sidecar are checked (no code of the file has run). ``trust_code`` may be the SHA-256 of the content
    the user was asked about: trust is for bytes, not names, so the file is read once, its digest checked
    against that, and the code loaded from those very bytes (a file swapped while the question was open is
    refused, and nothing of it runs). Every decode checks its output.

    ``probe``: True (the CLI), one decode of z = 0 is tried first, in a child process with a time and a memory
    limit (:mod:`models.io.probe`), before any code of the file runs here, so a generator that hangs or fails is
    refused at once; ``"later"`` (the window), nothing of its code runs now: ``gen.pending_probe`` tries it in
    the child and then loads it, for the caller to run in a worker before the model is used; False, not
    tried."""
    from latent_explorer.models.io.probe import LATER, Probe

    data = read_bytes(path)
    config, _, _ = _checked(path, data)
    latent_dim, shape, names = config.latent_dim, list(config.image_shape), list(config.class_names)
    digest = hashlib.sha256(data).hexdigest()
    if not trust_code:
        raise UntrustedCode(path, digest)
    if isinstance(trust_code, str) and trust_code != digest:
        raise CheckpointError(f"{path.name} changed after you were asked about it: its content is not the one "
                              "you trusted, and nothing of it ran. Open it again to be asked about this content.")
    check = Probe("torchscript", path.name, data, latent_dim, tuple(shape), tuple(config.output_range)) \
        if probe else None
    if check is not None and probe != LATER:  # before any of its code runs here: its load is bounded too
        check.run()
    if probe == LATER:  # none of its code runs on the caller's thread: loaded by the worker, once the child passed
        gen = ExternalGenerator(config, None)
        gen.pending_probe = _ProbeThenLoad(check, gen, path, data)
    else:
        gen = ExternalGenerator(config, _module(path, data))
    gen.meta = {"path": str(path), "kind": "torchscript", "config": {"latent_dim": latent_dim,
                "image_shape": shape}, "data": {}, "class_names": names, "training": {}}
    return gen.to(device)
