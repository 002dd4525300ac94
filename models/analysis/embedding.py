"""Non-linear maps of latents from well-kept libraries: t-SNE by openTSNE (Poličar et al. 2024; FFT-accelerated
gradients, Linderman et al. 2019; PCA initialisation, Kobak & Linderman 2021) and UMAP by umap-learn
(McInnes et al. 2018). Each fits all points (no subsampling) and keeps what it fitted, so that new latents
(an encoded image, the current z, an interpolation path, a diffusion trajectory) are placed on the same map
with ``transform``.

Both are long jobs: generators of :class:`~models.progress.Step`. openTSNE's optimisation runs in chunks
of iterations, so a stop is honoured between chunks; its nearest-neighbour search and UMAP's fit are one
call each (the map runs both in a child process, so that a stop ends them at once and their threads never
compete with the window's for the interpreter lock).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.lazy import lazy_import
from latent_explorer.models.progress import Step

METHODS = {"tsne": "t-SNE (openTSNE)", "umap": "UMAP"}
LIBRARIES = {"tsne": "openTSNE", "umap": "umap"}  # what a fitted map is made of
MIN_POINTS = 5


@dataclass
class Embedding:
    method: str  # "tsne" or "umap"
    xy: np.ndarray  # (N, 2) float32, the fitted points
    fitted: object  # openTSNE.TSNEEmbedding or umap.UMAP: what places new points (or it pickled: see packed)
    dim: int  # latent size it was fitted on

    def place(self, z: np.ndarray) -> np.ndarray:
        """Map coordinates (M, 2) of new latents (M, D), by the fitted embedding's ``transform``."""
        z = np.atleast_2d(np.asarray(z, np.float32))
        if z.shape[1] != self.dim:
            raise ConfigError(f"latents of {z.shape[1]} numbers cannot be placed on a map of {self.dim}-D latents")
        fitted = self.unpacked()
        if self.method == "tsne":
            return np.asarray(fitted.transform(z.astype(np.float64), n_iter=100), np.float32)
        return np.asarray(fitted.transform(z), np.float32)

    def packed(self) -> Embedding:
        """The same map, its fitted object pickled: what a child process sends back. Unpickled on arrival it
        would import its library (openTSNE with scikit-learn and SciPy, or UMAP with numba: seconds of Python
        that hold the interpreter lock) as the map arrives, beside the window; packed, that waits for the first
        :meth:`place`, in a worker, through :func:`~models.lazy.lazy_import`."""
        if isinstance(self.fitted, bytes):
            return self
        return Embedding(self.method, self.xy, pickle.dumps(self.fitted, pickle.HIGHEST_PROTOCOL), self.dim)

    def unpacked(self):
        """The fitted object (unpickled now if packed: from our own child process, see :meth:`packed`)."""
        if isinstance(self.fitted, bytes):
            lazy_import(LIBRARIES[self.method])
            self.fitted = pickle.loads(self.fitted)
        return self.fitted


def _check(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, np.float32)
    if z.ndim != 2 or len(z) < MIN_POINTS:
        raise ConfigError(f"a map needs at least {MIN_POINTS} points, got {len(z)}")
    if not np.isfinite(z).all():
        raise ConfigError("some latents are NaN or infinite: they cannot be mapped")
    return z


def tsne(z: np.ndarray, perplexity: float = 30.0, early_iter: int = 250, iterations: int = 400, seed: int = 0,
         n_jobs: int = 2, chunk: int = 25, should_stop: Callable[[], bool] | None = None
         ) -> Generator[Step, None, Embedding | None]:
    """openTSNE on all points: affinities from approximate nearest neighbours, PCA initialisation, then
    ``early_iter`` iterations of early exaggeration (12) and ``iterations`` more, in chunks
    of ``chunk`` iterations with a stop check between them. Returns None if stopped."""
    TSNEEmbedding = lazy_import("openTSNE").TSNEEmbedding
    affinity, initialization = lazy_import("openTSNE.affinity"), lazy_import("openTSNE.initialization")

    z = _check(z).astype(np.float64)
    total = 1 + early_iter + iterations
    yield Step(0, total, f"t-SNE: nearest neighbours of {len(z):,} points")
    perp = float(min(perplexity, (len(z) - 1) / 3))
    aff = affinity.PerplexityBasedNN(z, perplexity=perp, n_jobs=n_jobs, random_state=seed)
    if should_stop is not None and should_stop():
        return None
    # FFT-interpolated gradients (Linderman et al. 2019) pay a fixed grid cost: Barnes-Hut is faster below
    # 10,000 points (openTSNE's own rule)
    method = "fft" if len(z) >= 10_000 else "bh"
    emb = TSNEEmbedding(initialization.pca(z, random_state=seed), aff, negative_gradient_method=method,
                        n_jobs=n_jobs, random_state=seed)
    done = 1
    for n_iter, params in ((early_iter, dict(exaggeration=12, momentum=0.5)), (iterations, dict(momentum=0.8))):
        left = n_iter
        while left > 0:
            k = min(chunk, left)
            emb.optimize(n_iter=k, inplace=True, **params)
            left -= k
            done += k
            yield Step(done, total, "t-SNE" + (": early exaggeration" if "exaggeration" in params else ""))
            if should_stop is not None and should_stop():
                return None
    return Embedding("tsne", np.asarray(emb, np.float32), emb, z.shape[1])


