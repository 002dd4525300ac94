"""Datasets: one spec string selects the data everywhere (``--data SPEC``).

Specs
-----
``digits``            scikit-learn's 1,797 real 8x8 handwritten digits, labelled 0-9.
``mnist``             the 10,000 real 28x28 MNIST test images, labelled 0-9 (shipped in assets/data/mnist).
``scenes[:N][:objects=2][:seed=S]``
                      N (default 20,000) generated 32x32 RGB scenes of one object (or two) with captions,
                      every factor kept (see :mod:`models.scenes`); the object's shape is the label.
``shapes[:N]``        N (default 6000) procedurally generated dSprites-like 32x32 images
                      (square / ellipse / triangle x scale x rotation x position), deterministic
                      (seed 0); the shape is the label and all five factors are kept.
a folder              images (PNG/JPEG/BMP), flat or one subfolder per class; or MNIST IDX files.
an IDX file           ``*-images-idx3-ubyte[.gz]`` (labels read from the matching idx1 file).
an ``.npz`` file      ``images`` (N,H,W[,C]) and optional ``labels`` (N,) and ``class_names``.

Every loader returns :class:`ImageData` with images as float32 (N, C, H, W) in [0, 1].
"""

from __future__ import annotations

import gzip
import math
import os
import stat
import struct
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from zlib import error as zlib_error

import numpy as np

from .errors import check_regular as _check_regular
from .errors import reason
from .images import MAX_IMAGE_PIXELS  # larger image files are skipped (one definition, with PIL's limit)
from .lazy import lazy_import

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp"}
MIN_SIZE, MAX_SIZE = 8, 64
MAX_DATA_BYTES = 512 * 2**20  # a dataset's images in memory as float32, and any file's bytes read whole
SPLITS = ("stratified", "tail", "captions")  # how the held-out part is chosen (recorded in each checkpoint)
MAX_CLASSES = 1000  # label values are checked against this before class names are made


class DataError(ValueError):
    """A dataset spec that cannot be loaded; the message is meant for the user."""


@dataclass
class ImageData:
    images: np.ndarray  # (N, C, H, W) float32 in [0, 1]
    labels: np.ndarray | None = None  # (N,) int64
    class_names: list[str] = field(default_factory=list)
    spec: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    factors: np.ndarray | None = None  # (N, F) generating factors (generated data only)
    factor_names: list[str] = field(default_factory=list)
    factor_classes: dict[str, list[str]] = field(default_factory=dict)  # names of a categorical factor's values
    captions: list[str] | None = None  # (N,) a sentence per image (scenes)
    sources: np.ndarray | None = None  # (N, C, H, W) paired inputs (``pairs:FOLDER``: A/ for the images of B/)
    note: str = ""  # what the loader wants a user to know (unmatched pairs)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def subset(self, index) -> ImageData:
        return ImageData(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            class_names=self.class_names,
            spec=self.spec,
            factors=None if self.factors is None else self.factors[index],
            factor_names=self.factor_names,
            factor_classes=self.factor_classes,
            captions=None if self.captions is None else np.asarray(self.captions, object)[index].tolist(),
            sources=None if self.sources is None else self.sources[index],
            note=self.note,
        )

    def split_indices(self, val_fraction: float = 0.1, method: str = "stratified"
                      ) -> tuple[np.ndarray | slice, np.ndarray | slice]:
        """The fixed held-out split as (train, held-out) indices. "stratified" (the default, with labels):
        the last ``val_fraction`` of every class, so no class is held out whole (a folder of class subfolders
        lists its classes one after another); "tail" (unlabelled data, and checkpoints made before
        stratification): the last ``val_fraction`` of the data; "captions" (captioned data, for text-to-image
        models): every image of a fixed ``val_fraction`` of the distinct captions, so the held-out captions are
        never seen in training (:meth:`held_out_captions`). At least one image is held out."""
        n = len(self)
        if n < 2:
            raise DataError(f"{self.spec}: need at least 2 images to hold some out, found {n}")
        if method not in SPLITS:
            raise DataError(f"unknown held-out split {method!r} (use {', '.join(SPLITS)})")
        if method == "captions" and self.captions is not None:
            held = set(self.held_out_captions(val_fraction))
            keep = np.array([c not in held for c in self.captions])
            if 0 < keep.sum() < n:
                return np.flatnonzero(keep), np.flatnonzero(~keep)
        if method == "stratified" and self.labels is not None and len(np.unique(self.labels)) > 1:
            held = []
            for c in np.unique(self.labels):
                idx = np.flatnonzero(self.labels == c)
                k = min(len(idx) - 1, max(1, int(round(len(idx) * val_fraction)))) if len(idx) > 1 else 0
                held.append(idx[len(idx) - k :])
            val = np.sort(np.concatenate(held))
            if 0 < len(val) < n:
                keep = np.ones(n, bool)
                keep[val] = False
                return np.flatnonzero(keep), val
        n_val = min(n - 1, max(1, int(round(n * val_fraction))))
        return slice(0, n - n_val), slice(n - n_val, n)

    def held_out_captions(self, val_fraction: float = 0.1) -> list[str]:
        """The distinct captions the "captions" split holds out: a ``val_fraction`` of them, chosen by a
        hash of each caption's text, so the choice does not depend on which images were drawn."""
        import zlib

        distinct = sorted(set(self.captions or ()))
        return [c for c in distinct if zlib.crc32(c.encode()) % 10_000 < val_fraction * 10_000]

    def split(self, val_fraction: float = 0.1, method: str = "stratified") -> tuple[ImageData, ImageData]:
        """(train, held-out) data: see :meth:`split_indices`."""
        train, val = self.split_indices(val_fraction, method)
        return self.subset(train), self.subset(val)

    def conform(self, channels: int, size: int) -> ImageData:
        """The same data converted to ``channels`` and a square ``size``."""
        out = ImageData(**{**self.__dict__})
        out.images = conform_images(self.images, channels, size)
        if self.sources is not None:
            out.sources = conform_images(self.sources, channels, size)
        return out


