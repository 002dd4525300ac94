"""The quality yardstick's classifier: a small CNN per dataset whose penultimate features define the
Fréchet distance and precision/recall (:mod:`models.analysis.quality`) and whose heads label samples.

One head per labelled factor: ``mnist`` has one (the digit); ``scenes`` has one per factor (shape, colour,
size, position, background). The first head is the data's own label (what a conditional model is asked for).
Bundled classifiers live in ``assets/classifiers/`` (made by ``make assets``); for any other data a
classifier is trained on the fly, seeded, and cached in the user's cache folder under a fingerprint of the
data, so the second evaluation starts at once. Files are safetensors + JSON, like checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.data import DataError, ImageData
from latent_explorer.models.errors import CheckpointError
from latent_explorer.models.io.checkpoint import BUNDLED_DIR, atomic_write
from latent_explorer.models.io.safetensors_header import read_safetensors
from latent_explorer.models.io.schema import SchemaError, loads
from latent_explorer.models.progress import Step

FORMAT = "latent-explorer-classifier"
FEATURES = 64  # width of the penultimate layer: the feature space of the Fréchet distance
# The body's design: "pooled" (batch-normalised convolutions, global max pool: a shape is recognised
# wherever it is) is what new classifiers get; "grid" (a 4x4 average grid read by one linear layer) is the
# first design, kept so files made with it (the bundled mnist classifier) keep loading. The grid design
# never learnt the scenes' shapes (chance after 8 epochs): it must learn each shape at each place apart.
BODIES = ("pooled", "grid")
CLASSIFIER_DIR = BUNDLED_DIR / "classifiers"
MAX_HEADS, MAX_CLASSES = 16, 1000


def cache_dir() -> Path:
    """Where classifiers trained on the fly are kept: $LATENT_EXPLORER_CACHE, else the XDG cache folder."""
    from latent_explorer.models.cache import cache_root

    return cache_root() / "classifiers"


@dataclass
class ClassifierConfig:
    image_shape: tuple[int, int, int]
    heads: dict[str, list[str]]  # head name -> class names, in order; the first head is the data's label
    features: int = FEATURES
    data: str = ""  # the data spec it was trained on
    fingerprint: str = ""  # of that data (images and labels)
    held_out_accuracy: dict[str, float] = field(default_factory=dict)
    body: str = "pooled"  # one of BODIES; a file without the key has the first design, "grid"

    def to_json(self) -> dict:
        return {"image_shape": list(self.image_shape), "heads": self.heads, "features": self.features,
                "data": self.data, "fingerprint": self.fingerprint, "held_out_accuracy": self.held_out_accuracy,
                "body": self.body}

    @classmethod
    def from_json(cls, d, where: str) -> ClassifierConfig:
        bad = CheckpointError(f"{where}: not a valid classifier file (its config is malformed)")
        if not isinstance(d, dict):
            raise bad
        shape, heads = d.get("image_shape"), d.get("heads")
        if (not isinstance(shape, list) or len(shape) != 3
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024 for v in shape)
                or shape[0] not in (1, 3)):
            raise bad
        if (not isinstance(heads, dict) or not 1 <= len(heads) <= MAX_HEADS
                or not all(isinstance(k, str) and isinstance(v, list) and 2 <= len(v) <= MAX_CLASSES
                           and all(isinstance(c, str) for c in v) for k, v in heads.items())):
            raise bad
        features = d.get("features", FEATURES)
        if not isinstance(features, int) or isinstance(features, bool) or not 2 <= features <= 4096:
            raise bad
        body = d.get("body", "grid")
        if body not in BODIES:
            raise bad
        acc = d.get("held_out_accuracy", {})
        acc = {k: float(v) for k, v in acc.items() if isinstance(v, (int, float)) and not isinstance(v, bool)} \
            if isinstance(acc, dict) else {}
        return cls(tuple(shape), heads, features, str(d.get("data", "")), str(d.get("fingerprint", "")), acc,
                   body)


class PooledBody(nn.Module):
    """x (B, C, H, W) -> features (B, F): batch-normalised convolutions, then what is found anywhere (a
    global max) beside a coarse 2x2 average of where it is (the position heads)."""

    def __init__(self, channels: int, features: int):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(channels, 32, 3, 1, 1), nn.BatchNorm2d(32), nn.ReLU(),  # -> (B, 32, H, W)
            nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),  # -> (B, 64, H/2, W/2)
            nn.Conv2d(64, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU(),  # -> (B, 64, H/2, W/2)
            nn.Conv2d(64, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),  # -> (B, 64, H/4, W/4)
        )
        self.where = nn.AdaptiveAvgPool2d(2)  # -> (B, 64, 2, 2)
        self.fc = nn.Linear(64 + 64 * 4, features)  # [max (B, 64), where (B, 256)] -> (B, F), no nonlinearity

    def forward(self, x):
        h = self.conv(x)
        return self.fc(torch.cat([h.amax((2, 3)), self.where(h).flatten(1)], 1))


def grid_body(channels: int, features: int) -> nn.Sequential:
    """The first design ("grid"), for files made with it."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, 1, 1), nn.ReLU(),  # (B, C, H, W) -> (B, 32, H, W)
        nn.Conv2d(32, 32, 3, 2, 1), nn.ReLU(),  # -> (B, 32, H/2, W/2)
        nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(),  # -> (B, 64, H/2, W/2)
        nn.Conv2d(64, 64, 3, 2, 1), nn.ReLU(),  # -> (B, 64, H/4, W/4)
        nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # -> (B, 64 * 16)
        nn.Linear(64 * 16, features),  # -> (B, F): the features (before the nonlinearity)
    )


