"""The user's cache folder: ``$LATENT_EXPLORER_CACHE`` (tests set it), else ``latent-explorer`` in the XDG cache
folder. What is kept there can be made again (classifiers trained on the fly, numba's compiled UMAP)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("LATENT_EXPLORER_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "latent-explorer"))
