"""The diagnostics subcommands (issue L): ``likelihood`` (bounds against an exact likelihood, one table) and
``anomaly`` (a model's own data against another dataset: AUROC), both printing JSON on stdout."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from latent_explorer.models.cli.progress import run_steps
from latent_explorer.models.errors import ConfigError


def add_parsers(sub, whole_number, seed_type) -> None:
    lk = sub.add_parser("likelihood", help="negative log-likelihoods side by side on the same binarised "
                                           "held-out images: VAE ELBO, importance-weighted bound, exact")
    lk.add_argument("files", nargs="+", help="checkpoints: VAEs (bounds) and autoregressive models (exact)")
    lk.add_argument("--data", default=None, help="default: the first checkpoint's own data (its held-out part)")
    lk.add_argument("--n", type=whole_number("n", 10, 10000), default=1000, help="held-out images")
    lk.add_argument("--k", type=whole_number("k", 1, 5000), default=1000,
                    help="importance samples of the tighter bound (Burda et al. 2016)")
    lk.add_argument("--binarise", choices=("threshold", "stochastic"), default="threshold",
                    help="threshold: a pixel on above ½ (one fixed set); stochastic: on with its grey value's "
                         "probability, the papers' convention, averaged over --draws draws")
    lk.add_argument("--draws", type=whole_number("draws", 1, 100), default=None,
                    help="stochastic binarisations of the images to average over (default 5)")
    lk.add_argument("--seed", type=seed_type, default=0)
    lk.add_argument("--markdown", action="store_true", help="print a Markdown table instead of JSON")

    an = sub.add_parser("anomaly", help="score a model's own held-out data against another dataset: AUROC")
    an.add_argument("file")
    an.add_argument("--against", required=True, help="the other dataset (a built-in name, a folder, an .npz)")
    an.add_argument("--data", default=None, help="the model's data (default: its checkpoint's)")
    an.add_argument("--score", default=None, help="corrected (default), neg_elbo, nll, kl or recon_error")
    an.add_argument("--n", type=whole_number("n", 10, 20000), default=1000, help="images on each side")
    an.add_argument("--seed", type=seed_type, default=0)


def cmd_likelihood(a) -> int:
    from latent_explorer.models.analysis.diagnostics import DEFAULT_DRAWS, likelihood_rows
    from latent_explorer.models.analysis.quality import held_out
    from latent_explorer.models.io.checkpoint import load

    models = {}
    for f in a.files:
        name = Path(f).stem
        if name in models:
            name = f
        models[name] = load(f)
    first = next(iter(models.values()))
    _, val = held_out(first, a.data)
    val = val.subset(slice(0, a.n))
    if a.draws is not None and a.binarise != "stochastic":
        raise ConfigError("--draws is for --binarise stochastic (a threshold gives one set of images)")
    draws = (a.draws or DEFAULT_DRAWS) if a.binarise == "stochastic" else 1
    rows = run_steps(likelihood_rows(models, val, k=a.k, seed=a.seed, binarisation=a.binarise, draws=draws),
                     "likelihood")
    trained = {name: trained_on(m) for name, m in models.items()}
    if a.markdown:
        print(markdown_table(rows, len(val), val.spec, a.binarise, draws, trained))
        return 0
    out = {"data": val.spec, "n": len(val), "binarised": a.binarise, "draws": draws, "k": a.k,
           "models": [{"name": r.name, "kind": r.kind, "trained_on": trained[r.name],
                       **{k: round(v, 4) for k, v in r.figures.items()}} for r in rows]}
    print(json.dumps(out, indent=2))
    return 0


def trained_on(model) -> str:
    """What images a checkpoint was trained on, in words, from its training record: "stochastic" (binarised
    afresh each step), "binarised" (a kind that binarises at ½ itself) or "grey"."""
    said = model.meta.get("training", {}).get("binarise", "none")
    if said == "stochastic":
        return "stochastic"
    return "binarised" if model.capabilities.exact_likelihood else "grey"


def markdown_table(rows, n: int, spec: str, binarisation: str = "threshold", draws: int = 1,
                   trained: dict | None = None) -> str:
    how = ("stochastically binarised (x ~ Bernoulli(grey)), averaged over "
           f"{draws} draw{'s' if draws != 1 else ''}" if binarisation == "stochastic" else "binarised (on above ½)")
    head = (f"−log p(x) on {n:,} held-out `{spec}` images, {how} (lower is better; a bound is above the "
            "true value)\n\n| model | kind | trained on | −ELBO (nats) | −IW bound (nats, k) | exact (nats) | "
            "bits/dim | gap (nats) |\n|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        f = r.figures
        bpd = f.get("exact_bpd", f.get("iw_bound_bpd", f.get("elbo_bpd")))
        lines.append(f"| {r.name} | {r.kind} | {(trained or {}).get(r.name, '')} | {_n(f.get('neg_elbo'))} | "
                     f"{_n(f.get('neg_iw_bound'))}{f' ({r.k})' if 'neg_iw_bound' in f else ''} | "
                     f"{_n(f.get('exact_nll'))} | {bpd:.4f} | {_n(f.get('variational_gap'))} |")
    return "\n".join(lines)


def _n(v) -> str:
    return "—" if v is None else f"{v:.2f}"


def cmd_anomaly(a) -> int:
    from latent_explorer.models.analysis.diagnostics import anomaly_job
    from latent_explorer.models.analysis.quality import held_out
    from latent_explorer.models.data import load_dataset
    from latent_explorer.models.io.checkpoint import load

    model = load(a.file)
    _, inside = held_out(model, a.data)
    other = load_dataset(a.against)
    report = run_steps(anomaly_job(model, inside, other, n=a.n, seed=a.seed, score=a.score), "anomaly")
    for note in report.notes:
        print(f"note: {note}", file=sys.stderr)
    out = {"file": a.file, "data": inside.spec, "against": other.spec, **report.figures()}
    print(json.dumps(out, indent=2))
    return 0
