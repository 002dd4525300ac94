"""Checkpoints: one ``.safetensors`` file holding the weights and a JSON ``__metadata__``.

Nothing is ever unpickled. The header is parsed and checked (:mod:`models.io.safetensors_header`: sizes,
offsets, dtypes), then its tensors' names, shapes and dtypes against the kind's own, before any tensor is
read, so a malformed or hostile file ends in a :class:`CheckpointError` with a clear message. Saves are
atomic: temp file in the same folder, fsync, ``os.replace``, fsync the folder.

Format versions: 1 stored one flat config holding every family's fields; 2 stores the config of the
kind's own family (:mod:`models.registry`). Every format-1 file still loads and decodes as it did.

A TorchScript file (a zip with code) is handed to :mod:`models.io.external`.
"""

from __future__ import annotations

import errno
import json
import os
import struct
import tempfile
import time
from pathlib import Path

import torch

from latent_explorer.models import registry
from latent_explorer.models.base import GenerativeModel
from latent_explorer.models.errors import CheckpointError, ConfigError, check_regular, shown
from latent_explorer.models.io.readers import reader_for
from latent_explorer.models.io.safetensors_header import MAX_HEADER, check_entries, read_header, read_tensors
from latent_explorer.models.io.schema import Int, SchemaError, Str, check, loads
from latent_explorer.models.io.sniff import PREFIX, is_zip_of_pickles, not_a_model
from latent_explorer.models.io.temp_files import temp_beside

FORMAT = "latent-explorer"
FORMAT_VERSION = 2
MAX_META_FIELD = 4 * 1024 * 1024  # one metadata field (its history, its data description)
_UMASK = os.umask(0o022)
os.umask(_UMASK)
PICKLE_SUFFIXES = {".pth", ".ckpt", ".pkl", ".pickle", ".bin", ".tar"}
BUNDLED_DIR = Path(__file__).resolve().parents[2] / "assets"  # shipped models: never overwritten
TORCHSCRIPT_SUFFIXES = {".pt", ".ts", ".torchscript", ".jit"}


# ----------------------------------------------------------------------------------------------
# Saving


