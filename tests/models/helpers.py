"""Small seeded models and data shared by the model tests."""

import numpy as np
import torch

from models import ImageData, TrainConfig, build_model, make_config, train


def tiny_data(n=64, shape=(1, 8, 8), classes=3, seed=0) -> ImageData:
    rng = np.random.default_rng(seed)
    x = rng.random((n, *shape)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    words = ["red", "green", "blue", "pink", "grey"]
    captions = [f"a {words[k % len(words)]} thing" for k in y]  # for the kinds that learn from text
    return ImageData(x, y, [f"c{i}" for i in range(classes)], "tiny", captions=captions)


def standalone_kinds() -> list[str]:
    """The trainable kinds built from settings alone; latent diffusion is built from two part checkpoints
    (tests/models/test_latent_diffusion.py makes them)."""
    from models import registry

    return [k for k in registry.kinds(trainable=True) if registry.get(k).prepare is None]


def tiny_model(kind, shape=(1, 8, 8), classes=3, seed=0, **over):
    """A small model of ``kind``: its family's size settings shrunk to what the kind takes."""
    from models import registry

    torch.manual_seed(seed)
    spec = registry.get(kind)
    for name, value in (("width", 8), ("hidden", (32,)), ("timesteps", 20)):
        if spec.param(name) is not None:
            over.setdefault(name, value)
    return build_model(make_config(kind, shape, 4, [f"c{i}" for i in range(classes)],
                                   conditional=spec.conditioning_optional, data=tiny_data(8, shape, classes),
                                   **over))


def run(model, data, out=None, **cfg):
    cfg.setdefault("epochs", 1)
    cfg.setdefault("batch_size", 16)
    records = list(train(model, data, TrainConfig(**cfg), out=out))
    return records
