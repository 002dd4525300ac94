"""What every dataset is: :class:`ImageData` (float32 images (N, C, H, W) in [0, 1] with labels, factors and
captions), its held-out splits, conversion to a model's shape, and the checks every reader shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latent_explorer.models.errors import check_regular as _check_regular

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


def megabytes(n: int) -> str:
    return f"{n / 2**20:,.0f} MB"


def check_regular(path: Path, expected: str = "a file") -> None:
    """Refuse anything but a regular file (a folder, a FIFO, a device) without opening it."""
    _check_regular(path, DataError, expected)


def checked_labels(labels: np.ndarray, where) -> np.ndarray:
    """Integer labels in 0..MAX_CLASSES-1 as int64, checked before anything is made from them (class names,
    one-hot codes); unsigned 64-bit values that would wrap to negatives are caught too."""
    if not np.issubdtype(labels.dtype, np.integer) or labels.dtype == np.bool_:
        raise DataError(f"{where}: labels must be integers, found {labels.dtype}")
    if len(labels) and (labels.min() < 0 or labels.max() >= MAX_CLASSES):
        raise DataError(f"{where}: labels must be 0 to {MAX_CLASSES - 1}, found {str(labels.min())[:24]} to "
                        f"{str(labels.max())[:24]}")
    return labels.astype(np.int64)


def check_budget(shape, where) -> None:
    n = math.prod(int(v) for v in shape) * 4
    if n > MAX_DATA_BYTES:
        raise DataError(f"{where}: {tuple(int(v) for v in shape)} images would take {megabytes(n)} in memory "
                        "as floats; "
                        f"the limit is {megabytes(MAX_DATA_BYTES)}")
