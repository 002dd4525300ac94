"""How many threads PyTorch uses for interactive work (issue S.4), decided by a measurement.

Measured on a 2-core machine with two other busy processes beside the app: a DCGAN's single-image decode took
5.2 ms at p95 on one thread and 106 ms on PyTorch's default two, whose threads wait for each other when a core
is taken; idle, two threads were barely faster. So the window times one decode of the model it shows on one
thread and on the default count, and keeps more than one thread only where that is faster by a clear margin
(:data:`MARGIN`): one thread degrades gracefully when the machine gets busy, several do not."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager

import torch

DEFAULT_THREADS = torch.get_num_threads()  # PyTorch's own choice, before anyone changed it
MARGIN = 1.5  # more threads must be this much faster, idle, to be kept


@contextmanager
def torch_threads(n: int):
    """PyTorch's intra-op threads set to ``n`` inside the block (process-wide), then back."""
    old = torch.get_num_threads()
    if n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != old:
            torch.set_num_threads(old)


def time_with(fn: Callable[[], object], n: int, reps: int = 3) -> float:
    """The fastest of ``reps`` calls of ``fn`` on ``n`` threads, after one call that is not timed (s)."""
    with torch_threads(n):
        fn()
        best = float("inf")
        for _ in range(reps):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
    return best


def choose_threads(times: dict[int, float], margin: float = MARGIN) -> int:
    """The thread count to use from measured ``times`` ({threads: seconds}): one thread unless another count
    is faster than it by ``margin``, then the fastest."""
    one = times.get(1, float("inf"))
    best = min(times, key=times.get)
    return best if best != 1 and times[best] * margin < one else 1


def measure_threads(fn: Callable[[], object], reps: int = 3) -> tuple[int, dict[int, float]]:
    """(the thread count for ``fn``, the times measured on one thread and on PyTorch's default)."""
    counts = sorted({1, DEFAULT_THREADS})
    times = {n: time_with(fn, n, reps) for n in counts}
    return choose_threads(times), times
