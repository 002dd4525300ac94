"""How good is a generator? Figures on the yardstick classifier's features (:mod:`models.analysis.classifier`).

- ``frechet_distance``: the Fréchet distance between Gaussians fitted to the features of samples and of
  held-out real images (Heusel et al. 2017, "GANs trained by a two time-scale update rule", eq. 6:
  ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^½)), on our classifier's penultimate features instead of Inception's,
  so it is comparable between models of the same data only.
- ``precision`` and ``recall``: Kynkäänniemi et al. 2019, "Improved precision and recall metric for assessing
  generative models", sec. 2: a sample is "precise" when it lies inside the k-NN ball (k = 3) of some real
  image; a real image is "recalled" when it lies inside the k-NN ball of some sample. Both sets have the same
  size (the smaller of the two), as in the paper.
- ``class_histogram``: the classifier's labels of the samples; ``class_coverage``: the share of classes that
  get at least a fifth of the samples they would get if the model matched the real data's class frequencies
  (a collapsed GAN covers few).
- ``conditional_accuracy``: for a class-conditional model, the share of samples the classifier puts in the
  class they were asked for.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch

from latent_explorer.models.analysis.classifier import Classifier
from latent_explorer.models.data import ImageData
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.io.meta import VAL_FRACTION, meta_of
from latent_explorer.models.progress import Step

MIN_SAMPLES = 100  # fewer give no meaningful covariance of 64 features, nor k-NN balls
MAX_SAMPLES = 50_000
K = 3
COVERAGE_SHARE = 0.2


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Heusel et al. 2017, eq. 6, between the Gaussians fitted to feature sets a (N, F) and b (M, F).
    tr((Σ₁Σ₂)^½) is computed as Σ √λ of the symmetric PSD matrix Σ₁^½ Σ₂ Σ₁^½ (same eigenvalues), which
    needs no general matrix square root and stays real."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T  # Σ₁^½
    m = root1 @ s2 @ root1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    fd = float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt)
    return max(fd, 0.0)


def _pairwise(a: np.ndarray, b: np.ndarray, chunk: int = 2048) -> np.ndarray:
    ta, tb = torch.from_numpy(a).float(), torch.from_numpy(b).float()
    return torch.cat([torch.cdist(ta[i : i + chunk], tb) for i in range(0, len(ta), chunk)]).numpy()


def knn_radii(feats: np.ndarray, k: int = K) -> np.ndarray:
    """The distance from each point to its k-th nearest other point."""
    d = _pairwise(feats, feats)
    return np.partition(d, k, axis=1)[:, k]  # column 0 is the point itself (distance 0)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019: (precision, recall) of fake against real features, equal set sizes."""
    n = min(len(real), len(fake))
    if n <= k:
        raise ConfigError(f"precision and recall need more than {k} images on each side, got {n}")
    real, fake = real[:n], fake[:n]
    r_real, r_fake = knn_radii(real, k), knn_radii(fake, k)
    d = _pairwise(fake, real)  # (n fake, n real)
    precision = float((d <= r_real[None, :]).any(1).mean())
    recall = float((d.T <= r_fake[None, :]).any(1).mean())
    return precision, recall


def class_coverage(counts: np.ndarray, real_share: np.ndarray) -> float:
    """The share of classes (among those present in the real data) that get at least COVERAGE_SHARE of the
    samples they would get at the real data's class frequencies."""
    present = real_share > 0
    if not present.any():
        return 0.0
    expected = real_share * counts.sum()
    return float((counts[present] >= COVERAGE_SHARE * expected[present]).mean())


@dataclass
class QualityReport:
    figures: dict  # the JSON-able figures (the keys of ``eval``)
    samples: np.ndarray = field(repr=False)  # (m, C, H, W) the first samples, for a grid
    sample_labels: list[str] = field(default_factory=list)  # the classifier's label of each
    asked: list[str] = field(default_factory=list)  # the class each was asked for (conditional models)
    class_names: list[str] = field(default_factory=list)  # the order of the histogram
    real_share: np.ndarray | None = field(default=None, repr=False)  # the classes' shares in the real data
    classifier: dict = field(default_factory=dict)  # what the yardstick was trained on, its accuracy


def check_samplable(model) -> None:
    if not model.capabilities.samples:
        raise ConfigError(f"{model.spec.title} cannot sample (it draws no z to decode), so there is no sample "
                          "quality to measure")


