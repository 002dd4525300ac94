"""Training throughput: our trainer against a bare PyTorch loop over the same model, data, batch size and
optimizer; the Training view's run (its own process) against the headless trainer; and the UI thread's
longest gap while the view trains. Headless, bare and GUI runs are interleaved, so drifting load affects
all three alike."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.common import MNIST, Target, app, part, targets


def _train_data(smoke: bool):
    from latent_explorer.models import load_dataset

    if MNIST.exists() and not smoke:
        return load_dataset(str(MNIST))
    return load_dataset("digits")


@part("training", Target("train_ratio_headless", ">=", 0.95, "our trainer ÷ bare PyTorch loop (throughput)"))
def bench_training(smoke: bool) -> dict:
    import torch

    from latent_explorer.models import TrainConfig, build_model, make_config, train
    from latent_explorer.training_job import TRAIN_NICE, training_threads

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

    # headless and bare on the threads the window's training process gets (every core but the window's), so
    # the three throughputs compare the same work
    threads_before = torch.get_num_threads()
    torch.set_num_threads(training_threads())
    ours(), bare()  # warm-up
    o, b, gui = [], [], []
    for _ in range(1 if smoke else 7):  # interleaved, so drifting load affects all three alike
        o.append(ours())
        b.append(bare())
        gui.append(training_gui_run(data, epochs, bs))
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
    torch.set_num_threads(threads_before)
    return out


@targets(Target("train_ratio_gui", ">=", 0.90, "Training view worker ÷ headless trainer (throughput)"),
         Target("ui_stall_ms_max", "<=", 50.0, "longest UI-thread gap during a GUI training run (ms)"))
def training_gui_run(data, epochs, bs) -> dict:
    """One run in the Training view, under a real event loop (``QEventLoop.exec``, as the app runs),
    probed by a 10 ms timer on the UI thread: the longest gap between its ticks, less the 10 ms.
    ``train_ratio_gui`` is the median ``rate`` ÷ the headless trainer's; ``ui_stall_ms_max`` the median
    ``stall`` over the runs."""
    import tempfile

    from PySide6.QtCore import QEventLoop, QTimer

    from latent_explorer.procjob import has_spare
    from latent_explorer.state import ModelLibrary
    from latent_explorer.training_view import RunSpec, TrainingView

    a = app()
    view = TrainingView(ModelLibrary())
    view.resize(1200, 800)
    view.show()
    a.processEvents()

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
