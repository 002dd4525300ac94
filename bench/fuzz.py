"""Fuzz the checkpoint loader with mutations of a real bundled checkpoint.

    python -m bench.fuzz --cases 10000

Every case must end in a loaded model or a CheckpointError: never another exception, a crash or a
hang (each case has a time limit). The test suite runs 2,000 cases (``tests/test_fuzz.py``).
"""

from __future__ import annotations

import argparse
import signal
import struct
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BASE = (ROOT / "assets" / "digits-vae2d.safetensors").read_bytes()
HEADER_END = 8 + struct.unpack("<Q", BASE[:8])[0]
JSON_BYTES = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"9", b"-", b"e", b"\\", b"\x00", b"\xff", b"null", b"1e999"]


def mutations():
    """Edits biased toward the header, where the parsing is."""
    pos_header = st.integers(0, HEADER_END + 16)
    return st.lists(st.one_of(
        st.tuples(st.just("set"), pos_header, st.integers(0, 255)),
        st.tuples(st.just("set"), st.integers(0, len(BASE) - 1), st.integers(0, 255)),
        st.tuples(st.just("truncate"), st.integers(0, len(BASE)), st.just(0)),
        st.tuples(st.just("insert"), pos_header, st.integers(0, 255)),
        st.tuples(st.just("delete"), pos_header, st.integers(1, 64)),
        st.tuples(st.just("length"), st.integers(0, 2**64 - 1), st.just(0)),
        st.tuples(st.just("json"), st.integers(8, HEADER_END - 1), st.integers(0, len(JSON_BYTES) - 1)),
    ), min_size=1, max_size=4)


def mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for op, a, v in edits:
        if op == "set" and a < len(b):
            b[a] = v
        elif op == "truncate":
            del b[a:]
        elif op == "insert":
            b[a:a] = bytes([v])
        elif op == "delete":
            del b[a : a + v]
        elif op == "length" and len(b) >= 8:
            b[:8] = struct.pack("<Q", a)
        elif op == "json" and a < len(b):
            b[a : a + 1] = JSON_BYTES[v]
    return bytes(b)


class Hang(Exception):
    pass


def _alarm(*_):
    raise Hang()


def check(blob: bytes, path: Path, limit_s: int = 10) -> str:
    """Load ``blob`` from ``path``; returns 'loaded' or 'refused'; raises on anything else."""
    from latent_explorer.models import CheckpointError, load

    path.write_bytes(blob)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(limit_s)
    try:
        load(path)
        return "loaded"
    except CheckpointError:
        return "refused"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def run(cases: int, seed_derandomize: bool = True) -> dict:
    counts = {"loaded": 0, "refused": 0}
    folder = Path(tempfile.mkdtemp(prefix="le-fuzz-"))
    path = folder / "case.safetensors"

    @settings(max_examples=cases, deadline=None, derandomize=seed_derandomize, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations())
    def case(edits):
        counts[check(mutate(BASE, edits), path)] += 1

    case()
    return counts


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="bench.fuzz")
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--random", action="store_true", help="a fresh random run instead of the fixed one")
    a = ap.parse_args(argv)
    t = time.perf_counter()
    counts = run(a.cases, not a.random)
    print(f"{sum(counts.values())} cases in {time.perf_counter() - t:.0f} s: {counts['refused']} refused with a "
          f"clear error, {counts['loaded']} loaded; no crash, hang or other exception")
    return 0


if __name__ == "__main__":
    sys.exit(main())
