"""The Text-to-Image view's files: the grid saved with its generation parameters (as the CLI writes them),
the chosen sample as an animation, and PNG Info — a dropped PNG's parameters restored into the form. Functions
of the view (:class:`explorer.text_to_image.TextToImageView`), kept apart from its layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from models.samplers import SAMPLERS


def parameters(view) -> str:
    from models.images import generation_parameters

    tr, s = view.trajectory, view.trajectory.settings
    name = Path(view.model.meta.get("path", "") or "model").stem
    return generation_parameters(tr.prompt, tr.negative, s["steps"], SAMPLERS[s["sampler"]].title,
                                 s["guidance"], s["seed"], view.model.image_shape[1:], name)


def save_png(view, path: str) -> None:
    """The grid of the last generation, its parameters in the PNG's text chunk (as the CLI writes it)."""
    from models.images import make_grid, save_png

    images = view.trajectory.x[-1].astype(np.float32)
    save_png(path, make_grid(images, nrow=view._cols, scale=max(1, 64 // images.shape[-1])),
             {"parameters": parameters(view)})


def export_animation(view, path: str, n: int = 40) -> None:
    from models.images import make_grid, save_video
    from models.trajectory import frame_indices

    tr, i = view.trajectory, view.sample
    frames = [make_grid(np.stack([tr.x[k, i], tr.x0[k, i]]).astype(np.float32), nrow=2,
                        scale=max(1, 128 // tr.x.shape[-1])) for k in frame_indices(len(tr), n)]
    save_video(path, frames + [frames[-1]] * 8, fps=10)


def restore_from_png(view, path: str) -> bool:
    """Fill the form from the generation parameters a PNG carries; a message says what happened. Every value
    is checked against the control that would hold it first: one that does not fit (a seed past the box's
    range, CFG 45, NaN) is named and nothing is changed — never a form half restored or a value clamped."""
    from models.images import png_text
    from models.text_trajectory import parse_parameters

    name = Path(path).name
    try:
        text = png_text(path).get("parameters")
        if text is None:
            raise ValueError("it carries no generation parameters")
        p = parse_parameters(text)
    except (ValueError, OSError) as e:
        view.message.emit(f"{name}: {e}")
        return False
    boxes = (("steps", view.steps, "Steps"), ("cfg", view.cfg, "CFG scale"), ("seed", view.seed, "Seed"))
    for key, box, label in boxes:
        v = p.get(key)
        if v is None:
            continue
        if not isinstance(v, (int, float)) or isinstance(v, bool) or (isinstance(v, float) and not math.isfinite(v))\
                or not box.minimum() <= v <= box.maximum():
            view.message.emit(f"{name}: {label} {v!r} is outside what this view takes ({box.minimum():g} to "
                              f"{box.maximum():g}); nothing was restored")
            return False
    view.prompt.setText(p["prompt"])
    view.negative.setText(p["negative"])
    titles = {cls.title: key for key, cls in SAMPLERS.items()}
    if p.get("sampler") in titles:
        view.sampler.setCurrentIndex(list(SAMPLERS).index(titles[p["sampler"]]))
    for key, box, _ in boxes:
        if p.get(key) is not None:
            box.setValue(p[key])
    view.message.emit(f"restored the parameters of {name}" + (f" (made with {p['model']})" if "model" in p
                                                              else ""))
    return True
