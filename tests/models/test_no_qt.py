"""models/ is pure PyTorch: it never imports Qt, pyqtgraph or the explorer."""

import ast
import subprocess
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "models"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "explorer", "shiboken6")


def test_models_source_has_no_qt_imports():
    offenders = []
    for f in MODELS.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            offenders += [f"{f.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_every_model_module_loads_no_qt():
    code = ("import sys, pkgutil, importlib, models\n"
            "for m in pkgutil.walk_packages(models.__path__, 'models.'):\n"
            "    if not m.name.endswith('__main__'): importlib.import_module(m.name)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=MODELS.parent)


def test_the_training_process_loads_no_qt():
    """The child process of a desktop training run imports these; Qt there would cost seconds and memory."""
    code = ("import sys, explorer.procjob, explorer.training_job\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6')]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=MODELS.parent)
