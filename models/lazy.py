"""Importing a heavy library for the first time from a worker thread, one thread at a time.

Two workers that import scikit-learn at once (the map loading `digits` while the Inspect view loads it too)
can deadlock in Python's import machinery: scikit-learn's package imports reach back into each other, and
each thread waits for a module lock the other holds. Every first import of a heavy library that a job may
run goes through :func:`lazy_import`, which holds one process-wide lock while importing (an import already
done returns at once from ``sys.modules``)."""

from __future__ import annotations

import importlib
import sys
import threading
from types import ModuleType

_LOCK = threading.RLock()


def lazy_import(name: str) -> ModuleType:
    module = sys.modules.get(name)
    if module is not None and getattr(getattr(module, "__spec__", None), "_initializing", False) is False:
        return module
    with _LOCK:
        return importlib.import_module(name)
