"""'When things go wrong', continued (issue U): what a file says is read typed (models.io.schema) — diffusers
configs, sidecars, a checkpoint's training summary. Rows F117 on, one test per row; property-based tests
generate hostile documents through the schema layer and through each reader."""

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latent_explorer.models import CheckpointError, load
from latent_explorer.models.io.schema import (
    Bool,
    Either,
    Float,
    Int,
    List,
    Null,
    Object,
    SchemaError,
    Str,
    check,
    loads,
)
from tests.limits import address_space_limited

diffusers = pytest.importorskip("diffusers")


def _cli(capsys, *args):
    from latent_explorer.models.cli import main as cli

    code = cli([str(a) for a in args])
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


@pytest.fixture(scope="module")
def vae_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vae")
    torch.manual_seed(0)
    diffusers.AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
                            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4,
                            sample_size=16).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def unet_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unet")
    torch.manual_seed(0)
    diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, block_out_channels=(8, 16),
                          layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                          up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4).save_pretrained(folder)
    diffusers.DDPMScheduler(num_train_timesteps=50).save_pretrained(folder)
    return folder


def _edited(src: Path, dest: Path, name: str, **changes) -> Path:
    """A copy of a diffusers folder whose ``name`` config has ``changes`` (a raw string replaces the file)."""
    import shutil

    shutil.copytree(src, dest)
    cfg = json.loads((dest / name).read_text())
    text = changes.pop("_raw", None)
    cfg.update(changes)
    (dest / name).write_text(text if text is not None else json.dumps(cfg))
    return dest


def _refused(path, *says):
    with pytest.raises(CheckpointError) as e:
        load(path)
    msg = str(e.value)
    assert "\n" not in msg and all(s in msg for s in says), msg
    return msg


@pytest.mark.parametrize("size, says", [([8, 8, 8], "sample_size is [8, 8, 8]"), (None, "sample_size is null"),
                                        ("16", 'sample_size is "16"'), (0, "sample_size is 0")])
def test_F117_a_diffusers_config_whose_sample_size_is_not_a_size(vae_folder, tmp_path, size, says):
    folder = _edited(vae_folder, tmp_path / "v", "config.json", sample_size=size)
    msg = _refused(folder, "config.json", says, "expected a whole number from 1 to 4,096")
    assert "or a list of 2 items" in msg


@pytest.mark.parametrize("factor, says", [("abc", 'scaling_factor is "abc"'), (0, "scaling_factor is 0"),
                                          (-1.5, "scaling_factor is -1.5"), (1e400, "scaling_factor is Infinity")])
def test_F118_a_vae_whose_scaling_factor_is_not_a_scale(vae_folder, tmp_path, factor, says):
    """0 decoded every latent to one grey image and the grid was 'saved'; text raised in float()."""
    folder = _edited(vae_folder, tmp_path / "v", "config.json", scaling_factor=factor)
    if factor == 1e400:  # json.dumps writes Infinity; a file may too
        assert "Infinity" in (folder / "config.json").read_text()
    _refused(folder, "config.json", says, "expected a finite number above 0")


def test_F119_a_scheduler_config_that_would_allocate_or_cannot_be_read(unet_folder, tmp_path):
    """num_train_timesteps 1e9 made diffusers allocate 4 GB before any range check; clip_sample_range "x"
    raised in float(). Both are one line now, the first under a 1.5 GB address-space cap."""
    folder = _edited(unet_folder, tmp_path / "u1", "scheduler_config.json", clip_sample_range="x")
    _refused(folder, "scheduler_config.json", 'clip_sample_range is "x"')
    folder = _edited(unet_folder, tmp_path / "u2", "scheduler_config.json", num_train_timesteps=1e9)
    code, err = address_space_limited(
        "from latent_explorer.models import load, CheckpointError\n"
        f"try:\n    load({str(folder)!r})\nexcept CheckpointError as e:\n    print(e, file=sys.stderr)\n"
        "    sys.exit(3)\n", 1.5)
    assert code == 3 and "num_train_timesteps is 1000000000" in err and "100,000" in err, err[-2000:]
    folder = _edited(unet_folder, tmp_path / "u3", "scheduler_config.json", trained_betas=[0.5, "x"])
    _refused(folder, "scheduler_config.json", "trained_betas is")


def test_F120_a_config_whose_class_is_a_list_or_that_nests_without_end(vae_folder, tmp_path):
    folder = _edited(vae_folder, tmp_path / "v1", "config.json", _class_name=["AutoencoderKL"])
    _refused(folder, "config.json", '_class_name is ["AutoencoderKL"]', "expected a string")
    deep = "[" * 100_000 + "]" * 100_000
    folder = _edited(vae_folder, tmp_path / "v2", "config.json", _raw='{"_class_name": "AutoencoderKL", "x": '
                     + deep + "}")
    _refused(folder, "config.json", "nested more than 32 levels")
    index = tmp_path / "pipe"
    index.mkdir()
    (index / "model_index.json").write_text('{"unet": ' + deep + "}")
    _refused(index, "model_index.json", "nested more than")