def measure(model, real: ImageData, classifier: Classifier, n: int = 2000, seed: int = 0, batch: int = 250,
            sample_kw: dict | None = None, keep: int = 64) -> Generator[Step, None, QualityReport]:
    """Sample ``n`` images from ``model`` (seeded, in batches, conditional models cycling through their
    classes) and compare them with the held-out ``real`` images on ``classifier``. Yields a Step per
    batch, returns a :class:`QualityReport`."""
    check_samplable(model)
    if not MIN_SAMPLES <= n <= MAX_SAMPLES:
        raise ConfigError(f"the quality figures need {MIN_SAMPLES} to {MAX_SAMPLES} samples, got {n}")
    if len(real) < MIN_SAMPLES:
        raise ConfigError(f"{real.spec}: only {len(real)} held-out images; the quality figures need at least "
                          f"{MIN_SAMPLES}")
    shape = tuple(model.image_shape)
    if tuple(real.shape) != shape or tuple(classifier.config.image_shape) != shape:
        raise ConfigError(f"the model makes {_s(shape)} images but the data has {_s(real.shape)} "
                          f"(its classifier reads {_s(classifier.config.image_shape)})")
    names = classifier.config.heads[classifier.head_names[0]]
    if model.conditional and list(model.class_names) != list(names):
        raise ConfigError(f"the model's classes ({', '.join(model.class_names[:10])}) are not the data's "
                          f"({', '.join(names[:10])})")
    kw = dict(sample_kw or {})
    if model.capabilities.slow_decode:  # a batch of a diffusion model takes seconds: Cancel is seen between them
        batch = min(batch, 25)
    g = torch.Generator().manual_seed(seed)
    chunks, asked = [], []
    model.eval()
    # progress in image rows for a model that samples pixel by pixel (a batch is minutes), else in images
    unit = model.image_shape[1] if model.capabilities.autoregressive else 1
    for i in range(0, n, batch):
        m = min(batch, n - i)
        y = None
        if model.conditional:
            y = (torch.arange(i, i + m) % model.num_classes).to(model.device)
            asked.append(y.cpu().numpy())
        with torch.no_grad():
            if model.capabilities.autoregressive:  # pixel by pixel: a Step per row, so Cancel is seen within one
                _, h, w = model.image_shape
                for k, so_far, _ in model.sample_steps(m, g):
                    x = so_far
                    if (k + 1) % w == 0 and k + 1 < h * w:
                        row = (k + 1) // w
                        yield Step(i * unit + row * m, (n + 1) * unit, f"sampling {i:,}/{n:,}: row {row} of {h}")
            else:
                x = model.sample(m, y, generator=g, **kw)
        x = x.detach().float().cpu().clamp(0, 1).numpy()
        if not np.isfinite(x).all():
            raise ConfigError("the model made samples that are not finite numbers")
        chunks.append(x)
        yield Step((i + m) * unit, (n + 1) * unit, f"sampling {i + m:,}/{n:,}")
    samples = np.concatenate(chunks)
    yield Step(n * unit, (n + 1) * unit, "measuring")
    f_fake, pred = classifier.predict(samples)
    f_real, pred_real = classifier.predict(real.images)
    precision, recall = precision_recall(f_real, f_fake)
    k = len(names)
    counts = np.bincount(pred[:, 0], minlength=k)
    real_share = np.bincount(pred_real[:, 0], minlength=k) / len(pred_real)
    figures = {
        "n_samples": n, "n_real": len(real),
        "frechet_distance": round(frechet_distance(f_real, f_fake), 4),
        "precision": round(precision, 4), "recall": round(recall, 4),
        "class_coverage": round(class_coverage(counts, real_share), 4),
        "class_histogram": {name: int(c) for name, c in zip(names, counts)},
    }
    asked_all = np.concatenate(asked) if asked else None
    if asked_all is not None:
        figures["conditional_accuracy"] = round(float((pred[:, 0] == asked_all).mean()), 4)
    keep = min(keep, n)
    return QualityReport(figures, samples[:keep], [names[j] for j in pred[:keep, 0]],
                         [] if asked_all is None else [names[j] for j in asked_all[:keep]], list(names),
                         real_share, {"data": classifier.config.data,
                                      "held_out_accuracy": dict(classifier.config.held_out_accuracy)})


def held_out(model, spec: str | None = None) -> tuple[ImageData, ImageData]:
    """(all data, held-out part) to judge ``model`` by: ``spec``, or else the data its checkpoint names, as
    it was trained on. Data of another image size than the model's is refused, not resized."""
    data, frac, method = _data_and_split(model, spec)
    return data, data.split(frac, method)[1]


def train_and_held_out(model, spec: str | None = None) -> tuple[ImageData, ImageData]:
    """(training part, held-out part) of the data :func:`held_out` judges ``model`` by."""
    data, frac, method = _data_and_split(model, spec)
    return data.split(frac, method)


def _data_and_split(model, spec):
    from latent_explorer.models.data import load_dataset

    trained = meta_of(model).data
    own = spec is None or spec == trained.spec
    spec = spec or trained.spec
    if not spec:
        raise ConfigError("the checkpoint names no dataset: give one")
    c, h, w = model.image_shape
    data = load_dataset(spec)
    if not own and tuple(data.shape) != (c, h, w):
        raise ConfigError(f"{spec} holds {_s(data.shape)} images but the model makes {c}×{h}×{w}")
    data = data.conform(c, h)  # the model's own data, as it was trained on
    # the checkpoint's own held-out part (its fraction and split, typed by meta_of); other data: stratified
    return data, trained.val_fraction if own else VAL_FRACTION, trained.split if own else "stratified"


def quality_job(model, spec: str | None = None, n: int = 2000, seed: int = 0, sample_kw: dict | None = None
                ) -> Generator[Step, None, QualityReport]:
    """Everything the Quality view and ``eval`` measure, as one job: the data, its yardstick classifier
    (bundled, cached, or trained now), then :func:`measure`."""
    from latent_explorer.models.analysis.classifier import classifier_for

    check_samplable(model)
    data, val = held_out(model, spec)
    classifier = yield from classifier_for(data, seed=0)
    return (yield from measure(model, val, classifier, n=n, seed=seed, sample_kw=sample_kw))


def real_vs_real(classifier: Classifier, a: ImageData, b: ImageData, noise: float = 0.0, seed: int = 0) -> float:
    """FD between two sets of real images, ``b`` optionally with N(0, noise²) added (clipped to [0, 1]):
    the yardstick's ladder (held-out vs train < +0.1 noise < +0.3 noise)."""
    x = b.images
    if noise:
        rng = np.random.default_rng(seed)
        x = np.clip(x + rng.normal(0, noise, x.shape).astype(np.float32), 0, 1)
    return frechet_distance(classifier.predict(a.images)[0], classifier.predict(x)[0])


def _s(shape) -> str:
    return "×".join(str(int(v)) for v in shape)
