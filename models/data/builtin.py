"""The built-in datasets, made here or shipped in assets/: sklearn's digits, the MNIST test set, dSprites-like
shapes and captioned scenes (:mod:`models.data.scenes`). :data:`models.data.DATASETS` lists them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latent_explorer.models.data.core import (
    DataError,
    ImageData,
    check_budget,
)
from latent_explorer.models.data.formats import load_idx
from latent_explorer.models.lazy import lazy_import


def load_digits() -> ImageData:
    sk_digits = lazy_import("sklearn.datasets").load_digits

    d = sk_digits()
    images = (d.images.astype(np.float32) / 16.0)[:, None]  # (1797, 1, 8, 8)
    return ImageData(images, d.target.astype(np.int64), [str(i) for i in range(10)], "digits")


MNIST_DIR = Path(__file__).resolve().parents[2] / "assets" / "data" / "mnist"


def load_mnist() -> ImageData:
    """The 10,000 real MNIST test images (28x28, labels 0-9) shipped in assets/data/mnist."""
    path = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        raise DataError(f"mnist: the built-in copy is missing ({path}); reinstall Latent Explorer")
    data = load_idx(path, "mnist")
    data.class_names = [str(i) for i in range(10)]
    return data


def load_scenes(spec: str) -> ImageData:
    """``scenes[:N][:objects=K][:seed=S]`` (see :mod:`models.data.scenes`)."""
    from latent_explorer.models.data import scenes

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
    check_budget((n, 3, scenes.SIZE, scenes.SIZE), "scenes")  # a spec in a checkpoint is data too
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
SHAPE_FACTORS = ("shape", "scale", "rotation", "x", "y")  # kept for every image, in this order


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
                     factors=factors, factor_names=list(SHAPE_FACTORS))
