"""What a trained model's numbers say about it: likelihoods and their bounds, the KL of each latent
dimension, per-image scores, anomaly detection, and an autoencoder against PCA at the same code size.

- ELBO (Kingma & Welling 2014, eq. 3): log p(x) ≥ E_q[log p(x|z)] − KL(q(z|x) ‖ p(z)), one sample of z.
- Importance-weighted bound (Burda, Grosse & Salakhutdinov 2016, "Importance Weighted Autoencoders", eq. 8):
  log p(x) ≥ E[log (1/k) Σ_j p(x, z_j) / q(z_j|x)], z_j ~ q(z|x); tighter as k grows, the ELBO at k = 1.
  The difference between the two is (a lower estimate of) the variational gap.
- Exact: an autoregressive model's −log p(x) by the chain rule (:mod:`models.kinds.pixelcnn`).
- Active units: Burda et al. §5.2 count a latent dimension as active when it varies with x; with a
  diagonal Gaussian q and an N(0, I) prior its KL, averaged over the data, says the same: a dimension whose
  KL stays below 0.01 nats carries no information about x (posterior collapse) and its slider does nothing.
- Anomaly detection: a model's per-image score (−ELBO, −log p(x) or reconstruction error) on its own
  held-out data against another dataset; the ROC curve and its area (AUROC) from scikit-learn. A likelihood
  alone is fooled by simple images (Nalisnick et al. 2019, "Do Deep Generative Models Know What They Don't
  Know?"): a nearly black scene is likelier under an MNIST VAE than many digits are. The default score
  corrects for it (Serrà et al. 2020, "Input Complexity and Out-of-distribution Detection with
  Likelihood-based Generative Models", eq. 2): S(x) = −log₂ p(x) − L(x), with L(x) the bits of the image
  compressed losslessly (PNG, via Pillow).

Likelihoods are on *binarised* images (a pixel on above ½), the standard for comparing bounds with an
exact likelihood on MNIST: a Bernoulli decoder's −log p(x|z) is only a log-likelihood of binary data.
Every figure is per image in nats; bits per dimension divide by (pixels · ln 2).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from latent_explorer.models.data import ImageData
from latent_explorer.models.data.binary import binarise, binary_draw
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.lazy import lazy_import
from latent_explorer.models.progress import Step

ACTIVE_KL = 0.01  # nats: a dimension with less mean KL than this is inactive (Burda et al. 2016)
LN2 = math.log(2.0)
LOG_2PI = math.log(2 * math.pi)


def has_gaussian_posterior(model) -> bool:
    """A VAE: q(z|x) is a diagonal Gaussian (``encode_dist``) and the decoder Bernoulli logits (what a kind
    whose likelihood is a bound promises, :class:`models.capabilities.GaussianPosterior`)."""
    return model.capabilities.bound


def _cond(model, y, i, j):
    return None if y is None or not model.conditional else torch.as_tensor(y[i:j]).long().to(model.device)


@torch.no_grad()
def _posterior(model, x, y):
    mu, logvar = model.encode_dist(x.to(model.device), y)
    return mu, logvar


def _log_normal(z, mu, logvar):
    """log N(z; μ, diag σ²) summed over the last dimension."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@torch.no_grad()
