"""``make bench``: measure our speed against bare floors in the same run.

Writes ``bench/results.json`` (flat keys, numbers only) and the table in ``BENCHMARKS.md``. Each figure
is the median (or p95) of repeated measurements after a warm-up. ``--smoke`` runs one repetition of each
on small sizes, so the scripts cannot rot (the test suite runs it); ``--out`` changes where results go.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

TARGETS = {  # key: (comparison, target, floor key or None, what)
    "slider_to_pixels_ms_p95": ("<=", 3.0, "bare_decode_show_ms_p95", "slider → decode → image repainted (ms, p95)"),
    "slider_mnist_vae2d_ratio": ("<=", 1.2, None, "MNIST VAE (bundled): slider → pixels p95 ÷ its bare "
                                 "decode-and-paint p95"),
    "slider_mnist_dcgan_ratio": ("<=", 1.2, None, "MNIST DCGAN (bundled): slider → pixels p95 ÷ its bare "
                                 "decode-and-paint p95"),
    "train_ratio_headless": (">=", 0.95, None, "our trainer ÷ bare PyTorch loop (throughput)"),
    "train_ratio_gui": (">=", 0.90, None, "Training view worker ÷ headless trainer (throughput)"),
    "ui_stall_ms_max": ("<=", 50.0, None, "longest UI-thread gap during a GUI training run (ms)"),
    "map_10k_s": ("<=", 1.0, None, "encode + PCA + draw 10,000 MNIST images (s)"),
    "map_pan_70k_ms": ("<=", 50.0, None, "one pan/zoom redraw of a 70,000-point map (ms, median)"),
    "scrub_frame_ms_p95": ("<=", 5.0, None, "show one recorded diffusion frame (ms, p95)"),
    "scheduler_overhead_ratio": ("<=", 1.05, None, "our reverse loop ÷ bare textbook loop (time)"),
    "cold_start_s": ("<=", 3.0, None, "process start → first painted main window (s)"),
    "scenes_20k_s": ("<=", 5.0, None, "generate the built-in `scenes` data, 20,000 captioned 32×32 RGB images (s)"),
    "txt2img_16x25_cfg_s": ("<=", 1.5, None, "latent diffusion (bundled sizes): 16 images, 25 DDIM steps, CFG 5, "
                            "decoded (s)"),
    "txt2img_loop_ratio": ("<=", 1.05, None, "our txt2img ÷ a bare loop calling the same U-Net and decoder (time)"),
    "map_first_draw_1m_s": ("<=", 1.0, None, "first draw of a 1,000,000-point map, 10 classes (s)"),
    "map_pan_1m_ms": ("<=", 50.0, None, "one pan/zoom redraw of a 1,000,000-point map (ms, median)"),
    "map_density_render_1m_ms": ("<=", 200.0, None, "the 1M-point density picture recomputed when the view rests "
                                 "(ms, median)"),
    "tsne_vs_handwritten": ("<=", 0.3, None, "openTSNE ÷ the hand-written t-SNE it replaced, 10,000 MNIST latents "
                            "(time)"),
    "tsne_10k_knn5": (">=", 0.93, None, "openTSNE map of 10,000 MNIST latents: 5-NN label accuracy"),
    "sketch_stroke_ms_p95": ("<=", 50.0, "bare_translate_ms_p95", "Sketch view, pix2pix of the default size "
                             "(width 32, 32×32): a stroke's mouse move → answer shown (ms, p95)"),
}


def pct(xs, q):
    return float(np.percentile(np.asarray(xs, np.float64), q))


def app():
    from explorer.qt_compat import application

    return application()


# ----------------------------------------------------------------------------------------------


def bench_slider_mnist(reps: int) -> dict:
    """Issue I: slider → pixels of the bundled real-size MNIST models against their own bare floors."""
    out = {}
    for name in ("mnist-vae2d", "mnist-dcgan"):
        r = bench_slider(reps, name)
        key = name.replace("-", "_")
        out[f"slider_{key}_ms_p95"] = r["slider_to_pixels_ms_p95"]
        out[f"bare_{key}_ms_p95"] = r["bare_decode_show_ms_p95"]
        out[f"slider_{key}_ratio"] = r["slider_to_pixels_ms_p95"] / r["bare_decode_show_ms_p95"]
    return out


def bench_slider(reps: int, name: str = "digits-vae2d") -> dict:
    import pyqtgraph as pg
    import torch

    from explorer.editor import LatentEditor
    from explorer.state import LatentState
    from models import load
    from models.display import to_display

    a = app()
    model = load(ROOT / "assets" / f"{name}.safetensors")
    state = LatentState()
    ed = LatentEditor(state)
    ed.resize(900, 600)
    ed.show()
    state.set_model(model)
    a.processEvents()
    from PySide6.QtCore import QEvent, QObject

    class PaintProbe(QObject):  # the first paint of the image panel after the new image is set
        painted = False

        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint and done:
                self.painted = True
            return False

    slider = ed.rows[0].slider
    done = []
    ed.imageUpdated.connect(lambda: done.append(1))
    probe = PaintProbe()
    ed.panel.viewport().installEventFilter(probe)
    times = []
    for i in range(reps + 20):
        done.clear()
        probe.painted = False
        t = time.perf_counter()
        slider.setValue((i * 37) % 600 - 300)
        while not (done and probe.painted):  # as in the app: the event loop paints what changed
            a.processEvents()
        if i >= 20:
            times.append((time.perf_counter() - t) * 1000)
    ed.panel.viewport().removeEventFilter(probe)
    ed.shutdown()
    ed.close()
    # the floor: decode + ImageItem.setImage + repaint, without our widgets
    w = pg.GraphicsLayoutWidget()
    vb = w.addViewBox(lockAspect=True)
    item = pg.ImageItem(levels=(0, 1))
    vb.addItem(item)
    w.resize(600, 600)
    w.show()
    a.processEvents()
    bare = []
    for i in range(reps + 20):
        t = time.perf_counter()
        z = model.origin()[None].clone()
        z[0, 0] = ((i * 37) % 600 - 300) / 100
        with torch.no_grad():
            img = model.decode(z)[0].numpy()
        item.setImage(to_display(img), autoLevels=False, levels=(0, 1))
        w.viewport().repaint()
        if i >= 20:
            bare.append((time.perf_counter() - t) * 1000)
    w.close()
    return {"slider_to_pixels_ms_p50": pct(times, 50), "slider_to_pixels_ms_p95": pct(times, 95),
            "bare_decode_show_ms_p95": pct(bare, 95), "bare_decode_show_ms_p50": pct(bare, 50)}


def _train_data(smoke: bool):
    from models import load_dataset

    if MNIST.exists() and not smoke:
        return load_dataset(str(MNIST))
    return load_dataset("digits")


def bench_training(smoke: bool) -> dict:
    import torch

    from explorer.training_job import TRAIN_NICE, training_threads
    from models import TrainConfig, build_model, make_config, train

    data = _train_data(smoke)
    epochs = 1 if smoke else 4
    bs = 128
    cfg = make_config("vae", data.shape, 20)
    tr, _ = data.split(0.1)

    def ours():
        """Our trainer's own samples/s figure (time in training steps; per-epoch validation excluded)."""
        torch.manual_seed(0)
        model = build_model(cfg)
        records = list(train(model, data, TrainConfig(epochs=epochs, batch_size=bs, lr=1e-3, checkpoint_every=0)))
        return records[-1].samples_per_s

    def bare():
        """The same model class, data, batch size and optimizer (the model's own Adam); a plain loop."""
        torch.manual_seed(0)
        model = build_model(cfg).train()
        opt = model.make_optimizers(1e-3)["opt"]
        x = torch.from_numpy(tr.images)
        g = torch.Generator().manual_seed(0)
        n = 0
        t = time.perf_counter()
        for _ in range(epochs):
            perm = torch.randperm(len(x), generator=g)
            for i in range(0, len(x), bs):
                xb = x[perm[i : i + bs]]
                if len(xb) < 2:
                    continue
                _, loss = model.losses(xb, None)
                opt.zero_grad()
                loss.backward()
                opt.step()
                n += len(xb)
        return n / (time.perf_counter() - t)

    ours(), bare()  # warm-up
    o, b, gui = [], [], []
    for _ in range(1 if smoke else 7):  # interleaved, so drifting load affects all three alike
        o.append(ours())
        b.append(bare())
        gui.append(bench_training_gui(data, epochs, bs))
    out = {"train_headless_img_s": float(np.median(o)), "train_bare_img_s": float(np.median(b))}
    out["train_ratio_headless"] = out["train_headless_img_s"] / out["train_bare_img_s"]
    out["training_threads_gui"] = float(training_threads())
    out["training_nice_gui"] = float(TRAIN_NICE)
    if os.environ.get("BENCH_DEBUG"):
        print("headless", [round(v) for v in o], "bare", [round(v) for v in b], "gui", [round(g["rate"]) for g in gui],
              file=sys.stderr)
    out["train_gui_img_s"] = float(np.median([g["rate"] for g in gui]))
    out["train_ratio_gui"] = out["train_gui_img_s"] / out["train_headless_img_s"]
    out["ui_stall_ms_max"] = float(np.median([g["stall"] for g in gui]))
    out["ui_stall_ms_worst"] = float(max(g["stall"] for g in gui))
    out["train_gui_start_s"] = float(np.median([g["start"] for g in gui]))
    out["ui_cpu_share_training"] = float(np.median([g["ui_cpu"] for g in gui]))
    return out


