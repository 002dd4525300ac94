"""The Text-to-Image view's files: the grid saved with its generation parameters (as the CLI writes them),
the chosen sample as an animation, and PNG Info — a dropped PNG's parameters restored into the form. Functions
of the view (:class:`explorer.text_to_image.TextToImageView`), kept apart from its layout."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from latent_explorer.models.errors import failure
from latent_explorer.models.sampling.samplers import SAMPLERS


def parameters(view) -> str:
    from latent_explorer.models.io.images import generation_parameters

    tr, s = view.trajectory, view.trajectory.settings
    name = Path(view.model.meta.get("path", "") or "model").stem
    return generation_parameters(tr.prompt, tr.negative, s["steps"], SAMPLERS[s["sampler"]].title,
                                 s["guidance"], s["seed"], tuple(tr.x.shape[-2:]), name)


def save_png(view, path: str) -> None:
    """The grid of the last generation, its parameters in the PNG's text chunk (as the CLI writes it)."""
    from latent_explorer.models.io.images import make_grid, save_png

    images = view.trajectory.x[-1].astype(np.float32)
    save_png(path, make_grid(images, nrow=view._cols, scale=max(1, 64 // images.shape[-1])),
             {"parameters": parameters(view)})


def export_animation(view, path: str, n: int = 40) -> None:
    from latent_explorer.models.io.images import make_grid, save_video
    from latent_explorer.models.sampling.trajectory import frame_indices

    tr, i = view.trajectory, view.sample
    frames = [make_grid(np.stack([tr.x[k, i], tr.x0[k, i]]).astype(np.float32), nrow=2,
                        scale=max(1, 128 // tr.x.shape[-1])) for k in frame_indices(len(tr), n)]
    save_video(path, frames + [frames[-1]] * 8, fps=10)


def parameter_fields(view) -> dict:
    """What the form takes from a PNG's parameters, as schema fields (:mod:`models.io.schema`): each range is the
    control's that would hold it, and the controls' are txt2img's own (:data:`models.sampling.samplers.SEED_MAX`,
    :data:`~models.sampling.samplers.GUIDANCE_MAX`, the model's T steps), so the view and the CLI agree on one limit."""
    from latent_explorer.models.io.schema import Float, Int, Str

    return {"prompt": Str(max_len=view.prompt.maxLength()),
            "negative": Str(max_len=view.negative.maxLength(), default=""),
            "sampler": Str(choices=tuple(cls.title for cls in SAMPLERS.values()), default=None),
            "steps": Int(view.steps.minimum(), view.steps.maximum(), default=None),
            "cfg": Float(view.guidance.minimum(), view.guidance.maximum(), default=None),  # the PNG's "CFG scale"
            "seed": Int(int(view.seed.minimum()), int(view.seed.maximum()), default=None),
            "size": Str(max_len=20, default=None)}


def restore_from_png(view, path: str) -> bool:
    """Fill the form from the generation parameters a PNG carries; a message says what happened. Every value
    is read typed through the schema layer first, against the control that would hold it: one that does not
    fit (a seed past 2^32 − 1, more steps than the model has, CFG 55 or NaN, a sampler this view lacks) is
    named and nothing is changed — never a form half restored or a value clamped or rounded."""
    from latent_explorer.models.io.images import png_text
    from latent_explorer.models.io.schema import SchemaError, check
    from latent_explorer.models.sampling.text_trajectory import parse_parameters

    name = Path(path).name
    try:
        text = png_text(path).get("parameters")
        if text is None:
            raise ValueError("it carries no generation parameters")
        raw = parse_parameters(text)
        p = check(raw, parameter_fields(view), name)
    except SchemaError as e:
        view.message.emit(f"{e}; nothing was restored")
        return False
    except (ValueError, OSError) as e:
        view.message.emit(failure(name, e))
        return False
    if p["cfg"] is not None and round(p["cfg"], view.guidance.decimals()) != p["cfg"]:
        view.message.emit(f"{name}: cfg {p['cfg']!r} has more decimals than this view's {view.guidance.decimals()}; "
                          "nothing was restored")
        return False
    view.prompt.setText(p["prompt"])
    view.negative.setText(p["negative"])
    if p["sampler"] is not None:
        view.sampler.setCurrentIndex([cls.title for cls in SAMPLERS.values()].index(p["sampler"]))
    for key, box in (("steps", view.steps), ("cfg", view.guidance), ("seed", view.seed)):
        if p[key] is not None:
            box.setValue(p[key])
    wh = re.fullmatch(r"(\d{1,5})x(\d{1,5})", p["size"] or "")  # "Size: WxH"; a size this model draws is chosen
    if wh and view.size.isEnabled() and (int(wh[2]), int(wh[1])) in view.size.sizes:
        view.size.setCurrentIndex(view.size.sizes.index((int(wh[2]), int(wh[1]))))
    made = f" (made with {str(raw['model'])[:80]})" if raw.get("model") else ""
    view.message.emit(f"restored the parameters of {name}{made}")
    return True
