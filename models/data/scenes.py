"""The built-in ``scenes`` data: procedurally drawn 32x32 RGB images of one (or two) objects on a coloured
background, with every generating factor kept as a label and a caption per image, deterministic from a
seed and made in memory (no files).

    a small red triangle at the top left on a navy background

Factors of each object: shape, colour, size (small / large), position (a 3x3 grid); and the background
colour. The object's colour always differs from the background's. Drawing is vectorised: each (shape,
size, position) mask is rendered once, antialiased by supersampling, and every image is a blend of two
colours through one of those masks.
"""

from __future__ import annotations

import re

import numpy as np

SHAPES = ["circle", "square", "triangle", "star", "heart", "diamond"]
COLOURS = {"red": (220, 40, 40), "orange": (245, 140, 20), "yellow": (240, 220, 40), "green": (40, 170, 60),
           "blue": (40, 90, 230), "purple": (150, 60, 200), "pink": (245, 130, 190), "cyan": (40, 210, 220)}
BACKGROUNDS = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (128, 128, 128), "navy": (20, 30, 90),
               "brown": (110, 70, 40), "teal": (20, 110, 110)}
SIZES = {"small": 3.6, "large": 5.4}  # circumradius in pixels on a 32-pixel image
POSITIONS = ["top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"]
FACTORS = ["shape", "colour", "size", "position", "background"]
SIZE = 32


