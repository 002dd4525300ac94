"""ONNX graphs for tests (not a test module): a small generator z -> images with its sidecar."""

import json

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


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