def bench_training_gui(data, epochs, bs) -> dict:
    """One run in the Training view, under a real event loop (``QEventLoop.exec``, as the app runs),
    probed by a 10 ms timer on the UI thread: the longest gap between its ticks, less the 10 ms."""
    import tempfile

    from PySide6.QtCore import QEventLoop, QTimer

    from explorer.state import ModelLibrary
    from explorer.training_view import RunSpec, TrainingView

    a = app()
    view = TrainingView(ModelLibrary())
    view.resize(1200, 800)
    view.show()
    a.processEvents()
    from explorer.procjob import has_spare

    t = time.perf_counter()  # as a user choosing settings: the spare training process warms up meanwhile
    while has_spare() and not has_spare(ready=True) and time.perf_counter() - t < 60:
        a.processEvents()
        time.sleep(0.02)
    gaps, when, last, t_start, first = [], [], [0.0], [0.0], [None]

    def probe():
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        when.append((round(gaps[-1], 1), round(now - t_start[0], 2), round(run.fraction, 3)))
        last[0] = now
        if first[0] is None and run.fraction > 0:
            first[0] = now - t_start[0]

    loop = QEventLoop()
    timer = QTimer()
    timer.timeout.connect(probe)
    check = QTimer()
    check.timeout.connect(lambda: loop.quit() if run.worker is None and run.status != "queued" else None)
    with tempfile.TemporaryDirectory() as tmp:
        spec = RunSpec(kind="vae", data=data.spec, out=str(Path(tmp) / "gui.safetensors"), epochs=epochs,
                       batch_size=bs, lr=1e-3, latent_dim=20, preview_every=1.0)
        run = view.start(spec)
        last[0] = t_start[0] = time.perf_counter()
        cpu0 = time.thread_time()
        timer.start(10)
        check.start(20)
        loop.exec()
        timer.stop()
        check.stop()
        ui_cpu = (time.thread_time() - cpu0) / (time.perf_counter() - t_start[0])
    view.shutdown()
    view.close()
    if os.environ.get("BENCH_DEBUG"):
        print("worst UI gaps (ms, s since start, run fraction):", sorted(when, reverse=True)[:6], file=sys.stderr)
    steady = gaps[5:] if len(gaps) > 10 else gaps  # the first ticks include the timer's own start
    # the trainer's own throughput figure (images / time in training steps), as the headless run's
    return {"rate": run.rate or 0.0, "stall": max(steady) - 10.0 if steady else 0.0,
            "start": first[0] or 0.0, "ui_cpu": ui_cpu}