def kl_per_dimension(model, images: np.ndarray, labels: np.ndarray | None = None, batch: int = 500
                     ) -> np.ndarray:
    """KL(q(z_d|x) ‖ N(0, 1)) of each latent dimension d, averaged over the images: (D,) nats
    (Kingma & Welling 2014, appendix B, per dimension: −½ (1 + log σ² − μ² − σ²))."""
    if not has_gaussian_posterior(model):
        raise ConfigError(f"{model.spec.title} has no Gaussian posterior q(z|x): no KL per dimension")
    model.eval()
    total = torch.zeros(model.latent_dim, dtype=torch.float64)
    for i in range(0, len(images), batch):
        x = torch.as_tensor(images[i:i + batch])
        mu, logvar = _posterior(model, x, _cond(model, labels, i, i + batch))
        total += (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(0).double().cpu()
    return (total / max(len(images), 1)).numpy()


def active_units(kl: np.ndarray, threshold: float = ACTIVE_KL) -> np.ndarray:
    """The indices of the dimensions whose mean KL is above ``threshold`` nats."""
    return np.flatnonzero(np.asarray(kl) > threshold)


@torch.no_grad()
def activity(model, images: np.ndarray, labels: np.ndarray | None = None, batch: int = 500) -> np.ndarray:
    """Burda et al. 2016, §5.2: A_u = Cov_x(E_{q(u|x)}[u]), how much each dimension's posterior mean moves
    with x: (D,). A unit is active when A_u > 0.01; it agrees with the KL criterion of :func:`active_units`."""
    if not has_gaussian_posterior(model):
        raise ConfigError(f"{model.spec.title} has no Gaussian posterior q(z|x)")
    model.eval()
    mus = [_posterior(model, torch.as_tensor(images[i:i + batch]), _cond(model, labels, i, i + batch))[0].cpu()
           for i in range(0, len(images), batch)]
    return torch.cat(mus).double().var(0).numpy()


@torch.no_grad()
def bound_per_image(model, x: torch.Tensor, y=None, k: int = 1, generator: torch.Generator | None = None,
                    chunk: int = 100) -> torch.Tensor:
    """The importance-weighted lower bound on log p(x) with ``k`` samples per image (k = 1: the ELBO),
    in nats per image (B,). ``x`` is used as given (binarise it first for a likelihood of binary data)."""
    if not has_gaussian_posterior(model):
        raise ConfigError(f"{model.spec.title} has no variational bound to compute")
    x = x.to(model.device)
    mu, logvar = _posterior(model, x, y)
    std = (0.5 * logvar).exp()
    terms = []
    for j0 in range(0, k, chunk):
        m = min(chunk, k - j0)
        eps = torch.randn((m, *mu.shape), generator=generator).to(mu.device)
        z = mu + eps * std  # (m, B, D)
        flat = z.reshape(-1, z.shape[-1])
        yy = None if y is None else y.repeat(m)
        logits = model.decode_logits(flat, yy).reshape(m, len(x), -1)
        log_px_z = -F.binary_cross_entropy_with_logits(logits, x.flatten(1).expand(m, -1, -1),
                                                       reduction="none").sum(-1)
        log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
        terms.append(log_px_z + log_pz - _log_normal(z, mu, logvar))  # log p(x, z_j) / q(z_j | x)
    w = torch.cat(terms)  # (k, B)
    return torch.logsumexp(w, 0) - math.log(k)


@torch.no_grad()
def exact_nll(model, x: torch.Tensor, batch: int = 250) -> torch.Tensor:
    """An autoregressive model's −log p(x) in nats per image (B,)."""
    return torch.cat([model.nll(x[i:i + batch].to(model.device)).cpu() for i in range(0, len(x), batch)])


def png_bits(images: np.ndarray) -> np.ndarray:
    """L(x): each image's size in bits once compressed losslessly as an 8-bit PNG (its complexity)."""
    import io

    Image = lazy_import("PIL.Image")

    out = np.empty(len(images))
    for i, im in enumerate(np.asarray(images)):
        pixels = (np.clip(im, 0, 1) * 255).round().astype(np.uint8)
        pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG", optimize=True)
        out[i] = 8 * len(buf.getvalue())
    return out


def bits_per_dim(nats: float, pixels: int) -> float:
    return nats / (pixels * LN2)


@dataclass
class LikelihoodRow:
    name: str
    kind: str
    figures: dict  # "elbo", "iw_bound" (with k), "exact": −log p(x) bounds in nats per image; bits/dim too
    k: int = 0


BINARISATIONS = ("threshold", "stochastic")  # on above ½; on with the grey value's probability (the papers')
DEFAULT_DRAWS = 5  # stochastic binarisations averaged over, unless told


def binarised_draws(images: np.ndarray, binarisation: str, draws: int, seed: int) -> list[torch.Tensor]:
    """The images to score: ``threshold``, one fixed binarisation; ``stochastic``, ``draws`` seeded ones
    (Salakhutdinov & Murray 2008's convention; the figures are averaged over them)."""
    x = torch.from_numpy(np.asarray(images, dtype=np.float32))
    if binarisation == "threshold":
        return [binarise(x)]
    if binarisation != "stochastic":
        raise ConfigError(f"binarisation must be one of {', '.join(BINARISATIONS)}, got {binarisation!r}")
    if not 1 <= draws <= 100:
        raise ConfigError(f"draws must be 1..100 binarisations, got {draws}")
    g = torch.Generator().manual_seed(seed + 7919)  # apart from the bounds' own samples
    return [binary_draw(x, g) for _ in range(draws)]


def likelihood_rows(models: dict, data: ImageData, k: int = 1000, seed: int = 0, batch: int = 50,
                    binarisation: str = "threshold", draws: int = 1) -> Generator[Step, None, list[LikelihoodRow]]:
    """Each model's negative log-likelihood figures on the same binarised images (``data``, binarised one of
    the :data:`BINARISATIONS` ways; stochastic: averaged over ``draws`` draws): a VAE's −ELBO and importance-weighted
    bound with ``k`` samples, an autoregressive model's exact −log p(x). Yields a Step per batch; returns one
    row per model."""
    if not 1 <= k <= 5000:
        raise ConfigError(f"k must be 1..5000 importance samples, got {k}")
    pixels = int(np.prod(data.shape))
    sets = binarised_draws(data.images, binarisation, draws, seed)
    rows = []
    total = len(models) * len(sets) * len(data)
    done = 0
    for name, model in models.items():
        caps = model.capabilities
        if tuple(model.image_shape) != tuple(data.shape):
            raise ConfigError(f"{name} models {'×'.join(map(str, model.image_shape))} images but the data is "
                              f"{'×'.join(map(str, data.shape))}")
        if not (has_gaussian_posterior(model) or caps.likelihood == "exact"):
            raise ConfigError(f"{name} ({model.spec.title}) gives no likelihood: neither a bound nor exact")
        if model.conditional:
            raise ConfigError(f"{name} is class-conditional: its figures would be of p(x | y), not p(x)")
        model.eval()
        g = torch.Generator().manual_seed(seed)
        sums = {"elbo": 0.0, "iw": 0.0, "exact": 0.0}
        for d, x_all in enumerate(sets):
            for i in range(0, len(x_all), batch):
                x = x_all[i:i + batch]
                if caps.likelihood == "exact":
                    sums["exact"] += float(exact_nll(model, x).sum())
                else:
                    sums["elbo"] += float(-bound_per_image(model, x, k=1, generator=g).sum())
                    if k > 1:
                        sums["iw"] += float(-bound_per_image(model, x, k=k, generator=g).sum())
                done += len(x)
                of = f" (draw {d + 1} of {len(sets)})" if len(sets) > 1 else ""
                yield Step(done, total, f"{name}: {min(i + batch, len(x_all)):,}/{len(x_all):,} images{of}")
        n = len(data) * len(sets)
        if caps.likelihood == "exact":
            figs = {"exact_nll": sums["exact"] / n}
        else:
            figs = {"neg_elbo": sums["elbo"] / n}
            if k > 1:
                figs["neg_iw_bound"] = sums["iw"] / n
                figs["variational_gap"] = figs["neg_elbo"] - figs["neg_iw_bound"]  # at least this large
        for key in [key for key in figs if key != "variational_gap"]:
            figs[key.replace("neg_", "").replace("exact_nll", "exact") + "_bpd"] = bits_per_dim(figs[key], pixels)
        rows.append(LikelihoodRow(name, model.kind, figs, k if caps.likelihood != "exact" else 0))
    return rows


# -- per-image scores and anomaly detection ------------------------------------------------------------
SCORES = {"corrected": "−log₂ p(x) − PNG bits (Serrà et al. 2020)", "neg_elbo": "−ELBO (nats)",
          "nll": "−log p(x) (nats)", "recon_error": "reconstruction error (MSE)",
          "kl": "KL(q(z|x) ‖ p(z)) (nats)"}


def score_names(model) -> list[str]:
    """The per-image scores ``model`` can give, the anomaly score first; [] when it gives none."""
    caps = model.capabilities
    if caps.exact_likelihood:
        return ["corrected", "nll"]
    out = []
    if has_gaussian_posterior(model):
        out += ["corrected", "neg_elbo", "kl"]
    if caps.reconstructs:
        out.append("recon_error")
    return out


CONDITIONAL_ANOMALY = ("a class-conditional model scores an image given its class, and the other data has no "
                       "class of the model's")


def why_no_scores(model) -> str:
    return (f"{model.spec.title} has no encoder and no likelihood: it cannot say how well it explains a given "
            "image, so it gives no per-image score")


def applicable(model) -> dict[str, str | None]:
    """Which inspections apply to ``model`` (the Inspect view's pages, in order): name -> None where it applies,
    else why not, as words that follow the model's title. dims: KL per dimension; likelihood: bounds or the
    exact −log p(x); anomaly: per-image scores on other data; pca: reconstructions against PCA; modes: the
    classes of its samples; styles: path lengths, truncation and style mixing of a mapping network."""
    caps, bound = model.capabilities, has_gaussian_posterior(model)
    rules = {"dims": (bound, "needs a VAE's Gaussian q(z|x)"),
             "likelihood": (bound or caps.exact_likelihood, "gives no likelihood, neither a bound nor exact"),
             "anomaly": (bool(score_names(model)), "has no encoder and no likelihood to score images with"),
             "pca": (caps.reconstructs, "has no encoder and decoder to reconstruct with"),
             "modes": (caps.samples, "draws no samples, so it has no modes to count"),
             "styles": (caps.styles, "has no mapping network: no paths in Z and W, no truncation or style mixing")}
    # a class-conditional model's figures are given its class: these three ask about x alone
    conditional = {"likelihood": "is class-conditional: its bound is of p(x | y), not p(x)",
                   "anomaly": CONDITIONAL_ANOMALY,
                   "pca": "is class-conditional: it reconstructs with the label's help, PCA has none"}
    return {name: conditional[name] if model.conditional and name in conditional else None if ok else why
            for name, (ok, why) in rules.items()}


@torch.no_grad()
def per_image_scores(model, images: np.ndarray, labels: np.ndarray | None = None, batch: int = 250,
                     seed: int = 0) -> Generator[Step, None, dict[str, np.ndarray]]:
    """Every score of :func:`score_names` for each image: {name: (N,)}, on the images as they are: a VAE's
    −ELBO is then its training loss (Bernoulli cross-entropy with grey targets), a score, not a likelihood;
    an autoregressive model's −log p(x) is of the binarised image, as it was trained."""
    names = score_names(model)
    if not names:
        raise ConfigError(why_no_scores(model))
    model.eval()
    g = torch.Generator().manual_seed(seed)
    out = {n: [] for n in names}
    for i in range(0, len(images), batch):
        x = torch.as_tensor(np.asarray(images[i:i + batch], dtype=np.float32))
        y = _cond(model, labels, i, i + batch)
        if "nll" in out:
            out["nll"].append(exact_nll(model, x).numpy())
            out["corrected"].append(out["nll"][-1] / LN2 - png_bits(binarise(x).numpy()))
        if "neg_elbo" in out:
            out["neg_elbo"].append((-bound_per_image(model, x, y, k=1, generator=g)).cpu().numpy())
            out["corrected"].append(out["neg_elbo"][-1] / LN2 - png_bits(x.numpy()))
            mu, logvar = _posterior(model, x, y)
            out["kl"].append((-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(1).cpu().numpy())
        if "recon_error" in out:
            xd = x.to(model.device)
            rec = model.decode(model.encode(xd, y), y)
            out["recon_error"].append((rec - xd).pow(2).flatten(1).mean(1).cpu().numpy())
        yield Step(min(i + batch, len(images)), len(images), f"scoring {min(i + batch, len(images)):,} images")
    return {n: np.concatenate(v).astype(np.float64) for n, v in out.items()}


@dataclass
class AnomalyReport:
    score: str  # which score (a key of SCORES)
    inside: np.ndarray  # (n_in,) scores of the model's own held-out images
    outside: np.ndarray  # (n_out,) scores of the other data
    fpr: np.ndarray
    tpr: np.ndarray
    auroc: float
    most_anomalous: np.ndarray  # indices into the other data's images (highest score first)
    notes: list[str] = field(default_factory=list)  # what was converted, and how

    def figures(self) -> dict:
        return {"score": self.score, "auroc": round(self.auroc, 4), "n_in": int(len(self.inside)),
                "n_out": int(len(self.outside)), "median_in": round(float(np.median(self.inside)), 4),
                "median_out": round(float(np.median(self.outside)), 4), "notes": self.notes}


def conform_other(model, other: ImageData) -> tuple[ImageData, list[str]]:
    """Another dataset brought to the model's image shape; notes say what was changed."""
    c, h, w = model.image_shape
    notes = []
    if tuple(other.shape) != (c, h, w):
        oc, oh, ow = other.shape
        what = []
        if oc != c:
            what.append("to grey" if c == 1 else "to RGB")
        if (oh, ow) != (h, w):
            what.append(f"resized {oh}×{ow} → {h}×{w}")
        notes.append(f"{other.spec}: converted ({', '.join(what)}) to the model's {c}×{h}×{w} images")
        other = other.conform(c, h)
    return other, notes


def anomaly_job(model, inside: ImageData, other: ImageData, n: int = 1000, seed: int = 0, score: str | None = None
                ) -> Generator[Step, None, AnomalyReport]:
    """Score ``n`` images of the model's held-out data (``inside``) and ``n`` of ``other`` (converted to the
    model's shape, said so), then the ROC of telling them apart by the score (higher: more anomalous)."""
    metrics = lazy_import("sklearn.metrics")
    roc_auc_score, roc_curve = metrics.roc_auc_score, metrics.roc_curve

    names = score_names(model)
    if not names:
        raise ConfigError(why_no_scores(model))
    if model.conditional:
        raise ConfigError(CONDITIONAL_ANOMALY)
    score = score or names[0]
    if score not in names:
        raise ConfigError(f"{model.spec.title} gives no {SCORES.get(score, score)} score (it gives: "
                          f"{', '.join(SCORES[s] for s in names)})")
    other, notes = conform_other(model, other)
    rng = np.random.default_rng(seed)
    pick_in = np.sort(rng.permutation(len(inside))[:n])
    pick_out = np.sort(rng.permutation(len(other))[:n])
    if len(pick_in) < 10 or len(pick_out) < 10:
        raise ConfigError("anomaly detection needs at least 10 images on each side")
    labels_in = inside.labels[pick_in] if inside.labels is not None else None
    a = yield from _scaled(per_image_scores(model, inside.images[pick_in], labels_in, seed=seed), 0, 2)
    b = yield from _scaled(per_image_scores(model, other.images[pick_out], None, seed=seed), 1, 2)
    s_in, s_out = a[score], b[score]
    truth = np.r_[np.zeros(len(s_in)), np.ones(len(s_out))]
    both = np.r_[s_in, s_out]
    fpr, tpr, _ = roc_curve(truth, both)
    order = np.argsort(-s_out)
    return AnomalyReport(score, s_in, s_out, fpr, tpr, float(roc_auc_score(truth, both)), pick_out[order], notes)


def _scaled(gen, part: int, parts: int):
    """Re-yield a job's Steps as one part of several (so a two-pass job reports one progress bar)."""
    while True:
        try:
            s = next(gen)
        except StopIteration as e:
            return e.value
        yield Step(part * s.total + s.done, parts * s.total, s.message)


# -- an autoencoder against PCA at the same code size --------------------------------------------------
@dataclass
class PCAComparison:
    code_size: int
    mse_model: float
    mse_pca: float
    originals: np.ndarray  # (m, C, H, W) the first held-out images
    model_recon: np.ndarray
    pca_recon: np.ndarray


@torch.no_grad()
def pca_vs_model(model, train: ImageData, held_out: ImageData, show: int = 8) -> PCAComparison:
    """PCA with as many components as the model's code (fitted on ``train``) against the model's own
    reconstructions, MSE per pixel on ``held_out``."""
    if not model.capabilities.reconstructs:
        raise ConfigError(f"{model.spec.title} has no encoder and decoder to reconstruct with")
    if model.conditional:
        raise ConfigError("a class-conditional autoencoder reconstructs with the label's help: PCA has none")
    d = int(model.latent_dim)
    x_tr = train.images.reshape(len(train), -1).astype(np.float64)
    if d >= min(x_tr.shape):
        raise ConfigError(f"a {d}-D code needs more than {d} training images and pixels for PCA")
    mean = x_tr.mean(0)
    _, _, vt = np.linalg.svd(x_tr - mean, full_matrices=False)
    basis = vt[:d]  # (d, pixels)
    x = held_out.images.reshape(len(held_out), -1).astype(np.float64)
    pca = (x - mean) @ basis.T @ basis + mean
    model.eval()
    recon = np.concatenate([
        model.decode(model.encode(torch.as_tensor(held_out.images[i:i + 500]).to(model.device))).cpu().numpy()
        for i in range(0, len(held_out), 500)]).reshape(len(held_out), -1)
    shape = (-1, *held_out.shape)
    return PCAComparison(d, float(((recon - x) ** 2).mean()), float(((np.clip(pca, 0, 1) - x) ** 2).mean()),
                         held_out.images[:show], recon[:show].reshape(shape).astype(np.float32),
                         np.clip(pca[:show], 0, 1).reshape(shape).astype(np.float32))
