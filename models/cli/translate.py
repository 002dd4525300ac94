"""``latent-explorer translate``: an image-to-image model turns a drawing or a picture into an image: pix2pix
one way (its source into images), CycleGAN either way (``--direction a2b|b2a``)."""

from __future__ import annotations

import sys
from pathlib import Path

from latent_explorer.models.errors import ConfigError, failure


def add_parser(sub) -> None:
    t = sub.add_parser("translate", help="translate a drawing or picture with an image-to-image model (pix2pix, "
                       "CycleGAN)")
    t.add_argument("file", metavar="MODEL")
    t.add_argument("--input", required=True, help="the drawing or picture: any image file, resized to the model's "
                   "size (for an edge or silhouette model: dark strokes on white, or light on black)")
    t.add_argument("--out", required=True, help="the translated image (.png)")
    t.add_argument("--direction", choices=("a2b", "b2a"), default="a2b",
                   help="a2b: the model's source (or domain A) to its images (domain B); b2a: back (CycleGAN)")
    t.add_argument("--scale", type=int, default=None, help="pixels per model pixel in the PNG (default: to 128)")


def cmd_translate(a) -> int:
    import torch

    from latent_explorer.models.io.checkpoint import load, refuse_inputs
    from latent_explorer.models.io.images import make_grid, save_png

    if Path(a.out).suffix.lower() != ".png" or Path(a.out).is_dir():
        raise ConfigError(f"--out: give a file name ending in .png, not {a.out[:200]!r}")
    refuse_inputs(a.out, [a.file, a.input])
    model = load(a.file)
    if not model.capabilities.translates:
        raise ConfigError(f"{Path(a.file).name} is a {model.spec.title}: translate needs an image-to-image model "
                          "(--model pix2pix or cyclegan)")
    if a.direction not in model.directions:
        raise ConfigError(f"{Path(a.file).name} translates one way only, {model.direction_title()} "
                          "(b2a is for a model trained both ways: CycleGAN)")
    if a.scale is not None and not 1 <= a.scale <= 64:
        raise ConfigError(f"--scale must be 1..64, got {a.scale}")
    from latent_explorer.models.io.sketches import read_picture, read_sketch

    h = model.image_shape[1]
    try:
        if model.takes_ink:
            src, notes = read_sketch(a.input, h)
        else:
            src, notes = read_picture(a.input, model.source_shape[0], h,
                                      need_strokes=model.needs_strokes)
    except (ValueError, OSError) as e:
        raise ConfigError(f"--input {failure(a.input, e)}") from None
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    kw = {"direction": a.direction} if len(model.directions) > 1 else {}
    out = model.translate(torch.from_numpy(src[None]), **kw).cpu().numpy()
    params = f"Translate: {model.direction_title(a.direction)}, Direction: {a.direction}, Size: {h}x{h}, " \
             f"Model: {Path(a.file).stem}"
    save_png(a.out, make_grid(out, nrow=1, scale=a.scale or max(1, 128 // h)), {"parameters": params})
    print(f"saved {a.out}", file=sys.stderr)
    return 0
