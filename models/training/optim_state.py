"""Where a run stands beyond its weights, kept beside its checkpoint so that ``train --resume`` continues the
run rather than starting a new one on old weights: each optimizer's state (Adam's moments and step counts), the
number of steps and epochs behind the weights, and the random generators' states (the shuffle's, PyTorch's,
CUDA's). 2 epochs and a resume for 2 more give the losses of 4 epochs in one go (``tests/models/test_train.py``).

The state is ``NAME.optim.safetensors`` beside ``NAME.safetensors``: tensors plus JSON metadata (nothing is
pickled), written atomically before the checkpoint that names it. Both hold one id per save, so a state left
by another save (a run killed between the two writes, a checkpoint copied without it) is never used. A reader
takes it bounded and typed: the header's size from the model's own parameters, the metadata through
:mod:`models.io.schema`, every tensor's name, shape and dtype against the optimizers the run makes, before any
tensor is read (:mod:`models.io.safetensors_header`).

A checkpoint without one (saved before this was kept) still resumes, with a fresh optimizer, and says so.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import torch

from latent_explorer.models.errors import CheckpointError, shown
from latent_explorer.models.io.safetensors_header import read_header, read_tensors
from latent_explorer.models.io.schema import Either, Int, Map, Null, Object, SchemaError, Str, check, loads

FORMAT = "latent-explorer-optimizer"
SUFFIX = ".optim.safetensors"
# the per-parameter state each optimizer keeps, and the part of it every parameter with a state has
STATE_KEYS = {"Adam": ({"step", "exp_avg", "exp_avg_sq"}, {"max_exp_avg_sq"}),
              "AdamW": ({"step", "exp_avg", "exp_avg_sq"}, {"max_exp_avg_sq"}),
              "SGD": (set(), {"momentum_buffer"})}
RNG_NAMES = ("torch", "shuffle", "cuda")
MAX_RNG_BYTES = 1 << 16
_LINK = Object({"file": Str(300, printable=True), "id": Str(64, printable=True)})
LINK_FIELDS = {"optimizer": Either((_LINK, Null()), default=None)}  # in the checkpoint's training summary
STATE_FIELDS = {"id": Str(64, printable=True), "step": Int(0, 10**12), "epoch": Int(0, 10**9),
                "optimizers": Map(Str(40, tuple(STATE_KEYS)), max_len=16, key_len=40)}


def sidecar_path(checkpoint: str | os.PathLike) -> Path:
    """``runs/vae.safetensors`` → ``runs/vae.optim.safetensors``."""
    p = Path(checkpoint)
    stem = p.name[: -len(".safetensors")] if p.name.endswith(".safetensors") else p.name
    return p.with_name(stem + SUFFIX)


def is_sidecar(path: str | os.PathLike) -> bool:
    return Path(path).name.endswith(SUFFIX)


def _is_state(path: Path) -> bool:
    """Whether ``path`` is a run's optimizer state, from its header (a large model's is more than a megabyte)."""
    try:
        return read_header(path, what="optimizer state").meta.get("format") == FORMAT
    except (CheckpointError, OSError):
        return False


def check_beside(checkpoint: Path) -> None:
    """For :func:`models.io.checkpoint.check_output`: a run's state is never replaced by a model, nor a file that
    is not one by a run's state, and a model is never named like one."""
    if is_sidecar(checkpoint):
        raise CheckpointError(f"{shown(checkpoint.name, 200)}: a name ending in {SUFFIX} is a run's optimizer "
                              "state, written beside its model; give the model another name")
    if checkpoint.exists() and _is_state(checkpoint):
        raise CheckpointError(f"{shown(checkpoint.name, 200)} is a run's optimizer state, not a model: it is "
                              "never replaced by one")
    beside = sidecar_path(checkpoint)
    if beside.exists() and not _is_state(beside):
        raise CheckpointError(f"{shown(beside.name, 200)} is beside {shown(checkpoint.name, 200)} but is not a "
                              "run's optimizer state: this run's would replace it; choose another name or move "
                              "that file")


@dataclass
class TrainState:
    """What resuming needs beyond the weights. ``step`` and ``epoch``: the optimizer steps the weights have had
    and the epochs begun, over every run they went through; ``optimizers``: name → parameter index → state
    tensors (as ``Optimizer.state_dict()["state"]``); ``rng``: the generators' states."""

    step: int = 0
    epoch: int = 0
    optimizers: dict[str, dict[int, dict[str, torch.Tensor]]] = field(default_factory=dict)
    rng: dict[str, torch.Tensor] = field(default_factory=dict)


