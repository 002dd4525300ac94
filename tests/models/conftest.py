"""Fixtures shared by tests/models (no Qt here)."""

import pytest
import torch

from latent_explorer.models import build_model, load_dataset, make_config

from .helpers import run


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    """A tiny autoencoder and text encoder on 32x32 scenes, saved as the files a user would name."""
    folder = tmp_path_factory.mktemp("parts")
    data = load_dataset("scenes:96")
    torch.manual_seed(0)
    ae = build_model(make_config("latent-ae", data.shape, width=8))
    run(ae, data, out=str(folder / "ae.safetensors"), batch_size=16, max_steps=2)
    te = build_model(make_config("clip", data.shape, data=data, layers=1, embed_dim=16))
    run(te, data, out=str(folder / "te.safetensors"), batch_size=16, max_steps=2)
    return folder, data
