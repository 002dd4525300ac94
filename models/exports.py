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


MAX_POINTS = 20_000_000


def read_points(path: str | Path, latent_dim: int | None = None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Latents saved as ``.npz`` (what :func:`export_points` writes, or any file with an array ``z`` of shape
    (N, D) and optionally ``labels`` (N,) and ``class_names``): (z, labels, class names). Nothing pickled is
    read. Raises ConfigError with the reason."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() != ".npz":
        raise ConfigError(f"{name}: latents are read from an .npz file (numpy), with an array named z")
    try:
        with np.load(path, allow_pickle=False) as f:
            if "z" not in f.files:
                raise ConfigError(f"{name}: no array named z (it holds {', '.join(f.files[:8]) or 'nothing'})")
            z = f["z"]
            labels = f["labels"] if "labels" in f.files else None
            names = [str(n) for n in f["class_names"].reshape(-1)] if "class_names" in f.files else []
    except ConfigError:
        raise
    except ValueError as e:  # object arrays (pickles) are refused by allow_pickle=False
        raise ConfigError(f"{name}: not a plain numpy file ({e})") from None
    except (OSError, EOFError) as e:
        raise ConfigError(f"{name}: cannot be read as .npz ({e})") from None
    if z.ndim != 2 or not np.issubdtype(z.dtype, np.number) or len(z) == 0:
        raise ConfigError(f"{name}: z must be a numeric array of shape (points, dimensions), got {z.dtype} "
                          f"{z.shape}")
    if len(z) > MAX_POINTS:
        raise ConfigError(f"{name}: {len(z):,} points; at most {MAX_POINTS:,} are shown")
    if latent_dim is not None and z.shape[1] != latent_dim:
        raise ConfigError(f"{name}: its latents have {z.shape[1]} dimensions, the model's have {latent_dim}")
    z = np.ascontiguousarray(z, np.float32)
    if not np.isfinite(z).all():
        raise ConfigError(f"{name}: z holds values that are not finite numbers")
    if labels is not None:
        if labels.shape != (len(z),) or not np.issubdtype(labels.dtype, np.integer) or (labels < 0).any():
            raise ConfigError(f"{name}: labels must be {len(z):,} whole numbers ≥ 0, one per point")
        labels = labels.astype(np.int64)
    return z, labels, names[:1000]


def _csv(text: str) -> str:
    text = str(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
