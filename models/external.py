"""External generators: a TorchScript file plus a JSON sidecar, opened as a decode-only model.

``gen.pt`` + ``gen.pt.json`` (or ``gen.json``)::

    {"latent_dim": 64, "image_shape": [3, 32, 32], "output_range": [-1, 1], "class_names": []}

The generator is a real model object of the registered kind ``torchscript``: the views ask its
capabilities (it decodes z and samples from N(0, I); it has no encoder and cannot be trained here).
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .base import GenerativeModel, ModelConfig, need
from .errors import CheckpointError
from .registry import Capabilities, KindSpec, TrainDefaults, register


@dataclass
class ExternalConfig(ModelConfig):
    output_range: tuple[float, float] = (-1.0, 1.0)  # what the generator's outputs span

    image_sizes = (4, 1024)
    square = False
    latent_dims = (1, 4096)

    def validate(self) -> None:
        super().validate()
        lo, hi = self.output_range
        need(hi > lo, f"output_range must be (low, high) with high > low, got {self.output_range}")


class ExternalGenerator(GenerativeModel):
    """A decode-only generator from a TorchScript module: decode(z) = its output mapped to [0, 1]."""

    def __init__(self, config: ExternalConfig, module=None):
        super().__init__(config)
        self.module = module

    @property
    def device(self):
        for p in self.module.parameters():
            return p.device
        return torch.device("cpu")

    @torch.no_grad()
    def decode(self, z, y=None):
        lo, hi = self.config.output_range
        out = self.module(z)
        return ((out - lo) / (hi - lo)).clamp(0, 1)

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("an external generator cannot be trained here")


register(KindSpec("torchscript", "External generator (TorchScript)", ExternalGenerator, ExternalConfig,
                  TrainDefaults(1, 1, 1e-3), Capabilities(directions=True), trainable=False, latent_dim=None))


def _sidecar(path: Path) -> Path | None:
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


def load_torchscript(path: Path, device="cpu") -> ExternalGenerator:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        raise CheckpointError(f"{path.name}: a damaged zip/TorchScript file") from None
    if not any("/code/" in n for n in names):
        raise CheckpointError(f"{path.name}: refused: a pickled PyTorch file, not a TorchScript generator "
                              "(Latent Explorer never unpickles; export with torch.jit.script/trace)")
    side = _sidecar(path)
    if side is None:
        raise CheckpointError(f"{path.name}: a TorchScript generator needs a JSON sidecar "
                              f"({path.name}.json) with latent_dim and image_shape")
    try:
        spec = json.loads(side.read_text())
        latent_dim = int(spec["latent_dim"])
        shape = [int(v) for v in spec["image_shape"]]
        out_range = spec.get("output_range", [-1.0, 1.0])
        names = [str(s) for s in spec.get("class_names", [])]
        lo, hi = float(out_range[0]), float(out_range[1])
    except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
        raise CheckpointError(f"{side.name}: invalid sidecar (needs latent_dim and image_shape): {e}") from None
    try:
        config = ExternalConfig(kind="torchscript", image_shape=tuple(shape), latent_dim=latent_dim,
                                class_names=names, output_range=(lo, hi))
        config.validate()
    except (ValueError, TypeError):
        raise CheckpointError(f"{side.name}: invalid sidecar values (latent_dim {latent_dim}, "
                              f"image_shape {shape}, output_range {out_range})") from None
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # noqa: BLE001 - TorchScript raises RuntimeError and others
        raise CheckpointError(f"{path.name}: not a loadable TorchScript file ({type(e).__name__})") from None
    gen = ExternalGenerator(config, module)
    try:
        out = gen.decode(torch.zeros(2, latent_dim))
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{path.name}: the generator fails on z of size {latent_dim} given by the "
                              f"sidecar ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})"
                              ) from None
    if tuple(out.shape) != (2, *shape):
        raise CheckpointError(f"{path.name}: the generator makes images of shape {tuple(out.shape[1:])}, "
                              f"the sidecar says {tuple(shape)}")
    gen.meta = {"path": str(path), "kind": "torchscript", "config": {"latent_dim": latent_dim,
                "image_shape": shape}, "data": {}, "class_names": names, "training": {}}
    return gen.to(device)