def atomic_write(path: str | os.PathLike, blob: bytes) -> Path:
    """Write ``blob`` to ``path`` so that a crash at any moment leaves the old file or the new one."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"cannot save {path}: the folder {folder} does not exist")
    _never_replace_special(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(**temp_beside(path))  # .NAME.<pid>.<host>.<rand>.tmp; a killed one is swept
        try:  # mkstemp makes 0600 files: keep the old file's mode, else the usual one
            mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK
            os.fchmod(fd, mode)
        except OSError:
            pass
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
        try:
            dfd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError:
            pass  # some file systems cannot fsync a folder
    except OSError as e:
        if e.errno == errno.ENOSPC:
            why = "the disk is full"
        elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            why = "the folder is read-only or not writable"
        else:
            why = e.strerror or str(e)
        raise CheckpointError(f"cannot save {path}: {why}; any previous file there is unchanged") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


class OutputExists(CheckpointError):
    """The output file exists: it is replaced only when the user says so (``--force``, or the window asks)."""

    def __init__(self, path: Path):
        self.path = path
        super().__init__(f"{path} exists: it is not replaced without your say (--force)")


def recovery_path(out: str | os.PathLike) -> Path:
    """Where a run's weights go when its own output cannot be written (the folder was removed, the disk or
    the quota is full): ``$LATENT_EXPLORER_CACHE/recovered`` when set (tests), else the user's data folder
    (``$XDG_DATA_HOME`` or ~/.local/share)/latent-explorer/recovered, under the output's name and the time."""
    base = os.environ.get("LATENT_EXPLORER_CACHE")
    root = Path(base) if base else Path(os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")) \
        / "latent-explorer"
    folder = root / "recovered"
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(out).stem or "run"
    return folder / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.safetensors"


def _never_replace_special(path: Path) -> None:
    """A device, a pipe or a socket is never replaced by a file (``--out /dev/null --force`` run as root
    would otherwise swap the system's /dev/null for a checkpoint)."""
    import stat

    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # nothing there (or nothing we can see): a new file
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise CheckpointError(f"{path} is not a regular file (a device, a pipe or a socket): it is never written "
                              "or replaced; choose a file name")


def safetensors_format(path: str | os.PathLike) -> str | None:
    """The ``format`` tag in a safetensors file's header metadata, read from its header alone (at most 1 MB of
    it); None for anything else (no file, not safetensors, no tag)."""
    try:
        check_regular(Path(path), OSError)
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return None
            n = struct.unpack("<Q", head)[0]
            if not 2 <= n <= 1 << 20:
                return None
            meta = json.loads(f.read(n)).get("__metadata__") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return meta.get("format") if isinstance(meta, dict) and isinstance(meta.get("format"), str) else None


def refuse_inputs(out: str | os.PathLike, inputs, what: str = "--out") -> None:
    """An output is never one of the command's own inputs (``translate --input x.png --out x.png`` would
    replace the drawing it reads): CheckpointError naming both."""
    for src in inputs:
        if src is None:
            continue
        try:
            same = os.path.exists(out) and os.path.samefile(out, src)
        except OSError:
            same = False
        if same or os.path.abspath(out) == os.path.abspath(src):
            raise CheckpointError(f"{what} {shown(os.path.basename(str(out)), 120)} is an input of this command "
                                  f"({shown(str(src), 200)}): it is never replaced; choose another file")


def check_output(path: str | os.PathLike, force: bool = False, inputs=()) -> Path:
    """Check, before any training, that ``path`` can take a checkpoint: not a folder, in a folder that exists
    and is writable, not one of the bundled models, not a run record's name, not one of the command's
    ``inputs``, not beside a file its run record or optimizer state would replace, and (without ``force``) not
    an existing file. ``force`` replaces a model, never a record, a run's state or another kind of file."""
    from latent_explorer.models.training.run_record import FORMAT as RECORD_FORMAT
    from latent_explorer.models.training.run_record import is_record, record_path

    p = Path(path).expanduser()
    if p.is_dir():
        raise CheckpointError(f"{p} is a folder: give a file name ending in .safetensors")
    if is_record(p):
        raise CheckpointError(f"{shown(p.name, 200)}: a name ending in .record.safetensors is a run's record, "
                              "written beside its model; give the model another name")
    refuse_inputs(p, inputs)
    if p.exists() and safetensors_format(p) == RECORD_FORMAT:
        raise CheckpointError(f"{shown(p.name, 200)} is a run's record, not a model: it is never replaced by one")
    rec = record_path(p)
    if rec.exists() and safetensors_format(rec) != RECORD_FORMAT:
        raise CheckpointError(f"{shown(rec.name, 200)} is beside {shown(p.name, 200)} but is not a run record: "
                              "this run's record would replace it; choose another name or move that file")
    from latent_explorer.models.training.optim_state import check_beside

    check_beside(p)  # as for records: a run's optimizer state
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"the folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise CheckpointError(f"the folder {folder} is not writable")
    if folder.resolve() == BUNDLED_DIR or BUNDLED_DIR in folder.resolve().parents:
        raise CheckpointError(f"{p.name}: the bundled models in {BUNDLED_DIR} are never overwritten; choose "
                              "another folder")
    _never_replace_special(p)
    if p.exists() and not force:
        raise OutputExists(p)
    return p


def checkpoint_bytes(model: GenerativeModel, data: dict | None = None, training: dict | None = None,
                     class_names: list[str] | None = None) -> bytes:
    from safetensors.torch import save as st_save

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": model.kind,
        "config": json.dumps(model.config.to_json()),
        "data": json.dumps(data or {}),
        "class_names": json.dumps(list(class_names if class_names is not None else model.class_names)),
        "training": json.dumps(training or {}),
        "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "torch": torch.__version__,
    }
    return st_save(tensors, metadata=meta)


def save(model: GenerativeModel, path: str | os.PathLike, data: dict | None = None,
         training: dict | None = None, class_names: list[str] | None = None) -> Path:
    """Save ``model`` atomically; ``data`` and ``training`` are JSON-able summaries."""
    return atomic_write(path, checkpoint_bytes(model, data, training, class_names))


# ----------------------------------------------------------------------------------------------
# Loading


