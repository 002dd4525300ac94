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

STARTUP = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from latent_explorer.qt_compat import application
app = application()
from latent_explorer.main_window import MainWindow
class Probe(QObject):
    def eventFilter(self, obj, ev):
        if ev.type() == QEvent.Type.Paint:
            print(time.time(), flush=True)
            os._exit(0)
        return False
w = MainWindow()
p = Probe()
w.installEventFilter(p)
w.show()
app.exec()
"""

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
    w.library.set_current(next(e for e in w.library.entries if e.name == name))
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


@part("process", Target("cold_start_s", "<=", 3.0, "process start → first painted main window (s)"))
def bench_process(smoke: bool) -> dict:
    """``cold_start_s``: the median of 5 starts of ``STARTUP``; ``peak_rss_mb`` (not in the smoke run): the
    ``SESSION`` script opens the map and editor for three models, records a DDPM trajectory and trains."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen",
               LATENT_EXPLORER_SETTINGS=str(Path("/tmp") / f"le-bench-{os.getpid()}.ini"))
    times = []
    for _ in range(1 if smoke else 5):
        t0 = time.time()
        r = subprocess.run([sys.executable, "-c", STARTUP, str(ROOT)], capture_output=True, text=True, env=env,
                           timeout=120)
        times.append(float(r.stdout.strip().splitlines()[-1]) - t0)
    out = {"cold_start_s": float(np.median(times))}
    if not smoke:
        r = subprocess.run([sys.executable, "-c", SESSION, str(ROOT)], capture_output=True, text=True, env=env,
                           timeout=600)
        lines = r.stdout.strip().splitlines()
        out["peak_rss_mb"] = float(lines[-1])  # the UI process
        out["peak_rss_training_process_mb"] = float(lines[-2])  # the training run's own process
    return out
