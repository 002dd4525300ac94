"""Checkpoints and model files: formats, damaged and hostile files, generators from elsewhere.
Rows of the README's 'When things go wrong', one test per row (``test_Fnn_…``); tests/catalogue/test_readme.py
keeps the table and the tests in step."""

import json
import re
import shutil
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from latent_explorer.models import CheckpointError, load, load_dataset, save
from tests.catalogue.helpers import (
    _G,
    ROOT,
    VAE2D,
    _address_space_limited,
    _evil_pickle,
    _rewrite,
    _script,
    _with_training_metadata,
    run_cli,
)
from tests.models.helpers import tiny_model


def test_F01_pickled_pth_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    _evil_pickle(tmp_path / "model.pth", marker)
    with pytest.raises(CheckpointError, match="refused.*pickle.*never"):
        load(tmp_path / "model.pth")
    code, lines = run_cli(capsys, "info", tmp_path / "model.pth")
    assert code == 2 and len(lines) == 1 and "refused" in lines[0]
    assert not marker.exists()


def test_F02_ckpt_and_renamed_pickles_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    for name in ("lightning.ckpt", "disguised.safetensors", "weights.pt"):
        _evil_pickle(tmp_path / name, marker)
        with pytest.raises(CheckpointError, match="pickle"):
            load(tmp_path / name)
    assert not marker.exists()


def test_F03_random_bytes(tmp_path):
    p = tmp_path / "noise.safetensors"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint|truncated"):
        load(p)


def test_F04_truncated_checkpoint(ckpt):
    ckpt.write_bytes(ckpt.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="truncated|outside the file"):
        load(ckpt)


def test_F05_header_claiming_a_huge_size(tmp_path):
    p = tmp_path / "huge.safetensors"
    p.write_bytes(struct.pack("<Q", 2**62) + b'{"__metadata__": {}}')
    with pytest.raises(CheckpointError, match="header length .* is invalid"):
        load(p)
    p.write_bytes(struct.pack("<Q", 9_000_000) + b"{}")
    with pytest.raises(CheckpointError, match="truncated"):
        load(p)


def test_F06_tensor_of_the_wrong_shape(ckpt):
    _rewrite(ckpt, tensors=lambda t: t.__setitem__("decoder.0.weight", torch.zeros(7, 3)))
    with pytest.raises(CheckpointError, match=r"'decoder.0.weight' has shape \(7, 3\), the config needs"):
        load(ckpt)


def test_F07_tensor_of_the_wrong_dtype(ckpt):
    _rewrite(ckpt, tensors=lambda t: t.__setitem__("decoder.0.bias", t["decoder.0.bias"].half()))
    with pytest.raises(CheckpointError, match="is torch.float16, expected torch.float32"):
        load(ckpt)


def test_F08_tensor_names_not_matching_the_config(ckpt):
    _rewrite(ckpt, tensors=lambda t: t.__setitem__("encoder.9.weight", t.pop("encoder.0.weight")))
    with pytest.raises(CheckpointError, match="do not match the vae config.*missing 'encoder.0.weight'.*"
                                             "unexpected 'encoder.9.weight'"):
        load(ckpt)


def test_F09_nan_or_inf_weights(ckpt):
    _rewrite(ckpt, tensors=lambda t: t["encoder.0.bias"].__setitem__(3, float("nan")))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load(ckpt)


def test_F10_future_format_version(ckpt):
    _rewrite(ckpt, meta=lambda m: m.__setitem__("format_version", "7"))
    with pytest.raises(CheckpointError, match="newer Latent Explorer \\(format 7\\).*upgrade"):
        load(ckpt)


def test_F11_unknown_kind_or_broken_config(ckpt):
    good = ckpt.read_bytes()
    _rewrite(ckpt, meta=lambda m: m.__setitem__("kind", "flow"))
    with pytest.raises(CheckpointError, match="unknown model kind 'flow'"):
        load(ckpt)
    ckpt.write_bytes(good)
    _rewrite(ckpt, meta=lambda m: m.__setitem__("config", '{"kind": "vae", "latent_dim": -4}'))
    with pytest.raises(CheckpointError, match="invalid model config: latent dim"):
        load(ckpt)


def test_F12_torchscript_without_a_sidecar(tmp_path):
    torch.jit.script(_G()).save(str(tmp_path / "g.pt"))
    with pytest.raises(CheckpointError, match="needs a JSON sidecar \\(g.pt.json\\)"):
        load(tmp_path / "g.pt")


