"""``make bench``: measure our speed against bare floors in the same run.

Writes ``bench/results.json`` (flat keys, numbers only) and the table in ``BENCHMARKS.md``. Each figure
is the median (or p95) of repeated measurements after a warm-up. ``--smoke`` runs one repetition of each
on small sizes, so the scripts cannot rot (the test suite runs it); ``--out`` changes where results go.

This file only runs the parts. Each area of the app has its own module (``AREAS``), where every part
(``--only NAME``) is declared with ``@part`` and each figure's target sits on the function that makes it
(``bench/common.py``); ``bench/report.py`` writes the table.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# the area modules, in the order their parts run and their targets are listed
AREAS = ("slider", "training", "latent_map", "diffusion", "txt2img", "stable_diffusion", "projection", "data",
         "process", "sketch", "busy")


def parts() -> dict:
    from bench.common import PARTS

    for area in AREAS:
        importlib.import_module(f"bench.{area}")
    return PARTS


def main(argv=None) -> int:
    available = parts()
    ap = argparse.ArgumentParser(prog="bench")
    ap.add_argument("--smoke", action="store_true", help="one repetition each, small sizes")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    ap.add_argument("--markdown", default=None, help="default: BENCHMARKS.md (not written with --smoke)")
    ap.add_argument("--only", default=None, help="comma-separated: " + ",".join(available))
    ap.add_argument("--merge", action="store_true",
                    help="with --only: keep the other figures of the last results file (a partial rerun)")
    a = ap.parse_args(argv)
    chosen = a.only.split(",") if a.only else list(available)
    results = {}
    if a.merge and Path(a.out).is_file():
        results.update(json.loads(Path(a.out).read_text()))
    import torch

    threads = torch.get_num_threads()
    for name in chosen:
        t = time.perf_counter()
        results.update(available[name].run(a.smoke))
        torch.set_num_threads(threads)  # a part that chose its threads (the editor does) leaves the next as it was
        gc.collect()  # here, on the GUI thread, not piled up for the interpreter's teardown
        print(f"{name}: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    results = {k: round(float(v), 4) for k, v in results.items()}
    Path(a.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    from bench.common import TARGETS

    for key, t in TARGETS.items():  # what missed its target, and a floor that is not one, said at the end
        if key in results and not t.met(results[key], results.get(t.floor) if t.floor else None):
            why = "below its floor (the floor is wrong)" if t.below_floor(
                results[key], results.get(t.floor) if t.floor else None) else f"target {t.op} {t.value}"
            print(f"missed: {key} = {results[key]:.4g}: {why}", file=sys.stderr)
    if not a.smoke:
        from bench.report import write_markdown

        notes_file = ROOT / "bench" / "NOTES.md"
        notes = notes_file.read_text() if notes_file.exists() else ""
        write_markdown(Path(a.markdown or ROOT / "BENCHMARKS.md"), results, notes)
    return 0


if __name__ == "__main__":
    code = main()
    if "PySide6.QtWidgets" in sys.modules:  # see explorer.qt_compat.exit_process
        from latent_explorer.qt_compat import exit_process

        exit_process(code)
    sys.exit(code)
