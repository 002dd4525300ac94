"""ONNX generators: a graph taking z and returning images opens with its sidecar (no trust asked: no code
runs), decodes as the graph computes, and a graph or sidecar that does not fit is refused by name."""

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from latent_explorer.models import CheckpointError, load  # noqa: E402
from tests.models.onnx_graphs import make_onnx  # noqa: E402


def test_an_onnx_generator_decodes_as_its_graph_computes(tmp_path):
    path, _ = make_onnx(tmp_path / "gen.onnx")
    gen = load(path)  # no trust asked: a graph, not code
    assert gen.kind == "onnx" and gen.latent_dim == 8 and gen.image_shape == (3, 4, 4)
    assert not gen.capabilities.encoder and gen.capabilities.decodes_z and not gen.spec.trainable
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(8, 48)).astype(np.float32), rng.normal(size=(48,)).astype(np.float32)
    z = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    want = (np.tanh(z.numpy() @ w + b).reshape(5, 3, 4, 4) + 1) / 2  # output_range [-1, 1] -> [0, 1]
    assert np.abs(gen.decode(z).numpy() - want).max() < 1e-5
    assert gen.sample(3, generator=torch.Generator().manual_seed(0)).shape == (3, 3, 4, 4)


def test_a_graph_made_for_one_z_at_a_time_decodes_a_batch(tmp_path):
    path, _ = make_onnx(tmp_path / "one.onnx", batch=1)
    gen = load(path)
    z = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(gen.decode(z)[2], gen.decode(z[2:3])[0])


def test_graphs_and_sidecars_that_do_not_fit_are_refused(tmp_path):
    cases = [
        (make_onnx(tmp_path / "rank.onnx", input_rank=4)[0], "has rank 4 (n×8×1×1); a generator takes z of shape"),
        (make_onnx(tmp_path / "width.onnx", sidecar={"latent_dim": 16, "image_shape": [3, 4, 4]})[0],
         "width.onnx.json says latent_dim 16, but the graph takes z of 8 numbers"),
        (make_onnx(tmp_path / "lies.onnx", sidecar={"latent_dim": 8, "image_shape": [1, 8, 8]})[0],
         "makes images of another shape than the sidecar's (1, 8, 8)"),
        (make_onnx(tmp_path / "bare.onnx")[0], "an ONNX generator needs a JSON sidecar"),
    ]
    (tmp_path / "bare.onnx.json").unlink()
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a graph at all")
    (tmp_path / "junk.onnx.json").write_text(json.dumps({"latent_dim": 8, "image_shape": [3, 4, 4]}))
    cases.append((tmp_path / "junk.onnx", "junk.onnx: not a loadable ONNX graph"))
    for path, says in cases:
        with pytest.raises(CheckpointError) as e:
            load(path)
        assert says in str(e.value) and "\n" not in str(e.value), (path.name, str(e.value))