def _map_of_2d_points():
    """A Latent Map of a 2-D model, shown, for points of our own (set with ``_set_latents``)."""
    from explorer.latent_map import LatentMap
    from explorer.state import LatentState
    from models import build_model, make_config

    m = LatentMap(LatentState())
    m.resize(1000, 700)
    m.show()
    m.model = build_model(make_config("vae", (1, 8, 8), 2))
    return m


def _pan_frame_ms(m, vb, i: int) -> float:
    """One pan and zoom of the map and its repaint (ms); even and odd frames go back and forth."""
    t = time.perf_counter()
    vb.translateBy(x=0.05 * (1 if i % 2 else -1))
    vb.scaleBy((0.97, 0.97) if i % 2 else (1 / 0.97, 1 / 0.97))
    m.plot.viewport().repaint()
    return (time.perf_counter() - t) * 1000


def bench_map(smoke: bool) -> dict:
    import pyqtgraph as pg

    from explorer.latent_map import LatentMap
    from explorer.state import LatentState
    from models import TrainConfig, build_model, load_dataset, make_config, train
    from models.latent import LatentSet

    a = app()
    out = {}
    if MNIST.exists():
        data = load_dataset(str(MNIST))
        if smoke:
            data = data.subset(slice(0, 1000))
        model = build_model(make_config("vae", data.shape, 16))
        for _ in train(model, data, TrainConfig(epochs=1, batch_size=256, max_steps=5, checkpoint_every=0)):
            pass
        model.meta = {"data": {"spec": str(MNIST)}}
        state = LatentState()
        m = LatentMap(state)
        m.resize(1000, 700)
        m.show()
        state.set_model(model)  # warm-up (loads the data, encodes, draws)
        while not m.is_ready():
            a.processEvents()
        times = []
        for _ in range(1 if smoke else 3):
            t = time.perf_counter()
            m.load(str(MNIST))
            while not m.is_ready():
                a.processEvents()
            m.plot.viewport().repaint()
            times.append(time.perf_counter() - t)
        out["map_10k_s"] = float(np.median(times))
        out["map_10k_points"] = float(len(m.xy))
        m.shutdown()
        m.close()
    # 70,000 points: one redraw while panning and zooming
    n = 7000 if smoke else 70000
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, n)
    z = (rng.normal(size=(n, 2)) + np.stack([np.cos(labels), np.sin(labels)], 1) * 3).astype(np.float32)
    m = _map_of_2d_points()
    m._set_latents(LatentSet(z, labels, [str(i) for i in range(10)], None, "encoded"))
    a.processEvents()
    vb = m.plot.getViewBox()
    times = [_pan_frame_ms(m, vb, i) for i in range(3 if smoke else 30)]
    out["map_pan_70k_ms"] = pct(times[1:] or times, 50)
    m.close()
    # a million points (10 classes): the first draw, a pan/zoom frame (the density picture moves with the
    # view), and the density picture recomputed once the view rests
    n = 250_000 if smoke else 1_000_000
    labels = rng.integers(0, 10, n)
    z = (rng.normal(size=(n, 2)) + np.stack([np.cos(labels), np.sin(labels)], 1) * 3).astype(np.float32)
    m = _map_of_2d_points()
    a.processEvents()
    t = time.perf_counter()
    m._set_latents(LatentSet(z, labels, [str(i) for i in range(10)], None, "encoded"))
    a.processEvents()
    m.plot.viewport().repaint()
    out["map_first_draw_1m_s"] = time.perf_counter() - t
    vb = m.plot.getViewBox()
    times, renders = [], []
    for i in range(3 if smoke else 30):
        times.append(_pan_frame_ms(m, vb, i))
        if i % 5 == 4 and m.points.density is not None:
            t = time.perf_counter()
            m.points.density.render()
            m.plot.viewport().repaint()
            renders.append((time.perf_counter() - t) * 1000)
    out["map_pan_1m_ms"] = pct(times[1:] or times, 50)
    out["map_density_render_1m_ms"] = pct(renders, 50) if renders else 0.0
    m.shutdown()
    m.close()
    del pg
    return out


