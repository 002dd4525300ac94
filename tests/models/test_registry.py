"""The kind registry: specs, per-family configs, and checkpoints of format 1 still loading."""

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_explorer.models import ConfigError, load, registry, save
from latent_explorer.models.io.checkpoint import FORMAT_VERSION

from .helpers import standalone_kinds, tiny_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "format1"


def _meta(path):
    raw = Path(path).read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8 : 8 + n])["__metadata__"]


@pytest.mark.parametrize("kind", ["ae", "dae", "vae", "cvae", "aae", "gan", "cgan", "wgan", "ddpm"])
def test_format_1_checkpoints_load_and_decode_the_same_z_to_the_same_image(kind):
    """Files written by the format-1 code (tests/fixtures/format1/README.md) decode as it did: within 1e-6, as
    another CPU's kernels (AVX2, AVX-512) may sum in another order and differ by a float32 step."""
    expected = np.load(FIXTURES / "decoded.npz")
    model = load(FIXTURES / f"{kind}.safetensors")
    assert model.meta["format_version"] == 1 and _meta(FIXTURES / f"{kind}.safetensors")["format_version"] == "1"
    assert isinstance(model.config, registry.get(kind).config_class)
    y = torch.tensor([0, 1, 2]) if model.conditional else None
    out = model.decode(torch.from_numpy(expected[f"{kind}_z"]), y).numpy()
    np.testing.assert_allclose(out, expected[f"{kind}_x"], rtol=0, atol=1e-6)


def test_format_2_stores_only_the_familys_config(tmp_path):
    assert FORMAT_VERSION == 2
    for kind, absent in (("vae", "timesteps"), ("gan", "hidden"), ("ddpm", "beta")):
        p = save(tiny_model(kind), tmp_path / f"{kind}.safetensors")
        meta = _meta(p)
        config = json.loads(meta["config"])
        assert meta["format_version"] == "2" and config["kind"] == kind and absent not in config
        assert load(p).meta["format_version"] == 2


def test_a_format_2_file_with_another_familys_field_is_refused(tmp_path):
    from safetensors.torch import save as st_save

    from latent_explorer.models import CheckpointError

    p = save(tiny_model("vae"), tmp_path / "v.safetensors")
    meta = _meta(p)
    config = json.loads(meta["config"])
    config["timesteps"] = 1000  # accepted in format 1 (one flat config), not in format 2
    meta["config"] = json.dumps(config)
    p.write_bytes(st_save({k: v.contiguous() for k, v in load(p).state_dict().items()}, metadata=meta))
    with pytest.raises(CheckpointError, match="unknown model config keys"):
        load(p)


def test_every_builtin_kind_is_described_by_its_spec():
    trainable = registry.kinds(trainable=True)
    assert trainable == ["ae", "dae", "vae", "cvae", "aae", "gan", "cgan", "wgan", "stylegan", "ddpm", "latent-ae",
                         "clip", "ldm", "pixelcnn", "pix2pix", "cyclegan", "controlnet"]
    assert "torchscript" in registry.kinds() and not registry.get("torchscript").trainable
    for kind in standalone_kinds():
        spec = registry.get(kind)
        model = tiny_model(kind)
        assert model.spec is spec and model.capabilities is spec.capabilities
        assert spec.loss_names == type(model).loss_names and spec.title
    assert registry.get("vae").capabilities.encoder and registry.get("vae").capabilities.likelihood == "bound"
    assert registry.get("gan").capabilities.directions and not registry.get("gan").capabilities.encoder
    assert registry.get("ddpm").capabilities.diffusion and registry.get("ddpm").conditioning_optional
    assert registry.get("cgan").conditional_by_default and not registry.get("gan").conditional_by_default
    assert registry.get("latent-ae").capabilities.encoder and registry.get("latent-ae").latent_dim is None
    clip = registry.get("clip")
    assert clip.conditioning == "text" and not clip.capabilities.decodes_z and clip.from_data is not None
    p2p = registry.get("pix2pix")
    assert p2p.conditioning == "image" and p2p.capabilities.image_to_image and not p2p.capabilities.prior


def test_defaults_and_params_come_from_the_spec():
    spec = registry.get("wgan")
    cfg = registry.make_config("wgan", (1, 8, 8))
    assert cfg.gan_loss == "wgan-gp" and cfg.latent_dim == spec.latent_dim == 32
    assert registry.make_config("ae", (1, 8, 8)).hidden == (512, 256)
    assert registry.make_config("vae", (1, 8, 8)).hidden == (512,)
    assert registry.make_config("ddpm", (3, 16, 16)).latent_dim == 3 * 16 * 16
    assert spec.default("gan_loss") == "wgan-gp" and registry.get("gan").default("width") == 64
    assert {p.name for p in registry.all_params()} >= {"hidden", "beta", "noise_std", "width", "timesteps",
                                                       "schedule"}
    assert registry.kinds_with_param("beta") == ["vae", "cvae"]
    with pytest.raises(ConfigError, match="vae has no setting timesteps"):
        registry.make_config("vae", (1, 8, 8), timesteps=10)


