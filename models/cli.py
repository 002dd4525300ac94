"""Command-line interface: the commands of :data:`COMMANDS` (``latent-explorer --help`` lists each with its
line of help, from the parser below). No Qt here.

Every bad input ends with exit code 2 and one clear line on stderr, never a traceback (but under ``--debug``,
see :func:`models.errors.debugging`). Long steps show progress with an ETA on stderr (:mod:`models.cli_progress`).
Run as ``latent-explorer train ...`` or ``python -m models.cli train ...`` (also under torchrun).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from . import cli_info, registry
from .cli_memory import check_grid, out_of_memory_message, subject_of
from .cli_progress import ProgressBar
from .cli_progress import fmt_time as _fmt_time
from .cli_progress import run_steps as _run_steps
from .data import DataError
from .errors import (
    CheckpointError,
    ConfigError,
    failure,
    out_of_memory,
    print_traceback_if_debugging,
    printable,
    reason,
    shown,
)
from .samplers import GUIDANCE_MAX, SEED_MAX  # a generation's limits, written once (the views use them too)
from .train import TrainingError

# the one table of commands: main.py dispatches on it, the window's --help lists it (with command_lines)
COMMANDS = ("train", "sample", "txt2img", "translate", "info", "eval", "classifier", "likelihood", "anomaly")


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        raise UsageError(f"{self.prog}: {message}")


def _whole_number(name, lo: int | None = None, hi: int | None = None):
    """An int parser with a clear message; with ``lo``/``hi``, the range too (other ranges depend on the
    model or the data, and are checked later, where the message can say why)."""
    def conv(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {s[:40]!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{name} must be between {lo} and {hi}, got {str(v)[:40]}")
        return v

    return conv


def _number(name: str = "", lo: float | None = None, hi: float | None = None):
    """A finite float parser, optionally range-checked."""
    def conv(s):
        what = f"{name} must be" if name else "expected"
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} a number, got {s[:40]!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{what} a finite number, got {s[:40]!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{name} must be between {lo:g} and {hi:g}, got {v:g}")
        return v

    return conv


_SEED = _whole_number("seed", 0, SEED_MAX)


def build_parser() -> Parser:
    from .samplers import SAMPLERS

    p = Parser(prog="latent-explorer", description="Look inside generative image models.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    t = sub.add_parser("train", help="train a model headless")
    titles = "; ".join(f"{k}: {registry.get(k).title}" for k in registry.kinds(trainable=True))
    t.add_argument("--model", required=True, choices=registry.kinds(trainable=True), help=f"model kind ({titles})")
    t.add_argument("--data", required=True,
                   help="digits, mnist, shapes[:N], scenes[:N], a folder, IDX files or an .npz")
    t.add_argument("--epochs", type=_whole_number("epochs"), default=None, help="default: per kind")
    t.add_argument("--latent-dim", type=_whole_number("latent dim"), default=None, help="default: per kind")
    t.add_argument("--batch-size", type=_whole_number("batch size"), default=None, help="default: per kind")
    t.add_argument("--lr", type=_number("learning rate", 1e-12, 1e6), default=None,
                   help="learning rate (default: per kind)")
    t.add_argument("--seed", type=_SEED, default=0)
    optional = [k for k in registry.kinds(trainable=True) if registry.get(k).conditioning_optional]
    t.add_argument("--conditional", action="store_true",
                   help=f"condition on the data's labels ({', '.join(optional)}; classifier-free guidance)")
    t.add_argument("--size", type=_whole_number("size"), default=None, help="image size (default: data's)")
    t.add_argument("--channels", type=int, choices=(1, 3), default=None)
    for param in registry.all_params():  # each kind's own hyperparameters, from the registry
        # choices are checked by the kind's own Param when parsed (argparse would compare text with numbers)
        t.add_argument(param.flag, dest=f"param_{param.name}", default=None,
                       metavar="|".join(map(str, param.choices)) if param.choices else None,
                       help=f"{param.help} ({', '.join(registry.kinds_with_param(param.name))})")
    t.add_argument("--max-steps", type=_whole_number("max steps", 1, 10**9), default=None)
    t.add_argument("--record-n", type=_whole_number("record size", 0, 10_000), default=500,
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
    s.add_argument("--n", type=_whole_number("n"), default=64)
    s.add_argument("--out", required=True, help="output .png file")
    s.add_argument("--seed", type=_SEED, default=0)
    _sampling_args(s)
    s.add_argument("--class", dest="cls", default=None, help="class name or index (conditional models)")
    s.add_argument("--scale", type=_whole_number("scale", 1, 64), default=None, help="pixel zoom of the grid")
    s.add_argument("--trust-code", action="store_true",
                   help="run a TorchScript generator: its code can read, create or change files")

    g = sub.add_parser("txt2img", help="images from a prompt with a latent diffusion model")
    g.add_argument("file")
    g.add_argument("--prompt", required=True, help='what to draw; "" draws unconditionally')
    g.add_argument("--negative-prompt", default="", help="what to steer away from (replaces the empty prompt)")
    g.add_argument("--sampler", choices=tuple(SAMPLERS), default="ddim")
    g.add_argument("--steps", type=_whole_number("steps"), default=25)
    g.add_argument("--cfg", type=_number("cfg", 0, GUIDANCE_MAX), default=5.0,
                   help="classifier-free guidance scale")
    g.add_argument("--eta", type=_number("eta", 0, 1), default=0.0, help="DDIM only")
    g.add_argument("--seed", type=_SEED, default=0)
    g.add_argument("--n", type=_whole_number("n", 1, 256), default=4)
    g.add_argument("--init-image", default=None, help="img2img: start from this image (SDEdit)")
    g.add_argument("--strength", type=_number("strength", 0, 1), default=0.6,
                   help="img2img: how much of the way back to noise (1: the init image is ignored)")
    g.add_argument("--scale", type=_whole_number("scale", 1, 64), default=None, help="pixel zoom of the grid")
    g.add_argument("--control", default=None, help="a ControlNet's control image (edges or silhouette: dark "
                   "strokes on white, or light on black; resized to the model's size)")
    g.add_argument("--out", required=True, help="output .png file (its generation parameters inside)")

    cli_info.add_parser(sub)

    e = sub.add_parser("eval", help="print held-out figures and sample quality as JSON")
    e.add_argument("file")
    e.add_argument("--data", default=None, help="default: the checkpoint's own data")
    e.add_argument("--seed", type=_SEED, default=0)
    e.add_argument("--n", type=_whole_number("n"), default=None,
                   help="samples for the quality figures (default 2000; a model that samples pixel by pixel: "
                        "none unless given)")
    _sampling_args(e, steps_help="diffusion: DDIM steps (default 50) or all T with --sampler ddpm")

    from .cli_diagnostics import add_parsers

    add_parsers(sub, _whole_number, _SEED)
    from .cli_translate import add_parser as add_translate

    add_translate(sub)

    c = sub.add_parser("classifier", help="train the quality yardstick's classifier for a dataset")
    c.add_argument("--data", required=True)
    c.add_argument("--epochs", type=_whole_number("epochs"), default=8)
    c.add_argument("--seed", type=_SEED, default=0)
    c.add_argument("--out", required=True, help="output .safetensors file")
    c.add_argument("--force", action="store_true", help="replace --out if it exists")
    return p


def command_lines() -> list[tuple[str, str]]:
    """Each command of :data:`COMMANDS` and its one line of help, as the parser that runs it says."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    return [(name, helps[name]) for name in COMMANDS]