def conform_images(images: np.ndarray, channels: int, size: int) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, channels, size, size), antialiased resize, luminance for gray."""
    x = images
    c = x.shape[1]
    if c == 4:  # drop alpha (composited on black)
        x = x[:, :3] * x[:, 3:4]
        c = 3
    if c == 3 and channels == 1:
        x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).astype(np.float32)
    elif c == 1 and channels == 3:
        x = np.repeat(x, 3, axis=1)
    elif c != channels:
        raise DataError(f"cannot convert {c}-channel images to {channels} channels")
    if x.shape[2:] != (size, size):
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        t = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        x = t.clamp_(0, 1).numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Built-in data


def load_digits() -> ImageData:
    sk_digits = lazy_import("sklearn.datasets").load_digits

    d = sk_digits()
    images = (d.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    return ImageData(images, d.target.astype(np.int64), [str(i) for i in range(10)], "digits")


MNIST_DIR = Path(__file__).resolve().parents[1] / "assets" / "data" / "mnist"
BUILTIN_DATASETS = ("digits", "mnist", "shapes", "scenes")


def load_mnist() -> ImageData:
    """The 10,000 real MNIST test images (28x28, labels 0-9) shipped in assets/data/mnist."""
    path = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        raise DataError(f"mnist: the built-in copy is missing ({path}); reinstall Latent Explorer")
    data = load_idx(path, "mnist")
    data.class_names = [str(i) for i in range(10)]
    return data


def load_scenes(spec: str) -> ImageData:
    """``scenes[:N][:objects=K][:seed=S]`` (see :mod:`models.scenes`)."""
    from . import scenes

    n, objects, seed = 20000, 1, 0
    for part in spec.split(":")[1:]:
        key, eq, value = part.partition("=")
        try:
            if not eq:
                n = int(part)
            elif key == "objects":
                objects = int(value)
            elif key == "seed":
                seed = int(value)
            else:
                raise ValueError
        except ValueError:
            raise DataError(f"scenes: expected scenes[:N][:objects=1|2][:seed=S], got {spec!r}") from None
    if not 1 <= n <= 200_000:
        raise DataError(f"scenes: N must be between 1 and 200000, got {n}")
    _check_budget((n, 3, scenes.SIZE, scenes.SIZE), "scenes")  # a spec in a checkpoint is data too
    if objects not in (1, 2):
        raise DataError(f"scenes: objects must be 1 or 2, got {objects}")
    if not 0 <= seed < 2**32:
        raise DataError(f"scenes: the seed must be 0..2^32-1, got {seed}")
    images, factors, background, captions = scenes.make_scenes(n, seed, objects)
    names = [f"{f}{o + 1 if objects > 1 else ''}" for o in range(objects) for f in scenes.FACTORS[:4]]
    values = {"shape": scenes.SHAPES, "colour": list(scenes.COLOURS), "size": list(scenes.SIZES),
              "position": scenes.POSITIONS}
    classes = {name: values[name.rstrip("12")] for name in names}
    classes["background"] = list(scenes.BACKGROUNDS)
    table = np.concatenate([factors.reshape(n, -1), background[:, None]], 1)
    return ImageData(images, factors[:, 0, 0].copy(), list(scenes.SHAPES), spec, factors=table,
                     factor_names=names + ["background"], factor_classes=classes, captions=captions)


SHAPE_NAMES = ["square", "ellipse", "triangle"]


def make_shapes(n: int = 6000, size: int = 32, seed: int = 0, supersample: int = 4) -> ImageData:
    """dSprites-like images, deterministic from ``seed``; factors: shape, scale, rotation, x, y."""
    if n < 1:
        raise DataError("shapes: the number of images must be at least 1")
    rng = np.random.default_rng(seed)
    shape = rng.integers(0, 3, n)
    scale = rng.uniform(0.5, 1.0, n)
    rot = rng.uniform(0, 2 * np.pi, n)
    radius = scale * size * 0.3
    cx = rng.uniform(radius, size - radius)
    cy = rng.uniform(radius, size - radius)
    s = supersample
    coords = (np.arange(size * s) + 0.5) / s  # pixel-centre coordinates at supersampled resolution
    gx, gy = np.meshgrid(coords, coords)  # (S, S)
    out = np.empty((n, 1, size, size), np.float32)
    for start in range(0, n, 256):
        sl = slice(start, min(n, start + 256))
        dx = gx[None] - cx[sl, None, None]
        dy = gy[None] - cy[sl, None, None]
        c, si = np.cos(rot[sl])[:, None, None], np.sin(rot[sl])[:, None, None]
        u = (c * dx + si * dy) / radius[sl, None, None]  # rotated, unit circumradius
        v = (-si * dx + c * dy) / radius[sl, None, None]
        square = np.maximum(np.abs(u), np.abs(v)) <= 0.75
        ellipse = u**2 + (v / 0.6) ** 2 <= 1.0
        tri = np.ones_like(square)
        for ang in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            tri &= -(u * np.cos(ang) + v * np.sin(ang)) <= 0.5  # inradius of a unit equilateral triangle
        k = shape[sl, None, None]
        mask = np.where(k == 0, square, np.where(k == 1, ellipse, tri)).astype(np.float32)
        out[sl, 0] = mask.reshape(-1, size, s, size, s).mean(axis=(2, 4))
    factors = np.stack([shape, scale, rot, cx / size, cy / size], 1).astype(np.float32)
    return ImageData(out, shape.astype(np.int64), list(SHAPE_NAMES), f"shapes:{n}" if n != 6000 else "shapes",
                     factors=factors, factor_names=["shape", "scale", "rotation", "x", "y"])


# ----------------------------------------------------------------------------------------------
# Files


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_regular(path: Path, expected: str = "a file") -> None:
    """Refuse anything but a regular file (a folder, a FIFO, a device) without opening it."""
    _check_regular(path, DataError, expected)


def _open_maybe_gz(path: Path, limit: int = MAX_DATA_BYTES) -> bytes:
    """A file's bytes, gunzipped when it ends in .gz; at most ``limit`` bytes (a gzip bomb is refused as
    soon as it passes the limit, without inflating the rest)."""
    check_regular(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read(limit + 1)
            if len(raw) > limit:
                raise DataError(f"{path}: decompresses to more than {_mb(limit)}; the limit is {_mb(limit)}")
            return raw
        size = path.stat().st_size
        if size > limit:
            raise DataError(f"{path}: {_mb(size)} is too large; the limit is {_mb(limit)}")
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
    _check_budget(arr.shape, images_path)
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


def checked_labels(labels: np.ndarray, where) -> np.ndarray:
    """Integer labels in 0..MAX_CLASSES-1 as int64, checked before anything is made from them (class names,
    one-hot codes); unsigned 64-bit values that would wrap to negatives are caught too."""
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise DataError(f"{where}: labels must be integers, found {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= MAX_CLASSES):
        raise DataError(f"{where}: labels must be 0 to {MAX_CLASSES - 1}, found {str(labels.min())[:24]} to "
                        f"{str(labels.max())[:24]}")
    return labels.astype(np.int64)


def _check_budget(shape, where) -> None:
    n = math.prod(int(v) for v in shape) * 4
    if n > MAX_DATA_BYTES:
        raise DataError(f"{where}: {tuple(int(v) for v in shape)} images would take {_mb(n)} in memory as floats; "
                        f"the limit is {_mb(MAX_DATA_BYTES)}")


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
        _check_budget(shapes["images"][0], path)
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


def read_image(path: Path, max_side: int | None = None) -> np.ndarray:
    """One image file -> (C, H, W) float32 in [0, 1]; raises ValueError with a reason. With ``max_side``, a
    bigger picture is reduced (aspect kept) while it is decoded, before any float copy: a 8000 x 8000 photo
    for a 28 x 28 model costs a few MB, not a float copy of 64 million pixels."""
    from .images import pil_image

    Image, ImageOps = pil_image(), lazy_import("PIL.ImageOps")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning: we check the size ourselves
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ValueError("not a regular file (a pipe, a device or a socket)")
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(f"too large ({w}x{h} pixels)")
                if max_side is not None and max(w, h) > 2 * max_side:
                    im.draft(im.mode, (2 * max_side, 2 * max_side))  # JPEG: decode at a reduced scale
                    im.thumbnail((2 * max_side, 2 * max_side), Image.Resampling.BOX)
                im = ImageOps.exif_transpose(im)  # as a camera or a phone meant it to be seen
                if im.mode.startswith("I") or im.mode == "F":  # 16- or 32-bit grey: scaled, never clipped
                    arr = np.asarray(im, np.float32)
                    top = 1.0 if im.mode == "F" and arr.max() <= 1 else 255.0 if arr.max() <= 255 else 65535.0
                    arr = (arr / top).clip(0, 1)[None]
                elif im.mode in ("1", "L", "LA", "P") and not _palette_has_colour(im):
                    arr = np.asarray(im.convert("L"), np.float32)[None] / 255.0
                else:
                    arr = np.asarray(im.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0
        except ValueError:
            raise
        except Image.DecompressionBombError:
            raise ValueError(f"too large (its header claims over {MAX_IMAGE_PIXELS:,} pixels)") from None
        except Exception as e:  # PIL raises many kinds for broken files
            raise ValueError(f"not a readable image ({type(e).__name__})") from None
    return arr


def _palette_has_colour(im) -> bool:
    """A palette image with any non-grey entry (read from the palette, without decoding the pixels)."""
    if im.mode != "P":
        return False
    pal = np.asarray(im.getpalette() or [], np.int32).reshape(-1, 3)
    return bool(len(pal)) and not (np.array_equal(pal[:, 0], pal[:, 1]) and np.array_equal(pal[:, 1], pal[:, 2]))


def _image_header(path: Path) -> tuple[int, int, int]:
    """(channels, height, width) of an image file from its header, nothing decoded; ValueError if unusable."""
    from .images import pil_image

    Image = pil_image()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ValueError("not a regular file (a pipe, a device or a socket)")
            with Image.open(path) as im:
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(f"too large ({w}x{h} pixels)")
                grey = im.mode in ("1", "L", "LA", "F") or im.mode.startswith("I") or (
                    im.mode == "P" and not _palette_has_colour(im))
        except ValueError:
            raise
        except Image.DecompressionBombError:
            raise ValueError(f"too large (its header claims over {MAX_IMAGE_PIXELS:,} pixels)") from None
        except Exception as e:  # PIL raises many kinds for broken files
            raise ValueError(f"not a readable image ({type(e).__name__})") from None
    if orientation in (5, 6, 7, 8):  # shown turned by 90 degrees
        w, h = h, w
    return (1 if grey else 3), h, w


MAX_FOLDER_FILES = 100_000  # a dataset folder holding more files (a home folder, "/") is refused at once


def _files_under(root: Path, folder: Path, budget: list[int]) -> list[Path]:
    """Every file under ``folder`` (hidden folders skipped, unreadable ones passed over), counting each
    against ``budget``: past it the walk stops with a message instead of walking a whole disk."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            budget[0] -= 1
            if budget[0] < 0:
                raise DataError(f"{root}: more than {MAX_FOLDER_FILES:,} files in this folder and its subfolders; "
                                "choose the folder that holds your images")
            out.append(Path(dirpath) / f)
    return out


