"""The window: opening, trusting, dropping and closing with bad files (pytest-qt).
Rows of the README's 'When things go wrong', one test per row (``test_Fnn_…``); tests/catalogue/test_readme.py
keeps the table and the tests in step."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import tests.toy_kinds as toy
from latent_explorer.models import load
from tests.catalogue.helpers import (
    ROOT,
    SLOW,
    VAE2D,
    Hanging,
    _cli_process,
    _CodeInForward,
    _CodeInSetstate,
    _evil_pickle,
    _Generator,
    _rewrite,
    _script,
    run_cli,
)


def test_F29_window_close_mid_epoch(qtbot, tmp_path, monkeypatch):
    from latent_explorer.main_window import MainWindow
    from latent_explorer.training_view import RunSpec
    from latent_explorer.worker import live_workers

    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    w.show()
    run = w.training.start(RunSpec("gan", "digits", str(tmp_path / "g.safetensors"), 1000, 32, 2e-4, 8))
    qtbot.waitUntil(lambda: len(run.steps) > 2, timeout=180000)
    w.ask_stop_runs = lambda: True
    w.close()
    assert live_workers() == [] and load(tmp_path / "g.safetensors").meta["training"]["status"] == "stopped"


def test_F32_hostile_pickle_is_refused_by_every_command_and_the_gui(tmp_path, capsys, qtbot, monkeypatch):
    from latent_explorer.main_window import MainWindow

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pth"
    _evil_pickle(evil, marker)
    for args in (["info", evil], ["eval", evil], ["sample", evil, "--out", tmp_path / "x.png"],
                 ["eval", VAE2D, "--data", evil]):
        code, lines = run_cli(capsys, *args)
        assert code == 2 and len(lines) == 1, args
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.errorShown, timeout=180000) as sig:
        assert not w.open_path(str(evil))
    assert "refused" in sig.args[0]
    w.close()
    assert not marker.exists()


def test_F33_the_models_dataset_is_missing(qtbot, tmp_path, monkeypatch):
    from latent_explorer.main_window import MainWindow

    ck = tmp_path / "m.safetensors"
    ck.write_bytes(VAE2D.read_bytes())
    _rewrite(ck, meta=lambda m: m.__setitem__("data", json.dumps({"spec": str(tmp_path / "gone")})))
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    w.show()
    msgs = []
    w.map.message.connect(msgs.append)
    assert w.open_path(str(ck))
    assert not w.map.busy() and w.map.btn_own.isVisible()  # a path in a file is read only on the user's say
    w.map.btn_own.click()
    qtbot.waitUntil(lambda: not w.map.busy(), timeout=180000)
    assert any("no such file" in m for m in msgs) and w.map.btn_data.isEnabled()
    assert w.map.is_ready() and "no such file" in w.map.failed  # settled on its message, not loading forever
    qtbot.waitUntil(lambda: w.editor.is_ready(), timeout=180000)  # the editor still works
    w.close()


def test_F34_a_bad_image_to_encode(qtbot, tmp_path, monkeypatch):
    from latent_explorer.main_window import MainWindow

    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    w.open_path(str(VAE2D))
    (tmp_path / "x.png").write_bytes(b"GIF89a?")
    msgs = []
    w.editor.message.connect(msgs.append)
    z = w.latent.z.copy()
    assert not w.editor.encode_file(str(tmp_path / "x.png"))
    assert "not a readable image" in msgs[-1] and np.array_equal(w.latent.z, z)
    w.close()


@pytest.mark.parametrize("module", [_CodeInForward, _CodeInSetstate])
def test_F39_code_in_a_torchscript_file_never_runs_without_a_yes(tmp_path, module, qtbot, monkeypatch):
    g = _script(module(), tmp_path / "g.pt")
    code, out = _cli_process("info", g)
    assert code == 0 and "CODE-RAN" not in out and '"contains_code": true' in out  # sidecar and listing only
    code, out = _cli_process("sample", g, "--n", "2", "--out", tmp_path / "s.png")
    assert code == 2 and "CODE-RAN" not in out and "contains code" in out and "--trust-code" in out
    assert not (tmp_path / "s.png").exists()
    code, out = _cli_process("eval", g, "--data", "digits")
    assert code == 2 and "CODE-RAN" not in out
    code, out = _cli_process("sample", g, "--n", "2", "--out", tmp_path / "s.png", "--trust-code")
    assert code == 0 and "CODE-RAN" in out  # the user said yes: it runs
    # the window asks, and a "no" runs nothing; a "yes" is remembered for this content only
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    from latent_explorer.main_window import MainWindow

    asked = []
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    w.confirm_code = lambda path, msg: asked.append(msg) or False
    w.library.confirm_code = w.confirm_code
    assert not w.open_path(str(g)) and "contains code" in asked[0] and "contains code" in w.last_error
    w.library.confirm_code = lambda path, msg: asked.append(msg) or True
    assert w.open_path(str(g)) and len(asked) == 2
    w.library.entries.clear()
    assert w.open_path(str(g)) and len(asked) == 2  # the same content: not asked again
    w.close()


def test_F41_an_existing_output_is_never_replaced_silently(tmp_path, capsys, qtbot, monkeypatch):
    out = tmp_path / "mine.safetensors"
    out.write_bytes(b"hours of someone's training")
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--epochs", "1", "--out", out)
    assert code == 2 and "exists" in lines[0] and "--force" in lines[0]
    assert out.read_bytes() == b"hours of someone's training"
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--max-steps", "1", "--quiet",
                          "--force", "--out", out)
    assert code == 0 and load(out).kind == "vae"
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--out", tmp_path)
    assert code == 2 and "is a folder" in lines[0]
    # the window asks; "No" starts nothing and keeps the file
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    from latent_explorer.main_window import MainWindow
    from latent_explorer.training_view import RunSpec

    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    asked = []
    w.training.confirm_replace = lambda path: asked.append(path) or False
    before = out.read_bytes()
    assert w.training.start(RunSpec("vae", "digits", str(out), 1, 64, 1e-3, 2)) is None
    assert asked == [str(out)] and out.read_bytes() == before and w.training.queue.runs == []
    w.close()


def test_F48_the_last_model_fails_to_open_at_start(qtbot, tmp_path, monkeypatch):
    from latent_explorer.main_window import MainWindow
    from latent_explorer.state import make_settings

    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x10" * 64)
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    st = make_settings()
    st.setValue("lastModel", str(bad))
    st.sync()
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    assert w.last_error and "broken.safetensors" in w.last_error
    assert make_settings().value("lastModel") is None  # already forgotten, even if the process died now
    w.close()


def test_F49_a_checkpoint_naming_a_data_path(qtbot, tmp_path, monkeypatch):
    from latent_explorer.main_window import MainWindow

    secret = tmp_path / "elsewhere"
    secret.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(secret / "a.png")
    read = []
    import latent_explorer.models.data as data_module

    real = data_module.load_dataset
    monkeypatch.setattr(data_module, "load_dataset", lambda spec, *a, **k: (read.append(spec), real(spec, *a, **k))[1])
    ck = tmp_path / "m.safetensors"
    ck.write_bytes(VAE2D.read_bytes())
    _rewrite(ck, meta=lambda m: m.__setitem__("data", json.dumps({"spec": str(secret)})))
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    w.show()
    assert w.open_path(str(ck))
    qtbot.waitUntil(lambda: w.map.is_ready() and w.editor.is_ready(), timeout=180000)
    assert read == [] and w.map.btn_own.isVisible() and str(secret) in w.map.hover_label.text()
    w.map.btn_own.click()  # the user's say
    qtbot.waitUntil(lambda: w.map.is_ready() and w.map.latents is not None, timeout=180000)
    assert read == [str(secret)] and not w.map.btn_own.isVisible()
    w.open_path(str(VAE2D))  # a built-in dataset loads at once
    qtbot.waitUntil(lambda: w.map.is_ready() and w.map.latents is not None, timeout=180000)
    assert read[-1] == "digits"
    w.close()


def test_F60_a_generator_that_hangs_in_its_decode(make_window, qtbot, tmp_path, monkeypatch):
    import threading

    from latent_explorer.live_decoder import LiveDecoder

    toy.registry.register(SLOW)
    try:
        monkeypatch.setattr(LiveDecoder, "TIMEOUT_S", 0.5)
        monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
        path = toy._toy_file(tmp_path, SLOW)
        w = make_window(load_bundled=False)
        w.show_view("editor")
        Hanging.gate = threading.Event()
        said = []
        w.editor.message.connect(said.append)
        assert w.open_path(str(path))  # opening returns: the decode runs in a worker
        qtbot.waitUntil(lambda: any("has not answered" in m for m in said), timeout=60000)
        assert w.editor.decoder.last is None  # nothing shown yet, and the window kept running its events
        Hanging.gate.set()
        qtbot.waitUntil(lambda: w.editor.decoder.last is not None, timeout=60000)
        w.show_view("map")
        qtbot.waitUntil(w.map.is_ready, timeout=60000)
    finally:
        if Hanging.gate is not None:
            Hanging.gate.set()  # a decode still waiting ends, so no worker outlives the test
        Hanging.gate = None
        toy.registry.unregister("toy-slow")


def test_F71_a_damaged_settings_file(make_window, tmp_path, monkeypatch):
    ini = tmp_path / "s.ini"
    ini.write_text("[General]\ntab=seven\nrecent=5\ngeometry=not a geometry\nwindowState=@Variant(garbage)\n"
                   "lastModel=/dev/zero\ntrusted_code=1, 2\n[folders]\nmodels=\\0\\0\n")
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(ini))
    w = make_window(load_bundled=False)  # starts with its defaults: no exception reaches the hook
    assert w.tabs.currentIndex() == 0 and "not a regular file" in w.last_error  # /dev/zero is never read
    from latent_explorer.dialogs import start_folder

    assert Path(start_folder("models")).is_dir()
    ini.write_text("[General]\ntab=99\n")
    w2 = make_window(load_bundled=False)
    assert w2.tabs.currentIndex() == 0


def test_F72_a_trusted_torchscript_generator_never_runs_on_the_windows_thread(make_window, qtbot, tmp_path,
                                                                                 monkeypatch):
    import threading

    from latent_explorer.models.io.external import ExternalGenerator

    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    threads = []
    real = ExternalGenerator.decode
    monkeypatch.setattr(ExternalGenerator, "decode",
                        lambda self, z, y=None: (threads.append(threading.current_thread()), real(self, z, y))[1])
    loads, real_load = [], torch.jit.load  # its load runs its __setstate__: the file's code too
    monkeypatch.setattr(torch.jit, "load", lambda *a, **kw: (loads.append(threading.current_thread()),
                                                             real_load(*a, **kw))[1])
    g = _script(_Generator(), tmp_path / "g.pt")
    w = make_window(load_bundled=False)
    w.library.confirm_code = lambda path, msg: True
    w.show_view("editor")
    assert w.open_path(str(g))  # opening decodes nothing here: the views decode in workers (F60's watchdog)
    for view in ("editor", "map", "editor"):
        w.show_view(view)
        qtbot.waitUntil(lambda: w.editor.decoder.last is not None and w.map.is_ready(), timeout=120000)
    assert threads and threading.main_thread() not in threads  # the file's code ran only in workers
    assert loads and threading.main_thread() not in loads


def test_F75_a_diffusion_checkpoint_naming_a_data_path(make_window, qtbot, tmp_path, monkeypatch):
    import latent_explorer.models.data as data_module

    secret = tmp_path / "elsewhere"
    secret.mkdir()
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(secret / "a.png")
    Image.fromarray(np.full((8, 8), 100, np.uint8)).save(secret / "b.png")
    read = []
    real = data_module.load_dataset
    monkeypatch.setattr(data_module, "load_dataset", lambda spec, *a, **k: (read.append(spec), real(spec, *a, **k))[1])
    ck = tmp_path / "d.safetensors"
    ck.write_bytes((ROOT / "assets" / "digits-ddpm.safetensors").read_bytes())
    _rewrite(ck, meta=lambda m: m.__setitem__("data", json.dumps({"spec": str(secret)})))
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = make_window(load_bundled=False)
    said = []
    w.diffusion.forward.message.connect(said.append)
    w.show_view("diffusion")
    assert w.open_path(str(ck))
    assert str(secret) not in read and any("press 'Random image'" in m for m in said)
    assert float(w.diffusion.forward.x0.abs().max()) == 1.0 and float(w.diffusion.forward.x0.mean()) == -1.0
    w.diffusion.forward.btn_random.click()  # the user's say
    assert read.count(str(secret)) == 1 and float(w.diffusion.forward.x0.mean()) > -1.0
