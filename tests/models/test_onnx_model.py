"""ONNX generators: a graph taking z and returning images opens with its sidecar (no trust asked: no code
runs), decodes as the graph computes, and a graph or sidecar that does not fit is refused by name."""

import json

import numpy as np
import pytest
import torch

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from models import CheckpointError, load  # noqa: E402


def make_onnx(path, latent=8, shape=(3, 4, 4), batch="n", input_rank=2, seed=0, sidecar=None):
    """z (batch, latent) -> tanh(z W + b) reshaped to (batch, *shape); the sidecar says what it is given."""
    rng = np.random.default_rng(seed)
    out = int(np.prod(shape))
    w = numpy_helper.from_array(rng.normal(size=(latent, out)).astype(np.float32), "W")
    b = numpy_helper.from_array(rng.normal(size=(out,)).astype(np.float32), "b")
    target = numpy_helper.from_array(np.array([-1, *shape], np.int64), "shape")
    in_shape = [batch, latent] if input_rank == 2 else [batch, latent, 1, 1]
    nodes = [helper.make_node("Reshape", ["z", "flat"], ["z2"])] if input_rank != 2 else []
    flat = [numpy_helper.from_array(np.array([-1, latent], np.int64), "flat")] if input_rank != 2 else []
    nodes += [helper.make_node("MatMul", ["z2" if input_rank != 2 else "z", "W"], ["h"]),
              helper.make_node("Add", ["h", "b"], ["h2"]), helper.make_node("Tanh", ["h2"], ["t"]),
              helper.make_node("Reshape", ["t", "shape"], ["x"])]
    graph = helper.make_graph(nodes, "gen", [helper.make_tensor_value_info("z", TensorProto.FLOAT, in_shape)],
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *shape])],
                              [w, b, target, *flat])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    side = sidecar if sidecar is not None else {"latent_dim": latent, "image_shape": list(shape)}
    (path.parent / (path.name + ".json")).write_text(json.dumps(side))
    return path, rng


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
