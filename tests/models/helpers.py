"""Small seeded models and data shared by the model tests."""

import numpy as np
import torch

from latent_explorer.models import ImageData, TrainConfig, build_model, make_config, train


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
    from latent_explorer.models import registry

    return [k for k in registry.kinds(trainable=True) if registry.get(k).prepare is None]


def tiny_model(kind, shape=(1, 8, 8), classes=3, seed=0, **over):
    """A small model of ``kind``: its family's size settings shrunk to what the kind takes."""
    from latent_explorer.models import registry

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


def tiny_text_models(folder, steps: int = 2):
    """A tiny latent autoencoder, text encoder and latent diffusion model on 32x32 scenes, saved in ``folder``
    as ae.safetensors, te.safetensors and ldm.safetensors (the parts beside the model, as a user keeps them)."""
    from latent_explorer.models import load_dataset

    data = load_dataset("scenes:96")
    torch.manual_seed(0)
    ae = build_model(make_config("latent-ae", data.shape, width=8))
    run(ae, data, out=str(folder / "ae.safetensors"), batch_size=16, max_steps=steps)
    te = build_model(make_config("clip", data.shape, data=data, layers=1, embed_dim=16))
    run(te, data, out=str(folder / "te.safetensors"), batch_size=16, max_steps=steps)
    ldm = build_model(make_config("ldm", data.shape, data=data, autoencoder=str(folder / "ae.safetensors"),
                                  text_encoder=str(folder / "te.safetensors"), width=16, timesteps=50))
    run(ldm, data, out=str(folder / "ldm.safetensors"), batch_size=16, max_steps=steps)
    return folder / "ae.safetensors", folder / "te.safetensors", folder / "ldm.safetensors"


def cli(capsys, *args):
    """Run a command of the CLI in this process: (exit code, stdout, stderr)."""
    from latent_explorer.models.cli import main

    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err
