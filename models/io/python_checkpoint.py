"""A user's own modules saved as a checkpoint that opens later (``latent_explorer.save``, issue P.2): the file
names each module's class (``package.module:Class`` and the arguments that rebuild it), holds the weights as
safetensors and, for an autoencoder, the images it was shown with. No pickle: nothing in the file is code.

**Opening such a file imports the named code**, which can do anything Python can. So, as for TorchScript,
nothing is imported unless the user says so: :func:`load` checks the file (its header, every tensor's name,
dtype and shape, the names it gives) and raises :class:`UntrustedModules` unless ``trust_code`` is given (the
CLI's ``--trust-code``; the window asks once). Trust is for the code named, not the weights: a run that goes on
writing new weights to the file is not asked about again, a changed module file is.

A class defined in a script (``__main__``) is named by the script's path; it is imported only when the
script's top level does nothing but define (imports, classes, functions, constants and an
``if __name__ == "__main__":`` block), so opening the file never starts the user's training again.

Layout: tensors ``m0.<name>`` … (each module's state dict), ``prior.z_mean`` / ``prior.z_std`` (where an
autoencoder samples), ``data.images`` (N, C, H, W) uint8 and ``data.labels`` (N,) int64; metadata ``format``,
``version``, ``modules`` ({"m0": {"class", "init"}}), ``calls`` ({"encoder": ["m0", "encode"]}),
``source`` (the folder the modules import from), ``script``, ``config``, ``class_names``, ``training``.
"""

from __future__ import annotations

import inspect
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latent_explorer.models.errors import CheckpointError, ConfigError, reason, shown
from latent_explorer.models.io.external import UntrustedCode
from latent_explorer.models.io.python_code import _digest, _import_class
from latent_explorer.models.io.readers import Reader, register_reader
from latent_explorer.models.io.schema import Bool, Either, Float, Int, List, Map, Null, SchemaError, Str, check, loads

FORMAT = "latent-explorer-python-modules"
VERSION = 1
ROLES = ("encoder", "decoder", "generator")
MAX_MODULES = 8
MAX_DATA_BYTES = 128 << 20  # images kept with the model, as uint8: the first that fit
MAX_FILE_BYTES = 1 << 30  # weights (a 250M-parameter model) and images
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCALAR = (Bool(), Int(-(1 << 53), 1 << 53), Float(), Str(1000), Null())
_INIT_VALUE = Either((*_SCALAR, List(Either(_SCALAR), 0, 64)))


class UntrustedModules(UntrustedCode):
    """A checkpoint naming Python classes the user has not said to trust: importing them runs their code."""

    def __init__(self, path: Path, digest: str, names: list[str], where: str):
        self.path, self.digest = Path(path), digest
        CheckpointError.__init__(
            self, f"{self.path.name} names Python code to import: {', '.join(names)} (from {where}). Importing it "
            "runs that code, which can read, create or change files. Open it only if you trust that code "
            "(command line: --trust-code).")


# ----------------------------------------------------------------------------------------------
# Saving


def _jsonable(v) -> bool:
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return True
    if isinstance(v, float):
        return math.isfinite(v)
    return isinstance(v, (list, tuple)) and len(v) <= 64 and all(
        _jsonable(x) and not isinstance(x, (list, tuple)) for x in v)


def _class_name(module: nn.Module) -> tuple[str, str | None]:
    """(``package.module:Class``, the script's path for a class defined in ``__main__``); ConfigError for a
    class no later process can import (defined inside a function)."""
    cls = type(module)
    if "<locals>" in cls.__qualname__:
        raise ConfigError(f"{cls.__qualname__} is defined inside a function: define it at a module's top level "
                          "so the saved file can name it")
    script = None
    if cls.__module__ == "__main__":
        script = getattr(sys.modules.get("__main__"), "__file__", None)
        if not script:
            raise ConfigError(f"{cls.__name__} is defined in an interactive session: define it in a file (a module "
                              "or a script) so the saved file can name it")
        script = str(Path(script).resolve())
    return f"{cls.__module__}:{cls.__qualname__}", script


