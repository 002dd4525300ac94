"""``latent-explorer inpaint-eval``: does inpainting paint what it is asked and keep the rest? The figures of
:mod:`models.analysis.inpainting` as JSON, for a text-to-image model of scenes or a class-conditional diffusion
model of digits."""

from __future__ import annotations

import json
from pathlib import Path

from latent_explorer.models.errors import ConfigError


def add_parser(sub, whole_number, seed_type) -> None:
    p = sub.add_parser("inpaint-eval", help="inpaint a drawn object (scenes) or half a digit and read the result "
                       "with the yardstick classifier")
    p.add_argument("file", metavar="MODEL")
    p.add_argument("--n", type=whole_number("n", 1, 4096), default=64, help="images (seeds)")
    p.add_argument("--seed", type=seed_type, default=0)
    p.add_argument("--resample", type=whole_number("resample", 1, 20), default=3,
                   help="RePaint's resampling: each step run this many times (1: none)")
    p.add_argument("--half", choices=("right", "left"), default="right",
                   help="digits: the half of the '3' painted anew as an '8'")


def cmd_inpaint_eval(a) -> int:
    from latent_explorer.models.analysis.classifier import classifier_for
    from latent_explorer.models.analysis.inpainting import digit_inpainting, scene_inpainting
    from latent_explorer.models.analysis.quality import held_out
    from latent_explorer.models.cli.progress import run_steps
    from latent_explorer.models.io.checkpoint import load

    model = load(a.file)
    caps = model.capabilities
    if caps.text_to_image:
        job = scene_inpainting
    elif caps.diffusion and model.conditional:
        job = digit_inpainting
    else:
        raise ConfigError(f"{Path(a.file).name} is a {model.spec.title}: inpaint-eval needs a text-to-image model "
                          "of scenes or a class-conditional diffusion model of digits")
    data, _ = held_out(model)
    classifier = run_steps(classifier_for(data, seed=0), "classifier")
    kw = {"half": a.half} if job is digit_inpainting else {}
    out = {"file": a.file, "kind": model.kind, "data": data.spec}
    out.update(run_steps(job(model, classifier, n=a.n, seed=a.seed, resample=a.resample, **kw), "inpainting"))
    print(json.dumps(out, indent=2))
    return 0
