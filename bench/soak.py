"""Soak: random slider moves and view switches for a while; prints the RSS growth.

    python -m bench.soak [--minutes 10]

RSS is sampled every 10 seconds after a warm-up minute (caches, first map loads); the growth compares the
median of the last three samples with the median of the first three (single samples swing with the
allocator). The target is a growth of at most 5%. Not part of CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("LATENT_EXPLORER_SETTINGS", f"/tmp/le-soak-{os.getpid()}.ini")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv=None) -> int:
    import numpy as np

    from latent_explorer.qt_compat import application

    ap = argparse.ArgumentParser(prog="bench.soak")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=1.0, help="minutes before the first RSS sample")
    a = ap.parse_args(argv)
    app = application()
    from latent_explorer.main_window import MainWindow

    w = MainWindow()
    w.resize(1280, 800)
    w.show()
    rng = np.random.default_rng(0)
    names = [e.name for e in w.library.entries if e.known and not e.spec.capabilities.slow_decode]  # fast decoders
    t0 = time.monotonic()
    samples: list[float] = []
    next_sample = t0 + a.warmup * 60
    actions = 0
    end = t0 + a.minutes * 60
    while time.monotonic() < end:
        r = rng.random()
        if r < 0.02:
            name = names[int(rng.integers(len(names)))]
            w.library.set_current(next(e for e in w.library.entries if e.name == name))
        elif r < 0.06:
            w.show_view(["map", "editor", "diffusion", "training"][int(rng.integers(4))])
        elif w.editor.rows:
            row = w.editor.rows[int(rng.integers(len(w.editor.rows)))]
            row.slider.setValue(int(rng.integers(row.slider.minimum(), row.slider.maximum() + 1)))
        app.processEvents()
        actions += 1
        if time.monotonic() >= next_sample:
            samples.append(rss_mb())
            next_sample += 10
            if len(samples) == 1:
                print(f"after warm-up: RSS {samples[0]:.0f} MB", flush=True)
    app.processEvents()
    samples.append(rss_mb())
    base, final = float(np.median(samples[:3])), float(np.median(samples[-3:]))
    growth = 100 * (final - base) / base
    print(f"RSS samples (MB): {' '.join(f'{v:.0f}' for v in samples)}")
    print(f"{actions:,} actions in {a.minutes:g} min; RSS {base:.0f} -> {final:.0f} MB ({growth:+.1f}%); "
          f"target <= 5%: {'met' if growth <= 5 else 'MISSED'}")
    w.close()
    return 0


if __name__ == "__main__":
    from latent_explorer.qt_compat import exit_process

    exit_process(main())  # see there
