"""External generators as ONNX graphs (run by onnxruntime): ``gen.onnx`` taking z (n, latent_dim) and
returning images (n, C, H, W), with the same JSON sidecar as a TorchScript generator::

    {"latent_dim": 64, "image_shape": [3, 32, 32], "output_range": [-1, 1], "class_names": []}

An ONNX file is a graph of standard operators, not code: it opens without asking (unlike TorchScript). What
the graph declares is checked against the sidecar before anything runs (one input of rank 2, its width), and
one decode of z = 0 checks the images' shape: a sidecar that lies is refused with both shapes named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError
from .external import ExternalConfig, ExternalGenerator, _probe, file_digest, read_sidecar
from .registry import Capabilities, KindSpec, TrainDefaults, register

MAX_ONNX_BYTES = 2 << 30


class _Session(nn.Module):
    """An onnxruntime session called as a module: z (n, D) tensor -> images tensor (its raw output)."""

    def __init__(self, session, fixed_batch: int | None):
        super().__init__()
        self.session, self.fixed_batch = session, fixed_batch
        self.input = session.get_inputs()[0].name

    def forward(self, z):
        z = np.ascontiguousarray(z.detach().cpu().numpy(), np.float32)
        if self.fixed_batch == 1 and len(z) != 1:  # a graph exported for one z at a time
            outs = [self.session.run(None, {self.input: z[i : i + 1]})[0] for i in range(len(z))]
            out = np.concatenate(outs) if outs else np.zeros((0,), np.float32)
        else:
            out = self.session.run(None, {self.input: z})[0]
        return torch.from_numpy(np.asarray(out, np.float32))


def load_onnx(path: Path, device="cpu", probe: bool = True) -> ExternalGenerator:
    import onnxruntime as ort

    path = Path(path)
    if path.stat().st_size > MAX_ONNX_BYTES:
        raise CheckpointError(f"{path.name}: {path.stat().st_size:,} bytes, more than a generator we can open")
    config, side = read_sidecar(path, "onnx", "an ONNX generator")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only: a user sees our message, not the runtime's log
    try:
        session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(f"{path.name}: not a loadable ONNX graph ({first})") from None
    inputs = session.get_inputs()
    if len(inputs) != 1:
        raise CheckpointError(f"{path.name}: the graph takes {len(inputs)} inputs; a generator takes one, z")
    shape = inputs[0].shape
    if len(shape) != 2:
        raise CheckpointError(f"{path.name}: the graph's input {inputs[0].name!r} has rank {len(shape)} "
                              f"({_dims(shape)}); a generator takes z of shape (n, latent_dim)")
    if isinstance(shape[1], int) and shape[1] != config.latent_dim:
        raise CheckpointError(f"{side.name} says latent_dim {config.latent_dim}, but the graph takes z of "
                              f"{shape[1]} numbers")
    if "float" not in inputs[0].type:
        raise CheckpointError(f"{path.name}: the graph's input is {inputs[0].type}, not float numbers")
    gen = ExternalGenerator(config, _Session(session, shape[0] if isinstance(shape[0], int) else None))
    if probe:
        _probe(gen, path)
    gen.meta = {"path": str(path), "kind": "onnx", "data": {}, "class_names": list(config.class_names),
                "training": {}, "config": {"latent_dim": config.latent_dim, "image_shape": list(config.image_shape),
                                           "output_range": list(config.output_range)},
                "sidecar": str(side), "sha256": file_digest(path)}
    return gen


def _dims(shape) -> str:
    return "×".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)


register(KindSpec("onnx", "External generator (ONNX)", ExternalGenerator, ExternalConfig, TrainDefaults(1, 1, 1e-3),
                  Capabilities(directions=True, slow_decode=True), trainable=False, latent_dim=None,
                  description="a generator graph from elsewhere, run by onnxruntime; no code runs"))
