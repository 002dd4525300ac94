"""Typed reading of everything a file says: JSON configs, sidecars, run records, PNG parameters, settings.

A reader declares the fields it uses, each with its type and range, and :func:`check` returns them typed or
raises :class:`SchemaError` with one line that names the file and the field ("config.json: sample_size is
[8, 8, 8]; expected a whole number from 1 to 4096, or a list of 2 of them"). :func:`loads` and
:func:`read_json` bound the size and the nesting of a document before it is parsed, so a file nested 100,000
deep is one line too, not a RecursionError. No reader converts a value from a file any other way, so a new
field cannot forget its check.

    fields = {"latent_dim": Int(1, 65_536), "image_shape": List(Int(1, 4096), 3, 3),
              "output_range": List(Float(), 2, 2, default=[-1.0, 1.0])}
    spec = check(read_json(path), fields, path.name)
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latent_explorer.models.errors import CheckpointError, shown

MAX_DEPTH = 32  # a config, a sidecar or a record nests a few levels; a document nested deeper is refused
MAX_JSON_BYTES = 1 << 20
_REQUIRED = object()


class SchemaError(CheckpointError):
    """A value read from a file that is not what its field needs; the message names the file and the field.
    ``field``, ``found`` and ``expected`` hold the parts, for a reader that words its own message."""

    field = found = expected = ""


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, its escapes included
_BRACKETS = re.compile(r"[^\[\]{}]+")


def _depth(text: str) -> int:
    """The deepest nesting of arrays and objects in a JSON text, counted without parsing it (strings skipped;
    an unterminated string runs to the end). Regular expressions do the scanning, so a header of thousands of
    entries is counted in C, not character by character in Python."""
    bare = _STRING.sub("", text)
    quote = bare.find('"')
    if quote >= 0:  # a string that never ends: all after its quote is inside it
        bare = bare[:quote]
    brackets = np.frombuffer(_BRACKETS.sub("", bare).encode("ascii"), np.uint8)
    if not len(brackets):
        return 0
    depth = np.cumsum(np.where((brackets == ord("[")) | (brackets == ord("{")), 1, -1))
    return max(0, int(depth.max()))


def loads(text: str | bytes, source: str, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """A JSON document, bounded in size and nesting before it is parsed: SchemaError naming ``source``."""
    if len(text) > max_bytes:
        raise SchemaError(f"{source}: {len(text):,} bytes of JSON, more than the {max_bytes:,} it may hold")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise SchemaError(f"{source}: not UTF-8 text") from None
    if _depth(text) > max_depth:
        raise SchemaError(f"{source}: JSON nested more than {max_depth} levels deep")
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise SchemaError(f"{source}: not valid JSON ({str(e).splitlines()[0][:120]})") from None


def read_json(path: str | Path, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """A JSON file: a regular file (FIFOs and devices refused by ``stat``, before it is opened) of at most
    ``max_bytes``, read no further than that, nested at most ``max_depth`` deep."""
    path = Path(path)
    name = f"{path.parent.name}/{path.name}" if path.parent.name else path.name
    try:
        st = os.stat(path)
    except OSError as e:
        raise SchemaError(f"{name}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SchemaError(f"{name}: not a regular file (a pipe, a device or a socket)")
    if st.st_size > max_bytes:
        raise SchemaError(f"{name}: {st.st_size:,} bytes, more than the {max_bytes:,} a JSON file here may hold")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise SchemaError(f"{name}: cannot read ({e.strerror or e})") from None
    return loads(data, name, max_depth, max_bytes)


class _Bad(Exception):
    """Internal: a value that does not fit; carries what was expected."""


def _number(v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _Bad
    return v


@dataclass(frozen=True)
class Int:
    """A whole number in [lo, hi]; 32.0 is 32, True is not a number."""
    lo: int = -(2**63)
    hi: int = 2**63 - 1
    default: Any = _REQUIRED

    def expected(self) -> str:
        return f"a whole number from {self.lo:,} to {self.hi:,}"

    def parse(self, v):
        v = _number(v)
        if isinstance(v, float) and (not math.isfinite(v) or v != int(v)):
            raise _Bad
        if not self.lo <= int(v) <= self.hi:
            raise _Bad
        return int(v)


@dataclass(frozen=True)
class Float:
    """A finite number in [lo, hi] (``above``: strictly greater than lo)."""
    lo: float = -1e30
    hi: float = 1e30
    default: Any = _REQUIRED
    above: bool = False

    def expected(self) -> str:
        low = f"above {self.lo:g}" if self.above else f"from {self.lo:g}"
        return f"a finite number {low} to {self.hi:g}"

    def parse(self, v):
        v = float(_number(v))
        if not math.isfinite(v) or not (self.lo < v if self.above else self.lo <= v) or v > self.hi:
            raise _Bad
        return v


@dataclass(frozen=True)
class Str:
    """Text of at most ``max_len`` characters, one of ``choices`` when given (``printable``: no control
    characters)."""
    max_len: int = 200
    choices: tuple[str, ...] | None = None
    default: Any = _REQUIRED
    printable: bool = False

    def expected(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        return f"a {'printable ' if self.printable else ''}string of at most {self.max_len} characters"

    def parse(self, v):
        if not isinstance(v, str) or len(v) > self.max_len or (self.choices and v not in self.choices):
            raise _Bad
        if self.printable and not v.isprintable():
            raise _Bad
        return v


@dataclass(frozen=True)
class Bool:
    default: Any = _REQUIRED

    def expected(self) -> str:
        return "true or false"

    def parse(self, v):
        if not isinstance(v, bool):
            raise _Bad
        return v


@dataclass(frozen=True)
class List:
    """A list of ``min_len`` to ``max_len`` items, each read by ``item``."""
    item: Any
    min_len: int = 0
    max_len: int = 10_000
    default: Any = _REQUIRED

    def expected(self) -> str:
        n = f"{self.min_len}" if self.min_len == self.max_len else f"{self.min_len} to {self.max_len:,}"
        return f"a list of {n} items, each {self.item.expected()}"

    def parse(self, v):
        if not isinstance(v, list) or not self.min_len <= len(v) <= self.max_len:
            raise _Bad
        return [self.item.parse(x) for x in v]


@dataclass(frozen=True)
class Either:
    """The first of ``options`` that reads the value."""
    options: tuple
    default: Any = _REQUIRED

    def expected(self) -> str:
        return ", or ".join(o.expected() for o in self.options)

    def parse(self, v):
        for o in self.options:
            try:
                return o.parse(v)
            except _Bad:
                pass
        raise _Bad


@dataclass(frozen=True)
class Map:
    """An object of at most ``max_len`` keys, each text of at most ``key_len`` characters, each value read by
    ``item`` (a class histogram: {name: count})."""
    item: Any
    max_len: int = 1000
    key_len: int = 100
    default: Any = _REQUIRED

    def expected(self) -> str:
        return (f"an object of at most {self.max_len:,} names of at most {self.key_len} characters, each "
                f"{self.item.expected()}")

    def parse(self, v):
        if not isinstance(v, dict) or len(v) > self.max_len or any(len(k) > self.key_len for k in v):
            raise _Bad
        return {k: value(x, self.item, None, shown(k, 40)) for k, x in v.items()}


@dataclass(frozen=True)
class Object:
    """A nested object with its own fields (extra keys are ignored, as every reader here ignores them)."""
    fields: dict
    default: Any = _REQUIRED

    def expected(self) -> str:
        return "an object with " + ", ".join(self.fields)

    def parse(self, v):
        if not isinstance(v, dict):
            raise _Bad
        return check(v, self.fields, None)


def _shown_value(v) -> str:
    try:
        text = json.dumps(v, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = type(v).__name__
    return shown(text, 60)[1:-1] if len(text) else "''"


def value(v, field, source: str | None, name: str):
    """One value read by ``field``; SchemaError "source: name is …; expected …" otherwise."""
    where = f"{source}: " if source else ""
    try:
        return field.parse(v)
    except _Bad:
        err = SchemaError(f"{where}{name} is {_shown_value(v)}; expected {field.expected()}")
        err.field, err.found, err.expected = name, _shown_value(v), field.expected()
    except SchemaError as e:  # a nested field: prefix its name
        err = SchemaError(f"{where}{name}.{e}")
        err.field, err.found, err.expected = f"{name}.{e.field}", e.found, e.expected
    raise err


def check(doc, fields: dict, source: str | None) -> dict:
    """The ``fields`` of ``doc`` typed and range-checked: {name: value}, a field that is missing takes its
    default (a field without one is required); null is a value like any other, refused unless a field reads
    it. Keys not in ``fields`` are ignored. SchemaError naming ``source`` and the field otherwise."""
    where = f"{source}: " if source else ""
    if not isinstance(doc, dict):
        raise SchemaError(f"{where}a JSON object was expected, not {type(doc).__name__}")
    out = {}
    for name, field in fields.items():
        if name not in doc:
            if field.default is _REQUIRED:
                raise SchemaError(f"{where}{name} is missing; expected {field.expected()}")
            out[name] = field.default
            continue
        out[name] = value(doc[name], field, source, name)
    return out


@dataclass(frozen=True)
class Null:
    """JSON null (for :class:`Either`: a field that may be left empty)."""
    default: Any = _REQUIRED

    def expected(self) -> str:
        return "null"

    def parse(self, v):
        if v is not None:
            raise _Bad
        return None
