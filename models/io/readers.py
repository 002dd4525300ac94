"""The formats a user brings, each registering how to recognise a file and how to open it (as napari's npe2
readers do): a diffusers folder, an ONNX graph, a TorchScript archive. :func:`models.io.checkpoint.load` asks
this table before it reads a file as our own checkpoint format.

``opens(path, head)`` is asked twice: first with ``head=None`` (a folder, or a file named inside one, before
anything is read), then with the file's first bytes (a bounded prefix, read once, after pickles are refused).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Reader:
    name: str  # the format, in words
    opens: Callable[[Path, bytes | None], bool]  # (path, first bytes or None) -> is this file ours?
    load: Callable[..., object]  # (path, device, trust_code=..., probe=...) -> GenerativeModel


READERS: dict[str, Reader] = {}


def register_reader(reader: Reader) -> Reader:
    """Add a format (its module calls this once at import)."""
    if reader.name in READERS:
        raise ValueError(f"a reader named {reader.name!r} is already registered")
    READERS[reader.name] = reader
    return reader


def reader_for(path: Path, head: bytes | None) -> Reader | None:
    """The registered format that opens ``path`` (the formats' modules are imported first), or None."""
    from latent_explorer.models import registry

    registry.load_builtins()  # the formats' modules register their readers
    return next((r for r in READERS.values() if r.opens(path, head)), None)
