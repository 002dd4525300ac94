"""Writing what the map shows to files a user takes elsewhere: the latents, labels and 2-D coordinates of
all points or of a selection, as ``.npz`` (numpy) or ``.csv`` (a spreadsheet). Saves are atomic."""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np

from latent_explorer.models.errors import ConfigError, check_regular
from latent_explorer.models.io.checkpoint import atomic_write
from latent_explorer.models.io.schema import List, SchemaError, Str, check
from latent_explorer.models.io.zip_bounds import ListingTooLarge, check_file_listing
from latent_explorer.models.registry import MAX_CLASS_NAME, MAX_SAVED_CLASSES

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
MAX_LATENT_BYTES = 512 << 20  # z as stored and as float32: 20,000,000 points of 6 numbers, 1,000,000 of 128
MAX_NPZ_ENTRIES, MAX_NPZ_LISTING = 64, 1 << 20  # an .npz of latents holds a few arrays
_NAMES = {"class_names": List(Str(MAX_CLASS_NAME, printable=True), 0, MAX_SAVED_CLASSES)}


def read_points(path: str | Path, latent_dim: int | None = None) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Latents saved as ``.npz`` (what :func:`export_points` writes, or any file with an array ``z`` of shape
    (N, D) and optionally ``labels`` (N,) and ``class_names``): (z, labels, class names). Nothing pickled is
    read, and nothing is allocated before it is known to fit: the zip's listing is measured from its end
    records, each array's shape and dtype read from its header, labels are class numbers and class names
    are bounded as a checkpoint's are (models.registry). Raises ConfigError with the reason."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() != ".npz":
        raise ConfigError(f"{name}: latents are read from an .npz file (numpy), with an array named z")
    check_regular(path, ConfigError)
    try:
        check_file_listing(path, MAX_NPZ_ENTRIES, MAX_NPZ_LISTING)
        with zipfile.ZipFile(path) as f:
            members = {m[:-4] if m.endswith(".npy") else m: m for m in f.namelist()}
            if "z" not in members:
                raise ConfigError(f"{name}: no array named z (it holds {', '.join(list(members)[:8]) or 'nothing'})")
            z = _array(f, members["z"], name, lambda shape, dtype: _check_z(name, shape, dtype, latent_dim))
            n = len(z)
            labels = None if "labels" not in members else _array(
                f, members["labels"], name, lambda shape, dtype: _check_labels(name, shape, dtype, n))
            names = [] if "class_names" not in members else _array(
                f, members["class_names"], name, lambda shape, dtype: _check_names(name, shape, dtype))
    except ConfigError:
        raise
    except ListingTooLarge as e:
        raise ConfigError(f"{name}: not a file of latents: {e}") from None
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as e:
        raise ConfigError(f"{name}: cannot be read as .npz ({str(e)[:200]})") from None
    z = np.ascontiguousarray(z, np.float32)
    if not np.isfinite(z).all():
        raise ConfigError(f"{name}: z holds values that are not finite numbers")
    if labels is not None:
        labels = labels.astype(np.int64)
        if len(labels) and not 0 <= labels.min() <= labels.max() < MAX_SAVED_CLASSES:
            raise ConfigError(f"{name}: labels must be {n:,} class numbers from 0 to {MAX_SAVED_CLASSES - 1:,}, "
                              f"one per point (a checkpoint holds at most {MAX_SAVED_CLASSES:,} classes)")
    if len(names):
        names = [n.decode("latin-1") if isinstance(n, bytes) else str(n) for n in np.asarray(names).reshape(-1)]
        try:
            names = check({"class_names": names}, _NAMES, name)["class_names"]
        except SchemaError as e:
            raise ConfigError(str(e)) from None
    return z, labels, list(names)


def _array(f: zipfile.ZipFile, member: str, name: str, fits) -> np.ndarray:
    """One array of an .npz: its header read and handed to ``fits(shape, dtype)`` (which raises), then
    exactly the bytes it declares, into a buffer of that size."""
    with f.open(member) as fp:
        version = np.lib.format.read_magic(fp)
        if version not in ((1, 0), (2, 0)):
            raise ConfigError(f"{name}: {member} is a numpy file of format {version}: not one this reader takes")
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read(fp)
        if dtype.hasobject:
            raise ConfigError(f"{name}: not a plain numpy file ({member} holds Python objects, which are pickles; "
                              "nothing of them is read)")
        fits(shape, dtype)
        buf = bytearray(math.prod(shape) * dtype.itemsize)
        if fp.readinto(buf) != len(buf):
            raise ConfigError(f"{name}: {member} is cut short")
    return np.frombuffer(buf, dtype).reshape(shape, order="F" if fortran else "C")


def _check_z(name: str, shape, dtype, latent_dim: int | None) -> None:
    if len(shape) != 2 or not np.issubdtype(dtype, np.number) or shape[0] == 0:
        raise ConfigError(f"{name}: z must be a numeric array of shape (points, dimensions), got {dtype} {shape}")
    if shape[0] > MAX_POINTS:
        raise ConfigError(f"{name}: {shape[0]:,} points; at most {MAX_POINTS:,} are shown")
    if latent_dim is not None and shape[1] != latent_dim:
        raise ConfigError(f"{name}: its latents have {shape[1]:,} dimensions, the model's have {latent_dim}")
    size = math.prod(shape) * max(4, dtype.itemsize)
    if size > MAX_LATENT_BYTES:
        raise ConfigError(f"{name}: z of shape {shape} takes {size / 2**20:,.0f} MB; at most "
                          f"{MAX_LATENT_BYTES >> 20} MB of latents are shown")


def _check_labels(name: str, shape, dtype, n: int) -> None:
    if shape != (n,) or not np.issubdtype(dtype, np.integer):
        raise ConfigError(f"{name}: labels must be {n:,} whole numbers ≥ 0, one per point (got {dtype} {shape})")


def _check_names(name: str, shape, dtype) -> None:
    count = math.prod(shape)
    if count > MAX_SAVED_CLASSES:
        raise ConfigError(f"{name}: {count:,} class names; at most {MAX_SAVED_CLASSES:,} (as a checkpoint holds)")
    if dtype.kind not in "US" or dtype.itemsize > 4 * MAX_CLASS_NAME:
        raise ConfigError(f"{name}: class_names must be text of at most {MAX_CLASS_NAME} characters each "
                          f"(got {dtype})")


def _csv(text: str) -> str:
    text = str(text)
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
