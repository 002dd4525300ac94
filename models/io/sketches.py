"""Sketch and picture files a user hands an image-to-image model: strokes on white, read bounded, conformed to
the model's size and channels, with a note for each thing changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from latent_explorer.models.data.sketches import EDGE_THRESHOLD


def _read_on_white(path) -> tuple[np.ndarray, tuple[int, int], list[str]]:
    """An image file as (C, H, W) in [0, 1], its (height, width), and notes: a transparent background is laid
    on white paper; 16-bit and float images are scaled to 0..1."""
    from latent_explorer.models.data import read_image
    from latent_explorer.models.errors import check_regular
    from latent_explorer.models.io.images import MAX_DRAWING_PIXELS, pil_image

    check_regular(Path(path), ValueError)  # a FIFO named drawing.png would wait for ever
    Image = pil_image()
    notes = []
    try:
        im = Image.open(path)
    except Image.DecompressionBombError:
        raise ValueError("too large for a drawing (at most 4096x4096 pixels)") from None
    except OSError as e:
        raise ValueError(f"not a readable image ({type(e).__name__})") from None
    with im:
        mode, (w, h) = im.mode, im.size
        if w * h > MAX_DRAWING_PIXELS:  # from the header, before any pixel is decoded
            raise ValueError(f"too large for a drawing ({w}x{h} pixels; at most 4096x4096)")
        img = None
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
            rgba = np.asarray(im.convert("RGBA"), np.float32) / 255.0
            alpha = rgba[..., 3:]
            img = (rgba[..., :3] * alpha + (1 - alpha)).transpose(2, 0, 1)  # laid on white paper
            notes.append("its transparent background is taken as white paper")
    if img is None:
        img = read_image(path)  # 16-bit and palette images scaled to [0, 1]
        if mode.startswith("I") or mode == "F":
            notes.append(f"a {mode} image: its values are scaled to 0..1")
    return img, (h, w), notes


def read_sketch(path, size: int) -> tuple[np.ndarray, list[str]]:
    """A drawing (any image file) as the model's source: (1, size, size) float32 of 0/1 ink, and notes on what
    was done to it. Ink is the minority tone (dark strokes on paper or light strokes on black); a transparent
    background is laid on white; a picture of another size is resized (a cell is ink where a tenth of it is).
    Raises ValueError with a reason (unreadable, or no ink at all)."""
    from PIL import Image

    img, (h, w), notes = _read_on_white(path)
    grey = img.mean(0)
    ink = grey < 0.5 if grey.mean() > 0.5 else grey >= 0.5
    if (h, w) != (size, size):
        small = Image.fromarray((ink * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX)
        ink = np.asarray(small, np.float32) / 255.0 > 0.1
        notes.append(f"resized from {w}x{h} to the model's {size}x{size}")
    if not ink.any():
        raise ValueError("the sketch is empty: nothing is drawn on it")
    return ink.astype(np.float32)[None], notes


def read_picture(path, channels: int, size: int, need_strokes: bool = False) -> tuple[np.ndarray, list[str]]:
    """A picture (any image file) as a colour source: (channels, size, size) float32 in [0, 1], and notes on
    what was done to it (a transparent background laid on white, 16-bit values scaled, resized, turned grey
    or colour). ``need_strokes``: a picture of one flat colour is refused as empty (an outline needs a line).
    Raises ValueError with a reason."""
    from latent_explorer.models.data import conform_images

    img, (h, w), notes = _read_on_white(path)
    if img.shape[0] != channels:
        notes.append("turned grey for the model" if channels == 1 else "its grey taken as colour for the model")
    if (h, w) != (size, size):
        notes.append(f"resized from {w}x{h} to the model's {size}x{size}")
    out = conform_images(img[None].astype(np.float32), channels, size)[0]
    if need_strokes and np.ptp(out.reshape(channels, -1), axis=1).max() < EDGE_THRESHOLD:
        raise ValueError("the picture is empty: one flat colour, nothing drawn on it")
    return out.astype(np.float32), notes
