"""The parser of every command (``latent-explorer --help``), built from the one table of commands."""

from __future__ import annotations

import argparse

from latent_explorer.models import registry
from latent_explorer.models.cli import info as cli_info
from latent_explorer.models.cli import plugins as cli_plugins
from latent_explorer.models.cli.args import SEED, Parser, number, whole_number
from latent_explorer.models.data import data_hint
from latent_explorer.models.sampling.samplers import GUIDANCE_MAX, SAMPLERS

# a generation's limits and defaults, written once (the views use them too)
from latent_explorer.models.sampling.settings import (
    DEFAULT_GUIDANCE,
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    ETA_MAX,
    TEXT_BATCH_MAX,
    TEXT_GUIDANCE,
)

# the one table of commands, in --help's order (models.cli.HANDLERS says what runs each)
COMMANDS = ("train", "sample", "txt2img", "translate", "info", "eval", "inpaint-eval", "classifier", "likelihood",
            "anomaly", "plugins")


def build_parser() -> Parser:
    p = Parser(prog="latent-explorer", description="Look inside generative image models.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    t = sub.add_parser("train", help="train a model headless")
    titles = "; ".join(f"{k}: {registry.get(k).title}" for k in registry.kinds(trainable=True))
    t.add_argument("--model", default=None, choices=registry.kinds(trainable=True),
                   help=f"model kind ({titles}); with --resume: the checkpoint's")
    t.add_argument("--data", default=None, help=data_hint() + "; with --resume: the data the checkpoint was trained on")
    t.add_argument("--epochs", type=whole_number("epochs"), default=None, help="default: per kind")
    t.add_argument("--latent-dim", type=whole_number("latent dim"), default=None, help="default: per kind")
    t.add_argument("--batch-size", type=whole_number("batch size"), default=None, help="default: per kind")
    t.add_argument("--lr", type=number("learning rate", 1e-12, 1e6), default=None,
                   help="learning rate (default: per kind)")
    t.add_argument("--seed", type=SEED, default=0)
    optional = [k for k in registry.kinds(trainable=True) if registry.get(k).conditioning_optional]
    t.add_argument("--conditional", action="store_true",
                   help=f"condition on the data's labels ({', '.join(optional)}; classifier-free guidance)")
    t.add_argument("--size", type=whole_number("size"), default=None, help="image size (default: data's)")
    t.add_argument("--channels", type=int, choices=(1, 3), default=None)
    for param in registry.all_params():  # each kind's own hyperparameters, from the registry
        # choices are checked by the kind's own Param when parsed (argparse would compare text with numbers)
        t.add_argument(param.flag, dest=f"param_{param.name}", default=None,
                       metavar="|".join(map(str, param.choices)) if param.choices else None,
                       help=f"{param.help} ({', '.join(registry.kinds_with_param(param.name))})")
    t.add_argument("--max-steps", type=whole_number("max steps", 1, 10**9), default=None)
    t.add_argument("--minutes", type=number("minutes", 1e-3, 525_600), default=None,
                   help="a training-time budget: the run ends (saved as finished) at the first step after this "
                        "many minutes of training, or at --epochs, whichever comes first")
    t.add_argument("--binarise", choices=("none", "stochastic"), default=None,
                   help="stochastic: every image drawn afresh as black and white each time it is seen, a pixel "
                        "white with its grey value's probability (dynamic binarisation, as the likelihood papers "
                        "train on MNIST); default: none (a resumed run: as it was trained)")
    t.add_argument("--record-n", type=whole_number("record size", 0, 10_000), default=500,
                   help="held-out images encoded and images sampled after every epoch for the run's record, "
                        "NAME.record.safetensors (0: none; default 500)")
    t.add_argument("--resume", metavar="FILE", default=None,
                   help="go on with this checkpoint's run for --epochs more: its weights, kind and settings, "
                        "and its optimizer state, step count and random state when kept beside it "
                        "(NAME.optim.safetensors)")
    t.add_argument("--device", default="auto", help="auto, cpu, cuda, mps")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--out", required=True, help="output .safetensors file")
    t.add_argument("--force", action="store_true", help="replace --out if it exists")

    s = sub.add_parser("sample", help="save a grid of samples as PNG")
    s.add_argument("file")
    s.add_argument("--n", type=whole_number("n"), default=64)
    s.add_argument("--out", required=True, help="output .png file")
    s.add_argument("--seed", type=SEED, default=0)
    _sampling_args(s)
    s.add_argument("--class", dest="cls", default=None, help="class name or index (conditional models)")
    s.add_argument("--scale", type=whole_number("scale", 1, 64), default=None, help="pixel zoom of the grid")
    s.add_argument("--psi", type=number("psi"), default=None,
                   help="truncation ψ of a model with a mapping network (StyleGAN): w' = w̄ + ψ (w − w̄), 0 to 2")
    s.add_argument("--towards", choices=("mean", "modes"), default=None,
                   help="what --psi truncates towards: mean, w̄ (StyleGAN); modes, the nearest of W's modes "
                        "(multi-modal truncation, Mokady et al. 2022: for data of separate kinds, where w̄ lies "
                        "between them). Default: mean")
    _inpaint_args(s, whole_number)
    s.add_argument("--trust-code", action="store_true",
                   help="run a TorchScript generator: its code can read, create or change files")

    g = sub.add_parser("txt2img", help="images from a prompt with a latent diffusion model")
    g.add_argument("file")
    g.add_argument("--prompt", required=True, help='what to draw; "" draws unconditionally')
    g.add_argument("--negative-prompt", default="", help="what to steer away from (replaces the empty prompt)")
    g.add_argument("--sampler", choices=tuple(SAMPLERS), default=DEFAULT_SAMPLER, help=_sampler_help())
    g.add_argument("--steps", type=whole_number("steps"), default=None,
                   help=f"default {DEFAULT_STEPS} (a sampler that takes a count), else all T")
    g.add_argument("--guidance", "--cfg", dest="guidance", type=number("guidance", 0, GUIDANCE_MAX),
                   default=TEXT_GUIDANCE, help="classifier-free guidance scale (--cfg: the same)")
    g.add_argument("--eta", type=number("eta", 0, ETA_MAX), default=0.0, help=_eta_help())
    g.add_argument("--seed", type=SEED, default=0)
    g.add_argument("--n", type=whole_number("n", 1, TEXT_BATCH_MAX), default=4)
    g.add_argument("--init-image", default=None, help="img2img: start from this image (SDEdit)")
    g.add_argument("--strength", type=number("strength", 0, 1), default=0.6,
                   help="img2img: how much of the way back to noise (1: the init image is ignored)")
    g.add_argument("--scale", type=whole_number("scale", 1, 64), default=None, help="pixel zoom of the grid")
    g.add_argument("--mask", default=None, help="inpainting: a black-and-white picture of the init image's size, "
                   "white where to paint anew")
    g.add_argument("--resample", type=whole_number("resample", 1, 20), default=1,
                   help="inpainting: run each step this many times (RePaint's resampling; 1: none)")
    g.add_argument("--control", default=None, help="a ControlNet's control image (edges or silhouette: dark "
                   "strokes on white, or light on black; resized to the model's size)")
    g.add_argument("--out", required=True, help="output .png file (its generation parameters inside)")

    cli_info.add_parser(sub)

    e = sub.add_parser("eval", help="print held-out figures and sample quality as JSON")
    e.add_argument("file")
    e.add_argument("--data", default=None, help="default: the checkpoint's own data")
    e.add_argument("--seed", type=SEED, default=0)
    e.add_argument("--n", type=whole_number("n"), default=None,
                   help="samples for the quality figures (default 2000; a diffusion model: 500; a model that "
                        "samples pixel by pixel: none unless given)")
    _sampling_args(e, steps_help="diffusion: DDIM steps (default 25) or all T with --sampler ddpm")

    from latent_explorer.models.cli.diagnostics import add_parsers

    add_parsers(sub, whole_number, SEED)
    from latent_explorer.models.cli.inpaint import add_parser as add_inpaint

    add_inpaint(sub, whole_number, SEED)
    from latent_explorer.models.cli.translate import add_parser as add_translate

    add_translate(sub)

    c = sub.add_parser("classifier", help="train the quality yardstick's classifier for a dataset")
    c.add_argument("--data", required=True)
    c.add_argument("--epochs", type=whole_number("epochs"), default=8)
    c.add_argument("--seed", type=SEED, default=0)
    c.add_argument("--out", required=True, help="output .safetensors file")
    c.add_argument("--force", action="store_true", help="replace --out if it exists")
    cli_plugins.add_parser(sub)
    return p


def command_lines() -> list[tuple[str, str]]:
    """Each command of :data:`COMMANDS` and its one line of help, as the parser that runs it says."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    return [(name, helps[name]) for name in COMMANDS]


def _inpaint_args(p, whole_number) -> None:
    p.add_argument("--init-image", default=None, help="diffusion: the image to inpaint (with --mask)")
    p.add_argument("--mask", default=None, help="diffusion: a black-and-white picture of the init image's size, "
                   "white where to paint anew")
    p.add_argument("--resample", type=whole_number("resample", 1, 20), default=1,
                   help="inpainting: run each step this many times (RePaint's resampling; 1: none)")


def _sampling_args(p, steps_help="DDPM/DDIM steps") -> None:
    p.add_argument("--steps", type=whole_number("steps"), default=None, help=steps_help)
    p.add_argument("--sampler", choices=tuple(SAMPLERS), default=None, help=_sampler_help())
    p.add_argument("--eta", type=number("eta", 0, ETA_MAX), default=0.0, help=_eta_help())
    p.add_argument("--guidance", "--cfg", dest="guidance", type=number("guidance", 0, GUIDANCE_MAX), default=None,
                   help=f"classifier-free guidance scale (default {DEFAULT_GUIDANCE:g}; --cfg: the same)")


def _sampler_help() -> str:
    """Each sampler and what it takes, from its class."""
    return ", ".join(f"{name} ({cls.describe('--steps', ', --eta')})" for name, cls in SAMPLERS.items())


def _eta_help() -> str:
    takes = [cls.title for cls in SAMPLERS.values() if cls.takes_eta]
    return f"{' and '.join(takes)} only: 0 deterministic, {ETA_MAX:g} like DDPM"
