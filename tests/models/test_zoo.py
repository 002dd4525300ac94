import pytest
import torch

from latent_explorer.models import ConfigError, load, save

from .helpers import run, standalone_kinds, tiny_data, tiny_model


@pytest.mark.parametrize("kind", standalone_kinds())
def test_every_kind_trains_saves_loads_and_decodes_identically(kind, tmp_path):
    data = tiny_data()
    model = tiny_model(kind)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    records = run(model, data, out=str(tmp_path / "m.safetensors"), max_steps=2)
    assert records[-1].event == "done" and records[-1].step == 2
    assert all(torch.isfinite(torch.tensor(v)) for v in records[-1].losses.values())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())  # it learned something
    loaded = load(tmp_path / "m.safetensors")
    assert loaded.kind == kind and loaded.image_shape == (1, 8, 8)
    model.eval()
    if loaded.capabilities.autoregressive:  # no z: the same likelihood, the same pixels from the same seed
        x = torch.from_numpy(data.images[:3])
        torch.testing.assert_close(model.nll(x), loaded.nll(x), rtol=1e-6, atol=1e-6)  # nats summed: rtol too
        a, b = (m.sample(2, generator=torch.Generator().manual_seed(1)) for m in (model, loaded))
        assert torch.equal(a, b) and a.shape == (2, 1, 8, 8)  # binary pixels (0 or 1) drawn: exactly the same
        return
    g = torch.Generator().manual_seed(0)
    z = model.prior(3, g)
    y = torch.tensor([0, 1, 2]) if model.conditioning == "class" else None
    if loaded.has_encoder:
        x = torch.from_numpy(data.images[:3])
        assert loaded.encode(x, y).shape == (3, loaded.latent_dim)
        torch.testing.assert_close(model.encode(x, y), loaded.encode(x, y), rtol=0, atol=1e-6)
    if not loaded.capabilities.decodes_z:  # a text encoder: it maps images, it draws none
        with pytest.raises(NotImplementedError):
            loaded.decode(z, y)
        return
    torch.testing.assert_close(model.decode(z, y), loaded.decode(z, y), rtol=0, atol=1e-6)
    out = loaded.decode(z, y)
    assert out.shape == (3, 1, 8, 8) and out.min() >= 0 and out.max() <= 1
    if loaded.has_encoder:
        x = torch.from_numpy(data.images[:3])
        assert loaded.encode(x, y).shape == (3, loaded.latent_dim)
        torch.testing.assert_close(model.encode(x, y), loaded.encode(x, y), rtol=0, atol=1e-6)
    s = loaded.sample(2, None if loaded.conditioning != "class" else torch.tensor([0, 1]),
                      generator=torch.Generator().manual_seed(1))
    assert s.shape == (2, 1, 8, 8)


@pytest.mark.parametrize("kind, shape", [("gan", (3, 28, 28)), ("ddpm", (3, 28, 28)), ("vae", (3, 64, 64)),
                                         ("wgan", (1, 64, 64)), ("ddpm", (1, 32, 32)), ("ae", (1, 9, 9))])
def test_image_sizes_and_channels(kind, shape):
    model = tiny_model(kind, shape=shape)
    run(model, tiny_data(8, shape), batch_size=4, max_steps=1)
    model.eval()
    z = model.prior(2, torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1]) if model.conditional else None
    assert model.decode(z, y).shape == (2, *shape)


def test_common_interface_descriptions():
    m = tiny_model("cvae")
    assert m.conditional and m.class_names == ["c0", "c1", "c2"] and m.has_encoder and m.latent_dim == 4
    assert not tiny_model("gan").has_encoder and tiny_model("ddpm").latent_dim == 64
    with pytest.raises(ConfigError, match="conditional"):
        m.decode(torch.zeros(1, 4))
    with pytest.raises(NotImplementedError):
        tiny_model("gan").encode(torch.zeros(1, 1, 8, 8))


def test_vae_beta_weights_the_kl_term():
    data = tiny_data()
    x = torch.from_numpy(data.images[:8])
    m1, m4 = tiny_model("vae"), tiny_model("vae", beta=4.0)
    m4.load_state_dict(m1.state_dict())
    torch.manual_seed(0)
    p1, l1 = m1.losses(x, None)
    torch.manual_seed(0)
    p4, l4 = m4.losses(x, None)
    assert l4.item() == pytest.approx(p4["recon"].item() + 4 * p4["kl"].item(), rel=1e-5)
    assert l4.item() > l1.item()


def test_ddpm_guidance_mixes_conditional_and_null_predictions():
    m = tiny_model("ddpm").eval()
    x = torch.randn(2, 1, 8, 8)
    tt = torch.full((2,), 5)
    y = torch.tensor([1, 1])
    e_c, e_n = m.ema(x, tt, y), m.ema(x, tt, torch.full((2,), 3))
    assert torch.allclose(m.predict_noise(x, 5, 1, guidance=3.0), e_n + 3 * (e_c - e_n), atol=1e-5)


def test_bad_model_settings():
    from latent_explorer.models import make_config

    for kwargs, msg in [(dict(kind="vae", image_shape=(1, 8, 8), latent_dim=0), "latent dim"),
                        (dict(kind="vae", image_shape=(1, 4, 4)), "8x8 to 64x64"),
                        (dict(kind="vae", image_shape=(2, 8, 8)), "1 or 3 channels"),
                        (dict(kind="cvae", image_shape=(1, 8, 8)), "at least 2 classes"),
                        (dict(kind="zzz", image_shape=(1, 8, 8)), "unknown model kind"),
                        (dict(kind="ae", image_shape=(1, 8, 8), conditional=True), "no conditional")]:
        with pytest.raises(ConfigError, match=msg):
            make_config(**kwargs)


def test_save_is_usable_directly(tmp_path):
    m = tiny_model("ae")
    p = save(m, tmp_path / "x.safetensors", data={"spec": "tiny"}, training={"epochs": 0})
    assert load(p).meta["data"]["spec"] == "tiny"
