"""Dataset files: MNIST IDX files (gzipped or not) and ``.npz`` archives, each bounded before it is read."""

from __future__ import annotations

import gzip
import math
import struct
import zipfile
from pathlib import Path
from zlib import error as zlib_error

import numpy as np

from latent_explorer.models.data.core import (
    MAX_CLASSES,
    MAX_DATA_BYTES,
    DataError,
    ImageData,
    check_budget,
    check_regular,
    checked_labels,
    megabytes,
)
from latent_explorer.models.errors import reason


def _open_maybe_gz(path: Path, limit: int = MAX_DATA_BYTES) -> bytes:
    """A file's bytes, gunzipped when it ends in .gz; at most ``limit`` bytes (a gzip bomb is refused as
    soon as it passes the limit, without inflating the rest)."""
    check_regular(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read(limit + 1)
            if len(raw) > limit:
                raise DataError(f"{path}: decompresses to more than {megabytes(limit)}; the limit is "
                                f"{megabytes(limit)}")
            return raw
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {megabytes(size)} is too large; the limit is {megabytes(limit)}")
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile, zlib_error) as e:
        raise DataError(f"{path}: cannot read ({reason(e)})") from None


def read_idx(path: Path) -> np.ndarray:
    """An IDX (MNIST) file of unsigned bytes; magic and sizes are checked against the data."""
    raw = _open_maybe_gz(path)
    if len(raw) < 8:
        raise DataError(f"{path}: too short to be an IDX file")
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08 or not 1 <= ndim <= 3:
        raise DataError(f"{path}: not an unsigned-byte IDX file (bad magic number {raw[:4].hex()})")
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = math.prod(dims)  # Python integers: no overflow, whatever the header says
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise DataError(f"{path}: header says {dims} ({expected} bytes) but the file holds {len(body)} bytes")
    return np.frombuffer(body, np.uint8).reshape(dims)


def _idx_label_path(images: Path) -> Path | None:
    name = images.name.replace("idx3", "idx1").replace("images", "labels")
    for cand in (images.with_name(name), images.with_name(name.removesuffix(".gz")),
                 images.with_name(name + ".gz")):
        if cand != images and cand.exists():
            return cand
    return None


def load_idx(images_path: Path, spec: str) -> ImageData:
    check_regular(images_path, "an IDX file of images (such as train-images-idx3-ubyte[.gz])")
    arr = read_idx(images_path)
    if arr.ndim != 3:
        raise DataError(f"{images_path}: IDX images must have 3 dimensions (N, H, W), found {arr.ndim}")
    check_budget(arr.shape, images_path)
    images = (arr.astype(np.float32) / 255.0)[:, None]
    labels = None
    names: list[str] = []
    lp = _idx_label_path(images_path)
    if lp is not None:
        check_regular(lp, "an IDX file of labels (such as train-labels-idx1-ubyte[.gz])")
        lab = read_idx(lp)
        if lab.ndim != 1 or len(lab) != len(images):
            raise DataError(f"{lp}: {lab.shape[0] if lab.ndim else 0} labels for {len(images)} images")
        labels = checked_labels(lab, lp)
        names = [str(i) for i in range(int(labels.max()) + 1)]
    return ImageData(images, labels, names, spec)


def _npz_shapes(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """The shape and dtype of each array in an .npz, read from the .npy headers inside the zip: nothing is
    decompressed beyond the headers."""
    out = {}
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                else:
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
            out[info.filename[:-4]] = (shape, dtype)
    return out


def _as_unit(images: np.ndarray, path: Path) -> np.ndarray:
    """Image values -> float32 in [0, 1], by what they are: uint8 / 255, uint16 / 65535, other integers by
    the range they use (0-255 or 0-65535), floats as they are in [0, 1] or / 255 in [0, 255]. Anything else
    is refused with its range, never clipped silently."""
    lo, hi = (float(images.min()), float(images.max())) if images.size else (0.0, 0.0)
    if images.dtype == np.uint8:
        scale = 255.0
    elif images.dtype == np.uint16:
        scale = 65535.0
    elif np.issubdtype(images.dtype, np.integer) and lo >= 0 and hi <= 65535:
        scale = 255.0 if hi <= 255 else 65535.0
    elif np.issubdtype(images.dtype, np.floating) and lo >= 0 and hi <= 1:
        scale = 1.0
    elif np.issubdtype(images.dtype, np.floating) and lo >= 0 and hi <= 255:
        scale = 255.0
    else:
        raise DataError(f"{path}: 'images' values run from {lo:.4g} to {hi:.4g} ({images.dtype}); give floats "
                        "in [0, 1] or [0, 255], or integers 0-255 (or 0-65535)")
    return (images.astype(np.float32) / np.float32(scale)).clip(0, 1)


def load_npz(path: Path, spec: str) -> ImageData:
    check_regular(path)
    try:
        shapes = _npz_shapes(path)
        if "images" not in shapes:
            raise DataError(f"{path}: an .npz dataset needs an 'images' array; it has {sorted(shapes)}")
        if shapes["images"][1].hasobject:
            raise DataError(f"{path}: not a readable .npz file ('images' holds Python objects)")
        check_budget(shapes["images"][0], path)
        for key in ("labels", "class_names"):
            if key in shapes and math.prod(shapes[key][0]) * shapes[key][1].itemsize > 64 * 2**20:
                raise DataError(f"{path}: '{key}' is implausibly large ({shapes[key][0]})")
        with np.load(path, allow_pickle=False) as z:
            images = z["images"]
            labels = z["labels"] if "labels" in shapes else None
            names = [str(s)[:100] for s in z["class_names"]][:MAX_CLASSES] if "class_names" in shapes else []
    except DataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib_error) as e:
        raise DataError(f"{path}: not a readable .npz file ({reason(e)[:200]})") from None
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4) or min(images.shape[1:3]) < 1:
        raise DataError(f"{path}: 'images' must be (N, H, W) or (N, H, W, C) with C in 1/3/4, "
                        f"found {images.shape}")
    if len(images) == 0:
        raise DataError(f"{path}: 'images' is empty")
    if (not np.issubdtype(images.dtype, np.number) or np.issubdtype(images.dtype, np.complexfloating)
            or images.dtype == np.bool_):
        raise DataError(f"{path}: 'images' must be numeric, found {images.dtype}")
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise DataError(f"{path}: 'images' contains NaN or infinite values")
    x = _as_unit(images, path).transpose(0, 3, 1, 2)
    if labels is not None:
        if labels.ndim != 1 or len(labels) != len(x) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{path}: 'labels' must be N={len(x)} integers, found {labels.dtype} {labels.shape}")
        labels = checked_labels(labels, f"{path}: 'labels'")
        n_cls = int(labels.max()) + 1
        if len(names) < n_cls:
            names = [str(i) for i in range(n_cls)]
    return ImageData(np.ascontiguousarray(x), labels, names if labels is not None else [], spec)
