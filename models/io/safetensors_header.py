"""The header of a safetensors file, read and checked before any tensor is.

A safetensors file is an 8-byte length, a JSON header naming each tensor's dtype, shape and byte span, and
the tensors' bytes. :func:`read_header` checks the header alone (its length, its JSON, each entry's dtype,
shape and span, spans that tile the body exactly); a reader then compares the entries with what it expects
(:func:`check_entries`: names, shapes, dtypes) and only then reads the bytes (:func:`read_tensors`), one
tensor at a time into its own buffer. A 281 KB checkpoint with one extra 2.5 GB tensor (sparse on disk) is
refused from its header, naming the tensor, before a byte of any tensor is read.
"""

from __future__ import annotations

import json
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from latent_explorer.models.errors import CheckpointError, check_regular, shown

# A header is JSON parsed into Python objects (tens of times its size in memory): a checkpoint's is a few
# hundred KB (a thousand epochs of history); 16 MB leaves room and keeps a forged one to a few hundred MB.
MAX_HEADER = 16 * 1024 * 1024
DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
_ITEMSIZE = {k: torch.empty(0, dtype=v).element_size() for k, v in DTYPES.items()}


@dataclass(frozen=True)
class Entry:
    """One tensor as the header declares it: its bytes are ``begin:end`` of the body."""
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]


@dataclass(frozen=True)
class Header:
    """A checked header: the metadata, the entries in the order of their bytes, where the body starts, and
    the file's identity (so the bytes read later are those of the file this header came from)."""
    path: Path
    meta: dict[str, str]
    entries: dict[str, Entry]
    start: int
    body_len: int
    identity: tuple[int, int, int, int]


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs):
    """A JSON object whose keys are unique (json keeps the last of a repeated key silently; safetensors' own
    parser refuses): two tensors of one name would make what loads depend on the parser."""
    out = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out


def _identity(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def read_header(path: str | os.PathLike, max_body: int | None = None, what: str = "checkpoint") -> Header:
    """The checked header of a safetensors file; no tensor's bytes are read. ``max_body``: the most bytes of
    tensors the reader takes, checked against the file's size before anything is read. CheckpointError
    naming the file otherwise."""
    path = Path(path)
    check_regular(path, CheckpointError)
    st = os.stat(path)
    size = st.st_size
    if max_body is not None and size > max_body + MAX_HEADER + 8:
        raise CheckpointError(f"{path.name}: {size:,} bytes, more than a {what} holds (at most "
                              f"{max_body / 2**20:,.0f} MB): refused before it is read")
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path.name}: not a {what} (the file is {size} bytes long)")
        (n,) = struct.unpack("<Q", head)
        if n < 2 or n > MAX_HEADER:
            raise CheckpointError(f"{path.name}: not a safetensors {what} (header length {n} is invalid)")
        if 8 + n > size:
            raise CheckpointError(f"{path.name}: truncated (the header claims {n} bytes but the file has "
                                  f"{size - 8})")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except _Duplicate as e:
        raise CheckpointError(f"{path.name}: the header names {shown(e.args[0])} twice (a forged file?)") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise CheckpointError(f"{path.name}: not a safetensors {what} (the header is not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path.name}: not a safetensors {what} (the header is not an object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise CheckpointError(f"{path.name}: invalid metadata (must map strings to strings)")
    body_len = size - 8 - n
    entries = sorted((_entry(path, name, info, body_len) for name, info in header.items()),
                     key=lambda e: (e.begin, e.end))
    pos = 0
    for e in entries:
        if e.begin != pos:
            raise CheckpointError(f"{path.name}: tensor {shown(e.name)} overlaps another or leaves a hole")
        pos = e.end
    if pos != body_len:
        raise CheckpointError(f"{path.name}: the data is {body_len} bytes but the tensors need {pos} "
                              "(truncated or padded)")
    if max_body is not None and body_len > max_body:
        raise CheckpointError(f"{path.name}: its tensors take {body_len:,} bytes, more than a {what} holds "
                              f"(at most {max_body / 2**20:,.0f} MB)")
    return Header(path, meta, {e.name: e for e in entries}, 8 + n, body_len, _identity(st))


_ENTRY_KEYS = frozenset({"dtype", "shape", "data_offsets"})


def _entry(path: Path, name: str, info, body_len: int) -> Entry:
    def bad(what: str = "") -> CheckpointError:  # worded only when needed: a header has thousands of entries
        return CheckpointError(f"{path.name}: invalid entry for tensor {shown(name)}{what}")

    if not isinstance(info, dict) or not info.keys() <= _ENTRY_KEYS:
        raise bad()
    dtype, shape, offs = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPES:
        raise CheckpointError(f"{path.name}: tensor {shown(name)} has unsupported dtype {shown(str(dtype), 20)}")
    if (not isinstance(shape, list) or len(shape) > 8
            or not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**40 for s in shape)):
        raise bad(" (shape)")
    if (not isinstance(offs, list) or len(offs) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offs)
            or not 0 <= offs[0] <= offs[1] <= body_len):
        raise CheckpointError(f"{path.name}: tensor {shown(name)} lies outside the file (truncated?)")
    if math.prod(shape) * _ITEMSIZE[dtype] != offs[1] - offs[0]:
        raise CheckpointError(f"{path.name}: tensor {shown(name)}: shape {shape} does not match its "
                              f"{offs[1] - offs[0]} bytes")
    return Entry(name, dtype, tuple(shape), offs[0], offs[1])