def test_F13_torchscript_with_a_wrong_latent_dim(tmp_path):
    torch.jit.script(_G()).save(str(tmp_path / "g.pt"))
    (tmp_path / "g.pt.json").write_text(json.dumps({"latent_dim": 9, "image_shape": [1, 8, 8]}))
    with pytest.raises(CheckpointError, match="fails on z of size 9"):
        load(tmp_path / "g.pt", trust_code=True)


def test_F38_a_format_2_config_with_another_familys_field(tmp_path):
    ckpt = save(tiny_model("vae"), tmp_path / "v.safetensors")

    def edit(m):
        config = json.loads(m["config"])
        config["timesteps"] = 1000
        m["config"] = json.dumps(config)

    _rewrite(ckpt, meta=edit)
    with pytest.raises(CheckpointError, match=r"invalid model config: unknown model config keys: \['timesteps'\]"):
        load(ckpt)


def test_F40_an_external_generator_whose_output_goes_wrong_later(tmp_path):
    class Flaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(6, 64))

        def forward(self, z):
            if z.abs().sum() > 100:
                return torch.full((z.shape[0], 1, 8, 8), float("nan"))
            if z.abs().sum() > 50:
                return torch.zeros(z.shape[0], 1, 4, 4)
            return (z @ self.w).view(-1, 1, 8, 8)

    gen = load(_script(Flaky(), tmp_path / "f.pt"), trust_code=True)  # passes the probe with z = 0
    with pytest.raises(ValueError, match="NaN or infinite"):
        gen.decode(torch.full((1, 6), 20.0))
    with pytest.raises(ValueError, match=r"returned \(1, 1, 4, 4\), not float images of shape \(1, 1, 8, 8\)"):
        gen.decode(torch.full((1, 6), 10.0))


def test_F42_the_bundled_models_are_never_overwritten(tmp_path, capsys):
    target = ROOT / "assets" / "digits-vae2d.safetensors"
    before = target.read_bytes()
    for extra in ([], ["--force"]):
        code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--max-steps", "1", *extra,
                              "--out", target)
        assert code == 2 and "bundled models" in lines[0] and "never overwritten" in lines[0]
    assert target.read_bytes() == before


def test_F43_a_config_implying_a_huge_model_is_refused_before_anything_is_built(tmp_path, capsys):
    import resource

    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--hidden", "8192,8192,8192,8192,"
                          "8192,8192", "--out", tmp_path / "h.safetensors")
    assert code == 2 and len(lines) == 1 and "parameters" in lines[0] and "the limit is 50,000,000" in lines[0]
    # a small file whose config asks for 8192-wide layers: refused from the config, no 3 GB model built
    ckpt = save(tiny_model("vae"), tmp_path / "v.safetensors")

    def huge(m):
        config = json.loads(m["config"])
        config["hidden"] = [8192] * 6
        m["config"] = json.dumps(config)

    _rewrite(ckpt, meta=huge)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="implies 672,.* parameters .* the limit is 50,000,000"):
        load(ckpt)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200  # peak memory: nothing near the 2.5 GB the config asks for


@pytest.mark.parametrize("field, value, msg", [
    ("data", "[1, 2]", "'data' must be an object, found list"),
    ("data", '{"spec": 7}', "data 'spec' must be a string, found int"),
    ("data", '{"spec": "digits", "val_fraction": 1.5}', r"data 'val_fraction' must be a number in \(0, 1\)"),
    ("data", '{"spec": "digits", "val_fraction": true}', "data 'val_fraction' must be a number"),
    ("training", '"finished"', "'training' must be an object, found str"),
    ("training", '{"status": 3}', "training 'status' must be a string"),
    ("class_names", "[1, 2]", "'class_names' must be a list of at most 1000 strings"),
    ("class_names", '["a\\u001b[2J", "b"]', "'class_names' must be a list of at most 1000 strings"),
])
def test_F44_metadata_of_the_wrong_type_or_range(ckpt, capsys, field, value, msg):
    _rewrite(ckpt, meta=lambda m: m.__setitem__(field, value))
    with pytest.raises(CheckpointError, match="invalid metadata: " + msg):
        load(ckpt)
    code, lines = run_cli(capsys, "info", ckpt)
    assert code == 2 and len(lines) == 1 and "invalid metadata" in lines[0]


