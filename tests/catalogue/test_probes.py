"""'When things go wrong', rows F97-F100 (issue U): a generator from elsewhere whose one decode of z = 0 never
ends or asks for too much memory. The decode is tried in a child process with a time and a memory limit
(models/io/probe.py), never for ``info`` and never on the window's thread. The time limit is 2 s here
(``$LATENT_EXPLORER_PROBE_SECONDS``); every wait below is a generous guard, never a measurement."""

import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_explorer.models import CheckpointError, load
from latent_explorer.models.cli import main as cli

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

LIMIT = "2"  # seconds: the probe's time limit in these tests
LATENT, SHAPE = 16, (1, 4, 4)


@pytest.fixture(autouse=True)
def _short_limit(monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_PROBE_SECONDS", LIMIT)


def _graph(path: Path, nodes, inits) -> Path:
    """A generator graph z (n, 16) -> x (n, 1, 4, 4) of ``nodes``, with its sidecar."""
    g = helper.make_graph(nodes, "gen", [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", LATENT])],
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", *SHAPE])],
                          [*inits, numpy_helper.from_array(np.array([-1, *SHAPE], np.int64), "shape")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    (path.parent / (path.name + ".json")).write_text(json.dumps({"latent_dim": LATENT, "image_shape": list(SHAPE)}))
    return path


def endless_graph(path: Path, iterations: int = 10**15) -> Path:
    """A Loop of ``iterations`` steps, each adding 1 to z: a valid graph whose one decode never ends."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond"], ["cond_out"]), helper.make_node("Add", ["v", "one"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v", TensorProto.FLOAT, None)],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(1.0, np.float32), "one")])
    return _graph(path, [helper.make_node("Loop", ["trips", "go", "z"], ["v"], body=body),
                         helper.make_node("Tanh", ["v"], ["t"]), helper.make_node("Reshape", ["t", "shape"], ["x"])],
                  [numpy_helper.from_array(np.array(iterations, np.int64), "trips"),
                   numpy_helper.from_array(np.array(True), "go")])


def hungry_graph(path: Path, floats: int) -> Path:
    """A graph that fills a tensor of ``floats`` ones (4 bytes each) and scales z by their sum."""
    ones = numpy_helper.from_array(np.array([1.0], np.float32))
    return _graph(path, [helper.make_node("ConstantOfShape", ["size"], ["c"], value=ones),
                         helper.make_node("ReduceSum", ["c"], ["s"], keepdims=0),
                         helper.make_node("Mul", ["z", "s"], ["zs"]), helper.make_node("Tanh", ["zs"], ["t"]),
                         helper.make_node("Reshape", ["t", "shape"], ["x"])],
                  [numpy_helper.from_array(np.array([floats], np.int64), "size")])


class _EndlessForward(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(6, 64))

    def forward(self, z):
        x = z
        while bool(x.abs().sum() >= 0):  # z = 0: for ever
            x = x * 1.0
        return (x @ self.w).view(-1, 1, 8, 8)


class _EndlessSetstate(torch.nn.Module):
    """A generator whose scripted __setstate__, run while the archive is loaded, never returns."""

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
        x = state[0]
        while bool(x.abs().sum() >= 0):
            x = x * 1.0
        self.w = x
        self.training = state[1]


def _script(module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    (path.parent / (path.name + ".json")).write_text(json.dumps({"latent_dim": 6, "image_shape": [1, 8, 8]}))
    return path


def run_cli(capsys, *args):
    code = cli([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, [ln for ln in err.splitlines() if ln.strip()]


def _no_probe_left():
    assert not [p for p in multiprocessing.active_children() if p.name == "latent-explorer-probe"]


def _never_decoded(monkeypatch):
    """Any decode of an external generator in this process fails the test at once (instead of looping)."""
    from latent_explorer.models.io.external import ExternalGenerator
    from latent_explorer.models.io.probe import Probe

    def refuse(*a, **kw):
        raise AssertionError("a decode ran")

    monkeypatch.setattr(ExternalGenerator, "decode", refuse)
    monkeypatch.setattr(Probe, "run", refuse)


def test_F97_an_onnx_graph_that_loops_without_end(tmp_path, capsys, monkeypatch):
    g = endless_graph(tmp_path / "gen.onnx")
    with monkeypatch.context() as m:  # info reads the graph and the sidecar: no decode, here or in a child
        _never_decoded(m)
        code, out, err = run_cli(capsys, "info", g)
        assert code == 0 and json.loads(out)["kind"] == "onnx" and json.loads(out)["latent_dim"] == LATENT, err
    says = f"gen.onnx: one decode of z = 0 did not finish in {LIMIT} s: refused (a graph that loops without end?)"
    code, out, err = run_cli(capsys, "sample", g, "--n", "2", "--out", tmp_path / "s.png")
    assert code == 2 and err == [f"error: {says}"] and not (tmp_path / "s.png").exists()
    with pytest.raises(CheckpointError) as e:
        load(g)
    assert str(e.value) == says
    _no_probe_left()
    # the same graph with a Loop of 3 steps decodes as its graph computes: the limit refuses only what hangs
    short = load(endless_graph(tmp_path / "short.onnx", iterations=3))
    z = torch.full((2, LATENT), 0.25)
    assert torch.allclose(short.decode(z), (torch.tanh(z + 3).view(2, *SHAPE) + 1) / 2, atol=1e-5)


def test_F98_a_torchscript_generator_that_loops_without_end(tmp_path, capsys, monkeypatch):
    g = _script(_EndlessForward(), tmp_path / "g.pt")
    with monkeypatch.context() as m:
        _never_decoded(m)
        code, out, _ = run_cli(capsys, "info", g)
        assert code == 0 and json.loads(out)["contains_code"] is True
    code, _, err = run_cli(capsys, "sample", g, "--n", "2", "--out", tmp_path / "s.png", "--trust-code")
    assert code == 2 and err == [f"error: g.pt: one decode of z = 0 did not finish in {LIMIT} s: refused (code "
                                 "that loops without end?)"], err
    # its code is loaded from the bytes in the child first: a __setstate__ that never returns is bounded too
    loads = []
    real = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda *a, **kw: loads.append(1) or real(*a, **kw))
    s = _script(_EndlessSetstate(), tmp_path / "s.pt")
    with pytest.raises(CheckpointError, match=rf"^s\.pt: loading it did not finish in {LIMIT} s: refused"):
        load(s, trust_code=True)
    assert loads == [], "nothing of it was loaded in this process"
    _no_probe_left()


def test_F98_a_trusted_torchscript_generator_that_loops_in_the_window(make_window, qtbot, tmp_path, monkeypatch):
    g = _script(_EndlessForward(), tmp_path / "g.pt")
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = make_window(load_bundled=False)
    w.library.confirm_code = lambda path, message: True
    w.show_view("editor")
    assert w.open_path(str(g)) and w.library.opening  # listed only once its decode has passed
    qtbot.waitUntil(lambda: w.last_error is not None, timeout=180000)
    assert w.last_error.startswith(f"g.pt: one decode of z = 0 did not finish in {LIMIT} s: refused")
    assert w.library.entries == [] and w.editor.decoder.last is None  # no view ever decoded it
    _no_probe_left()


def test_F99_an_endless_generator_opened_in_the_window_or_named_as_the_last_model(make_window, qtbot, tmp_path,
                                                                                   monkeypatch):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    from latent_explorer.main_window import MainWindow
    from latent_explorer.state import make_settings
    from tests.models.onnx_graphs import make_onnx

    g = endless_graph(tmp_path / "gen.onnx")
    ini = tmp_path / "s.ini"
    ini.write_text(f"[General]\nlastModel={g}\n")
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(ini))
    # the settings name it as the last model: the start does not wait for its decode (a worker does, and a
    # worker's answer reaches the window only through its event loop, which runs once the start is done)
    started = []
    real = MainWindow._restore
    monkeypatch.setattr(MainWindow, "_restore", lambda self: (real(self), started.append(
        (set(self.library.opening), self.last_error, self.library.entries[:])))[0])
    w = make_window(load_bundled=False)
    assert started == [({str(g.resolve())}, None, [])]
    qtbot.waitUntil(lambda: not w.library.opening, timeout=180000)
    assert w.last_error == f"gen.onnx: one decode of z = 0 did not finish in {LIMIT} s: refused (a graph that " \
                           "loops without end?)"
    assert w.library.entries == [] and "refused" in w.statusBar().currentMessage()
    assert make_settings().value("lastModel") is None  # not tried again at the next start
    # dropped on the window (as the menu's Open does): the drop returns at once, the window goes on meanwhile
    w.last_error = None
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(g))])
    w.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier))
    assert w.library.opening and "opening gen.onnx" in w.statusBar().currentMessage()
    w.show_view("map")
    assert w.current_view() is w.map and w.library.opening
    qtbot.waitUntil(lambda: w.last_error is not None, timeout=180000)
    assert "did not finish" in w.last_error and w.library.entries == []
    good, _ = make_onnx(tmp_path / "good.onnx", latent=8, shape=(3, 4, 4))
    w.show_view("editor")
    assert w.open_path(str(good))
    qtbot.waitUntil(lambda: w.library.current is not None, timeout=180000)
    assert w.library.current.name == "good" and "did not finish" in w.last_error  # no new error
    qtbot.waitUntil(lambda: w.editor.decoder.last is not None, timeout=180000)
    _no_probe_left()


def test_F100_a_decode_that_asks_for_more_memory_than_its_limit(tmp_path, capsys, monkeypatch):
    if not os.path.exists("/proc/self/status"):
        pytest.skip("the address-space limit needs /proc (Linux); elsewhere the time limit alone holds")
    import latent_explorer.models.io.probe

    monkeypatch.setattr(latent_explorer.models.io.probe, "MEMORY_BYTES", 256 << 20)
    monkeypatch.setenv("LATENT_EXPLORER_PROBE_SECONDS", "60")  # memory, not time, refuses it
    g = hungry_graph(tmp_path / "gen.onnx", floats=1 << 28)  # 1 GB of ones
    code, _, err = run_cli(capsys, "sample", g, "--n", "2", "--out", tmp_path / "s.png")
    assert code == 2 and err == ["error: gen.onnx: one decode of z = 0 needs more than 256 MB of memory: refused"]
    assert not (tmp_path / "s.png").exists()
    _no_probe_left()
    # a small tensor of the same graph fits: refused is only what passes the limit
    assert load(hungry_graph(tmp_path / "small.onnx", floats=1000)).decode(torch.zeros(1, LATENT)).shape == (1, *SHAPE)
