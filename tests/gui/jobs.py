"""Generator jobs that tests run in a child process (``explorer.procjob``): importable, no Qt."""

import os
import time
from pathlib import Path


def count(n, marker, should_stop):
    """Yield 0..n-1 slowly; the ``finally`` is the job's own cleanup (the trainer saves weights there)."""
    try:
        for i in range(n):
            yield i
            time.sleep(0.005)
        return "done"
    finally:
        Path(marker).write_text("cleaned up")


def fail(should_stop):
    yield 1
    raise ValueError("broken input")


def die(should_stop):
    yield os.getpid()
    time.sleep(60)


def pid(should_stop):
    """The child's process id (a pool's child runs job after job)."""
    yield 0
    return os.getpid()