def _no_readable_image(root: Path, skipped: list[tuple[str, str]]) -> DataError:
    reasons = Counter(r for _, r in skipped).most_common(2)
    return DataError(f"{root}: no readable image ({len(skipped)} files skipped: "
                     + "; ".join(f"{n} {r}" for r, n in reasons) + ")")


def load_folder(root: Path, spec: str, size: int | None = None, channels: int | None = None) -> ImageData:
    budget = [MAX_FOLDER_FILES]
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        classed = [(d, _files_under(root, d, budget)) for d in subdirs]
        classed = [(d, fs) for d, fs in classed if any(f.suffix.lower() in IMAGE_EXTS for f in fs)]
        if classed:
            entries = [(f, i) for i, (_, fs) in enumerate(classed) for f in fs]
            class_names = [d.name for d, _ in classed]
        else:
            entries = [(f, -1) for f in sorted(p for p in root.iterdir() if p.is_file())]
            class_names = []
    except OSError as e:
        raise DataError(f"{root}: cannot read the folder ({e.strerror or e})") from None
    if not entries:
        raise DataError(f"{root}: the folder is empty")
    # pass 1: headers only (sizes and channels), so that memory never holds more than the final array
    found, skipped = [], []
    for f, lab in entries:
        if f.name.startswith("."):
            continue
        if f.suffix.lower() not in IMAGE_EXTS:
            skipped.append((str(f), "not an image file (PNG/JPEG/BMP)"))
            continue
        try:
            found.append((f, lab, *_image_header(f)))
        except ValueError as e:
            skipped.append((str(f), str(e)))
    if not found:
        raise _no_readable_image(root, skipped)
    if channels is None:
        channels = 3 if any(c == 3 for _, _, c, _, _ in found) else 1
    if size is None:
        (h, w), _ = Counter((h, w) for _, _, _, h, w in found).most_common(1)[0]
        size = int(min(MAX_SIZE, max(MIN_SIZE, min(h, w))))
    _check_budget((len(found), channels, size, size), root)
    # pass 2: decode each (reduced while decoding when big) straight into its place in the final array
    out = np.empty((len(found), channels, size, size), np.float32)
    labels = []
    for f, lab, *_ in found:
        try:
            im = read_image(f, max_side=size)
        except ValueError as e:
            skipped.append((str(f), str(e)))
            continue
        out[len(labels)] = conform_images(im[None], channels, size)[0]
        labels.append(lab)
    if not labels:
        raise _no_readable_image(root, skipped)
    out = out[: len(labels)]
    lab = np.asarray(labels, np.int64) if class_names else None
    return ImageData(out, lab, class_names, spec, skipped=skipped)


