"""The latent autoencoder (issue J, first stage): shapes, the stored scale factor, the KL weight."""

import pytest
import torch

from latent_explorer.models import ConfigError, load, load_dataset, make_config

from .helpers import run, tiny_model


def test_scenes_images_become_a_4x8x8_grid_and_back():
    model = tiny_model("latent-ae", shape=(3, 32, 32))
    assert model.latent_shape == (4, 8, 8) and model.latent_dim == 256
    x = torch.rand(2, 3, 32, 32)
    z = model.encode(x)
    assert z.shape == (2, 256)
    assert model.decode(z).shape == (2, 3, 32, 32)
    assert model.decode_latents(z.view(2, 4, 8, 8)).shape == (2, 3, 32, 32)
    with pytest.raises(ConfigError, match="multiple of 4"):
        make_config("latent-ae", (3, 30, 30))


def test_the_scale_factor_makes_training_latents_unit_variance_and_is_saved(tmp_path):
    data = load_dataset("scenes:96")
    model = tiny_model("latent-ae", shape=(3, 32, 32))
    run(model, data, out=str(tmp_path / "ae.safetensors"), batch_size=16, max_steps=3)
    train, _ = data.split(0.1)
    model.eval()
    with torch.no_grad():
        z = model.encode(torch.from_numpy(train.images))
    assert z.std().item() == pytest.approx(1.0, abs=0.02)
    loaded = load(tmp_path / "ae.safetensors")
    assert loaded.config.scale_factor == model.config.scale_factor != 1.0
    torch.testing.assert_close(loaded.encode(torch.from_numpy(train.images[:4])), z[:4], rtol=0, atol=1e-6)
    # decoding undoes the scaling: the decoder sees the unscaled latents
    mu = model.encode_dist(torch.from_numpy(train.images[:4]))[0]
    with torch.no_grad():
        assert torch.allclose(model.decode(z[:4]), torch.sigmoid(model.decoder(mu)), atol=1e-5)


def test_kl_weight_weights_the_kl_term():
    x = torch.rand(4, 3, 16, 16)
    a = tiny_model("latent-ae", shape=(3, 16, 16), kl_weight=0.0)
    b = tiny_model("latent-ae", shape=(3, 16, 16), kl_weight=0.5)
    pa, la = a.losses(x, sample=False)
    pb, lb = b.losses(x, sample=False)
    assert la.item() == pytest.approx(pa["recon"].item())
    assert lb.item() == pytest.approx(pb["recon"].item() + 0.5 * pb["kl"].item(), rel=1e-5)


def test_the_editor_names_each_latent_by_channel_and_place():
    model = tiny_model("latent-ae", shape=(3, 16, 16))
    names = model.latent_names()
    assert len(names) == model.latent_dim == 4 * 4 * 4
    assert names[:2] == ["c0 (0,0)", "c0 (0,1)"] and names[-1] == "c3 (3,3)"
    # the names follow the flattening of the grid: name k is element k of encode()'s (C, h, w) reshaped
    assert names[4 * 4 + 5] == "c1 (1,1)"
    assert tiny_model("vae").latent_names() == ["z0", "z1", "z2", "z3"]
