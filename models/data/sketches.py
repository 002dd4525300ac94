"""The drawings an image-to-image model starts from, derived from a dataset's images: edges, a silhouette, an
outline (pix2pix's and ControlNet's sources)."""

from __future__ import annotations

import numpy as np

SOURCES = ("edges", "silhouette", "outline", "paired")  # "paired": the data's own A/ images, not derived
EDGE_THRESHOLD = 0.08  # the colour change (max over channels, in [0, 1]) that makes an edge


def edges(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, 1, H, W) float32 of 0/1: a pixel is an edge where the colour differs
    from its right or lower neighbour by more than EDGE_THRESHOLD in some channel (one pixel thick)."""
    x = np.asarray(images, np.float32)
    dx = np.abs(np.diff(x, axis=3, append=x[..., -1:])).max(1)
    dy = np.abs(np.diff(x, axis=2, append=x[:, :, -1:, :])).max(1)
    return (np.maximum(dx, dy) > EDGE_THRESHOLD).astype(np.float32)[:, None]


def _background(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C, 1, 1): each image's background colour, the median of its border pixels."""
    border = np.concatenate([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], axis=2)
    return np.median(border, axis=2)[:, :, None, None]


def silhouette(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, 1, H, W) 0/1: where the colour differs from the image's background (the median
    of its border pixels) by more than EDGE_THRESHOLD."""
    x = np.asarray(images, np.float32)
    return (np.abs(x - _background(x)).max(1) > EDGE_THRESHOLD).astype(np.float32)[:, None]


def outline(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H, W): a colour sketch of each image, its background colour as the paper and
    the object's rim (silhouette pixels with a background pixel beside them) drawn in the object's own colours:
    what is inside the line, and in what colour, is left for the model to fill in."""
    x = np.asarray(images, np.float32)
    m = silhouette(x)[:, 0] > 0
    pad = np.pad(m, ((0, 0), (1, 1), (1, 1)), constant_values=False)
    inner = m & pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2] & pad[:, 1:-1, 2:]
    rim = (m & ~inner)[:, None]
    return np.where(rim, x, np.broadcast_to(_background(x), x.shape)).astype(np.float32)


def source_of(images: np.ndarray, source: str) -> np.ndarray:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "paired":
        raise ValueError("paired sources are not computed from the images: they come with the data (pairs:FOLDER)")
    return {"edges": edges, "silhouette": silhouette, "outline": outline}[source](images)
