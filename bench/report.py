"""BENCHMARKS.md: the targets' table (each figure beside its floor where it names one), the other figures,
and ``bench/NOTES.md``."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

from bench.common import TARGETS


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
    for key, t in TARGETS.items():
        if key not in results:
            rows.append(f"| `{key}` — {t.what} | skipped (no local data) | | | {t.op} {t.value} | |")
            continue
        v = results[key]
        floor = results.get(t.floor) if t.floor else None
        ratio = f"{v / floor:.2f}×" if floor else ""
        met = "yes" if t.met(v, floor) else ("**no**: below its floor, so the floor is wrong"
                                            if t.below_floor(v, floor) else "**no**")
        rows.append(f"| `{key}` — {t.what} | {v:.3g} | {f'{floor:.3g} (`{t.floor}`)' if floor else ''} | {ratio} "
                    f"| {t.op} {t.value} | {met} |")
    extra = [f"| `{k}` | {v:.4g} |" for k, v in results.items() if k not in TARGETS]
    text = (f"# Benchmarks\n\nMade by `make bench` ({time.strftime('%Y-%m-%d')}) on: {machine()}.\n"
            "Each figure is the median (or p95 where named) of repeated measurements after a warm-up; "
            "floors are measured in the same run.\n\n" + "\n".join(rows) +
            "\n\nOther figures:\n\n| key | value |\n|---|---|\n" + "\n".join(extra) + "\n\n" + notes)
    path.write_text(text)