def bench_diffusion(smoke: bool) -> dict:
    import torch

    from explorer.diffusion_view import DiffusionView
    from explorer.state import LatentState
    from models import load
    from models.trajectory import record_reverse

    a = app()
    model = load(ROOT / "assets" / "digits-ddpm.safetensors")
    n = 2 if smoke else 16
    out = {}
    if smoke:  # the same network with a 50-step schedule, so the smoke run stays quick
        from models import build_model

        cfg = model.config
        cfg.timesteps = 50
        small = build_model(cfg)
        small.load_state_dict(model.state_dict())
        model = small.eval()
    t = time.perf_counter()
    traj = None
    gen = record_reverse(model, n, torch.arange(n) % 10, "ddpm", seed=0)
    while True:
        try:
            next(gen)
        except StopIteration as e:
            traj = e.value
            break
    out["ddpm_reverse_s_per_sample"] = (time.perf_counter() - t) / n
    out["trajectory_mb_16"] = traj.nbytes / 2**20 * 16 / n
    t = time.perf_counter()
    model.sample(n, torch.arange(n) % 10, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=50)
    out["ddim50_s_per_sample"] = (time.perf_counter() - t) / n

    # our reverse loop vs a bare loop calling the same U-Net with the textbook formulas
    def ours():
        t = time.perf_counter()
        model.sample(n, torch.arange(n) % 10, generator=torch.Generator().manual_seed(0), sampler="ddpm")
        return time.perf_counter() - t

    def bare():
        s = model.scheduler
        betas, alphas, abar = s.betas, s.alphas, s.alphas_cumprod
        g = torch.Generator().manual_seed(0)
        y = torch.arange(n) % 10
        t0 = time.perf_counter()
        with torch.no_grad():
            x = torch.randn(n, *model.image_shape, generator=g)
            for t in range(model.config.timesteps - 1, -1, -1):
                eps = model.ema(x, torch.full((n,), t), y)
                x0 = ((x - (1 - abar[t]).sqrt() * eps) / abar[t].sqrt()).clamp(-1, 1)
                ap = abar[t - 1] if t > 0 else torch.tensor(1.0)
                mean = ap.sqrt() * betas[t] / (1 - abar[t]) * x0 + alphas[t].sqrt() * (1 - ap) / (1 - abar[t]) * x
                if t > 0:
                    var = (1 - ap) / (1 - abar[t]) * betas[t]
                    mean = mean + var.sqrt() * torch.randn(x.shape, generator=g)
                x = mean
        return time.perf_counter() - t0

    o, b = [], []
    for _ in range(1 if smoke else 5):  # interleaved, so drifting load affects both alike
        o.append(ours())
        b.append(bare())
    # the fastest of each: an overhead is a floor-to-floor comparison, and minima are the least noisy
    out["scheduler_overhead_ratio"] = float(np.min(o)) / float(np.min(b))

    state = LatentState()
    v = DiffusionView(state)
    v.resize(1200, 800)
    v.show()
    state.set_model(model)
    v._set_trajectory(traj)
    a.processEvents()
    rng = np.random.default_rng(0)
    times = []
    for _ in range(20 if smoke else 200):
        k = int(rng.integers(len(traj)))
        t = time.perf_counter()
        v.frame.setValue(k)
        v.rev_x.viewport().repaint()
        v.rev_x0.viewport().repaint()
        v.rev_eps.viewport().repaint()
        times.append((time.perf_counter() - t) * 1000)
    out["scrub_frame_ms_p95"] = pct(times[5:], 95)
    out["scrub_frame_ms_p50"] = pct(times[5:], 50)
    v.shutdown()
    v.close()
    return out