def _sidecar_case(tmp_path, text):
    import onnx
    from onnx import TensorProto, helper

    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])
    graph = helper.make_graph([helper.make_node("Identity", ["z"], ["y"])], "g", [z], [y])
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph), str(path))
    (tmp_path / "g.onnx.json").write_text(text)
    return path


@pytest.mark.parametrize("text, says", [
    ('{"latent_dim": 4, "image_shape": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested more than 32 levels"),
    ('{"latent_dim": 1e400, "image_shape": [1, 2, 2]}', "latent_dim is Infinity"),
    ('{"latent_dim": 4, "image_shape": [1, 2, 1e400]}', "image_shape is [1, 2, Infinity]"),
    ('{"latent_dim": 4, "image_shape": [1, 2, 2], "class_names": ["a\\u001b]0;x"]}', "class_names is"),
    ('{"latent_dim": "4", "image_shape": [1, 2, 2]}', 'latent_dim is "4"'),
])
def test_F121_a_generators_sidecar_that_nests_without_end_or_holds_no_number(tmp_path, capsys, text, says):
    pytest.importorskip("onnx")
    path = _sidecar_case(tmp_path, text)
    msg = _refused(path, "g.onnx.json", says)
    assert "\x1b" not in msg
    code, lines = _cli(capsys, "info", path)
    assert code == 2 and len(lines) == 1 and says in lines[0] and "Traceback" not in lines[0]


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    from latent_explorer.models.cli import main as cli

    out = tmp_path_factory.mktemp("m") / "m.safetensors"
    assert cli(["train", "--model", "vae", "--data", "digits", "--latent-dim", "2", "--max-steps", "2", "--quiet",
                "--out", str(out)]) == 0
    return out


def _with_training(src: Path, dest: Path, **training) -> Path:
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    t = json.loads(meta["training"])
    t.update(training)
    meta["training"] = json.dumps(t)
    save_file(tensors, str(dest), metadata=meta)
    return dest


@pytest.mark.parametrize("steps, says", [("abc", 'found "abc"'), ("1e999", "found Infinity"),
                                         ("[1, 2]", "found [1, 2]"), ("-3", "found -3")])
def test_F122_resuming_a_checkpoint_whose_step_count_is_not_a_count(small_model, tmp_path, capsys, steps, says):
    """`train --resume` of a checkpoint whose training.steps was "abc", 1e999 or a list ended in a traceback."""
    value = json.loads(steps) if steps != "abc" else steps
    if steps == "1e999":
        value = math.inf
    bad = _with_training(small_model, tmp_path / "bad.safetensors", steps=value)
    code, lines = _cli(capsys, "train", "--model", "vae", "--data", "digits", "--max-steps", "1", "--quiet",
                       "--resume", bad, "--out", tmp_path / "next.safetensors")
    assert code == 2 and len(lines) == 1 and "bad.safetensors" in lines[0] and says in lines[0], lines
    assert "invalid metadata: training 'steps' must be a whole number from 0 to" in lines[0]
    assert not (tmp_path / "next.safetensors").exists()
    good = _with_training(small_model, tmp_path / "good.safetensors", steps=7)
    assert load(good).meta["training"]["steps"] == 7


# -- property-based: any document through the schema layer, and through each reader ---------------------
json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=12)
FIELDS = {"i": Int(1, 10, default=3), "f": Float(0.0, 1.0, above=True, default=0.5),
          "s": Str(5, default="x", printable=True), "b": Bool(default=False),
          "l": List(Int(0, 3), 2, 2, default=[0, 0]), "e": Either((Int(1, 4), Null()), default=None),
          "o": Object({"k": Int(0, 1, default=0)}, default={"k": 0})}


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(FIELDS) + ["other"]), json_values, max_size=8))
def test_the_schema_returns_typed_values_or_one_line_naming_the_field(doc):
    try:
        out = check(doc, FIELDS, "f.json")
    except SchemaError as e:
        msg = str(e)
        assert msg.startswith("f.json: ") and "\n" not in msg and any(f"{k} is" in msg for k in FIELDS), msg
        return
    assert type(out["i"]) is int and 1 <= out["i"] <= 10
    assert type(out["f"]) is float and 0 < out["f"] <= 1 and math.isfinite(out["f"])
    assert isinstance(out["s"], str) and len(out["s"]) <= 5 and out["s"].isprintable()
    assert type(out["b"]) is bool and [type(v) for v in out["l"]] == [int, int]
    assert out["e"] is None or type(out["e"]) is int
    assert set(out) == set(FIELDS)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='[]{}",:0123456789e.-truefalsn \\', max_size=400))
