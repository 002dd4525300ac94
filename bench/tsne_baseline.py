"""The hand-written t-SNE Latent Explorer used before openTSNE (issue M), kept only as the benchmark's
baseline: exact gradients on up to 4,000 points, the rest placed by their nearest embedded neighbours.
The app's maps are :mod:`models.analysis.embedding` (openTSNE, umap-learn)."""

from __future__ import annotations

import math
from collections.abc import Callable, Generator

import numpy as np
import torch

from latent_explorer.models.progress import Step


def tsne(z: np.ndarray, perplexity: float = 30.0, iterations: int = 500, seed: int = 0,
         max_exact: int = 4000, should_stop: Callable[[], bool] | None = None
         ) -> Generator[Step, None, np.ndarray | None]:
    """t-SNE (van der Maaten & Hinton 2008) with exact gradients on up to ``max_exact`` points; every
    other point is placed at the distance-weighted mean of its 5 nearest embedded neighbours in latent
    space, so all points are shown. Yields a Step per iteration; returns None if stopped."""
    z = np.asarray(z, np.float32)
    n = len(z)
    rng = np.random.default_rng(seed)
    core = np.sort(rng.choice(n, max_exact, replace=False)) if n > max_exact else np.arange(n)
    x = torch.from_numpy(z[core]).double()
    m = len(x)
    total = iterations + (1 if n > m else 0)
    if m < 3:
        yield Step(total, total, "t-SNE")
        return np.zeros((n, 2), np.float32)
    perp = min(perplexity, (m - 1) / 3)
    # 1. conditional probabilities with a per-point bandwidth found by bisection on the entropy
    d2 = torch.cdist(x, x).pow(2)
    d2.fill_diagonal_(float("inf"))
    target = math.log(perp)
    lo = torch.full((m, 1), 1e-20, dtype=torch.float64)
    hi = torch.full((m, 1), 1e20, dtype=torch.float64)
    beta = torch.ones((m, 1), dtype=torch.float64)
    dmin = d2.min(1, keepdim=True).values
    for _ in range(64):
        p = torch.exp(-(d2 - dmin) * beta)
        s = p.sum(1, keepdim=True)
        h = torch.log(s) + beta * ((d2 - dmin).nan_to_num(posinf=0) * p).sum(1, keepdim=True) / s
        too_flat = h > target
        lo = torch.where(too_flat, beta, lo)
        hi = torch.where(too_flat, hi, beta)
        beta = torch.where(hi >= 1e19, beta * 2, (lo + hi) / 2)
    p = p / s
    P = ((p + p.T) / (2 * m)).clamp_min(1e-12).float()
    del d2, p
    # 2. gradient descent with momentum and gains, early exaggeration for the first quarter
    g = torch.Generator().manual_seed(seed)
    y = torch.randn(m, 2, generator=g) * 1e-4
    vel = torch.zeros_like(y)
    gains = torch.ones_like(y)
    lr = max(m / 12.0 / 4, 50.0)
    for it in range(iterations):
        if should_stop is not None and should_stop():
            return None
        exag = 12.0 if it < iterations // 4 else 1.0
        mom = 0.5 if it < iterations // 4 else 0.8
        num = 1.0 / (1.0 + torch.cdist(y, y).pow(2))
        num.fill_diagonal_(0.0)
        Q = (num / num.sum()).clamp_min(1e-12)
        W = (exag * P - Q) * num
        grad = 4.0 * (W.sum(1, keepdim=True) * y - W @ y)
        same = torch.sign(grad) == torch.sign(vel)
        gains = torch.where(same, gains * 0.8, gains + 0.2).clamp_min(0.01)
        vel = mom * vel - lr * gains * grad
        y = y + vel
        y = y - y.mean(0)
        yield Step(it + 1, total, "t-SNE")
    out = np.empty((n, 2), np.float32)
    out[core] = y.numpy()
    if n > m:
        rest = np.setdiff1d(np.arange(n), core)
        zc = torch.from_numpy(z[core])
        for i in range(0, len(rest), 2048):
            idx = rest[i : i + 2048]
            d = torch.cdist(torch.from_numpy(z[idx]), zc)
            dist, nn_ = d.topk(5, largest=False)
            w = 1.0 / (dist + 1e-6)
            w = w / w.sum(1, keepdim=True)
            out[idx] = (w[:, :, None] * y[nn_].float()).sum(1).numpy()
        yield Step(total, total, "placing the remaining points")
    return out