class Classifier(nn.Module):
    """x (B, C, H, W) in [0, 1] -> features (B, F) -> one logit vector per head."""

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        self.config = config
        c = config.image_shape[0]
        make = PooledBody if config.body == "pooled" else grid_body
        self.body = make(c, config.features)
        self.heads = nn.ModuleDict({f"h{i}": nn.Linear(config.features, len(names))
                                    for i, names in enumerate(config.heads.values())})

    @property
    def head_names(self) -> list[str]:
        return list(self.config.heads)

    def forward(self, x) -> tuple[torch.Tensor, list[torch.Tensor]]:
        f = self.body(x)
        h = F.relu(f)
        return f, [self.heads[f"h{i}"](h) for i in range(len(self.config.heads))]

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """Features (N, F) float64 and predicted labels (N, heads) int64 of images (N, C, H, W) in [0, 1]."""
        self.eval()
        if tuple(images.shape[1:]) != tuple(self.config.image_shape):
            raise DataError(f"the classifier reads {_shape(self.config.image_shape)} images, got "
                            f"{_shape(images.shape[1:])}")
        feats, labels = [], []
        for i in range(0, len(images), batch):
            f, logits = self(torch.from_numpy(np.ascontiguousarray(images[i : i + batch], np.float32)))
            feats.append(f.double().numpy())
            labels.append(torch.stack([lg.argmax(1) for lg in logits], 1).numpy())
        if not feats:
            return np.zeros((0, self.config.features)), np.zeros((0, len(self.config.heads)), np.int64)
        return np.concatenate(feats), np.concatenate(labels)


def _shape(s) -> str:
    return "×".join(str(int(v)) for v in s)


def heads_of(data: ImageData) -> tuple[dict[str, list[str]], np.ndarray]:
    """The heads a classifier of ``data`` has and their targets (N, heads): the label first, then each
    categorical factor (generated data). Raises DataError for data with fewer than 2 classes."""
    heads: dict[str, list[str]] = {}
    targets = []
    if data.labels is not None and len(data.class_names) >= 2:
        heads["label"] = [str(c) for c in data.class_names]
        targets.append(np.asarray(data.labels, np.int64))
    if data.factors is not None:
        for j, name in enumerate(data.factor_names):
            if name not in data.factor_classes or len(data.factor_classes[name]) < 2:
                continue  # a continuous factor (a rotation, a position in pixels)
            values = np.asarray(data.factors[:, j], np.int64)
            names = [str(c) for c in data.factor_classes[name]]
            if targets and names == heads.get("label") and np.array_equal(values, targets[0]):
                continue  # the label itself (scenes: the shape)
            heads[name] = names
            targets.append(values)
    if not heads:
        raise DataError(f"{data.spec}: the quality yardstick needs labelled data (at least 2 classes) to "
                        "train its classifier")
    return heads, np.stack(targets, 1)


def fingerprint(data: ImageData) -> str:
    """A content hash of the images and labels (the cache key of a classifier trained on the fly)."""
    h = hashlib.sha256()
    h.update(str(data.images.shape).encode())
    h.update(np.ascontiguousarray(data.images, np.float32).tobytes())
    if data.labels is not None:
        h.update(np.asarray(data.labels, np.int64).tobytes())
    return h.hexdigest()[:32]