def _source_folder(modname: str, script: str | None) -> str:
    """The folder a later process imports ``modname`` from: the ``sys.path`` entry its file lies under."""
    if script is not None:
        return str(Path(script).parent)
    mod = sys.modules.get(modname)
    file = getattr(mod, "__file__", None)
    if not file:
        return ""
    depth = modname.count(".") + (1 if Path(file).name == "__init__.py" else 0)
    return str(Path(file).resolve().parents[depth])


def init_args(module: nn.Module, given: dict | None, role: str) -> dict:
    """The arguments that rebuild ``module``: ``given``, and for the rest each ``__init__`` parameter the module
    keeps as an attribute of the same name (``self.latent_dim = latent_dim``). Checked by building one on the
    meta device (no memory) and comparing its weights' names and shapes: ConfigError naming what to pass."""
    cls = type(module)
    params = [p for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    given = dict(given or {})
    unknown = set(given) - {p.name for p in params}
    if unknown and not any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values()):
        raise ConfigError(f"init for the {role}: {cls.__name__}() takes no {', '.join(sorted(unknown))}")
    args = {}
    for p in params:
        if p.name in given:
            value = given.pop(p.name)
        elif _jsonable(getattr(module, p.name, ...)):
            value = getattr(module, p.name)
            if p.default is not p.empty and value == p.default:
                continue
        elif p.default is not p.empty:
            continue
        else:
            raise ConfigError(f"{cls.__name__}() needs {p.name}, which the {role} does not keep as self.{p.name}: "
                              f"pass init={{'{role}': {{'{p.name}': ...}}}}")
        if not _jsonable(value):
            raise ConfigError(f"init for the {role}: {p.name} must be a number, text, True/False, None or a list "
                              f"of those, not {type(value).__name__}")
        args[p.name] = list(value) if isinstance(value, tuple) else value
    args.update(given)  # **kwargs the class takes
    try:
        with torch.device("meta"):
            fresh = cls(**args)
    except Exception as e:  # the user's constructor: one line saying which
        raise ConfigError(f"{cls.__name__}(**{args}) fails ({reason(e)}): pass init={{'{role}': {{...}}}} with "
                          "the arguments that built it") from e
    want = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    if want != got:
        diff = sorted(set(want) ^ set(got)) or [k for k in want if want[k] != got[k]]
        raise ConfigError(f"{cls.__name__}(**{args}) does not rebuild the {role}: its weight {diff[0]} differs; "
                          f"pass init={{'{role}': {{...}}}} with the arguments that built it")
    return args


def _parts(built) -> tuple[dict, dict]:
    """The modules to name ({"m0": module}) and each role's call (module key, method or None), from the
    :class:`models.kinds.python_modules.PythonModel` made of them: an autoencoder's encoder and decoder (one
    module's two methods, or two modules), or a generator."""
    from latent_explorer.models.kinds.python_modules import PythonModel

    if not isinstance(built, PythonModel):  # a denoiser, a diffusers pipeline
        raise ConfigError("save() keeps autoencoders and generators; a diffusers pipeline is saved with its own "
                          "save_pretrained() and opens as a folder")
    roles = ({"encoder": built.encoder, "decoder": built.decoder} if built.capabilities.encoder
             else {"generator": built.decoder})
    modules: dict[str, nn.Module] = {}
    calls = {}
    for role, fn in roles.items():
        owner = getattr(fn, "__self__", fn)  # a bound method: the module it belongs to
        method = getattr(fn, "__name__", None) if owner is not fn else None
        if not isinstance(owner, nn.Module):
            raise ConfigError(f"the {role} is a {type(owner).__name__}: save() keeps torch modules (or their "
                              "methods), whose weights it can write")
        key = next((k for k, m in modules.items() if m is owner), None)
        if key is None:
            key = f"m{len(modules)}"
            modules[key] = owner
        calls[role] = [key, method]
    return modules, calls


@dataclass(frozen=True)
class Named:
    """What the file says of the modules, worked out (and checked) once: a run's Recorder writes it again
    after every epoch with new weights."""

    modules: dict  # {"m0": module}
    calls: dict  # {"encoder": ["m0", "encode"]}
    classes: dict  # {"m0": {"class": "pkg.mod:Class", "init": {...}}}
    source: str  # the folder the modules import from
    script: str  # the script a class of __main__ is defined in, or ""


