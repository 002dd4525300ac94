"""Built-in data: generating the captioned ``scenes`` images in memory."""

from __future__ import annotations

import time

import numpy as np

from bench.common import Target, part


@part("data", Target("scenes_20k_s", "<=", 5.0, "generate the built-in `scenes` data, 20,000 captioned 32×32 RGB "
                     "images (s)"))
def bench_data(smoke: bool) -> dict:
    """The median of 3 generations (the smoke run: 2,000 images, under its own key)."""
    from latent_explorer.models.data import load_dataset

    times = []
    for _ in range(1 if smoke else 3):
        t = time.perf_counter()
        d = load_dataset("scenes:2000" if smoke else "scenes")
        times.append(time.perf_counter() - t)
        assert len(d.captions) == len(d)
    key = "scenes_2k_smoke_s" if smoke else "scenes_20k_s"
    return {key: float(np.median(times))}