def _sampling_args(p, steps_help="DDPM/DDIM steps") -> None:
    p.add_argument("--steps", type=_whole_number("steps"), default=None, help=steps_help)
    from .samplers import SAMPLERS

    p.add_argument("--sampler", choices=tuple(SAMPLERS), default=None,
                   help="ddpm (all T steps), ddim (--steps, --eta) or euler-a (Euler ancestral, --steps)")
    p.add_argument("--eta", type=_number("eta", 0, 1), default=0.0, help="DDIM: 0 deterministic, 1 like DDPM")
    p.add_argument("--guidance", type=_number("guidance", 0, GUIDANCE_MAX), default=None,
                   help="classifier-free guidance scale (default 1; text-to-image models: 5)")


def cmd_train(a, world=None) -> int:
    from .checkpoint import check_output
    from .run import RunSpec, prepare_run

    is_main = world is None or world.rank == 0
    kind = registry.get(a.model)
    over = {}
    for p in registry.all_params():
        value = getattr(a, f"param_{p.name}")
        if value is None:
            continue
        if kind.param(p.name) is None:
            raise ConfigError(f"{p.flag} does not apply to {a.model} (it applies to "
                              f"{', '.join(registry.kinds_with_param(p.name))})")
        over[p.name] = kind.param(p.name).parse(value)  # this kind's limits (another's may share the name)
    spec = RunSpec(a.model, a.data, a.out, a.epochs, a.batch_size, a.lr, a.latent_dim, over, a.conditional,
                   a.size, a.seed, preview_every=0.0, channels=a.channels, record_n=a.record_n, resume=a.resume,
                   max_steps=a.max_steps, device=a.device)
    spec.check()
    try:  # never the command's own input: the checkpoint resumed, a part file named, a data file
        check_output(os.path.abspath(a.out), force=a.force, inputs=spec.inputs())
    except CheckpointError as e:
        raise ConfigError(f"--out: {e}") from None
    run = prepare_run(spec)
    model, data = run.model, run.data
    if is_main:
        for note in run.notes:
            print(f"note: {note}", file=sys.stderr)
        n_params = sum(p.numel() for p in model.parameters())
        print(f"training {a.model} on {data.spec}: {len(data)} images {data.shape}, {n_params:,} parameters",
              file=sys.stderr)
    bar = ProgressBar(enabled=not a.quiet and is_main)
    stop = _StopSignals() if world is None else None  # under torchrun, the launcher handles signals
    gen = run.train(should_stop=stop, world=world)
    try:
        for p in gen:
            if p.event == "step":
                bar.update(p)
            elif p.event == "epoch" and is_main:
                bar.update(p, force=True)
                tr = " ".join(f"{k}={v:.4f}" for k, v in p.losses.items())
                va = " ".join(f"{k}={v:.4f}" for k, v in (p.val or {}).items())
                bar.line(f"epoch {p.epoch}/{p.epochs}  train: {tr}  val: {va}  ({_fmt_time(p.elapsed_s)})")
                if p.message:  # a save that failed: the run goes on
                    bar.line(f"warning: {p.message}")
            elif p.event == "done" and is_main:
                if p.message != "finished":  # the output could not be written: where the weights went
                    print(f"warning: {p.message}", file=sys.stderr)
                print(f"saved {p.checkpoint} ({_fmt_time(p.elapsed_s)})", file=sys.stderr)
            elif p.event == "stopped":
                if p.checkpoint and os.path.abspath(p.checkpoint) != os.path.abspath(a.out):
                    bar.line(f"warning: {p.message}")
                saved = (f"the weights of step {p.step} (epoch {p.epoch}) were saved to {p.checkpoint}"
                         if p.checkpoint else "nothing was saved (no step had been taken)")
                bar.line(f"interrupted ({stop.name if stop else 'stopped'}): {saved}")
                return 128 + (stop.signum if stop else 2)
    except KeyboardInterrupt:  # a second Ctrl+C: leave at once, and say what is on disk
        gen.close()
        print(f"\ninterrupted again: stopped without saving; {_on_disk(a.out)}", file=sys.stderr)
        return 130
    finally:
        if stop is not None:
            stop.restore()
    return 0


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP ask training to stop at the end of the current step, where the trainer
    saves the weights it has (a signal inside a step would otherwise kill it mid-update with nothing saved).
    A second Ctrl+C stops at once. Callable: the trainer's ``should_stop``."""

    def __init__(self):
        import signal

        self.signum, self.name = 0, ""
        self._old = {}
        for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if sig is None:
                continue
            try:
                if signal.getsignal(sig) is signal.SIG_IGN:
                    continue  # ignored on purpose (a background job's Ctrl+C, nohup): keep it so
                self._old[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):  # not the main thread: nothing to install
                pass

    def _on_signal(self, signum, frame):
        import signal

        if self.signum:  # asked twice: Ctrl+C leaves at once (and a third is ignored while it does)
            if signum == signal.SIGINT:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                raise KeyboardInterrupt
            return
        self.signum, self.name = signum, signal.Signals(signum).name
        print(f"\n{self.name}: stopping after this step and saving the weights (Ctrl+C again to stop at once, "
              "without saving)", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        return bool(self.signum)

    def restore(self) -> None:
        import signal

        for sig, old in self._old.items():
            try:
                signal.signal(sig, old)
            except (ValueError, OSError, TypeError):
                pass
        self._old = {}


def _on_disk(path: str) -> str:
    """What a checkpoint path holds now, in words (after an interrupt)."""
    from .checkpoint import load

    if not os.path.exists(path):
        return f"nothing was saved to {path}"
    try:
        t = load(path).meta.get("training", {})
        return (f"{path} holds an earlier save (epoch {t.get('epochs_done', '?')}, status "
                f"{t.get('status', '?')})")
    except Exception:  # noqa: BLE001 - describing, never failing
        return f"{path} exists but could not be read back"


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


def _sampling_kw(model, a, default_steps: int | None = None) -> dict:
    """The sampler settings of a diffusion model from --sampler/--steps/--eta/--guidance, checked."""
    guidance = 1.0 if a.guidance is None else a.guidance
    if not math.isfinite(guidance) or not 0 <= guidance <= GUIDANCE_MAX:
        raise ConfigError(f"--guidance must be between 0 and {GUIDANCE_MAX:g}, got {guidance}")
    if not model.capabilities.diffusion:
        if a.steps is not None or a.sampler is not None:
            raise ConfigError("--steps and --sampler apply to diffusion models only")
        return {}
    steps = a.steps if a.steps is not None or a.sampler == "ddpm" else default_steps
    sampler = a.sampler or ("ddim" if steps else "ddpm")
    if sampler == "ddpm" and steps not in (None, model.config.timesteps):
        raise ConfigError(f"DDPM sampling runs all {model.config.timesteps} steps; use --sampler ddim or euler-a "
                          "for fewer")
    if a.eta and sampler != "ddim":
        raise ConfigError(f"--eta applies to the DDIM sampler only, not {sampler}")
    if steps is not None and not 1 <= steps <= model.config.timesteps:
        raise ConfigError(f"--steps must be between 1 and {model.config.timesteps}")
    return dict(sampler=sampler, steps=steps, eta=a.eta, guidance=guidance)


def cmd_sample(a) -> int:
    import torch

    from .checkpoint import load
    from .images import make_grid, save_png

    if not 1 <= a.n <= 1024:
        raise ConfigError(f"--n must be between 1 and 1024, got {a.n}")
    if Path(a.out).suffix.lower() != ".png" or Path(a.out).is_dir():
        # a slip of the keyboard (--out model.safetensors) must not replace a trained model with a picture
        raise ConfigError(f"--out: samples are saved as a PNG picture: give a file name ending in .png, not "
                          f"{shown(a.out, 200)}")
    model = load(a.file, trust_code=a.trust_code)
    if model.capabilities.image_to_image:  # no samples of its own: held-out sources, translations, real images
        import numpy as np

        from .quality import held_out

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
    kw = _sampling_kw(model, a)
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

    from .checkpoint import load, refuse_inputs
    from .images import generation_parameters, make_grid, read_image_for, save_png
    from .text_encoder import UnknownWords

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
        from .pix2pix import read_sketch

        try:
            ink, notes = read_sketch(a.control, model.image_shape[1])
        except (ValueError, OSError) as e:
            raise ConfigError(f"--control {failure(a.control, e)}") from None
        for n in notes:
            print(f"note: the control image: {n}", file=sys.stderr)
        control = torch.from_numpy(ink[None])
    ldm = model.base if controlled else model
    T = ldm.config.timesteps
    steps = T if a.sampler == "ddpm" else a.steps
    if not 1 <= steps <= T:
        raise ConfigError(f"--steps must be between 1 and {T}")
    if a.eta and a.sampler != "ddim":
        raise ConfigError(f"--eta applies to the DDIM sampler only, not {a.sampler}")
    check_grid(a.n, model.image_shape, a.scale or max(1, 64 // model.image_shape[1]), a.scale is None)
    try:
        tokens = ldm.prompt_ids([a.prompt, a.negative_prompt])
    except UnknownWords as e:
        raise ConfigError(str(e)) from None
    context = ldm.parts[1].config.context
    for text, cut in zip(("the prompt", "the negative prompt"), tokens.truncated):
        if cut:
            print(f"note: {text} is longer than the text encoder's {context - 2} words: the rest is left out",
                  file=sys.stderr)
    if not a.prompt.strip():
        print("note: an empty prompt: unconditional samples", file=sys.stderr)
    init, strength = None, None
    if a.init_image is not None:
        try:
            x = read_image_for(model.image_shape, a.init_image)
        except (ValueError, OSError) as e:
            raise ConfigError(f"--init-image {failure(a.init_image, e)}") from None
        from PIL import Image

        with Image.open(a.init_image) as im:
            if (im.height, im.width) != tuple(model.image_shape[1:]):
                print(f"note: the init image ({im.width}x{im.height}) is resized to the model's "
                      f"{model.image_shape[2]}x{model.image_shape[1]}", file=sys.stderr)
        init, strength = torch.from_numpy(x[None]).expand(a.n, *x.shape), a.strength
    kw = dict(negative=a.negative_prompt, sampler=a.sampler, steps=steps, guidance=a.cfg, seed=a.seed, init=init,
              strength=1.0 if strength is None else strength, eta=a.eta)
    prompts = [a.prompt] * a.n
    images = (model.txt2img(prompts, control, **kw) if controlled else model.txt2img(prompts, **kw)).numpy()
    h = model.image_shape[1]
    from .samplers import SAMPLERS

    params = generation_parameters(a.prompt, a.negative_prompt, steps, SAMPLERS[a.sampler].title, a.cfg, a.seed,
                                   model.image_shape[1:], Path(a.file).stem, strength,
                                   f"{model.config.control} from {Path(a.control).name}" if controlled else None)
    save_png(a.out, make_grid(images, nrow=int(math.ceil(math.sqrt(a.n))), scale=a.scale or max(1, 64 // h)),
             {"parameters": params})
    print(f"saved {a.n} images to {a.out}", file=sys.stderr)
    return 0


def cmd_eval(a) -> int:
    from .checkpoint import load
    from .external import UntrustedCode
    from .quality import MAX_SAMPLES, MIN_SAMPLES, check_samplable, held_out, quality_job
    from .train import evaluate

    try:
        model = load(a.file)
    except UntrustedCode:
        raise ConfigError("an external generator has no held-out figures to compute (and its code is not run)"
                          ) from None
    if not model.spec.trainable:
        raise ConfigError(f"{model.spec.title}: no held-out figures to compute (it was not trained here)")
    n_given, a.n = a.n is not None, 2000 if a.n is None else a.n
    if model.capabilities.text_encoder:  # a text encoder
        from .text_encoder import text_figures

        data, val = held_out(model, a.data)
        out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val)}
        out.update({k: round(v, 6) for k, v in evaluate(model, val, seed=a.seed).items()})
        out.update(text_figures(model, val, n=min(a.n, 1000), seed=a.seed))
        print(json.dumps(out, indent=2))
        return 0
    if model.capabilities.controlled:  # a ControlNet: does it follow the control and the prompt?
        return _eval_control(model, a)
    if model.capabilities.text_to_image:  # a text-to-image model: does it draw what the prompt says?
        return _eval_prompts(model, a)
    if model.capabilities.image_to_image:  # its held-out sources translated, against the real images
        from .classifier import classifier_for

        data, val = held_out(model, a.data)
        classifier = _run_steps(classifier_for(data, seed=0), "classifier")
        out = {"file": a.file, "kind": model.kind, "data": data.spec, "translates": model.direction_title()}
        out.update({k: round(v, 6) for k, v in _run_steps(model.held_out_figures(val, classifier),
                                                          "translation").items()})
        out["classifier"] = {"data": classifier.config.data,
                             "held_out_accuracy": dict(classifier.config.held_out_accuracy)}
        print(json.dumps(out, indent=2))
        return 0
    check_samplable(model)
    if not n_given and model.capabilities.autoregressive:  # slow to sample: its likelihood unless asked
        data, val = held_out(model, a.data)
        out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val), "binarised": True}
        out.update({k: round(v, 6) for k, v in evaluate(model, val, seed=a.seed).items()})
        print(json.dumps(out, indent=2))
        return 0
    if not MIN_SAMPLES <= a.n <= MAX_SAMPLES:
        raise ConfigError(f"--n: the quality figures need {MIN_SAMPLES} to {MAX_SAMPLES} samples, got {a.n}")
    kw = _sampling_kw(model, a, default_steps=50)
    data, val = held_out(model, a.data)
    figures = evaluate(model, val, seed=a.seed)
    out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val)}
    out.update({k: round(v, 6) for k, v in figures.items()})
    if "mse" in figures:
        out["reconstruction_mse"] = round(figures["mse"], 6)
    if model.capabilities.likelihood == "bound" and "loss" in figures:  # the negative ELBO
        out["loss_nats_per_image"] = round(figures["loss"], 4)
    report = _run_steps(quality_job(model, a.data, n=a.n, seed=a.seed, sample_kw=kw), "quality")
    out.update(report.figures)
    if kw:
        out["sampling"] = {k: v for k, v in kw.items() if v is not None}
    out["classifier"] = report.classifier
    print(json.dumps(out, indent=2))
    return 0


