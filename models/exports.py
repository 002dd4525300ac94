"""Writing what the map shows to files a user takes elsewhere: the latents, labels and 2-D coordinates of
all points or of a selection, as ``.npz`` (numpy) or ``.csv`` (a spreadsheet). Saves are atomic."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .checkpoint import atomic_write
from .errors import ConfigError

FORMATS = (".npz", ".csv")


def export_points(path: str | Path, z: np.ndarray, xy: np.ndarray, labels: np.ndarray | None = None,
                  class_names: list[str] | None = None, index: np.ndarray | None = None,
                  axes: tuple[str, str] = ("x", "y"), projection: str = "") -> Path:
    """Save points: ``z`` (N, D) latents, ``xy`` (N, 2) map coordinates named ``axes``, optional labels
    (N,) and their names; ``index``: which rows of the data they are (default 0..N-1)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"{path.name}: points are saved as .npz or .csv")
    z, xy = np.asarray(z, np.float32), np.asarray(xy, np.float32)
    if len(z) == 0:
        raise ConfigError("no points to export")
    index = np.arange(len(z)) if index is None else np.asarray(index, np.int64)
    names = list(class_names or [])
    if suffix == ".npz":
        buf = io.BytesIO()
        extra = {} if labels is None else {"labels": np.asarray(labels, np.int64)}
        np.savez_compressed(buf, z=z, xy=xy, index=index, class_names=np.array(names, dtype=str),
                            axes=np.array(axes, dtype=str), projection=np.array(projection), **extra)
        return atomic_write(path, buf.getvalue())
    head = ["index"] + (["label", "class"] if labels is not None else []) + [_csv(a) for a in axes] + [
        f"z{i}" for i in range(z.shape[1])]
    lines = [",".join(head)]
    for k in range(len(z)):
        row = [str(int(index[k]))]
        if labels is not None:
            lab = int(labels[k])
            row += [str(lab), _csv(names[lab] if 0 <= lab < len(names) else str(lab))]
        row += [f"{v:.6g}" for v in xy[k]] + [f"{v:.6g}" for v in z[k]]
        lines.append(",".join(row))
    return atomic_write(path, ("\n".join(lines) + "\n").encode())


def _csv(text: str) -> str:
    text = str(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
