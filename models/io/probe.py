"""One decode of z = 0 of a generator from elsewhere (an ONNX graph, a TorchScript file), tried in a child
process under a time and a memory limit before the generator is used.

A file decides how long its decode takes and how much memory it asks for: an ONNX ``Loop`` of 10^15
iterations, a ``forward`` that never returns, a decode that allocates without end. Tried in our own process,
it held ``sample`` forever and froze the window that opened it (its start too, when the settings named it as
the last model). Tried in a child, it is refused with one line naming the file and the limit::

    gen.onnx: one decode of z = 0 did not finish in 20 s: refused (a graph that loops without end?)

- The child is started with "spawn" (never a fork of a process whose threads run Qt or onnxruntime); the
  limit counts from the moment its imports are done, and covers loading the file and the decode.
- Its address space may grow by :data:`MEMORY_BYTES` past what its imports took (``RLIMIT_AS``; where the
  ``resource`` module or ``/proc`` is missing (Windows, macOS) the time limit alone holds).
- Only bytes and strings cross: the child is handed the very bytes the parent read (for TorchScript, the
  bytes whose digest the user trusted) and never opens the path; it answers with a word and a message.
- ``should_stop`` (a worker's stop) is asked ten times a second: the child is ended at once when it says so.

``info`` never gets here: it reads the graph, the sidecar and the archive's listing only.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from latent_explorer.models.errors import CheckpointError, out_of_memory

TIME_LIMIT_S = 20.0  # loading the file and one decode of z = 0
TIME_LIMIT_ENV = "LATENT_EXPLORER_PROBE_SECONDS"  # overrides TIME_LIMIT_S (tests, slow machines)
MEMORY_BYTES = 2 << 30  # what the child's address space may grow by once its own imports are done
START_LIMIT_S = 300.0  # the child's imports (PyTorch, onnxruntime), before the file is touched
LATER = "later"  # ``load(..., probe=LATER)``: the model carries its :class:`Probe` for the caller to run


class ProbeStopped(CheckpointError):
    """The caller stopped the probe (the window closed): nothing was opened."""


def time_limit() -> float:
    """:data:`TIME_LIMIT_S`, or the number of seconds in ``$LATENT_EXPLORER_PROBE_SECONDS``."""
    try:
        value = float(os.environ.get(TIME_LIMIT_ENV, ""))
    except ValueError:
        return TIME_LIMIT_S
    return value if 0 < value < 1e6 else TIME_LIMIT_S


@dataclass
class Probe:
    """The decode to try: ``kind`` ("onnx" or "torchscript"), the file's ``name`` (for messages), its bytes,
    what the sidecar promised, and (ONNX) the folder its external data may be read from."""

    kind: str
    name: str
    data: bytes
    latent_dim: int
    image_shape: tuple[int, ...]
    output_range: tuple[float, float]
    folder: str | None = None

    def run(self, should_stop: Callable[[], bool] | None = None) -> None:
        """Try it in a child process: returns when the images came back as the sidecar says; else
        :class:`CheckpointError` with one line (the generator's own failure, or a limit passed)."""
        import multiprocessing as mp
        from multiprocessing.connection import wait

        limit = time_limit()
        ctx = mp.get_context("spawn")
        reader, writer = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(writer, self, MEMORY_BYTES), name="latent-explorer-probe")
        proc.start()
        writer.close()
        stage, deadline = "start", time.monotonic() + START_LIMIT_S
        try:
            while True:
                if should_stop is not None and should_stop():
                    raise ProbeStopped(f"{self.name}: not opened (stopped before its decode was tried)")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CheckpointError(self._late(stage, limit))
                if not wait([reader, proc.sentinel], timeout=min(left, 0.1)):
                    continue
                try:
                    word, text = reader.recv()
                except (EOFError, OSError):  # the child ended without a word: killed by the system, or crashed
                    proc.join(5)
                    raise CheckpointError(self._died(stage, proc.exitcode)) from None
                if word == "started":
                    stage, deadline = "load", time.monotonic() + limit
                elif word == "loaded":
                    stage = "decode"
                elif word == "ok":
                    return
                elif word == "memory":
                    raise CheckpointError(f"{self.name}: {self._what(stage)} needs more than {_gb(MEMORY_BYTES)} "
                                          "of memory: refused")
                else:  # "refused": the generator's own failure, said as the in-process probe says it
                    raise CheckpointError(text)
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(5)
            reader.close()

    def _what(self, stage: str) -> str:
        return "loading it" if stage == "load" else "one decode of z = 0"

    def _late(self, stage: str, limit: float) -> str:
        if stage == "start":
            return (f"{self.name}: its decode could not be tried: the process that tries it did not start in "
                    f"{START_LIMIT_S:g} s")
        guess = "a graph that loops without end?" if self.kind == "onnx" else "code that loops without end?"
        return f"{self.name}: {self._what(stage)} did not finish in {limit:g} s: refused ({guess})"

    def _died(self, stage: str, code: int | None) -> str:
        if stage == "start":
            return f"{self.name}: its decode could not be tried: the process that tries it ended (exit code {code})"
        how = f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 and -code in set(
            signal.Signals) else f"exit code {code}"
        return (f"{self.name}: {self._what(stage)} ended the process that tried it ({how}; more than its "
                f"{_gb(MEMORY_BYTES)} of memory?): refused")


def _gb(n: int) -> str:
    return f"{n / 2**30:g} GB" if n >= 2**30 else f"{n / 2**20:g} MB"


_ALLOCATION = re.compile(r"bad_alloc|failed to allocate|allocat\w* memory|out of memory", re.I)


def _memory_error(e: BaseException | None) -> bool:
    """An allocation refused (under the child's address-space limit): PyTorch's or onnxruntime's words."""
    return e is not None and (out_of_memory(e) or bool(_ALLOCATION.search(str(e))))


def _limit_address_space(extra: int) -> None:
    """Let this process's address space grow by at most ``extra`` bytes (Linux: RLIMIT_AS over VmSize)."""
    try:
        import resource

        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = size + extra if hard == resource.RLIM_INFINITY else min(size + extra, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ImportError, OSError, ValueError, StopIteration, AttributeError):
        pass  # no resource module or no /proc (Windows, macOS): the time limit alone holds


def _child(conn, probe: Probe, memory: int) -> None:
    """In the child: import, limit the address space, then load the bytes and decode z = 0 once; say how it
    went in one word (and the message of a refusal)."""
    try:
        import warnings

        warnings.simplefilter("ignore")  # PyTorch's deprecation notes: the parent says what matters
        import torch

        from latent_explorer.models.io.external import _probe

        torch.set_num_threads(1)
        if probe.kind == "onnx":
            from latent_explorer.models.io.onnx_model import generator_from_bytes
        else:
            from latent_explorer.models.io.external import generator_from_bytes
        _limit_address_space(memory)
        conn.send(("started", ""))
        gen = generator_from_bytes(probe)
        conn.send(("loaded", ""))
        _probe(gen, Path(probe.name))
        conn.send(("ok", ""))
    except CheckpointError as e:  # the loaders and _probe say "from None": what they caught is the context
        conn.send(("memory" if _memory_error(e.__context__) else "refused", str(e)))
    except BaseException as e:  # noqa: BLE001 - whatever happens here is said to the parent, in one line
        conn.send(("memory" if _memory_error(e) else "refused",
                   f"{probe.name}: its decode could not be tried ({type(e).__name__}: {str(e)[:200]})"))
    finally:
        conn.close()
