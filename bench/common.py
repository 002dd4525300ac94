"""What every area module of ``python -m bench`` shares: paths, percentiles, the one QApplication, and how a
figure's target and a runnable part are declared.

A target sits on the function that makes its figure::

    @part("sketch", Target("sketch_stroke_ms_p95", "<=", 50.0, "a stroke → answer shown (ms, p95)",
                           floor="bare_translate_ms_p95"))
    def bench_sketch(smoke: bool) -> dict: ...

``@part(name, *targets)`` makes ``name`` a part of the run (``--only name``); ``@targets(*targets)`` declares
the targets of a helper that a part calls. Targets are listed in BENCHMARKS.md in the order they are
declared, area module by area module. Each figure is judged against its target, and where it names a
``floor``, shown beside that floor measured in the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "data" / "mnist"


@dataclass(frozen=True)
class Target:
    """``key`` ``op`` ``value``: the figure ``key`` must be ``<=`` or ``>=`` ``value``. ``floor`` names a figure
    measured in the same run that is shown beside it (its bare counterpart); ``what`` is the table's text."""

    key: str
    op: str
    value: float
    what: str
    floor: str | None = None

    def ratio(self, v: float, floor: float | None) -> float | None:
        """The figure over its floor: ``v / floor`` where the target names one, ``v`` itself for a ratio
        target (``*_ratio``: already ours ÷ a floor), None otherwise."""
        if floor:
            return v / floor
        return v if self.key.endswith("_ratio") and self.op == "<=" else None

    def below_floor(self, v: float, floor: float | None = None) -> bool:
        """Faster than its floor by more than noise: the floor is not a floor (it measures something else)."""
        r = self.ratio(v, floor)
        return r is not None and r < RATIO_FLOOR

    def met(self, v: float, floor: float | None = None) -> bool:
        within = v <= self.value if self.op == "<=" else v >= self.value
        return within and not self.below_floor(v, floor)


RATIO_FLOOR = 0.95  # a figure below 0.95× its floor fails its target: the floor is then wrong, and is fixed


@dataclass(frozen=True)
class Part:
    name: str
    run: Callable[[bool], dict]  # smoke → {figure key: number}


PARTS: dict[str, Part] = {}  # in the order the area modules declare them
TARGETS: dict[str, Target] = {}  # key → target, in the order declared


def targets(*ts: Target):
    """Declare the targets of the figures the decorated function makes."""

    def declare(fn):
        for t in ts:
            assert t.op in ("<=", ">=") and t.key not in TARGETS, t
            TARGETS[t.key] = t
        return fn

    return declare


def part(name: str, *ts: Target):
    """Make the decorated ``fn(smoke) -> dict`` the part ``name`` of the run, with the targets of its figures."""

    def register(fn):
        assert name not in PARTS, name
        PARTS[name] = Part(name, fn)
        return targets(*ts)(fn)

    return register


def pct(xs, q) -> float:
    return float(np.percentile(np.asarray(xs, np.float64), q))


def app():
    from latent_explorer.qt_compat import application

    return application()