def train_classifier(data: ImageData, epochs: int = 8, batch_size: int = 128, seed: int = 0,
                     val_fraction: float = 0.1) -> Generator[Step, None, Classifier]:
    """Train a classifier on the training part of ``data`` (the same split the models train on); yields a
    Step per batch; returns the classifier with its held-out accuracy per head in its config."""
    heads, targets = heads_of(data)
    train_idx, val_idx = data.split_indices(val_fraction)  # the split new models train with
    train_set, val_set = data.subset(train_idx), data.subset(val_idx)
    n_train = len(train_set)
    y_train, y_val = targets[train_idx], targets[val_idx]
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = ClassifierConfig(tuple(int(v) for v in data.shape), heads, data=data.spec)
    net = Classifier(cfg)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    steps_per_epoch = max(1, -(-n_train // batch_size))
    total = epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 3e-3, total_steps=total)
    x_all = torch.from_numpy(np.ascontiguousarray(train_set.images, np.float32))
    y_all = torch.from_numpy(y_train)
    step = 0
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(n_train, generator=g)
        for i in range(0, n_train, batch_size):
            idx = order[i : i + batch_size]
            x, y = x_all[idx], y_all[idx]
            if x.shape[-1] >= 16:  # a small random shift (up to 2 px): the features see wobbly samples too
                dx, dy = torch.randint(-2, 3, (2,), generator=g).tolist()
                x = torch.roll(x, (dy, dx), (2, 3))
            _, logits = net(x)
            loss = sum(F.cross_entropy(lg, y[:, j]) for j, lg in enumerate(logits))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            yield Step(step, total, f"training the yardstick classifier: epoch {epoch + 1}/{epochs}")
    _, pred = net.predict(val_set.images)
    cfg.held_out_accuracy = {name: round(float((pred[:, j] == y_val[:, j]).mean()), 4)
                             for j, name in enumerate(heads)}
    return net


def save_classifier(net: Classifier, path: str | os.PathLike) -> Path:
    from safetensors.torch import save as st_save

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in net.state_dict().items()}
    meta = {"format": FORMAT, "config": json.dumps(net.config.to_json()),
            "saved": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    return atomic_write(path, st_save(tensors, metadata=meta))


def load_classifier(path: str | os.PathLike) -> Classifier:
    path = Path(path)
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a Latent Explorer classifier")
    try:  # bounded in size and nesting before it is parsed (models.io.schema)
        d = loads(meta.get("config", ""), f"{path.name}: its config")
    except SchemaError as e:
        raise CheckpointError(f"{path.name}: not a valid classifier file ({e})") from None
    net = Classifier(ClassifierConfig.from_json(d, path.name))
    want = net.state_dict()
    if set(tensors) != set(want) or any(tensors[k].shape != want[k].shape for k in want):
        raise CheckpointError(f"{path.name}: its weights do not match its config")
    net.load_state_dict(tensors)
    net.eval()
    return net


def bundled_for(data: ImageData) -> Path | None:
    """The bundled classifier for a built-in dataset (any size or seed of it), if its heads match."""
    base = data.spec.split(":")[0]
    path = CLASSIFIER_DIR / f"{base}.safetensors"
    if not base.isidentifier() or not path.is_file():
        return None
    return path


def bundled_classifier(spec: str | None, image_shape) -> Classifier | None:
    """The bundled classifier of a built-in dataset's ``spec`` if it reads images of ``image_shape``, without
    reading the data (a label for sampled images); None otherwise or when it cannot be read."""
    base = (spec or "").split(":")[0]
    path = CLASSIFIER_DIR / f"{base}.safetensors"
    if not base.isidentifier() or not path.is_file():
        return None
    try:
        net = load_classifier(path)
    except CheckpointError:
        return None
    return net if tuple(net.config.image_shape) == tuple(int(v) for v in image_shape) else None


def find_classifier(data: ImageData, seed: int = 0) -> Classifier | None:
    """The yardstick for ``data`` if one is at hand: its bundled classifier, else one cached for this exact
    data; None if neither fits (a classifier whose heads or image size do not fit the data is not used)."""
    heads, _ = heads_of(data)
    shape = tuple(int(v) for v in data.shape)
    for path in (bundled_for(data), cache_dir() / f"{fingerprint(data)}-s{seed}.safetensors"):
        if path is None or not path.is_file():
            continue
        try:
            net = load_classifier(path)
        except CheckpointError:
            continue  # a damaged cache entry: trained again and replaced by classifier_for
        if net.config.heads == heads and tuple(net.config.image_shape) == shape:
            return net
    return None


def classifier_for(data: ImageData, seed: int = 0, epochs: int = 8) -> Generator[Step, None, Classifier]:
    """The yardstick for ``data``: :func:`find_classifier`'s, else one trained now (seeded) and cached."""
    net = find_classifier(data, seed)
    if net is not None:
        return net
    key = fingerprint(data)
    cached = cache_dir() / f"{key}-s{seed}.safetensors"
    net = yield from train_classifier(data, epochs=epochs, seed=seed)
    net.config.fingerprint = key
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        save_classifier(net, cached)
    except (OSError, CheckpointError):
        pass  # an unwritable cache costs the next run a retraining, nothing more
    return net
