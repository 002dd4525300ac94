"""Latent-space maths for the explorer: encoding a dataset, sampling latents, PCA, decoding one z
or many, interpolation, traversals and GANSpace-style directions. Long jobs are generators yielding
:class:`~models.progress.Step` records. The map's projections and planes are in :mod:`models.analysis.projection`,
its t-SNE and UMAP in :mod:`models.analysis.embedding`."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np
import torch

from latent_explorer.models.data import ImageData
from latent_explorer.models.progress import Step


@dataclass
class LatentSet:
    z: np.ndarray  # (N, D) float32
    labels: np.ndarray | None  # (N,) int64
    class_names: list[str]
    images: np.ndarray | None  # (N, C, H, W) float32 in [0, 1] (for hover)
    source: str  # "encoded" or "sampled"


@torch.no_grad()
def encode_dataset(model, data: ImageData, batch_size: int = 1024) -> Generator[Step, None, LatentSet]:
    """Encode every image (the encoder's mean for VAEs). Conditional models see the true labels."""
    n = len(data)
    dev = model.device
    out = np.empty((n, model.latent_dim), np.float32)
    for i in range(0, n, batch_size):
        x = torch.from_numpy(data.images[i : i + batch_size]).to(dev)
        y = None
        if model.conditional and data.labels is not None:
            y = torch.from_numpy(data.labels[i : i + batch_size]).to(dev)
        out[i : i + len(x)] = model.encode(x, y).float().cpu().numpy()
        yield Step(min(n, i + batch_size), n, "encoding")
    return LatentSet(out, data.labels, list(data.class_names), data.images, "encoded")


@torch.no_grad()
def sample_latents(model, n: int = 2000, seed: int = 0, batch_size: int = 500, classifier=None
                   ) -> Generator[Step, None, LatentSet]:
    """z ~ prior with their decoded images (GANs have no encoder); labels when conditional, else the first head
    of ``classifier`` reading each sample, when it reads images of the model's size ("bundled": the model's
    data's bundled yardstick, :func:`models.analysis.classifier.bundled_classifier`, if there is one)."""
    if classifier == "bundled":
        from latent_explorer.models.analysis.classifier import bundled_classifier
        from latent_explorer.models.io.meta import meta_of

        classifier = None if model.conditional else bundled_classifier(meta_of(model).data.spec, model.image_shape)
    g = torch.Generator().manual_seed(seed)
    z = model.prior(n, g).float()
    labels = (torch.arange(n) % model.num_classes) if model.conditional else None
    images = np.empty((n, *model.image_shape), np.float32)
    for i in range(0, n, batch_size):
        y = labels[i : i + batch_size].to(model.device) if labels is not None else None
        images[i : i + batch_size] = model.decode(z[i : i + batch_size], y).cpu().numpy()
        yield Step(min(n, i + batch_size), n, "sampling")
    names = list(model.class_names) if model.conditional else []
    labels = None if labels is None else labels.numpy()
    source = "sampled"
    if labels is None and classifier is not None and tuple(classifier.config.image_shape) == tuple(model.image_shape):
        yield Step(n, n, "labelling the samples with the yardstick classifier")
        labels = classifier.predict(images)[1][:, 0]
        names, source = list(classifier.config.heads[classifier.head_names[0]]), "sampled, labelled by the classifier"
    return LatentSet(z.cpu().numpy(), labels, names, images, source)


class PCA:
    """Principal components of latents (SVD of the centred data)."""

    def __init__(self, z: np.ndarray, k: int | None = None):
        z = np.asarray(z, np.float64)
        self.mean = z.mean(0)
        _, s, vt = np.linalg.svd(z - self.mean, full_matrices=False)
        k = min(k or vt.shape[0], vt.shape[0])
        self.components = vt[:k].astype(np.float32)  # (k, D), orthonormal rows
        var = s**2 / max(1, len(z) - 1)
        self.explained_ratio = (var / var.sum() if var.sum() > 0 else var)[:k]
        self.std = np.sqrt(var[:k]).astype(np.float32)
        self.mean = self.mean.astype(np.float32)

    def transform(self, z: np.ndarray, axes=(0, 1)) -> np.ndarray:
        return ((np.asarray(z, np.float32) - self.mean) @ self.components[list(axes)].T).astype(np.float32)


def class_labels(model, label: int | None, n: int) -> torch.Tensor | None:
    """The class condition of ``n`` decodes: ``label`` for each (None for unconditional models)."""
    if not model.conditional:
        return None
    return torch.full((n,), int(label or 0), dtype=torch.long, device=model.device)


@torch.no_grad()
def decode_one(model, z: np.ndarray, label: int | None = None) -> np.ndarray:
    """The image of one latent: (D,) -> (C, H, W) float32 in [0, 1]. Every view decodes one z through this."""
    zz = torch.from_numpy(np.ascontiguousarray(np.asarray(z, np.float32)[None])).to(model.device)
    return model.decode(zz, class_labels(model, label, 1))[0].float().cpu().numpy()


def decode_batched(model, z: np.ndarray, y: int | None = None, batch_size: int = 256
                   ) -> Generator[Step, None, np.ndarray]:
    """Decode many latents in batches: (N, D) -> (N, C, H, W) float32 in [0, 1]."""
    n = len(z)
    out = np.empty((n, *model.image_shape), np.float32)
    with torch.no_grad():
        for i in range(0, n, batch_size):
            zz = torch.from_numpy(np.ascontiguousarray(z[i : i + batch_size], dtype=np.float32)).to(model.device)
            out[i : i + len(zz)] = model.decode(zz, class_labels(model, y, len(zz))).float().cpu().numpy()
            yield Step(min(n, i + batch_size), n, "decoding")
    return out


@dataclass
class Encoding:
    """An image as the model sees it, its code, and what the model makes of that code."""

    input: np.ndarray  # (C, H, W) in [0, 1]: the image conformed to the model's shape
    z: np.ndarray  # (D,)
    reconstruction: np.ndarray  # (C, H, W) in [0, 1]
    mse: float  # mean squared error between input and reconstruction

    @property
    def error(self) -> np.ndarray:
        """|input − reconstruction| per pixel, (C, H, W) in [0, 1]."""
        return np.abs(self.input - self.reconstruction)


@torch.no_grad()
def encode_image(model, image: np.ndarray, label: int | None = None) -> Encoding:
    """Encode one image already in the model's shape (see :func:`models.io.images.read_image_for`)."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)[None]).to(model.device)
    z = model.encode(x, class_labels(model, label, 1))[0].float().cpu().numpy()
    rec = decode_one(model, z, label)
    return Encoding(np.asarray(image, np.float32), z, rec, float(np.mean((rec - image) ** 2)))


def traversal(z: np.ndarray, dim: int, extent: float, steps: int) -> np.ndarray:
    """(steps, D) latents equal to ``z`` except dimension ``dim``, which goes from −extent to +extent."""
    path = np.repeat(np.asarray(z, np.float32)[None], max(2, steps), 0)
    path[:, dim] = np.linspace(-extent, extent, len(path), dtype=np.float32)
    return path


def lerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return ((1 - t) * a + t * b).astype(np.float32)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation (Shoemake 1985; White 2016 for GAN latents); lerp when nearly parallel."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na < 1e-8 or nb < 1e-8:
        return lerp(a, b, t)
    cos = float(np.clip(np.dot(a / na, b / nb), -1, 1))
    omega = math.acos(cos)
    if abs(math.sin(omega)) < 1e-6:
        return lerp(a, b, t)
    return ((math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)).astype(np.float32)


def interpolate(a: np.ndarray, b: np.ndarray, steps: int, mode: str = "lerp") -> np.ndarray:
    """(steps, D) latents from a to b inclusive."""
    f = slerp if mode == "slerp" else lerp
    return np.stack([f(np.asarray(a, np.float32), np.asarray(b, np.float32), t)
                     for t in np.linspace(0, 1, max(2, steps))])


@torch.no_grad()
def ganspace_directions(model, n: int = 2000, k: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """GANSpace-style directions (Härkönen et al. 2020): PCA of what sampled latents produce (the
    decoded images), each principal direction mapped back to z by least-squares regression.
    Returns (directions (k, D) with unit norm, explained variance ratios (k,))."""
    g = torch.Generator().manual_seed(seed)
    z = model.prior(n, g).float()
    y = (torch.arange(n) % model.num_classes).to(model.device) if model.conditional else None
    feats = torch.cat([model.decode(z[i : i + 500], None if y is None else y[i : i + 500]).flatten(1)
                       for i in range(0, n, 500)]).cpu().numpy()
    pca = PCA(feats, k)
    coords = pca.transform(feats, range(len(pca.components)))  # (n, k)
    coords = coords / np.maximum(coords.std(0, keepdims=True), 1e-8)
    zc = z.cpu().numpy() - z.cpu().numpy().mean(0)
    dirs, *_ = np.linalg.lstsq(coords, zc, rcond=None)  # (k, D): z ≈ coords @ dirs
    dirs = dirs / np.maximum(np.linalg.norm(dirs, axis=1, keepdims=True), 1e-8)
    return dirs.astype(np.float32), pca.explained_ratio.astype(np.float32)
