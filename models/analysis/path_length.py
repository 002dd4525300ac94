"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", sec. 4.2, eq. 2
and 3): how much the image changes along a small step of an interpolation in a latent space,

    PPL_Z = E[ d(G(slerp(z1, z2; t)), G(slerp(z1, z2; t + ε))) / ε² ],  t ~ U(0, 1),
    PPL_W = E[ d(g(lerp(f(z1), f(z2); t)), g(lerp(f(z1), f(z2); t + ε))) / ε² ],

ε = 1e-4, the paper's; the lowest and highest 1% of the distances discarded, as theirs. The distance d here
is the squared L2 distance of the yardstick classifier's features (:mod:`models.analysis.classifier`), not
the paper's VGG16 LPIPS: the figures compare spaces and models on one data set, not with the paper's.
A space whose images change smoothly along its lines has the shorter paths: the paper finds W's shorter
than Z's — the mapping network untangles the factors.
"""

from __future__ import annotations

import numpy as np
import torch

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import Step

EPSILON = 1e-4


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the directions of ``a`` and ``b`` (B, D) at t (B,) (the paper's, for Z)."""
    a, b = a / a.norm(dim=1, keepdim=True), b / b.norm(dim=1, keepdim=True)
    omega = torch.acos((a * b).sum(1).clamp(-1, 1))[:, None]
    so = torch.sin(omega).clamp_min(1e-12)
    t = t[:, None]
    return (torch.sin((1 - t) * omega) / so) * a + (torch.sin(t * omega) / so) * b


def path_length(model, classifier, space: str = "w", n: int = 1000, seed: int = 0, batch: int = 100,
                eps: float = EPSILON):
    """PPL of ``model`` (a mapping network: capability ``styles``) in ``space`` ("z" or "w") over ``n``
    pairs; a job (Steps), returning the figure."""
    if space not in ("z", "w"):
        raise ConfigError(f"path length is measured in z or w, not {space!r}")
    if not model.capabilities.styles:
        raise ConfigError(f"{model.spec.title} has no mapping network: path length compares its Z and W")
    g = torch.Generator().manual_seed(int(seed))
    d = model.config.latent_dim
    dist = []
    for i in range(0, n, batch):
        b = min(batch, n - i)
        yield Step(i, n, f"PPL in {space.upper()}: pairs {i + 1}–{i + b}")
        z1, z2 = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
        t = torch.rand(b, generator=g)
        y = torch.randint(0, model.num_classes, (b,), generator=g) if model.conditional else None
        with torch.no_grad():
            if space == "z":
                ends = [model.to_w(slerp(z1, z2, t + s), y) for s in (0.0, eps)]
            else:
                w1, w2 = model.to_w(z1, y), model.to_w(z2, y)
                ends = [w1.lerp(w2, (t + s)[:, None]) for s in (0.0, eps)]
            images = [model.synthesize(model.broadcast(w)).numpy() for w in ends]
        fa, fb = (classifier.predict(x.astype(np.float32))[0] for x in images)
        dist.append(((fa - fb) ** 2).sum(1) / eps**2)
    dist = np.concatenate(dist)
    lo, hi = np.percentile(dist, [1, 99])
    return float(dist[(dist >= lo) & (dist <= hi)].mean())
