"""Data handed over from a user's Python (``latent_explorer.show(data=...)``): a tensor, a numpy array or a
torch ``Dataset``, with labels and class names when given, in whatever range its images use. It becomes
:class:`ImageData` in [0, 1] and is kept under the spec ``python:NAME`` for this process, so every view asks
for it as for any dataset (nothing is written to disk, nothing read from it)."""

from __future__ import annotations

import numpy as np

from latent_explorer.models.data.core import MAX_CLASSES, DataError, ImageData, check_budget

PREFIX = "python:"
MAX_ITEMS = 1_000_000  # items read from a torch Dataset
KNOWN_RANGES = ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
_KEPT: dict[str, ImageData] = {}


def keep(name: str, data: ImageData) -> str:
    """Keep ``data`` for this process under a spec of its own; returns the spec."""
    spec = PREFIX + name
    data.spec = spec
    _KEPT[spec] = data
    return spec


def kept(spec: str) -> ImageData | None:
    return _KEPT.get(spec)


def detect_range(x: np.ndarray) -> tuple[float, float]:
    """The range the images were made in, from their values: [0, 1], [-1, 1] or [0, 255]."""
    lo, hi = float(np.nanmin(x)), float(np.nanmax(x))
    for a, b in KNOWN_RANGES:
        if lo >= a - 1e-3 and hi <= b + 1e-3:
            return a, b
    raise DataError(f"the images span {lo:.3g} to {hi:.3g}, none of [0, 1], [-1, 1] or [0, 255]: give "
                    "image_range=(low, high)")


def _from_dataset(ds) -> tuple[np.ndarray, np.ndarray | None]:
    """Every item of a torch Dataset: an image, or (image, label, ...)."""
    import torch

    n = len(ds)
    if not 0 < n <= MAX_ITEMS:
        raise DataError(f"the dataset has {n:,} items: between 1 and {MAX_ITEMS:,} can be shown")
    first = ds[0]
    x0 = first[0] if isinstance(first, (tuple, list)) else first
    shape = tuple(np.asarray(x0).shape)
    check_budget((n, *shape), "the dataset")
    images = np.empty((n, *shape), np.float32)
    labels = np.empty(n, np.int64) if isinstance(first, (tuple, list)) and len(first) > 1 else None
    for i in range(n):
        item = ds[i]
        x = item[0] if isinstance(item, (tuple, list)) else item
        x = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        if x.shape != shape:
            raise DataError(f"item {i} of the dataset has shape {x.shape}, item 0 {shape}: all must match")
        images[i] = x
        if labels is not None:
            labels[i] = int(item[1])
    return images, labels


def image_data(data, labels=None, class_names=None, image_range=None) -> tuple[ImageData, tuple[float, float]]:
    """``data`` as ImageData in [0, 1] and the range its images were in (declared, or detected)."""
    import torch

    if isinstance(data, torch.utils.data.Dataset) and not isinstance(data, torch.Tensor):
        x, found = _from_dataset(data)
        labels = found if labels is None else labels
    elif isinstance(data, torch.Tensor):
        x = data.detach().cpu().float().numpy()
    elif isinstance(data, np.ndarray):
        x = data
    else:
        raise DataError(f"data must be a tensor, a numpy array or a torch Dataset, not {type(data).__name__}")
    if x.dtype.kind not in "fiub":
        raise DataError(f"the images must be numbers, not {x.dtype}")
    if x.ndim == 3:  # (N, H, W): one channel
        x = x[:, None]
    elif x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[3] in (1, 3):  # (N, H, W, C)
        x = x.transpose(0, 3, 1, 2)
    if x.ndim != 4 or x.shape[1] not in (1, 3) or min(x.shape[2:]) < 4 or len(x) == 0:
        raise DataError(f"the images have shape {tuple(data.shape) if hasattr(data, 'shape') else x.shape}: "
                        "expected (N, C, H, W) with C = 1 or 3 (or (N, H, W), (N, H, W, C)), at least 4x4")
    check_budget(x.shape, "the images")
    x = np.asarray(x, np.float32)
    if not np.isfinite(x).all():
        raise DataError("the images hold NaN or infinite values")
    lo, hi = detect_range(x) if image_range is None else (float(image_range[0]), float(image_range[1]))
    if not hi > lo:
        raise DataError(f"image_range must be (low, high) with high > low, got {image_range}")
    x = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    y, names = _labels(labels, class_names, len(x))
    return ImageData(np.ascontiguousarray(x), y, names), (lo, hi)


def _labels(labels, class_names, n: int) -> tuple[np.ndarray | None, list[str]]:
    import torch

    if labels is None:
        return None, []
    y = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if y.shape != (n,) or y.dtype.kind not in "iu" or (n and (y.min() < 0 or y.max() >= MAX_CLASSES)):
        raise DataError(f"labels must be {n} whole numbers from 0 to {MAX_CLASSES - 1} (one per image), got "
                        f"shape {y.shape} of {y.dtype}")
    k = int(y.max()) + 1 if n else 0
    names = [str(c)[:100] for c in class_names] if class_names is not None else [str(i) for i in range(k)]
    if len(names) < k:
        raise DataError(f"{len(names)} class names for labels up to {k - 1}")
    return y.astype(np.int64), names