def _refuse_pickle(path: Path, head: bytes) -> None:
    is_zip = head.startswith(b"PK\x03\x04")
    is_pickle = head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5
    suffix = path.suffix.lower()
    if is_zip and suffix not in TORCHSCRIPT_SUFFIXES | PICKLE_SUFFIXES and not is_zip_of_pickles(head):
        raise CheckpointError(not_a_model(path.name, head))  # photos.zip, a .docx
    if is_pickle or (is_zip and suffix not in TORCHSCRIPT_SUFFIXES) or suffix in PICKLE_SUFFIXES:
        raise CheckpointError(
            f"{path.name}: refused: this looks like a pickled PyTorch file (torch.save / .pth / .ckpt"
            f"{'; a ZIP archive of pickles: TorchScript opens as .pt' if is_zip else ''}). "
            "Loading a pickle can run arbitrary code, so Latent Explorer never does; "
            "convert the weights to .safetensors (see README, 'Checkpoint format')")


def _plausible_safetensors(head: bytes) -> bool:
    """An 8-byte little-endian header length in range, then the JSON header's brace."""
    return len(head) > 8 and 2 <= struct.unpack("<Q", head[:8])[0] <= MAX_HEADER and head[8:9] == b"{"


def _check_regular(path: Path) -> None:
    check_regular(path, CheckpointError)


def _json_field(meta: dict, key: str, path: Path, default=None):
    if key not in meta:
        if default is not None:
            return default
        raise CheckpointError(f"{path.name}: the metadata has no '{key}'")
    if len(meta[key]) > MAX_META_FIELD:
        raise CheckpointError(f"{path.name}: its '{key}' metadata is {len(meta[key]):,} characters long (at most "
                              f"{MAX_META_FIELD // 2**20} MB): not a checkpoint this app wrote")
    try:  # bounded in nesting before it is parsed (models.io.schema)
        return loads(meta[key], f"{path.name}: the metadata field '{key}'", max_bytes=MAX_META_FIELD)
    except SchemaError as e:
        raise CheckpointError(str(e)) from None


def _checked_metadata(meta: dict, path: Path) -> dict:
    """``data``, ``class_names`` and ``training`` from a file, each of the type every reader expects (a file
    may say anything: ``data`` a list, ``spec`` a number, ``training`` a string): one clear message."""
    out = {"data": _json_field(meta, "data", path, {}), "class_names": _json_field(meta, "class_names", path, []),
           "training": _json_field(meta, "training", path, {})}

    def bad(what: str):
        return CheckpointError(f"{path.name}: invalid metadata: {what}")

    for key in ("data", "training"):
        if not isinstance(out[key], dict):
            raise bad(f"'{key}' must be an object, found {type(out[key]).__name__}")
    names = out["class_names"]
    if not isinstance(names, list) or len(names) > registry.MAX_SAVED_CLASSES or not all(
            isinstance(n, str) and len(n) <= registry.MAX_CLASS_NAME and n.isprintable() for n in names):
        raise bad(f"'class_names' must be a list of at most {registry.MAX_SAVED_CLASSES} strings "
                  f"({registry.MAX_CLASS_NAME} printable characters each)")
    data = out["data"]
    if "spec" in data and not isinstance(data["spec"], str):
        raise bad(f"data 'spec' must be a string, found {type(data['spec']).__name__}")
    frac = data.get("val_fraction", 0.1)
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 < frac < 1:
        raise bad(f"data 'val_fraction' must be a number in (0, 1), found {str(frac)[:20]!r}")
    from latent_explorer.models.data import SPLITS

    split = data.get("split", "tail")
    if split not in SPLITS:
        raise bad(f"data 'split' must be one of {', '.join(SPLITS)}, found {str(split)[:20]!r}")
    try:  # the training summary's fields that readers use (resume, info, the record), typed (models.io.schema)
        typed = check(out["training"], TRAINING_FIELDS, None)
        out["training"].update({k: v for k, v in typed.items() if k in out["training"]})  # no defaults added
    except SchemaError as e:
        raise bad(f"training '{e.field}' must be {e.expected}, found {e.found}") from None
    return out


TRAINING_FIELDS = {"status": Str(200, default=""), "steps": Int(0, 10**12, default=0),
                   "epochs_done": Int(0, 10**9, default=0), "record": Str(300, default="")}


def _kind_and_version(meta: dict, path: Path) -> tuple[str, int]:
    """The kind and format version a checkpoint's header says, each checked."""
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: a safetensors file, but not a Latent Explorer checkpoint "
                              "(no 'format' metadata)")
    try:
        version = int(meta.get("format_version", ""))
    except ValueError:
        raise CheckpointError(f"{path.name}: invalid format version {meta.get('format_version')!r}") from None
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path.name}: made by a newer Latent Explorer (format {version}); this "
                              f"version reads format {FORMAT_VERSION}: please upgrade")
    if version < 1:
        raise CheckpointError(f"{path.name}: unknown format version {version}")
    kind = meta.get("kind")
    if kind not in registry.kinds(trainable=True):
        raise CheckpointError(f"{path.name}: unknown model kind {kind!r} "
                              f"(known: {', '.join(registry.kinds(trainable=True))})")
    return kind, version