# -- the random generators ------------------------------------------------------------------------------------
def capture_rng(shuffle: torch.Generator, device: torch.device) -> dict[str, torch.Tensor]:
    """The states of PyTorch's CPU generator, the shuffle's and (on CUDA) the device's."""
    rng = {"torch": torch.get_rng_state(), "shuffle": shuffle.get_state()}
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    return rng


def restore_rng(rng: dict[str, torch.Tensor], shuffle: torch.Generator, device: torch.device,
                global_too: bool = True) -> None:
    """Put the generators back as :func:`capture_rng` found them (the device's only on the same kind of device;
    ``global_too``: PyTorch's own generators as well as the shuffle's)."""
    if "shuffle" in rng:
        shuffle.set_state(rng["shuffle"])
    if not global_too:
        return
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    if "cuda" in rng and device.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], device)


# -- saving ---------------------------------------------------------------------------------------------------
def state_tensors(opts: dict[str, torch.optim.Optimizer]) -> dict[str, torch.Tensor] | None:
    """Every optimizer's per-parameter state as named CPU tensors (``state/NAME/INDEX/KEY``); None when an
    optimizer is not one whose state this module knows how to check again."""
    out = {}
    for name, opt in opts.items():
        if type(opt).__name__ not in STATE_KEYS or "/" in name:
            return None
        for index, state in opt.state_dict()["state"].items():
            for key, value in state.items():
                if not isinstance(value, torch.Tensor):
                    return None
                out[f"state/{name}/{index}/{key}"] = value.detach().to("cpu").contiguous().clone()
    return out


def save(checkpoint: str | os.PathLike, opts: dict, state: TrainState) -> dict | None:
    """Write the state of a run whose checkpoint is about to be written to ``checkpoint`` (atomically, beside
    it); the link the checkpoint's training summary keeps (file and id), or None when there is no state this
    module can write. CheckpointError when it cannot be written; a file there that is not one is never
    replaced."""
    from safetensors.torch import save as st_save

    from latent_explorer.models.io.checkpoint import atomic_write

    tensors = state_tensors(opts)
    if tensors is None:
        return None
    path = sidecar_path(checkpoint)
    if path.exists() and not _is_state(path):
        raise CheckpointError(f"{path.name} is not a run's optimizer state: it was not written over")
    for key, value in state.rng.items():
        tensors[f"rng/{key}"] = value.detach().to("cpu").contiguous().clone()
    save_id = secrets.token_hex(8)
    doc = {"id": save_id, "step": int(state.step), "epoch": int(state.epoch),
           "optimizers": {name: type(opt).__name__ for name, opt in opts.items()}}
    atomic_write(path, st_save(tensors, metadata={"format": FORMAT, "format_version": "1",
                                                  "state": json.dumps(doc)}))
    return {"file": path.name, "id": save_id}


# -- reading --------------------------------------------------------------------------------------------------
def _link(training: dict, name: str) -> dict | None:
    try:
        return check(training, LINK_FIELDS, None)["optimizer"]
    except SchemaError as e:
        raise CheckpointError(f"{name}: invalid metadata: training '{e.field}' must be {e.expected}, found "
                              f"{e.found}") from None


def _header_state(path: Path, max_body: int | None = None) -> tuple:
    header = read_header(path, max_body, what="optimizer state")
    if header.meta.get("format") != FORMAT:
        raise CheckpointError(f"{path.name}: not a run's optimizer state; move it away to resume with a fresh "
                              "optimizer")
    if header.meta.get("format_version") != "1":
        raise CheckpointError(f"{path.name}: an optimizer state of an unknown version "
                              f"{shown(str(header.meta.get('format_version')), 20)}")
    doc = loads(header.meta.get("state", ""), f"{path.name} (state)", max_bytes=1 << 16)
    return header, check(doc, STATE_FIELDS, path.name)


