"""Figures of a generator with a mapping network (capability ``styles``: :mod:`models.kinds.stylegan`).

- :func:`truncation_sweep`: Fréchet distance, precision and recall of the samples as the truncation ψ goes
  from 1 to 0.5 (Karras et al. 2019, sec. 2 and appendix B; Kynkäänniemi et al. 2019 measure the trade: ψ < 1
  draws samples nearer the mean w̄, more of them plausible (precision up), fewer kinds of them (recall down));
  and the same towards the nearest of W's modes (Mokady et al. 2022's multi-modal truncation), for data whose
  modes w̄ lies between.
- :func:`mixing_shares`: style mixing made measurable (StyleGAN sec. 3.1, fig. 3). For each crossover layer,
  images with source A's styles before it and B's after it are read by the yardstick classifier; for each
  factor it reads (shape, colour, size, position, background on ``scenes``), the share of mixed images whose
  factor is A's, and the share whose factor is B's, counted over the pairs where A and B differ in it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from latent_explorer.models.analysis.quality import measure
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import Step

PSIS = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5)
SPLIT = 0.7  # a crossover "splits" the factors when one is ≥ 0.7 A's and another ≥ 0.7 B's


def _need_styles(model) -> None:
    if not model.capabilities.styles:
        raise ConfigError(f"{model.spec.title} has no mapping network: no truncation or style mixing to measure")


def truncation_sweep(model, real, classifier, psis=PSIS, n: int = 2000, seed: int = 0, towards: str = "mean"):
    """A job (Steps) returning rows {psi, frechet_distance, precision, recall} of ``n`` samples at each ψ,
    truncated ``towards`` w̄ ("mean") or the nearest of W's modes ("modes"), against the held-out ``real``
    images. The model's own ψ is left as it is."""
    _need_styles(model)
    if towards == "modes":
        yield Step(0, 1, "finding W's modes")
        model.modes()  # fitted once, on the model: the copies below share them
    rows, centre = [], "w̄" if towards == "mean" else "the modes"
    for i, psi in enumerate(psis):
        # a shallow copy with its own ψ, the same networks: the model the views draw with is never changed
        at = copy.copy(model)
        at.set_style(psi=psi, towards=towards)
        job = measure(at, real, classifier, n=n, seed=seed, keep=0)
        try:
            while True:
                s = next(job)
                yield Step(i * s.total + s.done, len(psis) * s.total, f"ψ = {psi:g} towards {centre}: {s.message}")
        except StopIteration as stop:
            f = stop.value.figures
        rows.append({"psi": float(psi), "frechet_distance": f["frechet_distance"], "precision": f["precision"],
                     "recall": f["recall"]})
    return rows


@dataclass
class MixingTable:
    """Style mixing read by the classifier: rows = crossover layers (A's styles below ``cut``), columns =
    factors. ``from_a[i, j]``: the share of mixed images at ``cuts[i]`` whose factor j is A's, over the
    ``pairs[i, j]`` pairs whose sources differ in it; ``from_b`` the same for B's."""

    cuts: list[int]
    factors: list[str]
    from_a: np.ndarray  # (cuts, factors)
    from_b: np.ndarray  # (cuts, factors)
    pairs: np.ndarray  # (cuts, factors) int

    def splits(self, level: float = SPLIT) -> list[tuple[int, str, str]]:
        """(cut, a factor ≥ level from A, another ≥ level from B) for every crossover that splits them."""
        out = []
        for i, cut in enumerate(self.cuts):
            for ja, fa in enumerate(self.factors):
                for jb, fb in enumerate(self.factors):
                    if ja != jb and self.from_a[i, ja] >= level and self.from_b[i, jb] >= level:
                        out.append((cut, fa, fb))
        return out

    def to_json(self) -> dict:
        return {"cuts": self.cuts, "factors": self.factors,
                "from_a": np.round(self.from_a, 3).tolist(), "from_b": np.round(self.from_b, 3).tolist(),
                "pairs": self.pairs.tolist()}

    def text(self) -> str:
        """The table as text: one row per crossover, "A/B" shares per factor."""
        head = "layers from A | " + " | ".join(self.factors)
        rows = [f"< {cut:<11d} | " + " | ".join(f"{a:.2f}/{b:.2f}" for a, b in zip(self.from_a[i], self.from_b[i]))
                for i, cut in enumerate(self.cuts)]
        return "\n".join([head, *rows])


def factor_names(classifier, data) -> list[str]:
    """The classifier's heads by what they read: "label" named as the data's factor it is (scenes: shape)."""
    names = list(classifier.head_names)
    label = classifier.config.heads.get("label")
    for f in getattr(data, "factor_names", None) or []:
        classes = getattr(data, "factor_classes", {}).get(f)
        if label is not None and classes is not None and [str(c) for c in classes] == label:
            names[names.index("label")] = f
            break
    return names


