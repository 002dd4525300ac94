"""The process: cold start to the first painted main window, and the peak memory of a session (the UI
process and its training run's process). Each runs in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import ROOT, Target, part

PROBE = r"""
class Probe(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print(time.time(), flush=True)
            os._exit(0)
        return False
"""  # the first paint: its time printed, and the process ends

STARTUP = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from latent_explorer.qt_compat import application
app = application()
from latent_explorer.main_window import MainWindow
{PROBE}w = MainWindow()
if len(sys.argv) > 2:  # a folder of models, opened at start
    w.open_path(sys.argv[2])
p = Probe()
w.installEventFilter(p)
w.show()
app.exec()
"""

# the floor: the imports any start pays (PyTorch, Qt's widgets) and one painted main window, nothing of ours
IMPORT_FLOOR = r"""
import os, sys, time
import torch
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QMainWindow
app = QApplication(sys.argv[:1])
{PROBE}w = QMainWindow()
w.resize(1280, 800)
p = Probe()
w.installEventFilter(p)
w.show()
app.exec()
"""
STARTUP, IMPORT_FLOOR = (code.replace("{PROBE}", PROBE) for code in (STARTUP, IMPORT_FLOOR))

N_FOLDER = 200  # checkpoints in the folder opened at start: copies (links) of every bundled kind


def _model_folder(folder: Path) -> Path:
    """``N_FOLDER`` checkpoints of every bundled kind, hard links where the file system allows."""
    import shutil

    from latent_explorer.models.io.listing import model_files

    bundled = model_files(ROOT / "assets")
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_FOLDER):
        src = bundled[i % len(bundled)]
        dst = folder / f"{src.stem}-{i:03d}.safetensors"
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy(src, dst)
    return folder


def _start_times(env, n: int, code: str, *args) -> list[float]:
    times = []
    for _ in range(n):
        t0 = time.time()
        r = subprocess.run([sys.executable, "-c", code, str(ROOT), *map(str, args)], capture_output=True,
                           text=True, env=env, timeout=300)
        times.append(float(r.stdout.strip().splitlines()[-1]) - t0)
    return times

SESSION = r"""
import resource, sys, time
sys.path.insert(0, sys.argv[1])
from latent_explorer.qt_compat import application
app = application()
from latent_explorer.main_window import MainWindow
from latent_explorer.training_view import RunSpec
import tempfile
w = MainWindow(); w.resize(1280, 800); w.show()
def wait(cond, t=120):
    t0 = time.time()
    while not cond() and time.time() - t0 < t:
        app.processEvents(); time.sleep(0.005)
for name in ("digits-vae16", "digits-gan", "digits-ddpm"):
    entry = next(e for e in w.library.entries if e.name == name)
    w.library.set_current(entry); wait(lambda: w.library.current is entry)
    for view in ("map", "editor"):
        w.show_view(view); wait(lambda: w.current_view().is_ready())
w.show_view("diffusion"); w.diffusion.sampler.setCurrentText("DDPM"); w.diffusion.run_reverse()
wait(lambda: w.diffusion.is_ready())
w.show_view("training")
with tempfile.TemporaryDirectory() as d:
    run = w.training.start(RunSpec("vae", "digits", d + "/a.safetensors", 2, 64, 1e-3, 2))
    wait(lambda: run.worker is None and run.status != "queued")
w.close()
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
from latent_explorer.qt_compat import exit_process
exit_process(0)
"""


@part("process", Target("cold_start_s", "<=", 3.0, "process start → first painted main window (s)"),
      Target("cold_start_ratio", "<=", 1.3, "start → first paint ÷ the import floor (PyTorch and Qt imported, "
             "a bare main window painted)"),
      Target("cold_start_200_models_ratio", "<=", 1.5, f"start with a folder of {N_FOLDER} checkpoints of every "
             "kind opened ÷ the import floor"))
def bench_process(smoke: bool) -> dict:
    """``cold_start_s``: the median of 5 starts of ``STARTUP``, beside the floor's 5 starts (interleaved, so
    a busy moment costs both alike), and 5 starts with a folder of ``N_FOLDER`` checkpoints opened;
    ``peak_rss_mb`` (not in the smoke run): the ``SESSION`` script opens the map and editor for three
    models, records a DDPM trajectory and trains."""
    import tempfile

    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               LATENT_EXPLORER_SETTINGS=str(Path("/tmp") / f"le-bench-{os.getpid()}.ini"),
               LATENT_EXPLORER_WARM_PROJECTION="0")
    n = 1 if smoke else 5
    starts, floors, folders = [], [], []
    with tempfile.TemporaryDirectory() as d:
        folder = _model_folder(Path(d) / "models")
        for _ in range(n):
            floors += _start_times(env, 1, IMPORT_FLOOR)
            starts += _start_times(env, 1, STARTUP)
            folders += _start_times(env, 1, STARTUP, folder)
    out = {"cold_start_s": float(np.median(starts)), "import_floor_s": float(np.median(floors)),
           "cold_start_200_models_s": float(np.median(folders))}
    out["cold_start_ratio"] = out["cold_start_s"] / out["import_floor_s"]
    out["cold_start_200_models_ratio"] = out["cold_start_200_models_s"] / out["import_floor_s"]
    if not smoke:
        r = subprocess.run([sys.executable, "-c", SESSION, str(ROOT)], capture_output=True, text=True, env=env,
                           timeout=600)
        lines = r.stdout.strip().splitlines()
        out["peak_rss_mb"] = float(lines[-1])  # the UI process
        out["peak_rss_training_process_mb"] = float(lines[-2])  # the training run's own process
    return out