def describe(checkpoint: str | os.PathLike, training: dict) -> str:
    """Whether a checkpoint (its ``training`` summary) has its optimizer state beside it, in words: "" when it
    has, else why it goes on with a fresh optimizer. From headers alone (nothing is read further)."""
    checkpoint = Path(checkpoint)
    link = _link(training, checkpoint.name)
    path = sidecar_path(checkpoint)
    if link is None:
        return f"{checkpoint.name} was saved without its optimizer state (by an earlier version)"
    if not path.is_file():
        return f"its optimizer state {path.name} is not beside {checkpoint.name}"
    _, doc = _header_state(path)
    if doc["id"] != link["id"]:
        return f"{path.name} is the optimizer state of another save of {checkpoint.name}"
    return ""


def load(checkpoint: str | os.PathLike, training: dict, opts: dict[str, torch.optim.Optimizer]
         ) -> tuple[TrainState | None, str]:
    """The state kept beside ``checkpoint`` (whose training summary is ``training``), checked against ``opts``
    (the optimizers of the model that goes on): (state, "") or (None, why the optimizer starts afresh).
    CheckpointError, one line naming the file, for a state that is there but damaged or forged."""
    checkpoint = Path(checkpoint)
    why = describe(checkpoint, training)
    if why:
        return None, why
    path = sidecar_path(checkpoint)
    params = {name: [p for g in opt.param_groups for p in g["params"]] for name, opt in opts.items()}
    weights = sum(p.numel() * p.element_size() for ps in params.values() for p in ps)
    header, doc = _header_state(path, max_body=3 * weights + len(params) * 4096 + 4 * MAX_RNG_BYTES)
    kept = doc["optimizers"]
    made = {name: type(opt).__name__ for name, opt in opts.items()}
    if kept != made:
        return None, (f"{path.name} holds the state of other optimizers ({', '.join(map(shown, kept))}; this "
                      f"model makes {', '.join(made)})")
    _check_entries(header, params, made)
    tensors = read_tensors(header)
    state = TrainState(step=doc["step"], epoch=doc["epoch"], optimizers={name: {} for name in opts})
    for key, t in tensors.items():
        parts = key.split("/")
        if parts[0] == "rng":
            state.rng[parts[1]] = t
            continue
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path.name}: {shown(key)} holds NaN or infinite values")
        state.optimizers[parts[1]].setdefault(int(parts[2]), {})[parts[3]] = t
    return state, ""


def _check_entries(header, params: dict[str, list], classes: dict[str, str]) -> None:
    """Every tensor of the header is one the optimizers ``params`` keep (its name, shape, dtype), every parameter
    with a state has all of it, and the generators' states are the size this PyTorch makes: before any read."""
    name = header.path.name
    have: dict[tuple[str, int], set[str]] = {}
    for key, e in header.entries.items():
        parts = key.split("/")
        if len(parts) == 2 and parts[0] == "rng" and parts[1] in RNG_NAMES:
            size = torch.get_rng_state().numel() if parts[1] in ("torch", "shuffle") else None
            if e.dtype != "U8" or len(e.shape) != 1 or (size is not None and e.shape[0] != size) \
                    or e.shape[0] > MAX_RNG_BYTES:
                raise CheckpointError(f"{name}: {shown(key)} is not a random generator's state of this PyTorch")
            continue
        if len(parts) != 4 or parts[0] != "state" or parts[1] not in params or not parts[2].isdigit():
            raise CheckpointError(f"{name}: unexpected tensor {shown(key)}: not an optimizer's state")
        opt, index, what = parts[1], int(parts[2]), parts[3]
        required, optional = STATE_KEYS[classes[opt]]
        if index >= len(params[opt]) or what not in required | optional:
            raise CheckpointError(f"{name}: unexpected tensor {shown(key)}: the {opt} optimizer has no such state")
        p = params[opt][index]
        shape, dtype = ((), torch.float32) if what == "step" else (tuple(p.shape), p.dtype)
        if e.shape != shape or e.torch_dtype != dtype:
            raise CheckpointError(f"{name}: {shown(key)} is {e.torch_dtype} {list(e.shape)}, the model's "
                                  f"optimizer keeps {dtype} {list(shape)}")
        have.setdefault((opt, index), set()).add(what)
    for (opt, index), keys in have.items():
        missing = STATE_KEYS[classes[opt]][0] - keys
        if missing:
            raise CheckpointError(f"{name}: the state of parameter {index} of the {opt} optimizer lacks "
                                  f"{', '.join(sorted(missing))}")
