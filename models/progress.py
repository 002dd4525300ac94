"""The progress record every long job in ``models`` yields (training has its richer ``Progress``)."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass


@dataclass
class Step:
    """A progress record of a long job: ``done`` of ``total`` units, and what is being done."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


def run_to_end(gen: Generator):
    """Drive a progress generator headless and return its value."""
    while True:
        try:
            next(gen)
        except StopIteration as e:
            return e.value
