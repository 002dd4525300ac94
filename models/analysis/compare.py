"""Two or more models side by side on the same footing: the same seeds, the same z where their latent sizes
match, the same held-out images, and one table of figures (the Compare view; ``latent-explorer compare``).

For every model of the comparison (all must make images of one size):
- samples from one seed: one z ~ N(0, I) is drawn per latent size, so models with equal latent sizes decode
  *the same* z (z sync); a model of another size gets its own (z sync off for it, said in the notes);
- the same held-out images (of the first model's data) encoded by every model with an encoder, drawn in 2-D
  (the two dimensions of a 2-D latent, else the first two principal components of its encodings), so that
  point ``i`` is the same image in every map;
- reconstructions of those images and their mean squared error per pixel;
- FD, precision, recall and class coverage (:mod:`models.analysis.quality`, on the data's yardstick classifier) of
  models that sample, and −log p(x) in nats (−ELBO, or exact) where the model gives one
  (:mod:`models.analysis.diagnostics`).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import Step

MAX_MODELS = 6
SLOW_SAMPLES = 100  # samples for the figures of a model that draws pixel by pixel or step by step (minutes)


@dataclass
class ModelSide:
    name: str
    title: str  # the kind's title
    latent_dim: int
    z_synced: bool = False  # its samples decode the same z as the other models of its latent size
    samples: np.ndarray | None = None  # (k, C, H, W)
    xy: np.ndarray | None = None  # (n, 2) the held-out images' encodings, drawn in 2-D
    axes: tuple[str, str] = ("", "")
    recon: np.ndarray | None = None  # (k, C, H, W) reconstructions of the first k held-out images
    figures: dict = field(default_factory=dict)  # mse, frechet_distance, precision, recall, class_coverage, nll


@dataclass
class Comparison:
    sides: list[ModelSide]
    images: np.ndarray  # (n, C, H, W) the held-out images every encoder saw
    labels: np.ndarray | None
    class_names: list[str]
    data: str
    seed: int
    notes: list[str] = field(default_factory=list)

    def table(self) -> list[list[str]]:
        """One row per model: name, kind, latent size, MSE, FD, precision, recall, coverage, −log p(x)."""
        def f(v, digits=4):
            return "—" if v is None else f"{v:.{digits}f}"

        rows = []
        for s in self.sides:
            g = s.figures
            nll = g.get("nll")
            rows.append([s.name, s.title, str(s.latent_dim), f(g.get("mse")), f(g.get("frechet_distance"), 2),
                         f(g.get("precision"), 3), f(g.get("recall"), 3), f(g.get("class_coverage"), 2),
                         "—" if nll is None else f"{nll:.2f} ({g['nll_kind']})"])
        return rows


HEADERS = ["Model", "Kind", "z", "MSE", "FD", "Precision", "Recall", "Coverage", "−log p(x) (nats)"]


def check_comparable(models: dict) -> None:
    if len(models) < 2:
        raise ConfigError("choose at least two models to compare")
    if len(models) > MAX_MODELS:
        raise ConfigError(f"compare at most {MAX_MODELS} models at once, got {len(models)}")
    first_name, first = next(iter(models.items()))
    for name, m in models.items():
        if tuple(m.image_shape) != tuple(first.image_shape):
            raise ConfigError(f"{name} makes {_s(m.image_shape)} images but {first_name} makes "
                              f"{_s(first.image_shape)}: compare models of one image size")


def compare_job(models: dict, n_points: int = 1000, n_quality: int = 500, seed: int = 0, show: int = 8,
                spec: str | None = None) -> Generator[Step, None, Comparison]:
    """Compare ``models`` (name -> model, the first one's data is used) as the module says. Yields Steps."""
    from latent_explorer.models.analysis.classifier import classifier_for
    from latent_explorer.models.analysis.diagnostics import binarise, bound_per_image, exact_nll, has_gaussian_posterior
    from latent_explorer.models.analysis.latent import PCA
    from latent_explorer.models.analysis.quality import held_out, measure

    check_comparable(models)
    first = next(iter(models.values()))
    yield Step(0, 1, "reading the data")
    data, val = held_out(first, spec)
    sub = val.subset(slice(0, n_points))
    notes, sides = [], []
    dims = [int(m.latent_dim) for m in models.values()]
    shared_z = {}  # latent size -> the z every model of that size decodes
    g = torch.Generator().manual_seed(seed)
    for d in sorted(set(dims)):
        shared_z[d] = torch.randn(show, d, generator=g)
    if len(set(dims)) > 1:
        notes.append("z sync is off between models of different latent sizes (" +
                     ", ".join(f"{name}: {m.latent_dim}" for name, m in models.items()) +
                     "); models of equal size decode the same z")
    classifier = None
    total = len(models) * 4
    step = 0
    for name, m in models.items():
        m.eval()
        caps = m.capabilities
        side = ModelSide(name, m.spec.title, int(m.latent_dim))
        sides.append(side)
        by_class = m.conditioning == "class"
        y_show = (torch.arange(show) % m.num_classes).to(m.device) if by_class else None
        # samples: the shared z of its size, where it decodes a z from the standard normal prior (a model
        # conditioned on text or an image draws nothing without its prompt or source: no samples here)
        samplable = caps.samples and m.conditioning in ("none", "class")
        with torch.no_grad():
            if samplable and caps.samples_z and not caps.slow_decode and _normal_prior(m):
                side.samples = m.decode(shared_z[m.latent_dim].to(m.device), y_show).float().cpu().numpy()
                side.z_synced = dims.count(int(m.latent_dim)) > 1
            elif samplable:
                side.samples = m.sample(show, y_show, generator=torch.Generator().manual_seed(seed)
                                        ).float().cpu().numpy()
        step += 1
        yield Step(step, total, f"{name}: samples")
        # the same held-out images: encodings drawn in 2-D, reconstructions and their error
        if caps.encoder:
            z, recon = [], []
            y_all = None if sub.labels is None or not by_class else sub.labels
            with torch.no_grad():
                for i in range(0, len(sub), 500):
                    x = torch.from_numpy(sub.images[i:i + 500]).to(m.device)
                    y = None if y_all is None else torch.from_numpy(y_all[i:i + 500]).long().to(m.device)
                    zi = m.encode(x, y)
                    z.append(zi.float().cpu().numpy())
                    if caps.decodes_z:
                        recon.append(m.decode(zi, y).float().cpu().numpy())
            z = np.concatenate(z)
            if z.shape[1] == 2:
                side.xy, side.axes = z, ("z0", "z1")
            else:
                pca = PCA(z, 2)
                side.xy, side.axes = pca.transform(z), ("PC1", "PC2")
            if recon:
                r = np.concatenate(recon)
                side.recon = r[:show]
                side.figures["mse"] = float(((r - sub.images) ** 2).mean())
        step += 1
        yield Step(step, total, f"{name}: encodings")
        if samplable:
            if classifier is None:
                classifier = yield from classifier_for(data, seed=0)
            n_q = max(n_quality, 100)
            if caps.samples_slowly and n_q > SLOW_SAMPLES:
                n_q = SLOW_SAMPLES
                notes.append(f"{name} samples slowly: its FD, precision and recall are of {n_q} samples")
            report = yield from _relabel(measure(m, val, classifier, n=n_q, seed=seed),
                                         Step(step, total, f"{name}: sampling for FD, precision, recall"))
            for k in ("frechet_distance", "precision", "recall", "class_coverage"):
                side.figures[k] = report.figures[k]
        step += 1
        yield Step(step, total, f"{name}: sample quality")
        if not m.conditional and (has_gaussian_posterior(m) or caps.likelihood == "exact"):
            xb = binarise(sub.images[:min(len(sub), 500)])
            with torch.no_grad():
                if caps.likelihood == "exact":
                    side.figures["nll"] = float(exact_nll(m, xb).mean())
                    side.figures["nll_kind"] = "exact"
                else:
                    side.figures["nll"] = float(-bound_per_image(m, xb, k=1, generator=torch.Generator()
                                                                 .manual_seed(seed)).mean())
                    side.figures["nll_kind"] = "−ELBO"
        step += 1
        yield Step(step, total, f"{name}: likelihood")
    if not any(s.xy is not None for s in sides):
        notes.append("no model of these has an encoder: there are no maps of the same images")
    return Comparison(sides, sub.images, sub.labels, list(sub.class_names), val.spec, seed, notes)


def _normal_prior(model) -> bool:
    """Whether the model's prior is N(0, I) (then the shared z is a fair draw from it)."""
    g = torch.Generator().manual_seed(0)
    a = model.prior(4, g).float()
    b = torch.randn(4, model.latent_dim, generator=torch.Generator().manual_seed(0))
    return a.shape == b.shape and torch.allclose(a.cpu(), b, atol=1e-6)


def _relabel(gen, step: Step):
    """Run a sub-job, yielding ``step`` for each of its own steps (they would jump the bar about); its result."""
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
        yield step


def _s(shape) -> str:
    return "×".join(str(int(v)) for v in shape)
