"""A file's SHA-256, read in bounded chunks; files under /proc, /sys and /dev are refused (they pass the
regular-file test but never end or change)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from latent_explorer.models.errors import CheckpointError

SPECIAL_ROOTS = ("/proc", "/sys", "/dev")  # files there pass stat's regular-file test but never end or change


def file_digest(path: Path) -> str:
    """SHA-256 of a file's content: what the window remembers a user's trust by, and how a model names its
    parts. Only a regular file outside /proc, /sys and /dev (a part linked to /proc/self/pagemap passes
    ``is_file()`` and its read never ends), read no further than the size ``stat`` gives it: CheckpointError
    otherwise."""
    real = os.path.realpath(path)
    if any(real == r or real.startswith(r + os.sep) for r in SPECIAL_ROOTS):
        raise CheckpointError(f"{Path(path).name}: a system file ({real}), not a model file")
    try:
        st = os.stat(path)
    except OSError as e:
        raise CheckpointError(f"{Path(path).name}: cannot read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(f"{Path(path).name}: not a regular file (a pipe, a device or a socket)")
    h, left = hashlib.sha256(), st.st_size
    with open(path, "rb") as f:
        while left > 0:
            block = f.read(min(1 << 20, left))
            if not block:
                break
            h.update(block)
            left -= len(block)
        if left or f.read(1):
            raise CheckpointError(f"{Path(path).name}: its size changed while it was read")
    return h.hexdigest()
