"""What the command line says about size and memory: a grid picture refused before it is drawn, and an
out-of-memory error said with the options that set the size (never an allocator's internals), and the file
a command was reading, for an error that names none."""

from __future__ import annotations

import math

from latent_explorer.models.errors import ConfigError, memory_asked

# the options that set how much memory each command needs, in the order to lower them
SIZE_OPTIONS = {"train": ("--batch-size", "--size"), "sample": ("--n", "--scale"), "txt2img": ("--n", "--scale"),
                "eval": ("--n",), "likelihood": ("--n", "--k"), "anomaly": ("--n",), "translate": ("--scale",),
                "classifier": ()}


def check_grid(n: int, image_shape, scale: int, default_scale: bool, nrow: int | None = None) -> None:
    """Refuse, before anything is drawn, a grid picture larger than any image here may be (it could not be
    opened again, and it would take gigabytes to write): the message names --n and --scale and their cost."""
    from latent_explorer.models.io.images import MAX_IMAGE_PIXELS, grid_size

    h, w = grid_size(n, image_shape[1], image_shape[2], nrow or int(math.ceil(math.sqrt(n))), scale=scale)
    if h * w > MAX_IMAGE_PIXELS:
        need = 2 * 3 * h * w  # the RGB picture, once scaled and once as the PNG encoder's copy
        raise ConfigError(f"--n {n} images at --scale {scale}{' (the default)' if default_scale else ''} make a "
                          f"{w:,}×{h:,} picture that needs about {need / 2**30:.1f} GB, more than the "
                          f"{MAX_IMAGE_PIXELS // 10**6} million pixels a picture here may have: lower --n or --scale")


def out_of_memory_message(a, e: BaseException) -> str:
    """Out of memory, said with the options that matter and their values: "out of memory with --n 1024 at
    --scale 64 (9.3 GB was asked for): lower --n or --scale"."""
    opts = SIZE_OPTIONS.get(getattr(a, "command", None), ())
    given = [f"{o} {getattr(a, o[2:].replace('-', '_'))}" for o in opts
             if getattr(a, o[2:].replace("-", "_"), None) is not None]
    asked = f" ({memory_asked(e)} was asked for)" if memory_asked(e) else ""
    return f"out of memory{' with ' + ' at '.join(given) if given else ''}{asked}" + \
        (f": lower {' or '.join(opts)}" if opts else "")


def subject_of(a) -> str | None:
    """The file a command was reading, for a message about an error that names none."""
    for key in ("file", "input", "data"):
        if isinstance(getattr(a, key, None), str):
            return getattr(a, key)
    files = getattr(a, "files", None)
    return files[0] if files else None
