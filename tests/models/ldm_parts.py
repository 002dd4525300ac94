"""A tiny latent diffusion model for tests (not a test module), built on the parts that tests/models/conftest.py
trains and saves as a user's files (the ``parts`` fixture)."""

import torch

from latent_explorer.models import build_model, make_config


def _ldm(folder, data, **over):
    over.setdefault("width", 16)
    over.setdefault("timesteps", 50)
    torch.manual_seed(0)
    return build_model(make_config("ldm", data.shape, data=data, autoencoder=str(folder / "ae.safetensors"),
                                   text_encoder=str(folder / "te.safetensors"), **over))