def test_any_text_is_json_or_one_line(text):
    try:
        loads(text, "x.json", max_depth=8)
    except SchemaError as e:
        assert str(e).startswith("x.json: ") and "\n" not in str(e)


def _depth_by_hand(text: str) -> int:
    """The nesting depth as a character-by-character scanner counts it (the reference for the fast one)."""
    deepest = depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet='[]{}"\\a,:\n', max_size=60))
def test_the_depth_counted_before_parsing_is_the_scanners(text):
    """Strings (escapes and unterminated ones included) never count; the regular-expression counter that
    lists a folder of 200 checkpoints quickly agrees with a plain scanner on any text."""
    from latent_explorer.models.io.schema import _depth

    assert _depth(text) == _depth_by_hand(text)


_config_docs = st.fixed_dictionaries({}, optional={
    "sample_size": json_values, "scaling_factor": json_values, "in_channels": json_values,
    "latent_channels": json_values, "block_out_channels": json_values, "_class_name": json_values})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_config_docs)
def test_any_diffusers_config_opens_or_is_refused_in_one_line(vae_folder, tmp_path, doc):
    """Whatever the fields we read hold, load() opens the model or raises one CheckpointError line."""
    import shutil

    folder = tmp_path / "case"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(vae_folder, folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.update(doc)
    (folder / "config.json").write_text(json.dumps(cfg))
    try:
        model = load(folder)
    except CheckpointError as e:
        assert "\n" not in str(e)
        return
    assert model.latent_dim >= 1 and math.isfinite(model.config.scaling_factor) and model.config.scaling_factor > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.fixed_dictionaries({}, optional={"latent_dim": json_values, "image_shape": json_values,
                                           "output_range": json_values, "class_names": json_values}))
def test_any_sidecar_is_read_or_refused_in_one_line(tmp_path, doc):
    pytest.importorskip("onnx")
    from latent_explorer.models.io.external import read_sidecar

    path = tmp_path / "g.onnx"
    path.write_bytes(b"")
    (tmp_path / "g.onnx.json").write_text(json.dumps(doc))
    try:
        config, _ = read_sidecar(path, "onnx", "an ONNX generator")
    except CheckpointError as e:
        assert "\n" not in str(e) and "g.onnx.json" in str(e)
        return
    assert 1 <= config.latent_dim and len(config.image_shape) == 3


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["status", "steps", "epochs_done", "record", "x"]), json_values, max_size=5))
def test_any_training_summary_is_typed_or_refused_in_one_line(training):
    from latent_explorer.models.io.checkpoint import _checked_metadata

    meta = {"training": json.dumps(training, allow_nan=True)}
    try:
        out = _checked_metadata(meta, Path("m.safetensors"))
    except CheckpointError as e:
        assert str(e).startswith("m.safetensors: ") and "\n" not in str(e)
        return
    steps, status = out["training"].get("steps", 0), out["training"].get("status", "")
    assert type(steps) is int and steps >= 0 and isinstance(status, str)


