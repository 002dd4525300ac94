"""What a checkpoint says about itself from its header alone, for the model list (issue S): its kind, config,
data, training summary and parameter count (the header's tensor shapes), with no tensor read and no model
built. The weights are read and checked (:func:`models.io.checkpoint.load`, the same refusals) only when the
model is chosen. A folder of 200 checkpoints lists in the time of 200 header reads."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from latent_explorer.models.base import ModelConfig


@dataclass(frozen=True)
class Facts:
    """A checkpoint as its header describes it; ``meta`` is what a loaded model's ``meta`` would hold."""

    kind: str
    config: ModelConfig
    meta: dict
    parameters: int  # numbers in the file's tensors (weights and buffers)

    @property
    def spec(self):
        from latent_explorer.models.registry import get

        return get(self.kind)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.image_shape)

    @property
    def latent_dim(self) -> int:
        return int(self.config.latent_dim)

    @property
    def conditioning(self) -> str:
        """As :attr:`models.base.GenerativeModel.conditioning` says it, from the config."""
        kind = self.spec.conditioning
        if kind in ("none", "class"):
            return "class" if self.config.num_classes > 0 else "none"
        return kind


def read_facts(path: str | os.PathLike) -> Facts:
    """The facts of one checkpoint of ours; CheckpointError naming the file and what is wrong otherwise (the
    same checks of the header and its metadata as :func:`models.io.checkpoint.load` makes)."""
    from latent_explorer.models.io.checkpoint import _checked_metadata, read_checked_header

    path = Path(path)
    header, kind, version, config = read_checked_header(path)
    meta = {"path": str(path), "format_version": version, "kind": kind, "config": config.to_json(),
            **_checked_metadata(header.meta, path)}
    parameters = sum(math.prod(e.shape) for e in header.entries.values())
    return Facts(kind, config, meta, int(parameters))


def model_files(folder: str | os.PathLike) -> list[Path]:
    """The checkpoints in ``folder`` (not its subfolders), by name: ``*.safetensors`` that are not a run's
    record or optimizer state."""
    from latent_explorer.models.training.optim_state import is_sidecar
    from latent_explorer.models.training.run_record import is_record

    return sorted((f for f in Path(folder).glob("*.safetensors") if f.is_file() and not is_record(f)
                   and not is_sidecar(f)), key=lambda f: f.name.lower())