def check_entries(header: Header, expected: dict[str, torch.Tensor], what: str) -> None:
    """The header's tensors are exactly those of ``expected`` (a model's state dict), of the same shapes and
    dtypes: one line naming the file and the tensor otherwise, before any tensor's bytes are read."""
    name = header.path.name
    have = header.entries
    missing = sorted(set(expected) - set(have))
    unexpected = sorted(set(have) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(shown, missing[:3]))}" + (" ..." if len(missing) > 3 else ""))
        if unexpected:
            more = " ..." if len(unexpected) > 3 else ""
            parts.append(f"unexpected {', '.join(map(shown, unexpected[:3]))}{more}")
        raise CheckpointError(f"{name}: the tensors do not match the {what} config ({'; '.join(parts)})")
    for key, ref in expected.items():
        e = have[key]
        if e.shape != tuple(ref.shape):
            raise CheckpointError(f"{name}: tensor {shown(key)} has shape {e.shape}, the config needs "
                                  f"{tuple(ref.shape)}")
        if e.torch_dtype != ref.dtype:
            raise CheckpointError(f"{name}: tensor {shown(key)} is {e.torch_dtype}, expected {ref.dtype}")


def read_tensors(header: Header, names=None) -> dict[str, torch.Tensor]:
    """The tensors ``names`` (default: all) of a checked header, each read into its own buffer; the file must
    still be the one the header was read from."""
    path = header.path
    wanted = header.entries if names is None else {k: header.entries[k] for k in names}
    out = {}
    with open(path, "rb") as f:
        if _identity(os.fstat(f.fileno())) != header.identity:
            raise CheckpointError(f"{path.name}: the file changed while it was read")
        for e in sorted(wanted.values(), key=lambda e: e.begin):
            if e.end == e.begin:
                out[e.name] = torch.empty(e.shape, dtype=e.torch_dtype)
                continue
            buf = bytearray(e.end - e.begin)
            f.seek(header.start + e.begin)
            if f.readinto(buf) != len(buf):
                raise CheckpointError(f"{path.name}: truncated while reading")
            out[e.name] = torch.frombuffer(buf, dtype=e.torch_dtype).reshape(e.shape)
    return {k: out[k] for k in wanted}


def read_safetensors(path: str | os.PathLike, max_body: int | None = None) -> tuple[dict[str, torch.Tensor],
                                                                                     dict[str, str]]:
    """Parse and check a safetensors file; returns (tensors, metadata)."""
    header = read_header(path, max_body)
    return read_tensors(header), header.meta
