"""External generators as ONNX graphs (run by onnxruntime): ``gen.onnx`` taking z (n, latent_dim) and
returning images (n, C, H, W), with the same JSON sidecar as a TorchScript generator::

    {"latent_dim": 64, "image_shape": [3, 32, 32], "output_range": [-1, 1], "class_names": []}

An ONNX file is a graph of standard operators, not code: it opens without asking (unlike TorchScript). What
the graph declares is checked against the sidecar before anything runs (one input of rank 2, its width), and
one decode of z = 0 checks the images' shape: a sidecar that lies is refused with both shapes named. That
decode runs in a child process with a time and a memory limit (:mod:`models.io.probe`): a graph decides how long
it runs (a ``Loop`` of 10^15 iterations) and how much it allocates. ``info`` runs no decode at all.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latent_explorer.models.errors import CheckpointError
from latent_explorer.models.io.external import ExternalConfig, ExternalGenerator, read_bytes, read_sidecar
from latent_explorer.models.io.readers import Reader, register_reader
from latent_explorer.models.registry import Capabilities, KindSpec, TrainDefaults, register

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


def _session(name: str, data: bytes, folder: str | None, probe: bool = False):
    """An onnxruntime session of the graph in ``data`` (its external data, if any, read from ``folder`` only);
    for the probe's child, one thread and no log at all (our one line says what went wrong)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 4 if probe else 3  # errors only (none in the probe): a user sees our message
    if probe:
        opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    if folder is not None:
        opts.add_session_config_entry("session.model_external_initializers_file_folder_path", folder)
    try:
        return ort.InferenceSession(data, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
        first = str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        raise CheckpointError(f"{name}: not a loadable ONNX graph ({first})") from None


def generator_from_bytes(probe) -> ExternalGenerator:
    """A generator from the bytes a :class:`models.io.probe.Probe` carries (in its child process, one thread)."""
    session = _session(probe.name, probe.data, probe.folder, probe=True)
    batch = session.get_inputs()[0].shape[0]
    config = ExternalConfig(kind="onnx", image_shape=tuple(probe.image_shape), latent_dim=probe.latent_dim,
                            output_range=tuple(probe.output_range))
    return ExternalGenerator(config, _Session(session, batch if isinstance(batch, int) else None))


def load_onnx(path: Path, device="cpu", probe=True) -> ExternalGenerator:
    """Open an ONNX generator: the file is read once (a regular file, at most 2 GB), the graph's input checked
    against the sidecar; ``probe`` as in :func:`models.io.external.load_torchscript` (True: one decode of z = 0
    in a child process with a time and a memory limit; "later": left to the caller; False, ``info``: none)."""
    from latent_explorer.models.io.probe import LATER, Probe

    path = Path(path)
    data = read_bytes(path, MAX_ONNX_BYTES)
    config, side = read_sidecar(path, "onnx", "an ONNX generator")
    folder = str(path.absolute().parent)  # where its external data may be (as onnxruntime reads from a path)
    session = _session(path.name, data, folder)
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
    check = Probe("onnx", path.name, data, config.latent_dim, tuple(config.image_shape),
                  tuple(config.output_range), folder) if probe else None
    if check is not None and probe != LATER:  # the graph decides how long a decode takes: never here
        check.run()
    gen.pending_probe = check if probe == LATER else None
    gen.meta = {"path": str(path), "kind": "onnx", "data": {}, "class_names": list(config.class_names),
                "training": {}, "config": {"latent_dim": config.latent_dim, "image_shape": list(config.image_shape),
                                           "output_range": list(config.output_range)},
                "sidecar": str(side), "sha256": hashlib.sha256(data).hexdigest()}
    return gen


def _dims(shape) -> str:
    return "×".join(str(d) if isinstance(d, int) else str(d or "?") for d in shape)


register_reader(Reader("an ONNX graph", lambda path, head: head is not None and path.suffix.lower() == ".onnx",
                       lambda path, device, probe=True, **_: load_onnx(path, device, probe=probe)))
register(KindSpec("onnx", "External generator (ONNX)", ExternalGenerator, ExternalConfig, TrainDefaults(1, 1, 1e-3),
                  Capabilities(directions=True, slow_decode=True), trainable=False, latent_dim=None,
                  description="a generator graph from elsewhere, run by onnxruntime; no code runs"))
