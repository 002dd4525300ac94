"""Argument types of the command line: whole numbers and numbers with their ranges, each refused in one line
(exit code 2) before a command starts."""

from __future__ import annotations

import argparse
import math

from latent_explorer.models.sampling.samplers import (  # a generation's limits, written once (the views use them too)
    SEED_MAX,
)


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        raise UsageError(f"{self.prog}: {message}")


def whole_number(name, lo: int | None = None, hi: int | None = None):
    """An int parser with a clear message; with ``lo``/``hi``, the range too (other ranges depend on the
    model or the data, and are checked later, where the message can say why)."""
    def conv(s):
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a whole number, got {s[:40]!r}") from None
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{name} must be between {lo} and {hi}, got {str(v)[:40]}")
        return v

    return conv


def number(name: str = "", lo: float | None = None, hi: float | None = None):
    """A finite float parser, optionally range-checked."""
    def conv(s):
        what = f"{name} must be" if name else "expected"
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} a number, got {s[:40]!r}") from None
        if not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"{what} a finite number, got {s[:40]!r}")
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{name} must be between {lo:g} and {hi:g}, got {v:g}")
        return v

    return conv


SEED = whole_number("seed", 0, SEED_MAX)