@torch.no_grad()
def mixing_shares(model, classifier, data=None, n: int = 500, seed: int = 0, batch: int = 250):
    """A job (Steps) returning a :class:`MixingTable` over ``n`` seeded pairs (A, B) at every crossover
    layer 1 … num_ws − 1 (the model's ψ applied where z becomes w, its layers' fixed noise)."""
    _need_styles(model)
    from latent_explorer.models.kinds.stylegan import mix

    if tuple(classifier.config.image_shape) != tuple(model.image_shape):
        raise ConfigError("the classifier reads images of another size than the model makes")
    g = torch.Generator().manual_seed(int(seed))
    d, k = model.config.latent_dim, model.num_ws
    za, zb = torch.randn(n, d, generator=g), torch.randn(n, d, generator=g)
    y = torch.randint(0, model.num_classes, (n,), generator=g) if model.conditional else None
    cuts = list(range(1, k))
    total = (len(cuts) + 2) * n

    def read(ws):  # (n, num_ws, D) -> predicted labels (n, heads)
        out = []
        for i in range(0, n, batch):
            out.append(classifier.predict(model.synthesize(ws[i:i + batch]).float().cpu().numpy())[1])
        return np.concatenate(out)

    model.eval()
    wa = model.broadcast(model.to_w(za.to(model.device), None if y is None else y.to(model.device), model.psi))
    wb = model.broadcast(model.to_w(zb.to(model.device), None if y is None else y.to(model.device), model.psi))
    yield Step(0, total, "reading sources A")
    pa = read(wa)
    yield Step(n, total, "reading sources B")
    pb = read(wb)
    heads = pa.shape[1]
    from_a, from_b = np.zeros((len(cuts), heads)), np.zeros((len(cuts), heads))
    pairs = np.zeros((len(cuts), heads), np.int64)
    differ = pa != pb  # (n, heads)
    for i, cut in enumerate(cuts):
        yield Step((i + 2) * n, total, f"crossover at layer {cut} of {k}")
        pm = read(mix(model, wa, wb, cut))
        for j in range(heads):
            m = differ[:, j]
            pairs[i, j] = int(m.sum())
            if m.any():
                from_a[i, j] = float((pm[m, j] == pa[m, j]).mean())
                from_b[i, j] = float((pm[m, j] == pb[m, j]).mean())
    names = factor_names(classifier, data) if data is not None else list(classifier.head_names)
    return MixingTable(cuts, names, from_a, from_b, pairs)


@dataclass
class StyleReport:
    """Everything measured of a generator with a mapping network: PPL in Z and in W, the truncation sweep and
    the style-mixing table (:func:`style_report`)."""

    ppl: dict[str, float]  # "z", "w" -> perceptual path length
    truncation: list[dict]  # towards w̄
    mixing: MixingTable
    classifier: dict  # the yardstick's data and held-out accuracy
    truncation_modes: list[dict]  # towards the nearest of W's modes

    def to_json(self) -> dict:
        return {"ppl_z": round(self.ppl["z"], 4), "ppl_w": round(self.ppl["w"], 4), "ppl_distance": PPL_DISTANCE,
                "truncation": self.truncation, "truncation_modes": self.truncation_modes,
                "style_mixing": self.mixing.to_json(),
                "style_mixing_splits": [list(s) for s in self.mixing.splits()]}


PPL_DISTANCE = "squared L2 of the yardstick classifier's features (not VGG16), eps 1e-4"


def style_report(model, spec: str | None = None, n: int = 1000, seed: int = 0, psis=PSIS):
    """A job (Steps) measuring :class:`StyleReport` on the model's own data (or ``spec``): ``n`` pairs per path
    length, ``n`` samples per ψ (towards w̄, then towards W's modes), min(n, 500) pairs per crossover layer."""
    from latent_explorer.models.analysis.classifier import classifier_for
    from latent_explorer.models.analysis.path_length import path_length
    from latent_explorer.models.analysis.quality import held_out

    _need_styles(model)
    yield Step(0, 1, "reading the data")
    data, val = held_out(model, spec)
    classifier = yield from classifier_for(data, seed=0)
    m = min(n, 500)
    # the parts' shares of the whole, by the images each draws: 2 per pair of a path length, n per ψ, m per layer
    work = [2 * n, 2 * n, len(psis) * max(n, 100), len(psis) * max(n, 100), (model.num_ws + 1) * m]
    done, total = 0, sum(work)
    ppl = {}
    for space, w in zip(("z", "w"), work):
        ppl[space] = yield from _part(path_length(model, classifier, space, n=n, seed=seed), done, w, total)
        done += w
    sweeps = {}
    for towards, w in zip(("mean", "modes"), work[2:4]):
        sweeps[towards] = yield from _part(truncation_sweep(model, val, classifier, psis=psis, n=max(n, 100),
                                                            seed=seed, towards=towards), done, w, total)
        done += w
    table = yield from _part(mixing_shares(model, classifier, data, n=m, seed=seed), done, work[4], total)
    return StyleReport(ppl, sweeps["mean"], table, {"data": classifier.config.data,
                                                    "held_out_accuracy": dict(classifier.config.held_out_accuracy)},
                       sweeps["modes"])


def _part(job, start: int, span: int, total: int):
    """Run ``job``, its Steps rescaled to [start, start + span) of ``total`` (one progress bar, one ETA)."""
    try:
        while True:
            s = next(job)
            yield Step(start + int(span * s.fraction), total, s.message)
    except StopIteration as stop:
        return stop.value