def _inside(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Points (u, v) in units of the circumradius, v pointing down, inside a unit ``shape``."""
    if shape == "circle":
        return u**2 + v**2 <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.72
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.0
    if shape == "triangle":  # pointing up, centred on its circumcentre
        inside = np.ones_like(u, bool)
        for ang in (np.pi / 2, np.pi / 2 + 2 * np.pi / 3, np.pi / 2 + 4 * np.pi / 3):
            inside &= u * np.cos(ang) - v * np.sin(ang) >= -0.5
        return inside
    if shape == "star":  # five points: radius between 0.45 and 1 by angle
        r = np.hypot(u, v)
        a = np.arctan2(-v, u) - np.pi / 2
        k = np.mod(a, 2 * np.pi / 5) / (2 * np.pi / 5)  # 0..1 within one point's sector
        edge = 0.45 + 0.55 * np.abs(1 - 2 * k) ** 1.6
        return r <= edge
    if shape == "heart":
        x, y = u * 1.15, -v * 1.15 + 0.25  # the classic implicit heart, y up
        return (x**2 + y**2 - 0.6) ** 3 - x**2 * y**3 * 0.9 <= 0
    raise ValueError(shape)


def _masks(supersample: int = 4) -> np.ndarray:
    """(shapes, sizes, positions, SIZE, SIZE) coverage in [0, 1]."""
    s = supersample
    coords = (np.arange(SIZE * s) + 0.5) / s
    gx, gy = np.meshgrid(coords, coords)
    cell = SIZE / 3
    out = np.empty((len(SHAPES), len(SIZES), len(POSITIONS), SIZE, SIZE), np.float32)
    for i, shape in enumerate(SHAPES):
        for j, radius in enumerate(SIZES.values()):
            for k in range(len(POSITIONS)):
                cy, cx = (k // 3 + 0.5) * cell, (k % 3 + 0.5) * cell
                m = _inside(shape, (gx - cx) / radius, (gy - cy) / radius).astype(np.float32)
                out[i, j, k] = m.reshape(SIZE, s, SIZE, s).mean(axis=(1, 3))
    return out


def caption(obj: tuple[int, int, int, int]) -> str:
    shape, colour, size, position = obj
    return (f"a {list(SIZES)[size]} {list(COLOURS)[colour]} {SHAPES[shape]} at the {POSITIONS[position]}")


def make_scenes(n: int = 20000, seed: int = 0, objects: int = 1):
    """``n`` scenes: (images (N, 3, 32, 32) float32 in [0, 1], factors (N, objects, 4) int64 as shape,
    colour, size, position per object, backgrounds (N,) int64, captions)."""
    if objects not in (1, 2):
        raise ValueError("scenes hold 1 or 2 objects")
    rng = np.random.default_rng(seed)
    masks = _masks()
    n_col, n_bg = len(COLOURS), len(BACKGROUNDS)
    bg = rng.integers(0, n_bg, n)
    factors = np.empty((n, objects, 4), np.int64)
    factors[..., 0] = rng.integers(0, len(SHAPES), (n, objects))
    factors[..., 1] = rng.integers(0, n_col, (n, objects))
    factors[..., 2] = rng.integers(0, len(SIZES), (n, objects))
    if objects == 1:
        factors[:, 0, 3] = rng.integers(0, len(POSITIONS), n)
    else:  # two different cells
        first = rng.integers(0, len(POSITIONS), n)
        factors[:, 0, 3] = first
        factors[:, 1, 3] = (first + rng.integers(1, len(POSITIONS), n)) % len(POSITIONS)
    palette = np.array(list(COLOURS.values()), np.float32) / 255
    backdrop = np.array(list(BACKGROUNDS.values()), np.float32) / 255
    images = np.empty((n, 3, SIZE, SIZE), np.float32)
    for start in range(0, n, 2048):  # in blocks: the temporaries stay a few MB whatever n is
        sl = slice(start, min(n, start + 2048))
        block = images[sl]
        block[:] = backdrop[bg[sl]][:, :, None, None]
        for o in range(objects):
            f = factors[sl, o]
            m = masks[f[:, 0], f[:, 2], f[:, 3]][:, None]  # (B, 1, H, W)
            block += m * (palette[f[:, 1]][:, :, None, None] - block)
    bg_names = list(BACKGROUNDS)
    captions = [" and ".join(caption(tuple(obj)) for obj in factors[i]) + f" on a {bg_names[bg[i]]} background"
                for i in range(n)]
    return images, factors, bg.astype(np.int64), captions


def scene_caption(obj, background: int) -> str:
    """The caption of one single-object scene from its factors (shape, colour, size, position) and background."""
    return f"{caption(tuple(int(v) for v in obj))} on a {list(BACKGROUNDS)[int(background)]} background"


FACTOR_VALUES = {"shape": SHAPES, "colour": list(COLOURS), "size": list(SIZES), "position": POSITIONS,
                 "background": list(BACKGROUNDS)}


# A single-object caption, phrase by phrase (the order :func:`caption` and :func:`make_scenes` write them).
def _one_of(words) -> str:
    return "|".join(sorted(map(re.escape, words), key=len, reverse=True))


_CAPTION = re.compile(f"^a (?P<size>{_one_of(SIZES)}) (?P<colour>{_one_of(COLOURS)}) (?P<shape>{_one_of(SHAPES)}) "
                      f"at the (?P<position>{_one_of(POSITIONS)}) on a (?P<background>{_one_of(BACKGROUNDS)}) "
                      "background$")


def caption_factors(text: str) -> dict[str, str] | None:
    """The words of each factor in a single-object caption (factor -> word), or None for any other text."""
    m = _CAPTION.match(text)
    return None if m is None else {f: m[f] for f in FACTORS}


def partial_caption(text: str, keep: dict[str, bool]) -> str:
    """A caption with only the phrases ``keep`` names (factor -> kept), as users write short prompts:
    keeping colour and shape of "a large blue star at the center on a white background" gives "a blue star".
    A text that is not a single-object scenes caption, or a choice that keeps nothing, is returned as it is."""
    m = _CAPTION.match(text)
    if m is None or not any(keep.get(f, False) for f in FACTORS):
        return text
    words = ["a"] + [m[f] for f in ("size", "colour", "shape") if keep.get(f, False)]
    if keep.get("position", False):
        words += ["at the", m["position"]]
    if keep.get("background", False):
        words += ["on a", m["background"], "background"]
    return " ".join(words)