def test_F58_hostile_text_and_duplicate_names_in_a_checkpoint(ckpt, capsys):
    raw = ckpt.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = raw[8 : 8 + n].decode()
    first = re.search(r'"([^"_][^"]*)":\{"dtype"', header).group(1)
    # the same tensor named twice: json would keep the last silently; safetensors refuses, so do we
    dup = header.replace("{", "{" + f'"{first}":' + re.search(r'"' + re.escape(first) + r'":(\{[^}]*\})',
                                                                      header).group(1) + ",", 1)
    dup = dup.encode()
    ckpt.write_bytes(struct.pack("<Q", len(dup)) + dup + raw[8 + n :])
    with pytest.raises(CheckpointError, match="names .* twice"):
        load(ckpt)
    # a tensor name of control characters and 10,000 letters: escaped and shortened in the message
    from latent_explorer.models.errors import shown

    evil = "\x1b[2J\x1b[31mOWNED\n" + "x" * 10_000
    assert "\x1b" not in shown(evil) and "\n" not in shown(evil) and len(shown(evil)) < 100


@pytest.mark.parametrize("field, value, msg", [
    ("latent_dim", True, "model config 'latent_dim' must be int, not true"),
    ("n_critic", True, "model config 'n_critic' must be int, not true"),
    ("beta", False, "model config 'beta' must be float, not false"),
    ("class_names", ["ok", "\x1b]0;pwned\x07"], "class names must be a list of short text"),
])
def test_F59_booleans_are_not_numbers_and_names_are_short_text(tmp_path, field, value, msg):
    kind = "wgan" if field == "n_critic" else "vae"
    ck = save(tiny_model(kind), tmp_path / "m.safetensors")

    def change(m):
        config = json.loads(m["config"])
        config[field] = value
        m["config"] = json.dumps(config)

    _rewrite(ck, meta=change)
    with pytest.raises(CheckpointError, match=re.escape(msg)):
        load(ck)


def test_F66_a_classifier_file_that_is_not_one(tmp_path, ckpt):
    from latent_explorer.models.analysis.classifier import load_classifier, save_classifier, train_classifier
    from latent_explorer.models.progress import run_to_end

    with pytest.raises(CheckpointError, match="not a Latent Explorer classifier"):
        load_classifier(ckpt)  # a model checkpoint
    net = run_to_end(train_classifier(load_dataset("digits"), epochs=1))
    path = save_classifier(net, tmp_path / "c.safetensors")
    _raw = path.read_bytes()
    from safetensors.torch import save as st_save

    n = struct.unpack("<Q", _raw[:8])[0]
    meta = json.loads(_raw[8 : 8 + n])["__metadata__"]
    config = json.loads(meta["config"])
    config["heads"] = {"label": ["a", "b"]}  # says 2 classes, the weights have 10
    meta["config"] = json.dumps(config)
    path.write_bytes(st_save({k: v.contiguous() for k, v in net.state_dict().items()}, metadata=meta))
    with pytest.raises(CheckpointError, match="its weights do not match its config"):
        load_classifier(path)


def test_F70_an_oversized_sidecar(tmp_path, capsys):
    import zipfile

    g = tmp_path / "g.pt"
    with zipfile.ZipFile(g, "w") as z:
        z.writestr("g/code/__torch__.py", "def forward(self, z):\n    return z\n")
        z.writestr("g/data.pkl", b"")
    (tmp_path / "g.pt.json").write_text('{"latent_dim": 2, "image_shape": [1, 8, 8], "pad": "' + "x" * 3_000_000
                                        + '"}')
    code, lines = run_cli(capsys, "info", g)
    assert code == 2 and len(lines) == 1 and "is not a sidecar (at most 1 MB)" in lines[0]


def test_F74_sample_output_that_is_not_a_png(tmp_path, capsys, ckpt):
    before = ckpt.read_bytes()
    for out in (ckpt, tmp_path / "grid.jpg", tmp_path):
        code, lines = run_cli(capsys, "sample", ckpt, "--n", "4", "--out", out)
        assert code == 2 and len(lines) == 1 and "ending in .png" in lines[0]
    assert ckpt.read_bytes() == before  # the trained model is never replaced by a picture
    code, _ = run_cli(capsys, "sample", ckpt, "--n", "4", "--out", tmp_path / "grid.png")
    assert code == 0 and Image.open(tmp_path / "grid.png").format == "PNG"


