"""``latent-explorer sample`` and ``txt2img``: images from a model, saved as one grid PNG with its parameters."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from latent_explorer.models.cli.memory import check_grid
from latent_explorer.models.errors import (
    ConfigError,
    failure,
    shown,
)
from latent_explorer.models.sampling.settings import DEFAULT_GUIDANCE, DEFAULT_STEPS, SamplingSettings


def _class_index(model, cls):
    if cls is None:
        return None
    if not model.conditional:
        raise ConfigError("--class applies to conditional models only")
    names = model.class_names
    if cls in names:
        return names.index(cls)
    try:
        k = int(cls)
    except ValueError:
        raise ConfigError(f"unknown class {cls!r} (classes: {', '.join(names)})") from None
    if not 0 <= k < len(names):
        raise ConfigError(f"class index {k} out of range 0..{len(names) - 1}")
    return k


def sampling_kw(model, a, default_steps: int | None = None) -> dict:
    """The sampler settings of a diffusion model from --sampler/--steps/--eta/--guidance, checked."""
    settings = SamplingSettings(a.sampler, a.steps, a.eta, DEFAULT_GUIDANCE if a.guidance is None else a.guidance)
    settings.check()
    if not model.capabilities.diffusion:
        if a.steps is not None or a.sampler is not None:
            raise ConfigError("--steps and --sampler apply to diffusion models only")
        return {}
    return settings.for_model(model.config.timesteps, default_steps).sample_kwargs()


def inpaint_inputs(image_shape, init_path, mask_path):
    """The init image (C, H, W) and its mask (1, H, W), both at the model's size, from --init-image and --mask;
    a note when the image is resized."""
    from PIL import Image

    from latent_explorer.models.io.images import read_image_for, read_mask

    if init_path is None:
        raise ConfigError("--mask needs the image it masks: give --init-image too")
    try:
        x = read_image_for(image_shape, init_path)
        with Image.open(init_path) as im:
            size = (im.height, im.width)
    except (ValueError, OSError) as e:
        raise ConfigError(f"--init-image {failure(init_path, e)}") from None
    m = None
    if mask_path is not None:
        try:
            m = read_mask(mask_path, size, tuple(image_shape[1:]))
        except (ValueError, OSError) as e:
            raise ConfigError(f"--mask {failure(mask_path, e)}") from None
    if size != tuple(image_shape[1:]):
        what = "the init image and its mask" if m is not None else "the init image"
        print(f"note: {what} ({size[1]}x{size[0]}) {'are' if m is not None else 'is'} resized to the model's "
              f"{image_shape[2]}x{image_shape[1]}", file=sys.stderr)
    return x, m


def cmd_sample(a) -> int:
    import torch

    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.io.images import make_grid, save_png

    if not 1 <= a.n <= 1024:
        raise ConfigError(f"--n must be between 1 and 1024, got {a.n}")
    if Path(a.out).suffix.lower() != ".png" or Path(a.out).is_dir():
        # a slip of the keyboard (--out model.safetensors) must not replace a trained model with a picture
        raise ConfigError(f"--out: samples are saved as a PNG picture: give a file name ending in .png, not "
                          f"{shown(a.out, 200)}")
    model = load(a.file, trust_code=a.trust_code)
    if model.capabilities.image_to_image:  # no samples of its own: held-out sources, translations, real images
        import numpy as np

        from latent_explorer.models.analysis.quality import held_out

        _, val = held_out(model)
        rows = model.sample_rows(val, min(a.n, len(val)))  # pix2pix: source, answer, real; CycleGAN: A→B→A, B→A→B
        h = model.image_shape[1]
        cols = min(len(rows[0]), 16)  # more than 16: the rows again below, for the next 16 images
        blocks = [r[i:i + cols] for i in range(0, len(rows[0]), cols) for r in rows]
        blocks = [np.concatenate([b, np.ones((cols - len(b), *b.shape[1:]), b.dtype)]) for b in blocks]
        check_grid(len(blocks) * cols, model.image_shape, a.scale or max(1, 64 // h), a.scale is None, cols)
        save_png(a.out, make_grid(np.concatenate(blocks), nrow=cols, scale=a.scale or max(1, 64 // h)))
        print(f"saved {len(rows)} rows of {len(rows[0])} held-out translations ({model.direction_title()}) to "
              f"{a.out}", file=sys.stderr)
        return 0
    if a.towards is not None and a.psi is None:
        raise ConfigError("--towards says what --psi truncates towards: give --psi too")
    if a.psi is not None:  # truncation towards w̄ or W's modes; the model's own check says the range
        if not model.capabilities.styles:
            raise ConfigError(f"--psi: {Path(a.file).name} is a {model.spec.title}, without a mapping network to "
                              "truncate")
        model.set_style(psi=a.psi, towards=a.towards)
    kw = sampling_kw(model, a)
    if a.init_image is not None or a.mask is not None:
        if not (model.capabilities.diffusion and model.capabilities.inpaints):
            raise ConfigError(f"{Path(a.file).name} is a {model.spec.title}: --init-image and --mask inpaint with "
                              "a diffusion model")
        if a.mask is None:
            raise ConfigError("--init-image needs --mask: white where to paint anew")
        x, m = inpaint_inputs(model.image_shape, a.init_image, a.mask)
        kw["inpaint"] = model.inpaint(torch.from_numpy(x[None]).expand(a.n, *x.shape), torch.from_numpy(m[None]),
                                      a.resample)
    k = _class_index(model, a.cls)
    h = model.image_shape[1]
    scale = a.scale or max(1, 64 // h)
    check_grid(a.n, model.image_shape, scale, a.scale is None)
    g = torch.Generator().manual_seed(a.seed)
    y = None
    if model.conditional:
        y = torch.full((a.n,), k) if k is not None else torch.arange(a.n) % model.num_classes
    images = model.sample(a.n, y, generator=g, **kw).cpu().numpy()
    save_png(a.out, make_grid(images, nrow=int(math.ceil(math.sqrt(a.n))), scale=scale))
    print(f"saved {a.n} samples to {a.out}", file=sys.stderr)
    return 0


def cmd_txt2img(a) -> int:
    import torch

    from latent_explorer.models.io.checkpoint import load, refuse_inputs
    from latent_explorer.models.io.images import generation_parameters, make_grid, save_png
    from latent_explorer.models.nn.tokenizer import UnknownWords

    if Path(a.out).suffix.lower() != ".png" or Path(a.out).is_dir():
        raise ConfigError(f"--out: give a file name ending in .png, not {shown(a.out, 200)}")
    refuse_inputs(a.out, [a.file, a.control, a.init_image])
    model = load(a.file)
    if not model.capabilities.draws_from_text:
        raise ConfigError(f"{Path(a.file).name} is a {model.spec.title}: txt2img needs a latent diffusion model "
                          "(--model ldm) or a ControlNet")
    controlled = model.capabilities.controlled  # a ControlNet: its base draws, steered
    control = None
    if controlled and a.control is None:
        raise ConfigError(f"{Path(a.file).name} is a ControlNet: give its control image ({model.config.control}) "
                          "with --control FILE")
    if not controlled and a.control is not None:
        raise ConfigError(f"{Path(a.file).name} draws from its prompt alone: --control needs a ControlNet "
                          "(--model controlnet)")
    if controlled:
        from latent_explorer.models.io.sketches import read_sketch

        try:
            ink, notes = read_sketch(a.control, model.image_shape[1])
        except (ValueError, OSError) as e:
            raise ConfigError(f"--control {failure(a.control, e)}") from None
        for n in notes:
            print(f"note: the control image: {n}", file=sys.stderr)
        control = torch.from_numpy(ink[None])
    ldm = model.base if controlled else model
    T = ldm.config.timesteps
    s = SamplingSettings(a.sampler, a.steps, a.eta, a.guidance, a.seed, a.n).for_model(T, DEFAULT_STEPS)
    check_grid(a.n, model.image_shape, a.scale or max(1, 64 // model.image_shape[1]), a.scale is None)
    try:
        tokens = ldm.prompt_ids([a.prompt, a.negative_prompt])
    except UnknownWords as e:
        raise ConfigError(str(e)) from None
    from latent_explorer.models.sampling.text_trajectory import check_prompt

    for text, what, cut in zip((a.prompt, a.negative_prompt), ("the prompt", "the negative prompt"), tokens.truncated):
        for note in check_prompt(ldm, text).problems(what) if cut else ():
            print(f"note: {note}", file=sys.stderr)
    if not a.prompt.strip():
        print("note: an empty prompt: unconditional samples", file=sys.stderr)
    init, strength, mask = None, None, None
    if a.init_image is not None or a.mask is not None:
        x, m = inpaint_inputs(model.image_shape, a.init_image, a.mask)
        init = torch.from_numpy(x[None]).expand(a.n, *x.shape)
        if m is not None:
            mask = torch.from_numpy(m[None])
        else:
            strength = a.strength
    kw = dict(negative=a.negative_prompt, **s.sample_kwargs(), seed=s.seed, init=init,
              strength=1.0 if strength is None else strength, mask=mask, resample=a.resample)
    prompts = [a.prompt] * a.n
    images = (model.txt2img(prompts, control, **kw) if controlled else model.txt2img(prompts, **kw)).numpy()
    h = model.image_shape[1]
    params = generation_parameters(a.prompt, a.negative_prompt, s.steps_run(T), s.title, s.guidance, s.seed,
                                   model.image_shape[1:], Path(a.file).stem, strength,
                                   f"{model.config.control} from {Path(a.control).name}" if controlled else None)
    save_png(a.out, make_grid(images, nrow=int(math.ceil(math.sqrt(a.n))), scale=a.scale or max(1, 64 // h)),
             {"parameters": params})
    print(f"saved {a.n} images to {a.out}", file=sys.stderr)
    return 0