def load_pairs(spec: str, size: int | None = None, channels: int | None = None) -> ImageData:
    """``pairs:FOLDER``: paired data for image-to-image models, FOLDER/A/x.png beside FOLDER/B/x.png (the same
    name, any image extension). The images of B/ are the data, those of A/ its ``sources``, both in B's shape
    unless told. Names found on one side only are counted in :attr:`ImageData.note` and left out."""
    root = Path(os.path.expanduser(spec.partition(":")[2].strip()))
    if not spec.partition(":")[2].strip():
        raise DataError("pairs: give the folder that holds A/ and B/, e.g. pairs:~/facades")
    sides = {}
    for side in ("A", "B"):
        folder = root / side
        if not folder.is_dir():
            raise DataError(f"{spec}: paired data needs two subfolders, A/ (sources) and B/ (targets), holding "
                            f"images of the same names; {folder} is not a folder")
        try:
            files = _files_under(root, folder, [MAX_FOLDER_FILES])
        except OSError as e:
            raise DataError(f"{folder}: cannot read the folder ({e.strerror or e})") from None
        by_name = {}
        for f in files:
            if f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."):
                by_name.setdefault(str(f.relative_to(folder).with_suffix("")), f)
        sides[side] = by_name
    a, b = sides["A"], sides["B"]
    common = sorted(set(a) & set(b))
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if not common:
        raise DataError(f"{spec}: no name is in both A/ ({len(a)} images) and B/ ({len(b)} images); pairs are "
                        "matched by file name (A/x.png with B/x.jpg)")
    skipped = [(str(a[n]), "no image of the same name in B/") for n in only_a]
    skipped += [(str(b[n]), "no image of the same name in A/") for n in only_b]
    heads = {}
    for n in common:
        try:
            heads[n] = (_image_header(a[n]), _image_header(b[n]))
        except ValueError as e:
            skipped.append((f"{a[n]} / {b[n]}", str(e)))
    if not heads:
        raise _no_readable_image(root, skipped)
    if channels is None:
        channels = 3 if any(hb[0] == 3 for _, hb in heads.values()) else 1
    if size is None:
        (h, w), _ = Counter(hb[1:] for _, hb in heads.values()).most_common(1)[0]
        size = int(min(MAX_SIZE, max(MIN_SIZE, min(h, w))))
    _check_budget((2 * len(heads), channels, size, size), root)
    imgs = np.empty((len(heads), channels, size, size), np.float32)
    srcs = np.empty_like(imgs)
    k = 0
    for n in heads:
        try:
            ia, ib = read_image(a[n], max_side=size), read_image(b[n], max_side=size)
        except ValueError as e:
            skipped.append((f"{a[n]} / {b[n]}", str(e)))
            continue
        srcs[k], imgs[k] = conform_images(ia[None], channels, size)[0], conform_images(ib[None], channels, size)[0]
        k += 1
    if not k:
        raise _no_readable_image(root, skipped)
    note = ""
    if only_a or only_b:
        first = (f"A/{only_a[0]}" if only_a else f"B/{only_b[0]}")
        note = (f"{k} pairs; {len(only_a)} image(s) of A/ and {len(only_b)} of B/ have no partner of the same "
                f"name and are left out (first: {first})")
    return ImageData(imgs[:k], None, [], spec, skipped=skipped, sources=srcs[:k], note=note)