def test_F80_metadata_that_inflates_in_memory(tmp_path, capsys):
    """A 90 MB header of 30 million empty objects took 3.4 GB and 28 s to open; now it is refused unread."""
    big = _with_training_metadata(tmp_path / "big.safetensors", '{"history": [' + ",".join(["{}"] * 30_000_000) + "]}")
    small = _with_training_metadata(tmp_path / "small.safetensors",
                                    '{"history": [' + ",".join(["{}"] * 2_000_000) + "]}")
    for path, says in ((big, "header length 90"), (small, "its 'training' metadata is 6,000,014 characters")):
        code, err = _address_space_limited(f"from latent_explorer.models import load\nload({str(path)!r})")
        assert code == 1 and "CheckpointError" in err and says in err and "MemoryError" not in err, err[-500:]
        code, lines = run_cli(capsys, "info", path)
        assert code == 2 and len(lines) == 1 and says in lines[0]
    assert load(VAE2D).meta["training"]["status"] == "finished"  # a real history loads as before


def test_F81_a_diffusers_folder_that_cannot_be_honoured(tmp_path, capsys):
    """Each fault of a diffusers folder: one line, exit 2, nothing unpickled; the good folder opens."""
    pytest.importorskip("diffusers")
    import diffusers

    from tests.models.diffusers_nets import _unet

    good = tmp_path / "good"
    _unet().save_pretrained(good)
    diffusers.DDIMScheduler(num_train_timesteps=100).save_pretrained(good)

    def variant(name, edit):
        d = tmp_path / name
        shutil.copytree(good, d)
        edit(d)
        return d

    def set_config(d, file="config.json", **change):
        (d / file).write_text(json.dumps({**json.loads((d / file).read_text()), **change}))

    cases = [
        (variant("empty", lambda d: [f.unlink() for f in d.glob("*.json")]), "no config.json or model_index.json"),
        (variant("garbled", lambda d: (d / "config.json").write_text("{\"_class_name\": ")), "not valid JSON"),
        (variant("other", lambda d: set_config(d, _class_name="ControlNetModel")), "a ControlNetModel; only"),
        (variant("pickled", lambda d: ((d / "diffusion_pytorch_model.safetensors").rename(
            d / "diffusion_pytorch_model.bin"))), "only pickle weights"),
        (variant("misfit", lambda d: set_config(d, block_out_channels=[12, 16])), "cannot load the UNet2DModel"),
        (variant("v", lambda d: set_config(d, "scheduler_config.json", prediction_type="v_prediction")),
         "prediction_type 'v_prediction'"),
    ]
    for folder, says in cases:
        code, lines = run_cli(capsys, "info", folder)
        assert code == 2 and len(lines) == 1 and says in lines[0], (folder.name, lines)
    assert (tmp_path / "pickled" / "diffusion_pytorch_model.bin").read_bytes()[:1] != b""  # left as it was
    code, lines = run_cli(capsys, "sample", good, "--n", "4", "--sampler", "ddim", "--steps", "3", "--out",
                          tmp_path / "g.png")
    assert code == 0 and (tmp_path / "g.png").is_file()


def test_F82_an_onnx_generator_that_does_not_fit(tmp_path, capsys):
    pytest.importorskip("onnx")
    from tests.models.onnx_graphs import make_onnx

    cases = [(make_onnx(tmp_path / "rank.onnx", input_rank=4)[0], "has rank 4 (n×8×1×1)"),
             (make_onnx(tmp_path / "gen.onnx", sidecar={"latent_dim": 16, "image_shape": [3, 4, 4]})[0],
              "gen.onnx.json says latent_dim 16, but the graph takes z of 8 numbers"),
             (make_onnx(tmp_path / "lies.onnx", sidecar={"latent_dim": 8, "image_shape": [1, 8, 8]})[0],
              "another shape than the sidecar's (1, 8, 8)")]
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a graph")
    (tmp_path / "junk.onnx.json").write_text(json.dumps({"latent_dim": 8, "image_shape": [3, 4, 4]}))
    cases.append((tmp_path / "junk.onnx", "not a loadable ONNX graph"))
    for path, says in cases:
        code, lines = run_cli(capsys, "sample", path, "--n", "4", "--out", tmp_path / "s.png")
        assert code == 2 and len(lines) == 1 and says in lines[0], (path.name, lines)
    assert not (tmp_path / "s.png").exists()
    good, _ = make_onnx(tmp_path / "good.onnx")
    code, _ = run_cli(capsys, "sample", good, "--n", "4", "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").is_file()
