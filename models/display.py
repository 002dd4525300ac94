"""Display helpers: numpy arrays in the layouts and value ranges the views draw (no Qt here).

Every picture a view shows is float32 in [0, 1], (H, W) or (H, W, 3), C-contiguous (row-major).
"""

from __future__ import annotations

import numpy as np


def to_display(image: np.ndarray) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W) or (H, W, 3) C-contiguous float32 for a row-major ImageItem."""
    image = np.asarray(image, np.float32)
    return np.ascontiguousarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0))


def mosaic(images: np.ndarray, cols: int, gap: int = 0, gap_value: float = 0.12) -> np.ndarray:
    """Images (C, h, w) in row order, ``cols`` per row (the last row padded) -> one (rows*H, cols*W) or
    (rows*H, cols*W, 3) float32 picture; each cell (H, W) = (h + gap, w + gap) has its image top-left."""
    n, c, h, w = images.shape
    rows = -(-n // cols)
    cells = np.full((rows * cols, c, h + gap, w + gap), gap_value, np.float32)
    cells[:n, :, :h, :w] = images
    grid = cells.reshape(rows, cols, c, h + gap, w + gap).transpose(0, 3, 1, 4, 2)
    grid = grid.reshape(rows * (h + gap), cols * (w + gap), c)
    return np.ascontiguousarray(grid[..., 0] if c == 1 else grid)


def square_mosaic(images: np.ndarray, gap: int = 1) -> np.ndarray:
    """``mosaic`` with ⌈√n⌉ columns."""
    return mosaic(images, int(np.ceil(np.sqrt(len(images)))), gap=gap)


def signed_to_unit(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Values in [−scale, scale] -> display [0, 1], clipped: one mapping for every panel that shows model
    units (x_0 and x_t in [−1, 1] data units, noise ε ~ N(0, 1)), so equal values look equal."""
    return np.clip((np.asarray(x, np.float32) / float(scale) + 1) / 2, 0, 1)


def heat_overlay(image: np.ndarray, heat: np.ndarray, top: float) -> np.ndarray:
    """A heat map over a picture: ``image`` (C, H, W) in [0, 1] dimmed to grey, ``heat`` (s, s) ≥ 0 resized
    to (H, W) by repetition and drawn from transparent to yellow-red, ``top`` being full strength (one
    ``top`` for every map of a step, so that a token barely looked at stays faint). -> (H, W, 3)."""
    image = np.asarray(image, np.float32)
    c, h, w = image.shape
    grey = image.mean(0) if c == 3 else image[0]
    heat = np.asarray(heat, np.float32)
    up = np.repeat(np.repeat(heat, -(-h // heat.shape[0]), 0), -(-w // heat.shape[1]), 1)[:h, :w]
    a = np.clip(up / max(float(top), 1e-12), 0, 1)[..., None]
    hot = np.stack([np.ones_like(up), np.clip(up / max(float(top), 1e-12), 0, 1), np.zeros_like(up)], -1)
    base = np.repeat(0.35 * grey[..., None], 3, -1)
    return np.ascontiguousarray(base * (1 - a) + hot * a, np.float32)


def density_image(xy: np.ndarray, point_rgb: np.ndarray | None, x_range: tuple[float, float],
                  y_range: tuple[float, float], width: int, height: int) -> tuple[np.ndarray, int]:
    """Many points as one picture (datashader-style): the points of ``xy`` (N, 2) inside the ranges counted
    per pixel of a ``width`` × ``height`` grid, each pixel the mean colour of its points (``point_rgb``
    (N, 3) in [0, 1]: their classes' colours, or None for one colour), its opacity growing with the log of
    its count (so one point shows, and a dense core does not wash out the rest). -> ((height, width, 4)
    float32 RGBA, the number of points in view). Row 0 is the bottom of the range (y up)."""
    (x0, x1), (y0, y1) = x_range, y_range
    sx, sy = width / max(x1 - x0, 1e-12), height / max(y1 - y0, 1e-12)
    col = ((xy[:, 0] - x0) * sx).astype(np.int32)
    row = ((xy[:, 1] - y0) * sy).astype(np.int32)
    keep = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    pix = row[keep] * width + col[keep]
    size = width * height
    total = np.bincount(pix, minlength=size).astype(np.float32)
    out = np.empty((size, 4), np.float32)
    if point_rgb is None:
        out[:, :3] = (0.54, 0.71, 0.97)
    else:
        rgb = point_rgb[keep]
        for c in range(3):
            out[:, c] = np.bincount(pix, rgb[:, c], minlength=size)
        out[:, :3] /= np.maximum(total, 1)[:, None]
    top = np.log1p(max(float(total.max(initial=0)), 1.0))
    out[:, 3] = np.where(total > 0, 0.35 + 0.65 * np.log1p(total) / top, 0.0)
    return out.reshape(height, width, 4), int(len(pix))