def _split_of(model) -> str | None:
    data = model.meta.get("data")
    return data.get("split") if isinstance(data, dict) else None


def _eval_prompts(model, a) -> int:
    """``eval`` of a latent diffusion model: its held-out noise-prediction loss and prompt adherence on
    held-out captions, at the guidance asked for (default 5) and at 1 beside it."""
    from .classifier import classifier_for
    from .latent_diffusion import held_out_prompts, prompt_adherence
    from .quality import held_out
    from .train import evaluate

    data, val = held_out(model, a.data)
    n = min(a.n, 1024)
    sampler = a.sampler or "ddim"
    steps = None if sampler == "ddpm" else (a.steps if a.steps is not None else 25)
    if steps is not None and not 1 <= steps <= model.config.timesteps:
        raise ConfigError(f"--steps must be between 1 and {model.config.timesteps}")
    if a.eta and sampler != "ddim":
        raise ConfigError(f"--eta applies to the DDIM sampler only, not {sampler}")
    cfg = 5.0 if a.guidance is None else a.guidance
    prompts, factors = held_out_prompts(val, n=n, seed=a.seed)
    out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val)}
    out.update({k: round(v, 6) for k, v in evaluate(model, val, seed=a.seed).items()})
    classifier = _run_steps(classifier_for(data, seed=0), "classifier")
    out["prompts"] = {"n": len(prompts), "held_out_captions": _split_of(model) == "captions", "sampler": sampler,
                      "steps": steps}
    for w in dict.fromkeys((cfg, 1.0)):
        out[f"prompt_adherence_cfg{w:g}"] = _run_steps(
            prompt_adherence(model, prompts, factors, classifier, guidance=w, sampler=sampler, steps=steps,
                             seed=a.seed, eta=a.eta), "adherence")
    # short prompts (issue T): held-out captions cut to some of their phrases, 16 images each
    import numpy as np

    from .partial_prompts import cut_prompts, partial_adherence

    short, named = cut_prompts(prompts[: max(1, n // 16)], seed=a.seed)
    out[f"short_prompts_cfg{cfg:g}"] = _run_steps(partial_adherence(
        model, short, factors[: len(short)], named, classifier, np.asarray(data.factors)[:, :5], per_prompt=16,
        guidance=cfg, sampler=sampler, steps=steps, seed=a.seed, eta=a.eta), "short prompts")
    out["classifier"] = {"data": classifier.config.data,
                         "held_out_accuracy": dict(classifier.config.held_out_accuracy)}
    print(json.dumps(out, indent=2))
    return 0


def _eval_control(model, a) -> int:
    """``eval`` of a ControlNet: held-out captions as prompts and their images' control maps as controls; the
    overlap of the drawn images' edges with the control's, and prompt adherence, with the control and
    without (the base model alone, same prompts and seeds)."""
    from .classifier import classifier_for
    from .controlnet import control_figures
    from .quality import held_out
    from .train import evaluate

    data, val = held_out(model, a.data)
    cfg = 5.0 if a.guidance is None else a.guidance
    steps = a.steps if a.steps is not None else 25
    if not 1 <= steps <= model.base.config.timesteps:
        raise ConfigError(f"--steps must be between 1 and {model.base.config.timesteps}")
    out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val),
           "held_out_captions": _split_of(model) == "captions"}
    out.update({k: round(v, 6) for k, v in evaluate(model, val, seed=a.seed).items()})
    classifier = _run_steps(classifier_for(data, seed=0), "classifier")
    n = min(a.n or 256, 1024)
    out["controlled"] = _run_steps(control_figures(model, val, classifier, n=n, guidance=cfg, steps=steps,
                                                   seed=a.seed), "control")
    out["classifier"] = {"data": classifier.config.data,
                         "held_out_accuracy": dict(classifier.config.held_out_accuracy)}
    print(json.dumps(out, indent=2))
    return 0


def cmd_classifier(a) -> int:
    from .checkpoint import check_output
    from .classifier import save_classifier, train_classifier
    from .data import load_dataset

    if not 1 <= a.epochs <= 1000:
        raise ConfigError(f"--epochs must be between 1 and 1000, got {a.epochs}")
    try:
        out = check_output(os.path.abspath(a.out), force=a.force)
    except CheckpointError as e:
        raise ConfigError(f"--out: {e}") from None
    data = load_dataset(a.data)
    net = _run_steps(train_classifier(data, epochs=a.epochs, seed=a.seed), "classifier")
    save_classifier(net, out)
    acc = ", ".join(f"{k} {v:.3f}" for k, v in net.config.held_out_accuracy.items())
    print(f"saved {out}: held-out accuracy {acc}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None, world=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    a = None
    try:
        a = parser.parse_args(argv)
        if a.command is None:
            parser.print_help(sys.stderr)
            return 2
        if a.command == "train":
            from .distributed import World

            world = world or World.from_env()  # under torchrun: one process of a distributed run
            try:
                return cmd_train(a, world)
            finally:
                if world is not None:
                    world.close()
        if a.command in ("likelihood", "anomaly"):
            from .cli_diagnostics import run

            return run(a, _run_steps)
        if a.command == "translate":
            from .cli_translate import cmd_translate

            return cmd_translate(a)
        return {"sample": cmd_sample, "txt2img": cmd_txt2img, "info": cli_info.cmd_info, "eval": cmd_eval,
                "classifier": cmd_classifier}[a.command](a)
    except (UsageError, DataError, ConfigError, CheckpointError) as e:
        print_traceback_if_debugging()
        print(f"error: {printable(e)}", file=sys.stderr)  # a file's control characters as escapes
        return 2
    except TrainingError as e:
        print_traceback_if_debugging()
        print(f"error: {printable(e)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:
        if not out_of_memory(e):  # a RuntimeError of a bug: its traceback
            raise
        print_traceback_if_debugging()
        print(f"error: {out_of_memory_message(a, e)}", file=sys.stderr)  # the options that set the size
        return 1
    except KeyboardInterrupt:  # before training started, or in another command: nothing half-written
        print("\ninterrupted: nothing was saved", file=sys.stderr)
        return 130
    except OSError as e:
        print_traceback_if_debugging()
        subject = e.filename or subject_of(a)  # the file, in words ("Invalid argument" alone named none)
        print(f"error: {failure(subject, e) if subject else reason(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
