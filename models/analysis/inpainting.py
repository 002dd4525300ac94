"""Does inpainting paint what it is asked, and keep what it is not? Measured with the data's yardstick
classifier (:mod:`models.analysis.classifier`) on two tasks:

- a text-conditioned latent diffusion model of ``scenes``: draw "a large red circle at the center on a navy
  background", mask the object, paint "a large blue star": the share of images read as a blue star, and
  as still on a navy background;
- a class-conditional DDPM of digits: draw a "3", mask its right half, paint an "8": the share read as 8.

Each is a job (a generator of Steps) returning a dict of figures (``latent-explorer inpaint-eval``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import Step

SCENE_BEFORE = "a large red circle at the center on a navy background"
SCENE_AFTER = "a large blue star"


def object_mask(images: torch.Tensor, grow: int = 2) -> torch.Tensor:
    """(N, 3, H, W) scenes -> (N, 1, H, W) 0/1: the pixels far from the background (the median of the border),
    grown by ``grow`` pixels, and the footprint a large object at the centre has whatever its shape (a star
    reaches where a circle does not)."""
    from latent_explorer.models.data import scenes

    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., :, 0], images[..., :, -1]], -1)
    bg = border.median(-1).values[..., None, None]  # (N, 3, 1, 1)
    obj = ((images - bg).abs().amax(1, keepdim=True) > 0.25).float()
    obj = F.max_pool2d(obj, 2 * grow + 1, 1, grow)
    masks = scenes._masks()  # (shapes, sizes, positions, 32, 32)
    large, centre = list(scenes.SIZES).index("large"), scenes.POSITIONS.index("center")
    foot = torch.from_numpy((masks[:, large, centre] > 0).any(0).astype(np.float32))
    foot = F.max_pool2d(foot[None, None], 2 * grow + 1, 1, grow)
    if foot.shape[-2:] != images.shape[-2:]:
        foot = F.interpolate(foot, size=images.shape[-2:], mode="nearest")
    return torch.maximum(obj, foot)


def _heads(classifier) -> list[str]:
    return ["shape" if h == "label" else h for h in classifier.head_names]


def scene_inpainting(model, classifier, n: int = 64, seed: int = 0, sampler: str = "ddim", steps: int = 25,
                     guidance: float = 5.0, resample: int = 1, batch: int = 32):
    """The scenes task (module doc) over ``n`` seeds; returns the figures."""
    from latent_explorer.models.data import scenes

    heads = _heads(classifier)
    if not {"shape", "colour", "background"} <= set(heads):
        raise ConfigError("the classifier has no shape, colour and background heads: a scenes classifier is needed")
    hits = {"star_and_blue": 0, "star": 0, "blue": 0, "navy_kept": 0, "background_as_before": 0, "circle_before": 0}
    for i in range(0, n, batch):
        b = min(batch, n - i)
        yield Step(i, n, f"images {i + 1}–{i + b} of {n}")
        before = model.txt2img([SCENE_BEFORE] * b, sampler=sampler, steps=steps, guidance=guidance, seed=seed + i)
        mask = object_mask(before)
        after = model.txt2img([SCENE_AFTER] * b, sampler=sampler, steps=steps, guidance=guidance, seed=seed + i,
                              init=before, mask=mask, resample=resample)
        p0 = classifier.predict(before.clamp(0, 1).numpy())[1]
        p1 = classifier.predict(after.clamp(0, 1).numpy())[1]
        shape, colour, bg = (heads.index(h) for h in ("shape", "colour", "background"))
        star, blue = p1[:, shape] == scenes.SHAPES.index("star"), p1[:, colour] == list(scenes.COLOURS).index("blue")
        navy = list(scenes.BACKGROUNDS).index("navy")
        hits["star_and_blue"] += int((star & blue).sum())
        hits["star"] += int(star.sum())
        hits["blue"] += int(blue.sum())
        hits["navy_kept"] += int((p1[:, bg] == navy).sum())
        hits["background_as_before"] += int((p1[:, bg] == p0[:, bg]).sum())
        hits["circle_before"] += int((p0[:, shape] == scenes.SHAPES.index("circle")).sum())
    out = {k: round(v / n, 4) for k, v in hits.items()}
    out.update(n=n, prompt_before=SCENE_BEFORE, prompt_after=SCENE_AFTER, sampler=sampler, steps=steps,
               guidance=guidance, resample=resample)
    return out


def digit_inpainting(model, classifier, before: int = 3, after: int = 8, n: int = 64, seed: int = 0,
                     sampler: str = "ddim", steps: int = 50, guidance: float = 3.0, resample: int = 1,
                     batch: int = 64, half: str = "right"):
    """The digits task (module doc): class ``before`` drawn, its ``half`` ("right" or "left") painted as class
    ``after`` (the other half kept)."""
    if half not in ("right", "left"):
        raise ConfigError(f"half must be right or left, got {half!r}")
    if not model.conditional or model.num_classes <= max(before, after):
        raise ConfigError("digit inpainting needs a class-conditional diffusion model of digits")
    label = _heads(classifier).index("shape") if "shape" in _heads(classifier) else 0
    agree = kept_same = was = 0
    for i in range(0, n, batch):
        b = min(batch, n - i)
        yield Step(i, n, f"images {i + 1}–{i + b} of {n}")
        g = torch.Generator().manual_seed(seed + i)
        kw = dict(sampler=sampler, steps=steps, guidance=guidance)
        x = model.sample(b, torch.full((b,), before), generator=g, **kw)
        w = x.shape[-1] // 2
        mask = torch.zeros(1, 1, *x.shape[-2:])
        mask[..., w:] = 1
        if half == "left":
            mask = 1 - mask
        kept = (slice(None), slice(None), slice(None), slice(0, w) if half == "right" else slice(w, None))
        g = torch.Generator().manual_seed(seed + i)
        y = model.sample(b, torch.full((b,), after), generator=g, inpaint=model.inpaint(x, mask, resample), **kw)
        p0 = classifier.predict(x.clamp(0, 1).numpy())[1][:, label]
        p1 = classifier.predict(y.clamp(0, 1).numpy())[1][:, label]
        was += int((p0 == before).sum())
        agree += int((p1 == after).sum())
        kept_same += int(((x - y).abs()[kept].amax((1, 2, 3)) < 1e-3).sum())
    return {"n": n, "painted": f"the {half} half", "drawn_as_before": round(was / n, 4),
            "read_as_after": round(agree / n, 4), "kept_half_unchanged": round(kept_same / n, 4), "before": before,
            "after": after, "sampler": sampler, "steps": steps, "guidance": guidance, "resample": resample}
