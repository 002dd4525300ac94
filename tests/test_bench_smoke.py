"""The benchmark scripts run (one repetition each, small sizes), so they cannot rot."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_smoke(tmp_path):
    out = tmp_path / "results.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", LATENT_EXPLORER_SETTINGS=str(tmp_path / "s.ini"))
    r = subprocess.run([sys.executable, "-m", "bench", "--smoke", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(out.read_text())
    for key in ("slider_to_pixels_ms_p50", "slider_to_pixels_ms_p95", "bare_decode_show_ms_p95",
                "train_ratio_headless", "train_ratio_gui", "ui_stall_ms_max", "map_pan_70k_ms",
                "ddpm_reverse_s_per_sample", "ddim50_s_per_sample", "scrub_frame_ms_p95",
                "scheduler_overhead_ratio", "cold_start_s", "tsne_10k_s", "umap_10k_s", "tsne_10k_knn5",
                "map_pan_1m_ms", "map_first_draw_1m_s", "sd_step_overhead_ratio", "sd_record_mb_25_steps"):
        assert isinstance(res[key], (int, float)) and res[key] >= 0, key
    assert res["train_ratio_gui"] > 0 and res["slider_to_pixels_ms_p95"] > 0
    assert all(isinstance(v, (int, float)) for v in res.values())  # flat keys, numbers only
