"""models/ (``latent_explorer.models``) is pure PyTorch: it never imports Qt, pyqtgraph or the window's modules
(``latent_explorer.*`` outside ``latent_explorer.models``)."""

import ast
import subprocess
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6")


def _the_window(name: str) -> bool:
    """A module of the window: the package's own modules outside models/."""
    parts = name.split(".")
    return parts[0] == "latent_explorer" and len(parts) > 1 and parts[1] != "models"


def test_models_source_has_no_qt_imports():
    offenders = []
    for f in MODELS.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{f.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN or _the_window(n)]
    assert offenders == []


def test_importing_every_model_module_loads_no_qt():
    code = ("import sys, pkgutil, importlib, latent_explorer.models as models\n"
            "for m in pkgutil.walk_packages(models.__path__, 'latent_explorer.models.'):\n"
            "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
            "bad += [m for m in sys.modules if m.startswith('latent_explorer.') and m.split('.')[1] != 'models']\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=MODELS.parent)


def test_the_training_process_loads_no_qt():
    """The child process of a desktop training run imports these; Qt there would cost seconds and memory."""
    code = ("import sys, latent_explorer.procjob, latent_explorer.training_job\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=MODELS.parent)
