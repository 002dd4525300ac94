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
            if parts[:3] == ["latent_explorer", "models", "kinds"] and len(parts) > 3 and parts[3] != kind:
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

    from latent_explorer.models.cli import COMMANDS, HANDLERS

    assert tuple(HANDLERS) == COMMANDS
    for command, target in HANDLERS.items():
        module, name = target.split(":")
        assert callable(getattr(importlib.import_module(module), name)), command


def _python_files():
    for folder in ("models", "explorer", "tests", "bench"):
        yield from (ROOT / folder).rglob("*.py")
    yield ROOT / "main.py"


def test_everything_imports_through_the_one_package():
    """Installed, the project is one import package, ``latent_explorer`` (issue P): nothing imports the
    checkout's folders by their own names, which a user's own ``models`` package would shadow."""
    bare = []
    for f in _python_files():
        for name in _imports(f):
            if name.split(".")[0] in ("models", "explorer", "main"):
                bare.append(f"{f.relative_to(ROOT)}: {name}")
    assert bare == []


def test_the_package_list_names_every_folder():
    import tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == {"latent_explorer": "explorer", "latent_explorer.models": "models"}
    folders = {"latent_explorer"} | {"latent_explorer." + ".".join(p.parent.relative_to(ROOT).parts)
                                     for p in MODELS.rglob("__init__.py")}
    assert set(tool["packages"]) == folders
    assert [p for p in (ROOT / "explorer").glob("*/__init__.py")] == [], "explorer/ has no subpackages to list"


def test_the_wheel_holds_one_top_level_package_and_its_command(tmp_path):
    """Built from a copy of the checkout's sources (a build writes beside them), as pip would install it."""
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("models", "explorer"):
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "main.py"):
        shutil.copy(ROOT / name, src / name)
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                        str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    with zipfile.ZipFile(next((tmp_path / "dist").glob("*.whl"))) as whl:
        names = whl.namelist()
        info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        top_level = whl.read(f"{info}/top_level.txt").decode().split() if f"{info}/top_level.txt" in names else []
        scripts = whl.read(f"{info}/entry_points.txt").decode()
    assert {n.split("/")[0] for n in names} == {"latent_explorer", info}
    assert top_level in ([], ["latent_explorer"])
    assert "latent-explorer = latent_explorer.launch:run" in scripts
    for module in ("launch.py", "models/kinds/gan.py", "models/cli/__main__.py"):
        assert f"latent_explorer/{module}" in names
