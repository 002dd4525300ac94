"""The house's layout (issue O): ``models/`` in packages by job, each saying what lives there; no kind module
imports another kind's module; files stay short enough to read."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names}
    return out


def test_models_is_packages_by_job_each_with_its_docstring():
    packages = sorted(p.parent.name for p in MODELS.glob("*/__init__.py"))
    assert len(packages) >= 6, packages
    for name in packages:
        doc = ast.get_docstring(ast.parse((MODELS / name / "__init__.py").read_text()))
        assert doc and len(doc) > 40, f"models/{name}/__init__.py does not say what lives there"
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    missing = [name for name in packages if f"`models/{name}/`" not in layout]
    assert missing == [], f"the README's Layout does not name {missing}"


def test_no_kind_module_imports_another_kinds_module():
    kinds = {p.stem for p in (MODELS / "kinds").glob("*.py") if p.stem != "__init__"}
    assert {"ddpm", "pix2pix", "cyclegan", "latent_diffusion", "controlnet"} <= kinds
    offenders = []
    for kind in sorted(kinds):
        for name in _imports(MODELS / "kinds" / f"{kind}.py"):
            parts = name.split(".")
            if parts[:2] == ["models", "kinds"] and len(parts) > 2 and parts[2] != kind:
                offenders.append(f"{kind} imports {name}")
    assert offenders == []


def test_files_stay_short():
    long = []
    for folder, limit in (("models", 450), ("explorer", 450), ("tests", 600), ("bench", 600)):
        for f in (ROOT / folder).rglob("*.py"):
            n = f.read_text().count("\n")
            if n > limit:
                long.append(f"{f.relative_to(ROOT)}: {n} lines (limit {limit})")
    assert long == []


def test_every_command_has_one_handler_that_exists():
    import importlib

    from models.cli import COMMANDS, HANDLERS

    assert tuple(HANDLERS) == COMMANDS
    for command, target in HANDLERS.items():
        module, name = target.split(":")
        assert callable(getattr(importlib.import_module(module), name)), command
