"""What the catalogue's tests share: running the CLI, rewriting checkpoints, hostile generators, child
processes that never outlive their test. Not a test module."""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import torch

import tests.toy_kinds as toy
from latent_explorer.models import load
from latent_explorer.models.cli import main as cli
from tests.limits import address_space_limited as _address_space_limited  # noqa: F401 - the catalogue's name

ROOT = Path(__file__).resolve().parents[2]


VAE2D = ROOT / "assets" / "digits-vae2d.safetensors"


def run_cli(capsys, *args):
    code = cli([str(a) for a in args])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    return code, lines


def _rewrite(path, tensors=None, meta=None):
    from safetensors.torch import save as st_save

    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    m = json.loads(raw[8 : 8 + n])["__metadata__"]
    t = dict(load(path).state_dict())
    if tensors:
        tensors(t)
    if meta:
        meta(m)
    path.write_bytes(st_save({k: v.contiguous() for k, v in t.items()}, metadata=m))


def _evil_pickle(path: Path, marker: Path):
    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state_dict": Evil()}, path)


class _G(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 64)

    def forward(self, z):
        return self.fc(z).view(-1, 1, 8, 8)


def _idx(path, arr, magic_type=0x08, count=None):
    dims = arr.shape if count is None else (count, *arr.shape[1:])
    path.write_bytes(struct.pack(">HBB", 0, magic_type, arr.ndim) + struct.pack(f">{arr.ndim}I", *dims)
                     + arr.tobytes())


KILL_SCRIPT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from latent_explorer.models import load, save
from tests.models.helpers import tiny_model
import torch
path = sys.argv[2]
m = tiny_model("vae", hidden=(2048,))  # a few MB, so a save takes a moment
print("ready", flush=True)
i = 0
while True:
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01)
    save(m, path, training={"i": i})
    i += 1
"""


class _CodeInForward(torch.nn.Module):
    """A generator whose forward runs code of its own (a print stands for any side effect)."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(6, 64))

    def forward(self, z):
        print("CODE-RAN-IN-FORWARD")
        return (z @ self.w).view(-1, 1, 8, 8)


class _CodeInSetstate(torch.nn.Module):
    """A generator whose scripted __setstate__ runs when the archive is loaded, before any check of ours."""

    def __init__(self):
        super().__init__()
        self.w = torch.zeros(6, 64)

    def forward(self, z):
        return (z @ self.w).view(-1, 1, 8, 8)

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, bool]:
        return (self.w, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]) -> None:
        self.w = state[0]
        self.training = state[1]
        print("CODE-RAN-IN-SETSTATE")


def _script(module, path):
    torch.jit.script(module).save(str(path))
    (path.parent / (path.name + ".json")).write_text(json.dumps({"latent_dim": 6, "image_shape": [1, 8, 8]}))
    return path


def _cli_process(*args):
    """The CLI in its own process: TorchScript prints from C++, past Python's capture."""
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    return r.returncode, r.stdout + r.stderr


_CHILDREN: list = []


def _child(args, **kw):
    """A child process that never outlives its test (see the fixture below), even when an assertion fails."""
    proc = subprocess.Popen(args, **kw)
    _CHILDREN.append(proc)
    return proc


def _signals_as_in_a_terminal():
    """A child as a terminal starts it: SIGINT, SIGTERM and SIGHUP at their defaults (a test runner started in
    the background passes SIGINT on ignored, and Python then installs no Ctrl+C handler)."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def _stderr_until(proc, text, timeout=300):
    """Read a child's stderr on a thread until a line holds ``text`` (a condition, never a fixed sleep)."""
    import threading

    lines, found = [], threading.Event()

    def reader():
        for line in proc.stderr:
            lines.append(line)
            if text in line:
                found.set()
        found.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    assert found.wait(timeout), f"no {text!r} within {timeout} s"
    return lines, thread


class Hanging(toy.Toy):
    """A generator whose decode blocks until the test lets it go (a generator from elsewhere that hangs)."""

    gate = None

    @torch.no_grad()
    def decode(self, z, y=None):
        if Hanging.gate is not None and not Hanging.gate.wait(300):
            raise RuntimeError("never let go")
        return super().decode(z, y)


SLOW = toy.registry.KindSpec("toy-slow", "Toy slow generator", Hanging, toy.ToyConfig,
                             toy.registry.TrainDefaults(1, 16, 1e-2), toy.registry.Capabilities(slow_decode=True),
                             latent_dim=3, map_samples=50)


def _what_the_message_says_agrees_with_the_file(text: str, out: Path) -> None:
    m = re.search(r"the weights of step (\d+) \(epoch \d+\) were saved to", text)
    if m:
        meta = load(out).meta["training"]
        assert meta["status"] == "stopped" and meta["steps"] == int(m.group(1)), (text, meta)
    elif "nothing was saved" in text:
        assert not out.exists(), text
    elif "holds an earlier save" in text:
        status = re.search(r"status (\w+)", text).group(1)
        assert load(out).meta["training"]["status"] == status, text
    else:
        assert "saved " in text and load(out).meta["training"]["status"] == "finished", text


def _stderr_until_started(proc):
    """Wait (on a condition) until the child has imported its modules and begun: its first output, or the
    classifier's training file being absent while the process still runs after its imports."""
    import threading

    lines, begun = [], threading.Event()

    def reader():
        for line in proc.stderr:
            lines.append(line)
        begun.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        status = Path(f"/proc/{proc.pid}/status").read_text()
        threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
        if threads > 1 and _has_torch(proc.pid):  # PyTorch loaded: the command is running
            break
        time.sleep(0.05)  # polling a condition, not waiting a fixed time
    return lines, thread


def _has_torch(pid) -> bool:
    try:
        return "libtorch_cpu" in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


class _Generator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(6, 64))

    def forward(self, z):
        return (z @ self.w).view(-1, 1, 8, 8)


_PAUSED_CHILD = """
import importlib, os, runpy, select, signal, sys
sys.path.insert(0, '.')
checkpoint = importlib.import_module("latent_explorer.models.io.checkpoint")
training = importlib.import_module("latent_explorer.models.training.train")
phase, args = sys.argv[1], sys.argv[2:]

def paused(real, tag):  # the first call waits for a signal before it goes on: the signal lands inside it
    def call(*a, **k):
        if not call.done:
            call.done = True
            # a signal can land between the print and the wait (the child descheduled under load): then
            # signal.pause() would wait for ever. The C handler writes every signal to the wakeup pipe, so
            # select() sees one that came early as well as one that comes later.
            r, w = os.pipe()
            os.set_blocking(w, False)
            old = signal.set_wakeup_fd(w)
            print(tag, file=sys.stderr, flush=True)
            try:
                select.select([r], [], [])
            finally:
                signal.set_wakeup_fd(old)
        return real(*a, **k)
    call.done = False
    return call

if phase == "evaluation":
    training.evaluate = paused(training.evaluate, "PAUSED-IN-EVALUATION")
else:
    checkpoint.save = paused(checkpoint.save, "PAUSED-IN-SAVE")
sys.argv = ["main.py", *args]
runpy.run_path("main.py", run_name="__main__")
"""


def _with_training_metadata(path: Path, training: str) -> Path:
    raw = VAE2D.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"]["training"] = training
    hb = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(hb)) + hb + raw[8 + n :])
    return path


