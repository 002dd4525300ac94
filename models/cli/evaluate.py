"""``latent-explorer eval`` (figures as JSON) and ``classifier`` (the quality yardstick's classifier)."""

from __future__ import annotations

import json
import os
import sys

from latent_explorer.models.cli.generate import sampling_kw
from latent_explorer.models.cli.progress import run_steps as _run_steps
from latent_explorer.models.errors import (
    CheckpointError,
    ConfigError,
)
from latent_explorer.models.io.meta import meta_of
from latent_explorer.models.sampling.settings import DEFAULT_SAMPLER, DEFAULT_STEPS, TEXT_GUIDANCE, SamplingSettings

DIFFUSION_EVAL_N = 500  # samples a diffusion model's eval draws unless --n says


def cmd_eval(a) -> int:
    from latent_explorer.models.analysis.quality import MAX_SAMPLES, MIN_SAMPLES, check_samplable, held_out, quality_job
    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.io.external import UntrustedCode
    from latent_explorer.models.training.train import evaluate

    try:
        model = load(a.file)
    except UntrustedCode:
        raise ConfigError("an external generator has no held-out figures to compute (and its code is not run)"
                          ) from None
    if not model.spec.trainable:
        raise ConfigError(f"{model.spec.title}: no held-out figures to compute (it was not trained here)")
    n_given, a.n = a.n is not None, 2000 if a.n is None else a.n
    if model.capabilities.text_encoder:  # a text encoder
        from latent_explorer.models.kinds.text_encoder import text_figures

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
        from latent_explorer.models.analysis.classifier import classifier_for

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
    if not n_given and model.capabilities.diffusion:  # 500 images of 25 DDIM steps: minutes on a laptop's CPU
        a.n = DIFFUSION_EVAL_N
    if not MIN_SAMPLES <= a.n <= MAX_SAMPLES:
        raise ConfigError(f"--n: the quality figures need {MIN_SAMPLES} to {MAX_SAMPLES} samples, got {a.n}")
    kw = sampling_kw(model, a, default_steps=DEFAULT_STEPS)
    if kw:  # what the figures are of, said before the minutes they take
        from latent_explorer.models.sampling.samplers import SAMPLERS

        cls = SAMPLERS[kw["sampler"]]
        steps = f"{kw['steps']} steps" if kw.get("steps") else f"all {model.config.timesteps} steps"
        print(f"eval: {a.n:,} samples, {cls.title}, {steps}" + (f", eta {kw['eta']:g}" if cls.takes_eta else "")
              + " (--n, --sampler, --steps to change)", file=sys.stderr, flush=True)
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
    if model.capabilities.styles:  # a mapping network: path lengths in Z and W, truncation, style mixing
        from latent_explorer.models.analysis.style_figures import style_report

        out.update(_run_steps(style_report(model, a.data, n=min(a.n, 1000), seed=a.seed), "styles").to_json())
    print(json.dumps(out, indent=2))
    return 0


def _eval_prompts(model, a) -> int:
    """``eval`` of a latent diffusion model: its held-out noise-prediction loss and prompt adherence on
    held-out captions, at the guidance asked for (default 5) and at 1 beside it."""
    from latent_explorer.models.analysis.classifier import classifier_for
    from latent_explorer.models.analysis.quality import held_out
    from latent_explorer.models.kinds.latent_diffusion import held_out_prompts, prompt_adherence
    from latent_explorer.models.training.train import evaluate

    data, val = held_out(model, a.data)
    n = min(a.n, 1024)
    s = SamplingSettings(a.sampler, a.steps, a.eta, TEXT_GUIDANCE if a.guidance is None else a.guidance
                         ).for_model(model.config.timesteps, DEFAULT_STEPS)
    sampler, steps, cfg = s.sampler, s.steps, s.guidance
    prompts, factors = held_out_prompts(val, n=n, seed=a.seed)
    out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val)}
    out.update({k: round(v, 6) for k, v in evaluate(model, val, seed=a.seed).items()})
    classifier = _run_steps(classifier_for(data, seed=0), "classifier")
    out["prompts"] = {"n": len(prompts), "held_out_captions": meta_of(model).data.split == "captions",
                      "sampler": sampler, "steps": steps}
    for w in dict.fromkeys((cfg, 1.0)):
        out[f"prompt_adherence_cfg{w:g}"] = _run_steps(
            prompt_adherence(model, prompts, factors, classifier, guidance=w, sampler=sampler, steps=steps,
                             seed=a.seed, eta=s.eta), "adherence")
    # short prompts (issue T): held-out captions cut to some of their phrases, 16 images each
    import numpy as np

    from latent_explorer.models.analysis.partial_prompts import cut_prompts, partial_adherence

    short, named = cut_prompts(prompts[: max(1, n // 16)], seed=a.seed)
    out[f"short_prompts_cfg{cfg:g}"] = _run_steps(partial_adherence(
        model, short, factors[: len(short)], named, classifier, np.asarray(data.factors)[:, :5], per_prompt=16,
        guidance=cfg, sampler=sampler, steps=steps, seed=a.seed, eta=s.eta), "short prompts")
    out["classifier"] = {"data": classifier.config.data,
                         "held_out_accuracy": dict(classifier.config.held_out_accuracy)}
    print(json.dumps(out, indent=2))
    return 0


def _eval_control(model, a) -> int:
    """``eval`` of a ControlNet: held-out captions as prompts and their images' control maps as controls; the
    overlap of the drawn images' edges with the control's, and prompt adherence, with the control and
    without (the base model alone, same prompts and seeds)."""
    from latent_explorer.models.analysis.classifier import classifier_for
    from latent_explorer.models.analysis.quality import held_out
    from latent_explorer.models.kinds.controlnet import control_figures
    from latent_explorer.models.training.train import evaluate

    data, val = held_out(model, a.data)
    s = SamplingSettings(DEFAULT_SAMPLER, a.steps, 0.0, TEXT_GUIDANCE if a.guidance is None else a.guidance
                         ).for_model(model.base.config.timesteps, DEFAULT_STEPS)  # a ControlNet samples with DDIM
    cfg, steps = s.guidance, s.steps
    out = {"file": a.file, "kind": model.kind, "data": data.spec, "n_val": len(val),
           "held_out_captions": meta_of(model).data.split == "captions"}
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
    from latent_explorer.models.analysis.classifier import save_classifier, train_classifier
    from latent_explorer.models.data import load_dataset
    from latent_explorer.models.io.checkpoint import check_output

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