# ----------------------------------------------------------------------------------------------


def is_builtin(spec: str | None) -> bool:
    """A built-in dataset (made or shipped here), as opposed to a path that a file or a user names."""
    return bool(spec) and str(spec).split(":")[0] in BUILTIN_DATASETS and os.sep not in str(spec)


def load_dataset(spec: str, size: int | None = None, channels: int | None = None) -> ImageData:
    """Load the data named by ``spec``; with ``size``/``channels`` convert to the model's shape."""
    spec = (spec or "").strip()
    if not spec:
        raise DataError("no dataset given: use 'digits', 'mnist', 'shapes', 'scenes', a folder, an IDX file, "
                        "an .npz file, or pairs:FOLDER (A/ and B/ of the same names)")
    if spec == "digits":
        data = load_digits()
    elif spec == "mnist":
        data = load_mnist()
    elif spec == "scenes" or spec.startswith("scenes:"):
        data = load_scenes(spec)
    elif spec.startswith("pairs:"):
        data = load_pairs(spec, size, channels)
    elif spec == "shapes" or spec.startswith("shapes:"):
        arg = spec.partition(":")[2]
        try:
            n = int(arg) if arg else 6000
        except ValueError:
            raise DataError(f"shapes: expected 'shapes:N' with N a number, got {spec!r}") from None
        if not 1 <= n <= 200_000:
            raise DataError(f"shapes: N must be between 1 and 200000, got {n}")
        _check_budget((n, 1, 32, 32), "shapes")
        data = make_shapes(n)
    else:
        try:
            data = _load_path(spec, size, channels)
        except OSError as e:  # a folder we may not read, a file that vanished
            raise DataError(f"{spec}: cannot read ({e.strerror or e})") from None
    if len(data) == 0:
        raise DataError(f"{spec}: no images")
    if size is not None or channels is not None:
        data = data.conform(channels or data.shape[0], size or data.shape[1])
    return data


def _load_path(spec: str, size: int | None, channels: int | None) -> ImageData:
    """A dataset from a path: a folder (images, class subfolders or IDX files), an IDX file or an .npz."""
    path = Path(os.path.expanduser(spec))
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder (built-in datasets: {', '.join(BUILTIN_DATASETS)})")
    if path.is_dir():
        idx = sorted(p for p in path.iterdir() if "idx3" in p.name)
        return load_idx(idx[0], spec) if idx else load_folder(path, spec, size, channels)
    check_regular(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path, spec)
    if "idx" in path.name or path.suffix == ".gz":
        return load_idx(path, spec)
    if path.suffix.lower() in IMAGE_EXTS:
        raise DataError(f"{spec}: a single image is not a dataset; give the folder that holds it")
    raise DataError(f"{spec}: unknown data format (use a folder of images, IDX files or an .npz)")