def test_params_parse_typed_text_with_one_clear_message():
    hidden = registry.get("ae").param("hidden")
    assert hidden.parse("512, 256") == (512, 256)
    for bad, msg in (("", "comma-separated"), ("a,b", "comma-separated"), ("0", "between 1 and 8192")):
        with pytest.raises(ConfigError, match=msg):
            hidden.parse(bad)
    schedule = registry.get("ddpm").param("schedule")
    assert schedule.parse("cosine") == "cosine"
    with pytest.raises(ConfigError, match="one of linear, cosine"):
        schedule.parse("square")
    with pytest.raises(ConfigError, match="a number"):
        registry.get("vae").param("beta").parse("nan?")


def test_registering_twice_under_one_name_is_refused():
    spec = registry.get("vae")
    registry.register(spec)  # the same spec again: harmless
    clone = registry.KindSpec("vae", "Another", spec.model_class, spec.config_class, spec.defaults)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(clone)


def test_a_spec_naming_a_field_its_config_lacks_is_refused():
    spec = registry.get("vae")
    with pytest.raises(ValueError, match="not fields"):
        registry.KindSpec("x", "X", spec.model_class, spec.config_class, spec.defaults,
                          params=(registry.get("ddpm").param("timesteps"),))


def test_a_kind_whose_class_lacks_what_its_capabilities_promise_is_refused_naming_the_method():
    from latent_explorer.models import GenerativeModel
    from latent_explorer.models.kinds.autoencoders import AutoencoderConfig

    class Decoder(GenerativeModel):  # decodes a z, but has no encode of its own (nor a translate)
        def decode(self, z, y=None):
            return torch.zeros(len(z), *self.image_shape)

    defaults = registry.TrainDefaults(1, 8, 1e-3)
    for caps, method in ((registry.Capabilities(encoder=True), "encode"),
                         (registry.Capabilities(prior=False, decodes_z=False, image_to_image=True), "translate"),
                         (registry.Capabilities(diffusion=True), "make_scheduler")):
        spec = registry.KindSpec("promises-too-much", "Promises too much", Decoder, AutoencoderConfig, defaults, caps)
        with pytest.raises(TypeError, match=rf"Decoder does not implement {method}\(\)"):
            registry.register(spec)
        assert registry.find("promises-too-much") is None
    spec = registry.KindSpec("keeps-its-promises", "Keeps its promises", Decoder, AutoencoderConfig, defaults)
    try:
        assert registry.register(spec) is spec  # decodes a z from the prior: what the default capabilities say
    finally:
        registry.unregister("keeps-its-promises")


def test_one_meaning_of_sampling_and_the_traits_of_a_kind_in_its_spec():
    samples = {k for k in registry.kinds() if registry.get(k).capabilities.samples}
    assert {"vae", "gan", "ddpm", "pixelcnn", "latent-ae", "torchscript"} <= samples
    assert not samples & {"clip", "ldm", "pix2pix", "cyclegan", "controlnet"}
    caps = registry.get("pixelcnn").capabilities
    assert caps.samples and not caps.samples_z and caps.samples_slowly and caps.exact_likelihood
    assert registry.get("ae").capabilities.reconstructs and not registry.get("gan").capabilities.reconstructs
    for kind, conditioning in (("clip", "text"), ("pix2pix", "image"), ("vae", "none")):
        assert tiny_model(kind).conditioning == conditioning == registry.get(kind).conditioning
    cyclegan = registry.build_model(registry.make_config("cyclegan", (3, 16, 16), width=4, blocks=1))
    assert cyclegan.conditioning == "image" and cyclegan.directions == ("a2b", "b2a")
    assert not cyclegan.takes_ink and not cyclegan.needs_strokes
    edges = registry.build_model(registry.make_config("pix2pix", (3, 16, 16), width=4, source="edges"))
    assert edges.directions == ("a2b",) and edges.takes_ink and edges.needs_strokes
    assert registry.get("pix2pix").source.drawn(edges.config) == "edges"


def test_the_order_of_kinds_does_not_depend_on_what_was_imported_first():
    import subprocess
    import sys

    code = ("import latent_explorer.models.kinds.text_encoder, latent_explorer.models.kinds.latent_diffusion\n"
            "from latent_explorer.models import registry\nprint(','.join(registry.kinds(trainable=True)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.stdout.strip().split(",") == registry.kinds(trainable=True), r.stderr