def test_F123_a_small_config_that_describes_a_huge_network(vae_folder, tmp_path):
    """diffusers builds the network its config describes before it reads the weights: a 1 KB config.json with
    four blocks of 4,096 channels asked for 23 GB. The network is counted on the meta device first."""
    folder = _edited(vae_folder, tmp_path / "v", "config.json", block_out_channels=[4096] * 4,
                     down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    code, err = address_space_limited(
        "from latent_explorer.models import load, CheckpointError\n"
        f"try:\n    load({str(folder)!r})\nexcept CheckpointError as e:\n    print(e, file=sys.stderr)\n"
        "    sys.exit(3)\n", 1.5)
    assert code == 3 and "v: cannot load the AutoencoderKL: its config.json describes" in err, err
    assert "refused before it was built" in err
    folder = _edited(vae_folder, tmp_path / "w", "config.json", down_block_types=["NoSuchBlock2D"] * 2)
    _refused(folder, "config.json: does not describe a AutoencoderKL")


def _meta_edited(src: Path, dest: Path, **fields) -> Path:
    """A copy of a checkpoint whose metadata fields are replaced by the given raw strings."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    meta.update(fields)
    save_file(tensors, str(dest), metadata=meta)
    return dest


def test_F124_a_cached_yardstick_whose_config_nests_without_end(tmp_path):
    """The classifier cache is read like any file: a config nested 100,000 deep is one line (it was parsed
    by the bare json module), and the yardstick is trained again rather than the run stopping."""
    from safetensors.torch import save_file

    from latent_explorer.models.analysis.classifier import FORMAT, load_classifier

    bad = tmp_path / "c.safetensors"
    save_file({"w": torch.zeros(1)}, str(bad), metadata={"format": FORMAT, "config": "[" * 100_000 + "]" * 100_000})
    with pytest.raises(CheckpointError) as e:
        load_classifier(bad)
    assert "c.safetensors: not a valid classifier file" in str(e.value) and "nested more than" in str(e.value)


@pytest.mark.parametrize("key", ["data", "class_names", "training", "config"])
def test_F125_a_checkpoint_whose_metadata_nests_without_end(small_model, tmp_path, capsys, key):
    bad = _meta_edited(small_model, tmp_path / "deep.safetensors", **{key: "[" * 100_000 + "]" * 100_000})
    code, lines = _cli(capsys, "info", bad)
    assert code == 2 and len(lines) == 1 and f"deep.safetensors: the metadata field '{key}'" in lines[0]
    assert "nested more than 32 levels" in lines[0] and "Recursion" not in lines[0]


@pytest.mark.parametrize("training, says", [({"status": "x" * 10_000}, "'status' must be a string of at most 200"),
                                            ({"epochs_done": -1}, "'epochs_done' must be a whole number"),
                                            ({"record": ["a.record.safetensors"]}, "'record' must be a string")])
def test_F126_a_training_summary_of_the_wrong_types(small_model, tmp_path, capsys, training, says):
    bad = _with_training(small_model, tmp_path / "t.safetensors", **training)
    code, lines = _cli(capsys, "info", bad)
    assert code == 2 and len(lines) == 1 and "t.safetensors: invalid metadata: training " + says in lines[0]
    assert len(lines[0]) < 400  # the 10,000 characters are cut in the message


def test_F127_a_pipeline_index_of_20000_components(tmp_path):
    folder = tmp_path / "pipe"
    folder.mkdir()
    (folder / "model_index.json").write_text(json.dumps({f"part{i}": ["lib", f"Class{i}"] for i in range(20_000)}))
    msg = _refused(folder, "pipe: a pipeline of part0: Class0", "only a UNet2DModel or an AutoencoderKL")
    assert len(msg) < 600


def test_F128_a_config_with_a_million_layers_per_block(vae_folder, tmp_path):
    """Even on PyTorch's meta device a million layers are a million Python modules: the count is typed first."""
    folder = _edited(vae_folder, tmp_path / "v", "config.json", layers_per_block=1_000_000)
    code, err = address_space_limited(
        "from latent_explorer.models import load, CheckpointError\n"
        f"try:\n    load({str(folder)!r})\nexcept CheckpointError as e:\n    print(e, file=sys.stderr)\n"
        "    sys.exit(3)\n", 1.5)
    assert code == 3 and "layers_per_block is 1000000; expected a whole number from 1 to 16" in err, err[-1500:]


def test_F129_diffusers_weights_that_are_a_pipe(vae_folder, tmp_path):
    """A FIFO in place of diffusion_pytorch_model.safetensors: refused by stat, before anything opens it
    (a reader would wait for ever); in a child with a timeout so a regression fails instead of hanging."""
    import os
    import shutil
    import subprocess
    import sys

    folder = tmp_path / "v"
    shutil.copytree(vae_folder, folder)
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    os.mkfifo(folder / "diffusion_pytorch_model.safetensors")
    code = ("import sys\nfrom latent_explorer.models import load, CheckpointError\n"
            f"try:\n    load({str(folder)!r})\nexcept CheckpointError as e:\n    print(e, file=sys.stderr)\n"
            "    sys.exit(3)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       cwd=Path(__file__).resolve().parents[2])
    assert r.returncode == 3 and "not a regular file" in r.stderr, r.stderr[-1500:]
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    (folder / "diffusion_pytorch_model.safetensors").symlink_to("/proc/self/pagemap")
    _refused(folder, "a system file (/proc/")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.sampled_from(["latent_dim", "image_shape", "num_classes", "class_names", "beta", "kind",
                                        "hidden", "width"]), json_values, min_size=1, max_size=3))
def test_F130_any_model_config_in_a_checkpoint_opens_or_is_refused_in_one_line(small_model, tmp_path, change):
    """Hostile model configs, generated: the checkpoint opens (every value in range) or is refused with one
    line naming the file, never another exception."""
    from safetensors import safe_open

    with safe_open(str(small_model), "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    cfg.update(change)
    bad = _meta_edited(small_model, tmp_path / "h.safetensors", config=json.dumps(cfg, allow_nan=True))
    try:
        model = load(bad)
    except CheckpointError as e:
        assert str(e).startswith("h.safetensors") and "\n" not in str(e), str(e)
        return
    assert model.latent_dim >= 1
