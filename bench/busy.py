"""A busy laptop (issue S.4): the slider and Text to Image with two CPU hogs beside the app (processes that
spin, as a browser or a build would), each ÷ the same measured idle in the same run; the slider moved at a
drag's pace (60 moves a second, the window asleep between them as the app's event loop is), under the thread policy
the window uses (:mod:`models.threads`: one thread unless more are faster by a margin, measured)."""

from __future__ import annotations

import subprocess
import sys
import time
from contextlib import contextmanager

import numpy as np

from bench.common import ROOT, Target, part, pct
from bench.slider import slider_to_pixels

HOGS = 2
DRAG_MS = 1000 / 60  # a drag's mouse moves: 60 a second (the rate a mouse reports and Qt delivers them)
ROUNDS = 4  # idle and busy slider runs, alternated and pooled


@contextmanager
def cpu_hogs(n: int = HOGS):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    time.sleep(0.5)  # spinning before anything is timed
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def _txt2img_s(model, reps: int, smoke: bool = False) -> float:
    """One Text to Image run as the view makes it (16 images, 25 DDIM steps, CFG 5, every step recorded),
    on the threads set now; the median of ``reps``."""
    from latent_explorer.models.progress import run_to_end
    from latent_explorer.models.sampling.text_trajectory import record_txt2img

    kw = dict(prompt="a small red circle at the top left on a navy background", negative="", n=4 if smoke else 16,
              sampler="ddim", steps=3 if smoke else 25, eta=0.0, guidance=5.0, seed=0)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        run_to_end(record_txt2img(model, **kw))
        times.append(time.perf_counter() - t)
    return float(np.median(times))


@part("busy",
      Target("slider_busy_ratio", "<=", 2.0, f"MNIST DCGAN slider → pixels p95 with {HOGS} CPU hogs beside ÷ idle"),
      Target("txt2img_busy_ratio", "<=", 2.0, f"Text to Image (scenes-ldm, 16 images × 25 steps) with {HOGS} CPU "
             "hogs beside ÷ idle"))
def bench_busy(smoke: bool) -> dict:
    import torch

    from latent_explorer.models import load
    from latent_explorer.models.sampling.text_trajectory import sampling_threads
    from latent_explorer.models.threads import DEFAULT_THREADS

    reps, rounds = (20, 1) if smoke else (150, ROUNDS)
    out = {}
    # moves paced as a drag's, idle and busy alike: back to back, the window would never sleep and the
    # scheduler would treat it as one more hog (that figure is kept too, for the record). Idle and busy
    # alternate, and each p95 is of all their rounds pooled: one round's idle p95 of 150 moves wandered from
    # 2.8 to 4.2 ms between runs, and the ratio with it
    idle, busy, bare = [], [], []
    for _ in range(rounds):
        s: dict = {}
        slider_to_pixels(reps, "mnist-dcgan", pace_ms=DRAG_MS, samples=s)
        idle += s["slider"]
        with cpu_hogs():
            slider_to_pixels(reps, "mnist-dcgan", pace_ms=DRAG_MS, samples=s)
        busy += s["slider"]
        bare += s["bare"]
    # for the record: the bare decode-and-paint, paced alike, under the same hogs. One thread sharing a core with
    # a busy process gets half of it while it runs (the kernel's fair share), so a burst takes about twice as
    # long under load whoever runs it; this says what the window's machinery adds on top
    out.update(slider_idle_ms_p95=pct(idle, 95), slider_busy_ms_p95=pct(busy, 95),
               slider_busy_ratio=pct(busy, 95) / pct(idle, 95), bare_busy_ms_p95=pct(bare, 95),
               slider_busy_vs_bare_busy_ratio=pct(busy, 95) / pct(bare, 95))
    if not smoke:
        with cpu_hogs():
            out["slider_busy_unpaced_ms_p95"] = slider_to_pixels(reps, "mnist-dcgan")["slider_to_pixels_ms_p95"]
    path = ROOT / "assets" / "scenes-ldm.safetensors"
    if path.exists():
        model = load(path)
        _ = model.parts
        before = torch.get_num_threads()
        threads = sampling_threads(model)  # the window's policy, measured on the model itself
        torch.set_num_threads(threads)
        r = 1 if smoke else 3
        idle_t = _txt2img_s(model, r, smoke)
        with cpu_hogs():
            busy_t = _txt2img_s(model, r, smoke)
        torch.set_num_threads(DEFAULT_THREADS)
        default_idle = _txt2img_s(model, r, smoke)  # what PyTorch's own thread count gives, for the record
        with cpu_hogs():
            default_busy = _txt2img_s(model, r, smoke)
        torch.set_num_threads(before)
        out.update(txt2img_idle_s=idle_t, txt2img_busy_s=busy_t, txt2img_busy_ratio=busy_t / idle_t,
                   txt2img_threads=float(threads), txt2img_default_threads_idle_s=default_idle,
                   txt2img_default_threads_busy_s=default_busy)
    return out
