"""Fuzz meaning, not bytes (issue N): well-formed files and command lines whose *values* are hostile — a config
field of the wrong type or an absurd size, metadata of the wrong shape, .npz and IDX data with hostile
shapes, dtypes and values, number flags out of range. Each must end in a loaded model / data / exit 0, or one
clear error (CheckpointError, DataError, exit 2), quickly and without a big allocation (the parameter budget
and the data budget refuse before anything is built)."""

import json
import math
import resource
import struct

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latent_explorer.models import CheckpointError, DataError, load, load_dataset, save
from latent_explorer.models.cli import main as cli
from tests.models.helpers import tiny_model

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

hostile_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.sampled_from([0, 1, 2, 3, 7, 8192, 10**9]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "nan", "1e999", "vae", "ddpm", "../../etc/passwd", "\x1b[2J"]),
)
hostile_value = st.one_of(hostile_scalar, st.lists(hostile_scalar, max_size=8),
                          st.dictionaries(st.text(max_size=8), hostile_scalar, max_size=4))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write(path, model, meta_change):
    from safetensors.torch import save as st_save

    save(model, path)
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    meta = json.loads(raw[8 : 8 + n])["__metadata__"]
    meta_change(meta)
    path.write_bytes(st_save({k: v.contiguous() for k, v in model.state_dict().items()}, metadata=meta))


@pytest.fixture(scope="module")
def models():
    return {k: tiny_model(k) for k in ("vae", "gan", "ddpm", "aae")}


@FUZZ
@given(kind=st.sampled_from(["vae", "gan", "ddpm", "aae"]), field=st.text(min_size=1, max_size=14) | st.sampled_from(
    ["latent_dim", "image_shape", "num_classes", "class_names", "hidden", "beta", "noise_std", "width", "gan_loss",
     "n_critic", "gp_weight", "timesteps", "schedule", "ema_decay", "cond_drop", "kind"]), value=hostile_value)
def test_a_config_field_with_any_value_loads_or_is_one_clear_error(tmp_path_factory, models, kind, field, value):
    path = tmp_path_factory.mktemp("c") / "m.safetensors"

    def change(meta):
        config = json.loads(meta["config"])
        config[field] = value
        meta["config"] = json.dumps(config, allow_nan=True)

    _write(path, models[kind], change)
    before = _peak_mb()
    try:
        model = load(path)
    except CheckpointError as e:
        assert str(e) and "\n" not in str(e) and len(str(e)) < 2000
    else:
        assert isinstance(model, torch.nn.Module)
    assert _peak_mb() - before < 300  # no model of a hostile size was built


@FUZZ
@given(key=st.sampled_from(["data", "training", "class_names", "format_version", "kind", "config", "format"]),
       value=hostile_value)
def test_metadata_with_any_value_loads_or_is_one_clear_error(tmp_path_factory, models, key, value):
    path = tmp_path_factory.mktemp("m") / "m.safetensors"
    _write(path, models["vae"], lambda m: m.__setitem__(key, json.dumps(value, allow_nan=True)))
    try:
        model = load(path)
    except CheckpointError as e:
        assert str(e) and len(str(e)) < 2000
    else:
        assert model.meta is not None


dtypes = st.sampled_from([np.uint8, np.uint16, np.int8, np.int32, np.int64, np.uint64, np.float16, np.float32,
                          np.float64, np.bool_, np.complex64])


@FUZZ
@given(shape=st.lists(st.integers(0, 40), min_size=0, max_size=5), dtype=dtypes,
       fill=st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-300, 70000)),
       labels=st.one_of(st.none(), st.lists(st.integers(-5, 2**64 - 1), min_size=0, max_size=12)),
       label_dtype=st.sampled_from([np.int64, np.uint64, np.int8, np.float32, np.bool_]))
def test_an_npz_with_any_shape_dtype_and_values(tmp_path_factory, shape, dtype, fill, labels, label_dtype):
    path = tmp_path_factory.mktemp("n") / "d.npz"
    with np.errstate(all="ignore"):
        images = np.full(shape, fill).astype(dtype) if math.prod(shape) < 100_000 else np.zeros(1, dtype)
    arrays = {"images": images}
    if labels is not None:
        try:
            with np.errstate(all="ignore"):
                arrays["labels"] = np.array(labels).astype(label_dtype)
        except (OverflowError, ValueError):
            arrays["labels"] = np.array(labels, dtype=np.uint64)
    np.savez(path, **arrays)
    try:
        data = load_dataset(str(path))
    except DataError as e:
        assert str(e) and len(str(e)) < 2000
    else:
        assert data.images.dtype == np.float32 and 0 <= data.images.min() and data.images.max() <= 1
        assert data.labels is None or (data.labels.min() >= 0 and data.labels.max() < 1000)


@FUZZ
@given(dims=st.lists(st.integers(0, 2**32 - 1), min_size=0, max_size=4), magic=st.sampled_from([0x08, 0x09, 0x0D]),
       body=st.integers(0, 64))
def test_idx_headers_with_any_sizes(tmp_path_factory, dims, magic, body):
    path = tmp_path_factory.mktemp("i") / "x-images-idx3-ubyte"
    path.write_bytes(struct.pack(">HBB", 0, magic, len(dims)) + b"".join(struct.pack(">I", d) for d in dims)
                     + bytes(body))
    try:
        data = load_dataset(str(path))
    except DataError as e:
        assert str(e) and len(str(e)) < 2000
    else:
        assert len(data) == dims[0]


number = st.one_of(st.integers(-2**70, 2**70).map(str), st.floats(allow_nan=True, allow_infinity=True).map(str),
                   st.sampled_from(["", "x", "1e400", "-0", "true", "0x10", "1_000"]))


@FUZZ
@given(flag=st.sampled_from(["--n", "--seed", "--steps", "--eta", "--guidance", "--scale", "--class"]),
       value=number)
def test_sample_with_any_number_exits_cleanly(tmp_path_factory, capsys, flag, value):
    from pathlib import Path

    out = tmp_path_factory.mktemp("s") / "g.png"
    model = Path(__file__).resolve().parents[1] / "assets" / "digits-vae2d.safetensors"
    code = cli(["sample", str(model), "--out", str(out), flag, value])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    if code == 2:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1 and not out.exists()