_NUMBA_CACHED = []


def cache_numba() -> None:
    """Keep what numba compiles for UMAP (umap-learn and pynndescent) in the user's cache folder, so that the
    next start of the app loads it instead of compiling again (measured on 10,000 latents: the first UMAP of
    a process took 51 s with an empty cache, 19 s with a full one; 8 s once warm). umap-learn marks few of its
    functions for caching: every compiled function of both libraries is marked here, before any compiles.
    Once per process; the cache folder is set before numba is first imported."""
    if _NUMBA_CACHED:
        return
    _NUMBA_CACHED.append(True)
    import os
    import sys

    from latent_explorer.models.cache import cache_root

    if "numba" not in sys.modules:
        os.environ.setdefault("NUMBA_CACHE_DIR", str(cache_root() / "numba"))
    import umap  # noqa: F401 - imports its modules (and pynndescent's), whose functions are marked below
    from numba.core.dispatcher import Dispatcher

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("umap", "pynndescent")):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, Dispatcher):
                try:
                    value.enable_caching()
                except Exception:  # noqa: BLE001 - a function numba cannot cache (a closure) compiles as before
                    pass


def umap(z: np.ndarray, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0,
         should_stop: Callable[[], bool] | None = None) -> Generator[Step, None, Embedding | None]:
    """umap-learn on all points (one call: a stop is honoured before and after it)."""
    import warnings

    z = _check(z)
    yield Step(0, 2, f"UMAP of {len(z):,} points")
    if should_stop is not None and should_stop():
        return None
    cache_numba()
    import umap as umap_learn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state": a seeded, reproducible fit
        fitted = umap_learn.UMAP(n_neighbors=min(n_neighbors, len(z) - 1), min_dist=min_dist, random_state=seed,
                                 init="pca" if len(z) > 10 else "random")
        xy = fitted.fit_transform(z)
    yield Step(2, 2, "UMAP")
    return Embedding("umap", np.asarray(xy, np.float32), fitted, z.shape[1])


WARM_POINTS = 4200  # UMAP searches neighbours by NN-descent from 4,096 points on: the warm-up compiles that path


def warm_up() -> None:
    """Import UMAP and compile its numba code on a small map (the projection process does this while the
    window is idle: the user's first UMAP then runs at umap-learn's own speed, not after half a minute of
    compilation). Seeded as :func:`umap` is, so the same code paths are compiled."""
    import warnings

    cache_numba()
    import umap as umap_learn

    z = np.random.default_rng(0).normal(size=(WARM_POINTS, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap_learn.UMAP(n_neighbors=15, min_dist=0.1, random_state=0, init="pca", n_epochs=2).fit_transform(z)


def tsne_job(z, should_stop):
    """:func:`tsne` as a child-process job takes it (``explorer.procjob.in_process``), the map packed."""
    emb = yield from tsne(z, should_stop=should_stop)
    return None if emb is None else emb.packed()


def umap_job(z, should_stop):
    """:func:`umap` as a child-process job takes it (``explorer.procjob.in_process``), the map packed."""
    emb = yield from umap(z, should_stop=should_stop)
    return None if emb is None else emb.packed()


def knn_label_accuracy(xy: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
    """How well a map keeps neighbourhoods: the share of points whose k nearest neighbours on the map
    (leave-one-out) vote for their own label."""
    NearestNeighbors = lazy_import("sklearn.neighbors").NearestNeighbors

    labels = np.asarray(labels)
    idx = NearestNeighbors(n_neighbors=k + 1).fit(xy).kneighbors(xy, return_distance=False)[:, 1:]  # not itself
    votes = labels[idx]
    n_classes = int(labels.max()) + 1
    counts = np.stack([(votes == c).sum(1) for c in range(n_classes)], 1)
    return float((counts.argmax(1) == labels).mean())