def name_modules(built, init: dict | None = None) -> Named:
    """Name ``built``'s modules: each class and the arguments that rebuild it (``init`` per role where a
    module does not keep them); ConfigError saying what is missing."""
    init = dict(init or {})
    unknown = set(init) - set(ROLES)
    if unknown:
        raise ConfigError(f"init names {', '.join(sorted(unknown))}: give it per role ({', '.join(ROLES)})")
    modules, calls = _parts(built)
    classes, source, script = {}, "", None
    for key, module in modules.items():
        roles = [r for r, c in calls.items() if c[0] == key]
        cls_name, script_here = _class_name(module)
        given = {}
        for role in roles:
            given.update(init.get(role) or {})
        classes[key] = {"class": cls_name, "init": init_args(module, given, roles[0])}
        folder = _source_folder(cls_name.split(":")[0], script_here)
        if source and folder and folder != source:
            raise ConfigError(f"the modules import from two folders ({source} and {folder}): save() names one")
        source, script = source or folder, script or script_here
    return Named(modules, calls, classes, source, script or "")


def checkpoint_bytes(built, named: Named, data=None, training=None) -> bytes:
    """The file for ``built`` (a :class:`models.kinds.python_modules.PythonModel`) with its modules as
    ``named`` says and their weights now, and ``data`` (its ImageData in [0, 1], or None)."""
    from safetensors.torch import save

    tensors = {f"{key}.{name}": t.detach().cpu().contiguous()
               for key, module in named.modules.items() for name, t in module.state_dict().items()}
    tensors["prior.z_mean"] = built.z_mean.detach().cpu().clone()
    tensors["prior.z_std"] = built.z_std.detach().cpu().clone()
    names = []
    if data is not None:
        per = int(np.prod(data.images.shape[1:]))
        n = min(len(data.images), max(1, MAX_DATA_BYTES // per))
        tensors["data.images"] = torch.from_numpy(np.round(data.images[:n] * 255).astype(np.uint8))
        if data.labels is not None:
            tensors["data.labels"] = torch.from_numpy(np.asarray(data.labels[:n], np.int64))
            names = list(data.class_names)
    meta = {"format": FORMAT, "version": str(VERSION), "modules": json.dumps(named.classes),
            "calls": json.dumps(named.calls), "source": named.source, "script": named.script,
            "config": json.dumps(built.config.to_json()), "class_names": json.dumps(names),
            "training": json.dumps(training or {}), "saved": torch.__version__}
    return save(tensors, metadata=meta)


def save(path, built, *, data=None, init=None, training=None, overwrite: bool = False) -> Path:
    """Write the checkpoint atomically; an existing file is replaced only with ``overwrite`` and only if it is
    a checkpoint of this kind (never a record, a picture, another model format)."""
    from latent_explorer.models.io.checkpoint import atomic_write, safetensors_format

    path = Path(path).expanduser()
    if path.suffix != ".safetensors":
        path = path.with_name(path.name + ".safetensors")
    if path.exists():
        if not overwrite:
            raise CheckpointError(f"{path} exists: pass overwrite=True to replace it, or another name")
        if safetensors_format(path) != FORMAT:
            raise CheckpointError(f"{path} is not a model saved from Python: it is never replaced by one")
    return atomic_write(path, checkpoint_bytes(built, name_modules(built, init), data, training))


# ----------------------------------------------------------------------------------------------
# Loading

FIELDS = {
    "modules": Map(Map(Either((Str(300), Map(_INIT_VALUE, 64, 100))), 2, 10), MAX_MODULES, 10),
    "calls": Map(List(Either((Str(100), Null())), 2, 2), 3, 20),
    "class_names": List(Str(100, printable=True), 0, 1000, default=[]),
}


def describe(meta: dict, path: Path) -> tuple[dict, dict, list[str]]:
    """The file's modules and calls, typed; the classes it names (CheckpointError naming the field)."""
    try:
        f = check({k: loads(meta.get(k, "null"), f"{path.name} ({k})") for k in ("modules", "calls")} |
                  {"class_names": loads(meta.get("class_names", "[]"), f"{path.name} (class_names)")},
                  FIELDS, path.name)
    except SchemaError as e:
        raise CheckpointError(str(e)) from None
    modules, calls = f["modules"], f["calls"]
    for key, m in modules.items():
        if not _IDENT.fullmatch(key) or set(m) != {"class", "init"} or not isinstance(m["class"], str) \
                or not isinstance(m["init"], dict):
            raise CheckpointError(f"{path.name}: module {shown(key)} is not {{class, init}}")
        mod, _, qual = m["class"].partition(":")
        if not _DOTTED.fullmatch(mod) or not _DOTTED.fullmatch(qual):
            raise CheckpointError(f"{path.name}: {shown(m['class'])} is not a class name (module:Class)")
    if not set(calls) <= set(ROLES) or not calls:
        raise CheckpointError(f"{path.name}: calls must name roles among {', '.join(ROLES)}")
    for role, (key, method) in calls.items():
        if key not in modules or (method is not None and not _IDENT.fullmatch(method)):
            raise CheckpointError(f"{path.name}: the {role}'s call {shown([key, method])} names no module method")
    return modules, calls, [m["class"] for m in modules.values()]


def load(path, device="cpu", trust_code=False, probe=True):
    """The saved modules as a live model; only with ``trust_code`` (else :class:`UntrustedModules`, once the
    file is checked and before any of its code is imported). ``probe`` is ignored: the modules run in this
    process, as they did in the user's, and are checked on one call each (as ``show`` checks them)."""
    from latent_explorer.models.data.core import ImageData
    from latent_explorer.models.data.memory import keep
    from latent_explorer.models.io.checkpoint import _checked_metadata
    from latent_explorer.models.io.safetensors_header import read_header, read_tensors
    from latent_explorer.models.kinds.python_modules import PythonConfig, from_modules

    path = Path(path)
    header = read_header(path, MAX_FILE_BYTES, what="model saved from Python")
    meta = header.meta
    if meta.get("version") != str(VERSION):
        raise CheckpointError(f"{path.name}: format version {shown(meta.get('version'))}; this Latent Explorer "
                              f"reads version {VERSION}")
    modules, calls, names = describe(meta, path)
    try:
        config = PythonConfig.from_json(loads(meta.get("config", "{}"), f"{path.name} (config)"))
        config.validate()
    except (ConfigError, SchemaError, TypeError) as e:
        raise CheckpointError(f"{path.name}: invalid model config: {e}") from None
    facts = _checked_metadata(meta, path)
    for key, e in header.entries.items():
        head, _, rest = key.partition(".")
        ok = (head in modules and rest) or key in ("prior.z_mean", "prior.z_std") or (
            key == "data.images" and e.dtype == "U8" and len(e.shape) == 4 and tuple(e.shape[1:]) ==
            tuple(config.image_shape)) or (key == "data.labels" and e.dtype == "I64" and len(e.shape) == 1)
        if not ok:
            raise CheckpointError(f"{path.name}: unexpected tensor {shown(key)} ({e.dtype} {list(e.shape)})")
    for key in ("prior.z_mean", "prior.z_std"):
        e = header.entries.get(key)
        if e is None or e.dtype != "F32" or tuple(e.shape) != (config.latent_dim,):
            raise CheckpointError(f"{path.name}: {key} must be float32 of shape ({config.latent_dim},)")
    digest = _digest(meta)
    if not trust_code:
        raise UntrustedModules(path, digest, names, meta.get("script") or meta.get("source") or "?")
    if isinstance(trust_code, str) and trust_code != digest:
        raise CheckpointError(f"{path.name} names other code than the code you trusted; nothing of it was "
                              "imported. Open it again to be asked about this code.")
    built_modules = {}
    for key, m in modules.items():
        try:
            cls = _import_class(m["class"], meta.get("source", ""), meta.get("script", ""))
            with torch.device("meta"):
                skeleton = cls(**m["init"])
        except CheckpointError:
            raise
        except Exception as e:  # the user's code: one line
            raise CheckpointError(f"{path.name}: {shown(m['class'])} could not be imported and built: "
                                  f"{reason(e)}") from e
        want = skeleton.state_dict()
        have = {k[len(key) + 1:]: e for k, e in header.entries.items() if k.startswith(key + ".")}
        for name, t in want.items():
            e = have.get(name)
            if e is None or tuple(e.shape) != tuple(t.shape):
                got = "missing" if e is None else f"of shape {list(e.shape)}"
                raise CheckpointError(f"{path.name}: {m['class']}'s weight {name} is {got}; the class now makes "
                                      f"{list(t.shape)} (has its code changed since the file was saved?)")
        if set(have) - set(want):
            raise CheckpointError(f"{path.name}: weights the class does not have: "
                                  f"{shown(sorted(set(have) - set(want))[0])}")
        built_modules[key] = (cls, m["init"])
    tensors = read_tensors(header)
    for k, t in tensors.items():
        if t.is_floating_point() and not torch.isfinite(t).all():
            raise CheckpointError(f"{path.name}: tensor {shown(k)} contains NaN or infinite values")
    live = {}
    for key, (cls, init) in built_modules.items():
        module = cls(**init)
        module.load_state_dict({k[len(key) + 1:]: t for k, t in tensors.items() if k.startswith(key + ".")})
        live[key] = module.eval().to(device)
    fns = {role: (getattr(live[k], method) if method else live[k]) for role, (k, method) in calls.items()}
    data = None
    if "data.images" in tensors:
        labels = tensors["data.labels"].numpy() if "data.labels" in tensors else None
        images = tensors["data.images"].float().div_(255).numpy()
        if labels is not None and (len(labels) != len(images) or (len(labels) and (
                labels.min() < 0 or labels.max() >= max(1, len(facts["class_names"]))))):
            raise CheckpointError(f"{path.name}: its labels do not fit its images and class names")
        data = ImageData(images, labels, list(facts["class_names"]) if labels is not None else [])
    try:
        built = from_modules(encoder=fns.get("encoder"), decoder=fns.get("decoder"), generator=fns.get("generator"),
                             latent_dim=config.latent_dim if "generator" in fns else None,
                             images=None if data is None else torch.from_numpy(data.images),
                             image_range=config.image_range, image_shape=config.image_shape)
    except ConfigError as e:
        raise CheckpointError(f"{path.name}: {e}") from None
    built.z_mean.copy_(tensors["prior.z_mean"])
    built.z_std.copy_(tensors["prior.z_std"])
    spec = keep(str(path.resolve()), data) if data is not None else None  # python:/the/file.safetensors
    built.meta = {**built.meta, "path": str(path), "kind": config.kind, "config": config.to_json(),
                  **facts, "data": {"spec": spec} if spec else {}, "saved": meta.get("saved", "")}
    return built


def describe_file(path) -> dict:
    """What the file says about itself, from its header alone (nothing imported): ``latent-explorer info``."""
    from latent_explorer.models.io.checkpoint import _checked_metadata
    from latent_explorer.models.io.safetensors_header import read_header

    path = Path(path)
    header = read_header(path, MAX_FILE_BYTES, what="model saved from Python")
    modules, calls, names = describe(header.meta, path)
    facts = _checked_metadata(header.meta, path)
    config = loads(header.meta.get("config", "{}"), f"{path.name} (config)")
    images = header.entries.get("data.images")
    return {"path": str(path), "kind": config.get("kind") if isinstance(config, dict) else None,
            "classes": names, "calls": calls, "source": header.meta.get("source", ""),
            "script": header.meta.get("script", ""), "config": config, "images": images.shape[0] if images else 0,
            "class_names": facts["class_names"], "training": {k: v for k, v in facts["training"].items()
                                                               if k != "history"},
            "note": "not imported: the file names Python code (open it with --trust-code to run it)"}


def _opens(path: Path, head: bytes | None) -> bool:
    from latent_explorer.models.io.checkpoint import safetensors_format

    return head is not None and head[8:9] == b"{" and safetensors_format(path) == FORMAT


register_reader(Reader("a model saved from Python", _opens, load))
