"""The code a model saved from Python names (:mod:`models.io.python_checkpoint`): importing its classes only
where they were found, a script only when its top level does nothing but define, and what the user's trust
is given to."""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from torch import nn

from latent_explorer.models.errors import CheckpointError, reason


def _script_defines_only(script: Path) -> str | None:
    """None when the script's top level only defines; else what it would run, in words."""
    try:
        tree = ast.parse(script.read_bytes()[:4 << 20])
    except (OSError, SyntaxError, ValueError) as e:
        return f"it cannot be read ({reason(e)})"
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            try:
                ast.literal_eval(node.value)
                continue
            except ValueError:
                pass
        if isinstance(node, ast.If) and ast.unparse(node.test).replace("'", '"') == '__name__ == "__main__"':
            continue
        return f"its line {node.lineno} runs code at import ({ast.unparse(node)[:60]!r})"
    return None


def _import_class(name: str, source: str, script: str):
    modname, _, qual = name.partition(":")
    if modname == "__main__":
        path = Path(script)
        why = _script_defines_only(path) if path.is_file() else "it is not there"
        if why:
            raise CheckpointError(f"{path.name} defines {qual}, but {why}: move the class into a module, or the "
                                  "script's work under if __name__ == '__main__':")
        alias = "_latent_explorer_script_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
        mod = sys.modules.get(alias)
        if mod is None:
            spec = importlib.util.spec_from_file_location(alias, path)
            mod = importlib.util.module_from_spec(spec)
            sys.modules[alias] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(alias, None)
                raise
    else:
        if source:  # the folder the file names comes first: a user's "models" package, not another one
            if source in sys.path:
                sys.path.remove(source)
            sys.path.insert(0, source)
            name = modname.split(".")[0]
            top, here = sys.modules.get(name), Path(source) / name
            where = getattr(top, "__file__", None) or ""
            if (top is not None and where and (here.is_dir() or here.with_suffix(".py").is_file())
                    and not Path(where).resolve().is_relative_to(Path(source).resolve())):
                raise CheckpointError(f"{modname} names code in {source}, but this process has imported another "
                                      f"{modname.split('.')[0]} (from {Path(where).parent}): open the file in a "
                                      "new window or session")
        mod = importlib.import_module(modname)
    obj = mod
    for part in qual.split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise CheckpointError(f"{name} is not a torch module class")
    return obj


def _digest(meta: dict) -> str:
    """What trust is given to: the code named (classes, folder, script and the bytes of the files found
    there), not the weights."""
    h = hashlib.sha256()
    for key in ("modules", "calls", "source", "script"):
        h.update(key.encode() + b"\0" + meta.get(key, "").encode() + b"\0")
    script = meta.get("script")
    if script and Path(script).is_file():
        h.update(Path(script).read_bytes()[: 16 << 20])
    return h.hexdigest()


def script_warning(module: nn.Module) -> str | None:
    """Why a file naming ``module``'s class could not be opened later, if its class is in a script that
    runs code at import (None: it can)."""
    from latent_explorer.models.io.python_checkpoint import _class_name

    _, script = _class_name(module)
    if script is None:
        return None
    why = _script_defines_only(Path(script))
    return None if why is None else (
        f"{type(module).__name__} is defined in {Path(script).name}, and {why}: the saved file opens later only "
        "once the class is in a module of its own or the script's work is under if __name__ == '__main__':")