STARTUP = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from PySide6.QtCore import QEvent, QObject, QTimer
from explorer.qt_compat import application
app = application()
from explorer.main_window import MainWindow
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
from explorer.qt_compat import application
app = application()
from explorer.main_window import MainWindow
from explorer.training_view import RunSpec
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
from explorer.qt_compat import exit_process
exit_process(0)
"""


def bench_sketch(smoke: bool) -> dict:
    """Issue K: a stroke in the Sketch view until the pix2pix answer is shown (speed does not depend on the
    weights: an untrained model of the default size), against the bare translate call."""
    import tempfile

    import torch
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from explorer.sketch_view import SketchView
    from explorer.state import LatentState
    from models import build_model, load, load_dataset, make_config, save

    a = app()
    data = load_dataset("scenes:256")
    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        save(build_model(make_config("pix2pix", data.shape, data=data)), Path(d) / "p.safetensors")
        model = load(Path(d) / "p.safetensors")
    state = LatentState()
    view = SketchView(state)
    view.resize(900, 500)
    view.show()
    state.set_model(model)
    a.processEvents()
    pad = view.pad
    left, top, side = pad._square()
    side /= pad.ink.shape[0]
    reps = 5 if smoke else 200
    times = []
    pad.push_undo()
    for i in range(reps + 10):
        r, c = 4 + (i * 7) % 24, 4 + (i * 11) % 24
        p = QPointF(left + (c + 0.5) * side, top + (r + 0.5) * side)
        pad.canvas[r, c] = pad.paper  # this press changes the drawing (a cell drawn before would not)
        before = view.output
        t = time.perf_counter()
        QApplication.sendEvent(pad, QMouseEvent(QMouseEvent.Type.MouseButtonPress, p, pad.mapToGlobal(p),
                                                Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                                                Qt.KeyboardModifier.NoModifier))
        while view.output is before or not view.is_ready():  # as in the app: the event loop delivers it
            a.processEvents()
        if i >= 10:
            times.append((time.perf_counter() - t) * 1000)
        QApplication.sendEvent(pad, QMouseEvent(QMouseEvent.Type.MouseButtonRelease, p, pad.mapToGlobal(p),
                                                Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton,
                                                Qt.KeyboardModifier.NoModifier))
    view.shutdown()
    view.close()
    bare = []
    ink = torch.from_numpy(pad.ink[None, None].copy())
    for i in range(reps + 10):
        t = time.perf_counter()
        model.translate(ink)
        if i >= 10:
            bare.append((time.perf_counter() - t) * 1000)
    return {"sketch_stroke_ms_p95": pct(times, 95), "sketch_stroke_ms_p50": pct(times, 50),
            "bare_translate_ms_p95": pct(bare, 95)}


def bench_txt2img(smoke: bool) -> dict:
    """Latent diffusion at the bundled build's sizes (speed does not depend on the weights, so untrained parts
    do): 16 images, 25 DDIM steps, classifier-free guidance, decoded; and our loop against a bare one."""
    import tempfile

    import torch

    from models import build_model, load_dataset, make_config, save

    data = load_dataset("scenes:256")
    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        save(build_model(make_config("latent-ae", data.shape)), Path(d) / "ae.safetensors")
        save(build_model(make_config("clip", data.shape, data=data)), Path(d) / "te.safetensors")
        model = build_model(make_config("ldm", data.shape, data=data, autoencoder=str(Path(d) / "ae.safetensors"),
                                        text_encoder=str(Path(d) / "te.safetensors"))).eval()
        _ = model.parts  # the parts are read once, before any timing
    n, steps, w = (4, 3, 5.0) if smoke else (16, 25, 5.0)
    prompt = ["a small red circle at the top left on a navy background"] * n

    def ours():
        t = time.perf_counter()
        model.txt2img(prompt, sampler="ddim", steps=steps, guidance=w, seed=0)
        return time.perf_counter() - t

    def bare():
        ae, te = model.parts
        abar = model.scheduler.alphas_cumprod
        t0 = time.perf_counter()
        with torch.no_grad():
            ids = te.tokenize(prompt + [""] * n).ids
            context, _ = te.encode_text(ids)
            pad = ids == 0
            g = torch.Generator().manual_seed(0)
            z = torch.randn(n, *model.config.latent_shape, generator=g)
            ts = list(range(0, 1000, 1000 // steps))[::-1]
            for i, t in enumerate(ts):
                both = model.ema(torch.cat([z, z]), torch.full((2 * n,), t), context, pad)
                e, e0 = both.chunk(2)
                eps = e0 + w * (e - e0)
                a, ap = abar[t], abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
                x0 = (z - (1 - a).sqrt() * eps) / a.sqrt()
                z = ap.sqrt() * x0 + (1 - ap).sqrt() * eps
            ae.decode_latents(z)
        return time.perf_counter() - t0

    o, b = [], []
    for _ in range(1 if smoke else 5):  # interleaved: drifting load affects both alike
        o.append(ours())
        b.append(bare())
    return {"txt2img_16x25_cfg_s": float(np.median(o)), "txt2img_loop_ratio": float(np.min(o)) / float(np.min(b))}


def bench_tsne(smoke: bool) -> dict:
    """Maps of 10,000 real MNIST latents (the bundled 16-D VAE): openTSNE and umap-learn against the
    hand-written t-SNE they replaced (bench/tsne_baseline.py), in the same run; time and how well each map
    keeps neighbourhoods (5-NN label accuracy)."""
    import torch

    from bench.tsne_baseline import tsne as handwritten
    from models import load, load_dataset
    from models.embedding import knn_label_accuracy, tsne, umap
    from models.progress import run_to_end

    data = load_dataset("mnist")
    n = 1000 if smoke else 10000
    model = load(ROOT / "assets" / "mnist-vae16.safetensors")
    with torch.no_grad():
        z = model.encode(torch.from_numpy(data.images[:n])).numpy()
    y = data.labels[:n]
    out = {}
    for name, fn in (("tsne_handwritten", lambda: run_to_end(handwritten(z))),
                     ("tsne", lambda: run_to_end(tsne(z)).xy), ("umap", lambda: run_to_end(umap(z)).xy)):
        t = time.perf_counter()
        xy = fn()
        out[f"{name}_10k_s"] = time.perf_counter() - t
        out[f"{name}_10k_knn5"] = knn_label_accuracy(xy, y)
    out["tsne_vs_handwritten"] = out["tsne_10k_s"] / out["tsne_handwritten_10k_s"]
    return out


def bench_data(smoke: bool) -> dict:
    from models.data import load_dataset

    times = []
    for _ in range(1 if smoke else 3):
        t = time.perf_counter()
        d = load_dataset("scenes:2000" if smoke else "scenes")
        times.append(time.perf_counter() - t)
        assert len(d.captions) == len(d)
    key = "scenes_2k_smoke_s" if smoke else "scenes_20k_s"
    return {key: float(np.median(times))}


def bench_process(smoke: bool) -> dict:
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


# ----------------------------------------------------------------------------------------------


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, {platform.system()}")


def write_markdown(path: Path, results: dict, notes: str) -> None:
    rows = ["| figure | value | floor / reference | ratio | target | met |", "|---|---|---|---|---|---|"]
    for key, (op, target, floor_key, what) in TARGETS.items():
        if key not in results:
            rows.append(f"| `{key}` — {what} | skipped (no local data) | | | {op} {target} | |")
            continue
        v = results[key]
        floor = results.get(floor_key) if floor_key else None
        ratio = f"{v / floor:.2f}×" if floor else ""
        met = v <= target if op == "<=" else v >= target
        rows.append(f"| `{key}` — {what} | {v:.3g} | {f'{floor:.3g} (`{floor_key}`)' if floor else ''} | {ratio} "
                    f"| {op} {target} | {'yes' if met else '**no**'} |")
    extra = [f"| `{k}` | {v:.4g} |" for k, v in results.items() if k not in TARGETS]
    text = (f"# Benchmarks\n\nMade by `make bench` ({time.strftime('%Y-%m-%d')}) on: {machine()}.\n"
            "Each figure is the median (or p95 where named) of repeated measurements after a warm-up; "
            "floors are measured in the same run.\n\n" + "\n".join(rows) +
            "\n\nOther figures:\n\n| key | value |\n|---|---|\n" + "\n".join(extra) + "\n\n" + notes)
    path.write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--smoke", action="store_true", help="one repetition each, small sizes")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--markdown", default=None, help="default: BENCHMARKS.md (not written with --smoke)")
    ap.add_argument("--only", default=None, help="comma-separated: slider,slider_mnist,training,map,diffusion,txt2img,"
                    "tsne,data,process,sketch")
    ap.add_argument("--merge", action="store_true",
                    help="with --only: keep the other figures of the last results file (a partial rerun)")
    a = ap.parse_args(argv)
    parts = {"slider": lambda: bench_slider(5 if a.smoke else 300),
             "slider_mnist": lambda: bench_slider_mnist(5 if a.smoke else 300),
             "training": lambda: bench_training(a.smoke),
             "map": lambda: bench_map(a.smoke), "diffusion": lambda: bench_diffusion(a.smoke),
             "txt2img": lambda: bench_txt2img(a.smoke), "tsne": lambda: bench_tsne(a.smoke),
             "data": lambda: bench_data(a.smoke), "process": lambda: bench_process(a.smoke),
             "sketch": lambda: bench_sketch(a.smoke)}
    chosen = a.only.split(",") if a.only else list(parts)
    results = {}
    if a.merge and Path(a.out).is_file():
        results.update(json.loads(Path(a.out).read_text()))
    for name in chosen:
        t = time.perf_counter()
        results.update(parts[name]())
        gc.collect()  # here, on the GUI thread, not piled up for the interpreter's teardown
        print(f"{name}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    results = {k: round(float(v), 4) for k, v in results.items()}
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not a.smoke:
        notes_file = ROOT / "bench" / "NOTES.md"
        notes = notes_file.read_text() if notes_file.exists() else ""
        write_markdown(Path(a.markdown or ROOT / "BENCHMARKS.md"), results, notes)
    return 0


if __name__ == "__main__":
    code = main()
    if "PySide6.QtWidgets" in sys.modules:  # see explorer.qt_compat.exit_process
        from explorer.qt_compat import exit_process

        exit_process(code)
    sys.exit(code)