def _config(meta: dict, path: Path, kind: str, version: int):
    """The kind's config from the header (ConfigError or TypeError when it does not fit)."""
    raw = _json_field(meta, "config", path)
    if isinstance(raw, dict) and raw.get("kind", kind) != kind:
        raise ConfigError(f"the config says kind {raw.get('kind')!r} but the file says {kind!r}")
    return registry.config_from_json(kind, raw, legacy=version == 1)


def read_checked_header(path: str | os.PathLike):
    """(header, kind, format version, config) of a checkpoint of ours, from its header alone, each checked as
    :func:`load` checks them (the config validated as it is made); CheckpointError naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    _check_regular(path)
    try:
        header = read_header(path)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    kind, version = _kind_and_version(header.meta, path)
    try:
        config = _config(header.meta, path, kind, version)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path.name}: invalid model config: {e}") from None
    return header, kind, version, config


def read_meta(path: str | os.PathLike) -> dict:
    """What a checkpoint of this app says about itself, from its header alone (no tensor is read, no model is
    built): ``kind``, ``format_version``, ``config`` (the kind's config object), ``data``, ``class_names`` and
    ``training``, checked and typed as :func:`load` checks them; CheckpointError naming the file otherwise."""
    header, kind, version, config = read_checked_header(path)
    return {"kind": kind, "format_version": version, "config": config, **_checked_metadata(header.meta, Path(path))}


def load(path: str | os.PathLike, device: str | torch.device = "cpu", trust_code: bool = False,
         probe: bool = True) -> GenerativeModel:
    """Rebuild a model from its file alone. The model's ``meta`` holds the metadata. A TorchScript file holds
    code: it is loaded only with ``trust_code`` (else :class:`models.io.external.UntrustedCode`), and its first
    decode is tried at once unless ``probe`` is False (the window decodes in a worker, with a watchdog)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if (reader := reader_for(path, None)) is not None:  # a diffusers folder (safetensors weights only)
        return reader.load(path, device, trust_code=trust_code, probe=probe)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, but not a diffusers model (no config.json or model_index.json)"
                              "; a checkpoint is a file")
    _check_regular(path)
    try:
        with open(path, "rb") as f:
            head = f.read(PREFIX)  # a bounded prefix: enough to say what a file that is not a checkpoint is
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    _refuse_pickle(path, head)
    if (reader := reader_for(path, head)) is not None:  # an ONNX graph, a TorchScript archive (code: trusted or not)
        return reader.load(path, device, trust_code=trust_code, probe=probe)
    if path.suffix.lower() == ".json":
        raise CheckpointError(f"{path.name}: a JSON file is not a checkpoint (is it a TorchScript sidecar? "
                              "open the generator file beside it)")
    if not _plausible_safetensors(head) and (said := not_a_model(path.name, head)) is not None:
        raise CheckpointError(said)  # a PNG, a text file, an empty file...
    try:
        header = read_header(path)  # the tensors' names, shapes and spans: no tensor is read before they fit
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    meta = header.meta
    kind, version = _kind_and_version(meta, path)
    try:
        config = _config(meta, path, kind, version)
        model = registry.build_model(config)
    except (ConfigError, TypeError) as e:
        raise CheckpointError(f"{path.name}: invalid model config: {e}") from None
    expected = model.state_dict()
    check_entries(header, expected, kind)
    try:
        tensors = read_tensors(header)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    for name in expected:
        t = tensors[name]
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path.name}: tensor {shown(name)} contains NaN or infinite weights "
                                  "(saved from a diverged run?)")
    model.load_state_dict(tensors, strict=True)
    model.eval().to(device)
    model.on_loaded(path)  # a model made of other checkpoints finds and checks them
    model.meta = {
        "path": str(path),
        "format_version": version,
        "kind": kind,
        "config": config.to_json(),
        **_checked_metadata(meta, path),
        "saved": meta.get("saved", ""),
        "torch": meta.get("torch", ""),
    }
    return model
