"""'When things go wrong': every row of the README's catalogue is asserted here, one test per row.

Each test is named ``test_Fnn_...`` after its row; ``test_readme_rows_match_tests`` keeps the README
table and this file in step.
"""

import errno
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models import CheckpointError, DataError, TrainConfig, load, load_dataset, save, train
from models.cli import main as cli
from tests.gui import test_toy_kind as toy
from tests.models.helpers import tiny_data, tiny_model

ROOT = Path(__file__).resolve().parents[1]
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


@pytest.fixture
def ckpt(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(VAE2D.read_bytes())
    return p


def _evil_pickle(path: Path, marker: Path):
    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"state_dict": Evil()}, path)


# -- checkpoints ----------------------------------------------------------------------------------


def test_F01_pickled_pth_checkpoint_is_refused(tmp_path, capsys):
    marker = tmp_path / "pwned"
    _evil_pickle(tmp_path / "model.pth", marker)
    with pytest.raises(CheckpointError, match="refused.*pickle.*never"):
        load(tmp_path / "model.pth")
    code, lines = run_cli(capsys, "info", tmp_path / "model.pth")
    assert code == 2 and len(lines) == 1 and "refused" in lines[0]
    assert not marker.exists()


def test_F02_ckpt_and_renamed_pickles_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    for name in ("lightning.ckpt", "disguised.safetensors", "weights.pt"):
        _evil_pickle(tmp_path / name, marker)
        with pytest.raises(CheckpointError, match="pickle"):
            load(tmp_path / name)
    assert not marker.exists()


def test_F03_random_bytes(tmp_path):
    p = tmp_path / "noise.safetensors"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    with pytest.raises(CheckpointError, match="not a safetensors checkpoint|truncated"):
        load(p)


def test_F04_truncated_checkpoint(ckpt):
    ckpt.write_bytes(ckpt.read_bytes()[:-1000])
    with pytest.raises(CheckpointError, match="truncated|outside the file"):
        load(ckpt)


def test_F05_header_claiming_a_huge_size(tmp_path):
    p = tmp_path / "huge.safetensors"
    p.write_bytes(struct.pack("<Q", 2**62) + b'{"__metadata__": {}}')
    with pytest.raises(CheckpointError, match="header length .* is invalid"):
        load(p)
    p.write_bytes(struct.pack("<Q", 9_000_000) + b"{}")
    with pytest.raises(CheckpointError, match="truncated"):
        load(p)


def test_F06_tensor_of_the_wrong_shape(ckpt):
    _rewrite(ckpt, tensors=lambda t: t.__setitem__("decoder.0.weight", torch.zeros(7, 3)))
    with pytest.raises(CheckpointError, match=r"'decoder.0.weight' has shape \(7, 3\), the config needs"):
        load(ckpt)


def test_F07_tensor_of_the_wrong_dtype(ckpt):
    _rewrite(ckpt, tensors=lambda t: t.__setitem__("decoder.0.bias", t["decoder.0.bias"].half()))
    with pytest.raises(CheckpointError, match="is torch.float16, expected torch.float32"):
        load(ckpt)


def test_F08_tensor_names_not_matching_the_config(ckpt):
    _rewrite(ckpt, tensors=lambda t: t.__setitem__("encoder.9.weight", t.pop("encoder.0.weight")))
    with pytest.raises(CheckpointError, match="do not match the vae config.*missing 'encoder.0.weight'.*"
                                             "unexpected 'encoder.9.weight'"):
        load(ckpt)


def test_F09_nan_or_inf_weights(ckpt):
    _rewrite(ckpt, tensors=lambda t: t["encoder.0.bias"].__setitem__(3, float("nan")))
    with pytest.raises(CheckpointError, match="NaN or infinite"):
        load(ckpt)


def test_F10_future_format_version(ckpt):
    _rewrite(ckpt, meta=lambda m: m.__setitem__("format_version", "7"))
    with pytest.raises(CheckpointError, match="newer Latent Explorer \\(format 7\\).*upgrade"):
        load(ckpt)


def test_F11_unknown_kind_or_broken_config(ckpt):
    good = ckpt.read_bytes()
    _rewrite(ckpt, meta=lambda m: m.__setitem__("kind", "flow"))
    with pytest.raises(CheckpointError, match="unknown model kind 'flow'"):
        load(ckpt)
    ckpt.write_bytes(good)
    _rewrite(ckpt, meta=lambda m: m.__setitem__("config", '{"kind": "vae", "latent_dim": -4}'))
    with pytest.raises(CheckpointError, match="invalid model config: latent dim"):
        load(ckpt)


class _G(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 64)

    def forward(self, z):
        return self.fc(z).view(-1, 1, 8, 8)


def test_F12_torchscript_without_a_sidecar(tmp_path):
    torch.jit.script(_G()).save(str(tmp_path / "g.pt"))
    with pytest.raises(CheckpointError, match="needs a JSON sidecar \\(g.pt.json\\)"):
        load(tmp_path / "g.pt")


def test_F13_torchscript_with_a_wrong_latent_dim(tmp_path):
    torch.jit.script(_G()).save(str(tmp_path / "g.pt"))
    (tmp_path / "g.pt.json").write_text(json.dumps({"latent_dim": 9, "image_shape": [1, 8, 8]}))
    with pytest.raises(CheckpointError, match="fails on z of size 9"):
        load(tmp_path / "g.pt", trust_code=True)


# -- data -----------------------------------------------------------------------------------------


def test_F14_empty_folder(tmp_path):
    with pytest.raises(DataError, match="the folder is empty"):
        load_dataset(str(tmp_path))


def test_F15_folder_of_non_images(tmp_path):
    for i in range(3):
        (tmp_path / f"notes{i}.txt").write_text("hello")
    with pytest.raises(DataError, match="no readable image \\(3 files skipped: 3 not an image file"):
        load_dataset(str(tmp_path))


def test_F16_corrupt_and_zero_byte_images_are_skipped_and_counted(tmp_path):
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    d = load_dataset(str(tmp_path))
    assert len(d) == 1 and len(d.skipped) == 2
    assert all("not a readable image" in why for _, why in d.skipped)


def test_F17_mixed_gray_rgb_rgba_and_sizes_are_converted(tmp_path):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((16, 12, 3), np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.zeros((10, 10, 4), np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).convert("P").save(tmp_path / "d.bmp")
    d = load_dataset(str(tmp_path))
    assert d.images.shape == (4, 3, 10, 10) and d.images.dtype == np.float32


def test_F18_a_10000_by_10000_image_is_skipped(tmp_path):
    Image.new("L", (10000, 10000)).save(tmp_path / "huge.png", compress_level=1)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "small.png")
    d = load_dataset(str(tmp_path))
    assert len(d) == 1 and d.skipped[0][1] == "too large (10000x10000 pixels)"


def test_F19_npz_with_the_wrong_keys(tmp_path):
    np.savez(tmp_path / "x.npz", pixels=np.zeros((3, 8, 8)))
    with pytest.raises(DataError, match="needs an 'images' array; it has \\['pixels'\\]"):
        load_dataset(str(tmp_path / "x.npz"))


def test_F20_npz_with_the_wrong_shapes(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((3, 8, 8, 5)))
    with pytest.raises(DataError, match="'images' must be \\(N, H, W\\) or \\(N, H, W, C\\)"):
        load_dataset(str(tmp_path / "x.npz"))
    np.savez(tmp_path / "y.npz", images=np.zeros((3, 8, 8)), labels=np.zeros(4, int))
    with pytest.raises(DataError, match="'labels' must be N=3 integers"):
        load_dataset(str(tmp_path / "y.npz"))


def test_F21_npz_with_a_pickled_object_array_is_not_unpickled(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    arr = np.empty(2, dtype=object)
    arr[0] = Evil()
    np.savez(tmp_path / "evil.npz", images=arr)
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", tmp_path / "evil.npz", "--out",
                          tmp_path / "o.safetensors")
    assert code == 2 and "not a readable .npz" in lines[-1]
    assert not marker.exists()


def _idx(path, arr, magic_type=0x08, count=None):
    dims = arr.shape if count is None else (count, *arr.shape[1:])
    path.write_bytes(struct.pack(">HBB", 0, magic_type, arr.ndim) + struct.pack(f">{arr.ndim}I", *dims)
                     + arr.tobytes())


def test_F22_idx_with_a_wrong_magic_number(tmp_path):
    _idx(tmp_path / "t-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8), magic_type=0x0B)
    with pytest.raises(DataError, match="bad magic number"):
        load_dataset(str(tmp_path))


def test_F23_idx_with_a_wrong_count(tmp_path):
    _idx(tmp_path / "t-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8), count=60000)
    with pytest.raises(DataError, match="header says \\(60000, 4, 4\\).*holds 32 bytes"):
        load_dataset(str(tmp_path))


# -- hyperparameters and output -------------------------------------------------------------------


@pytest.mark.parametrize("flag, value, message", [
    ("--epochs", "0", "epochs must be at least 1"),
    ("--lr", "-0.001", "learning rate must be between 1e-12 and 1e+06, got -0.001"),
    ("--latent-dim", "0", "latent dim must be between 2 and 512"),
    ("--batch-size", "5000", "batch size 5000 is larger than the 1618 training images"),
])
def test_F24_nonsense_hyperparameters(tmp_path, capsys, flag, value, message):
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", flag, value, "--out",
                          tmp_path / "a.safetensors")
    assert code == 2 and len(lines) == 1 and message in lines[0]


def test_F25_output_folder_missing(tmp_path, capsys):
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--out",
                          tmp_path / "nowhere" / "a.safetensors")
    assert code == 2 and "does not exist" in lines[0]
    with pytest.raises(CheckpointError, match="does not exist"):
        save(tiny_model("ae"), tmp_path / "nowhere" / "a.safetensors")


def test_F26_output_folder_read_only(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr("models.checkpoint.tempfile.mkstemp", refuse)
    with pytest.raises(CheckpointError, match="read-only or not writable; any previous file there is unchanged"):
        save(tiny_model("ae"), tmp_path / "a.safetensors")


def test_F27_disk_full_while_saving_keeps_the_previous_file(ckpt, monkeypatch):
    before = ckpt.read_bytes()
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, b):
            self.f.write(b[: len(b) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("models.checkpoint.os.fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(CheckpointError, match="the disk is full; any previous file there is unchanged"):
        save(tiny_model("vae"), ckpt)
    assert ckpt.read_bytes() == before and sorted(p.name for p in ckpt.parent.iterdir()) == ["m.safetensors"]


# -- runs -----------------------------------------------------------------------------------------


def test_F28_stop_mid_epoch_saves_the_last_weights(tmp_path):
    out = tmp_path / "s.safetensors"
    n = {"k": 0}

    def stop():
        n["k"] += 1
        return n["k"] > 2

    recs = list(train(tiny_model("vae"), tiny_data(), TrainConfig(epochs=3, batch_size=8), out=str(out),
                      should_stop=stop))
    assert recs[-1].event == "stopped" and load(out).meta["training"]["status"] == "stopped"


def test_F29_window_close_mid_epoch(qtbot, tmp_path, monkeypatch):
    from explorer.main_window import MainWindow
    from explorer.training_view import RunSpec
    from explorer.worker import live_workers

    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    w.show()
    run = w.training.start(RunSpec("gan", "digits", str(tmp_path / "g.safetensors"), 1000, 32, 2e-4, 8))
    qtbot.waitUntil(lambda: len(run.steps) > 2, timeout=180000)
    w.ask_stop_runs = lambda: True
    w.close()
    assert live_workers() == [] and load(tmp_path / "g.safetensors").meta["training"]["status"] == "stopped"


def test_F30_a_diverging_run_keeps_the_last_good_weights(tmp_path, capsys):
    out = tmp_path / "d.safetensors"
    code, lines = run_cli(capsys, "train", "--model", "ae", "--data", "digits", "--lr", "1e5", "--epochs", "5",
                          "--quiet", "--out", out)
    assert code == 1 and "diverged" in lines[-1] and "last good step" in lines[-1]
    kept = load(out)
    assert kept.meta["training"]["status"] == "diverged"


KILL_SCRIPT = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from models import load, save
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


def test_F31_process_killed_mid_save_leaves_the_previous_checkpoint(tmp_path):
    path = tmp_path / "k.safetensors"
    save(tiny_model("vae", hidden=(2048,)), path, training={"i": -1})
    rng = np.random.default_rng(0)
    for _ in range(6):
        p = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(ROOT), str(path)], stdout=subprocess.PIPE,
                             text=True)
        assert p.stdout.readline().strip() == "ready"
        time.sleep(float(rng.uniform(0.05, 0.6)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        model = load(path)  # old or new, never half-written
        assert "i" in model.meta["training"]


def test_F32_hostile_pickle_is_refused_by_every_command_and_the_gui(tmp_path, capsys, qtbot, monkeypatch):
    from explorer.main_window import MainWindow

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
    from explorer.main_window import MainWindow

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
    from explorer.main_window import MainWindow

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


def test_F35_a_conditional_model_on_unlabelled_data(tmp_path, capsys):
    for i in range(20):
        Image.fromarray(np.full((8, 8), i * 10, np.uint8)).save(tmp_path / f"{i}.png")
    code, lines = run_cli(capsys, "train", "--model", "cvae", "--data", tmp_path, "--out", tmp_path / "c.safetensors")
    assert code == 2 and "needs labelled data with at least 2 classes" in lines[0]


def test_F36_a_folder_with_a_whole_disk_under_it(tmp_path, monkeypatch):
    import models.data

    monkeypatch.setattr(models.data, "MAX_FOLDER_FILES", 20)
    for d in ("a", "b/c"):
        (tmp_path / d).mkdir(parents=True)
        for i in range(15):
            (tmp_path / d / f"{i}.png").write_bytes(b"")
    with pytest.raises(DataError, match="more than 20 files in this folder and its subfolders"):
        load_dataset(str(tmp_path))


def test_F37_a_hyperparameter_of_another_kind_or_malformed(tmp_path, capsys):
    out = tmp_path / "a.safetensors"
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--timesteps", "10", "--out", out)
    assert code == 2 and len(lines) == 1 and "--timesteps does not apply to vae (it applies to ddpm, ldm)" in lines[0]
    code, lines = run_cli(capsys, "train", "--model", "ae", "--data", "digits", "--hidden", "512,x", "--out", out)
    assert code == 2 and len(lines) == 1 and "--hidden must be comma-separated whole numbers" in lines[0]
    assert not out.exists()


def test_F38_a_format_2_config_with_another_familys_field(tmp_path):
    ckpt = save(tiny_model("vae"), tmp_path / "v.safetensors")

    def edit(m):
        config = json.loads(m["config"])
        config["timesteps"] = 1000
        m["config"] = json.dumps(config)

    _rewrite(ckpt, meta=edit)
    with pytest.raises(CheckpointError, match=r"invalid model config: unknown model config keys: \['timesteps'\]"):
        load(ckpt)


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
    from explorer.main_window import MainWindow

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


def test_F40_an_external_generator_whose_output_goes_wrong_later(tmp_path):
    class Flaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(6, 64))

        def forward(self, z):
            if z.abs().sum() > 100:
                return torch.full((z.shape[0], 1, 8, 8), float("nan"))
            if z.abs().sum() > 50:
                return torch.zeros(z.shape[0], 1, 4, 4)
            return (z @ self.w).view(-1, 1, 8, 8)

    gen = load(_script(Flaky(), tmp_path / "f.pt"), trust_code=True)  # passes the probe with z = 0
    with pytest.raises(ValueError, match="NaN or infinite"):
        gen.decode(torch.full((1, 6), 20.0))
    with pytest.raises(ValueError, match=r"returned \(1, 1, 4, 4\), not float images of shape \(1, 1, 8, 8\)"):
        gen.decode(torch.full((1, 6), 10.0))


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
    from explorer.main_window import MainWindow
    from explorer.training_view import RunSpec

    w = MainWindow(load_bundled=False)
    qtbot.addWidget(w)
    asked = []
    w.training.confirm_replace = lambda path: asked.append(path) or False
    before = out.read_bytes()
    assert w.training.start(RunSpec("vae", "digits", str(out), 1, 64, 1e-3, 2)) is None
    assert asked == [str(out)] and out.read_bytes() == before and w.training.queue.runs == []
    w.close()


def test_F42_the_bundled_models_are_never_overwritten(tmp_path, capsys):
    target = ROOT / "assets" / "digits-vae2d.safetensors"
    before = target.read_bytes()
    for extra in ([], ["--force"]):
        code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--max-steps", "1", *extra,
                              "--out", target)
        assert code == 2 and "bundled models" in lines[0] and "never overwritten" in lines[0]
    assert target.read_bytes() == before


def test_F43_a_config_implying_a_huge_model_is_refused_before_anything_is_built(tmp_path, capsys):
    import resource

    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--hidden", "8192,8192,8192,8192,"
                          "8192,8192", "--out", tmp_path / "h.safetensors")
    assert code == 2 and len(lines) == 1 and "parameters" in lines[0] and "the limit is 50,000,000" in lines[0]
    # a small file whose config asks for 8192-wide layers: refused from the config, no 3 GB model built
    ckpt = save(tiny_model("vae"), tmp_path / "v.safetensors")

    def huge(m):
        config = json.loads(m["config"])
        config["hidden"] = [8192] * 6
        m["config"] = json.dumps(config)

    _rewrite(ckpt, meta=huge)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match="implies 672,.* parameters .* the limit is 50,000,000"):
        load(ckpt)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200  # peak memory: nothing near the 2.5 GB the config asks for


@pytest.mark.parametrize("field, value, msg", [
    ("data", "[1, 2]", "'data' must be an object, found list"),
    ("data", '{"spec": 7}', "data 'spec' must be a string, found int"),
    ("data", '{"spec": "digits", "val_fraction": 1.5}', r"data 'val_fraction' must be a number in \(0, 1\)"),
    ("data", '{"spec": "digits", "val_fraction": true}', "data 'val_fraction' must be a number"),
    ("training", '"finished"', "'training' must be an object, found str"),
    ("training", '{"status": 3}', "training 'status' must be a string"),
    ("class_names", "[1, 2]", "'class_names' must be a list of at most 1000 strings"),
    ("class_names", '["a\\u001b[2J", "b"]', "'class_names' must be a list of at most 1000 strings"),
])
def test_F44_metadata_of_the_wrong_type_or_range(ckpt, capsys, field, value, msg):
    _rewrite(ckpt, meta=lambda m: m.__setitem__(field, value))
    with pytest.raises(CheckpointError, match="invalid metadata: " + msg):
        load(ckpt)
    code, lines = run_cli(capsys, "info", ckpt)
    assert code == 2 and len(lines) == 1 and "invalid metadata" in lines[0]


_CHILDREN: list = []


def _child(args, **kw):
    """A child process that never outlives its test (see the fixture below), even when an assertion fails."""
    proc = subprocess.Popen(args, **kw)
    _CHILDREN.append(proc)
    return proc


@pytest.fixture(autouse=True)
def _no_orphans():
    yield
    while _CHILDREN:
        proc = _CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)


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


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)])
def test_F45_a_signal_in_the_middle_of_a_training_step(tmp_path, sig, code):
    out = tmp_path / "run.safetensors"
    proc = _child([sys.executable, "main.py", "train", "--model", "vae", "--data", "digits", "--epochs",
                             "400", "--quiet", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_signals_as_in_a_terminal)
    lines, reader = _stderr_until(proc, "epoch 2/")
    proc.send_signal(sig)  # lands inside a step, almost surely: the steps are nearly all of the time
    assert proc.wait(timeout=300) == code
    reader.join(60)
    text = "".join(lines)
    assert f"interrupted ({signal.Signals(sig).name}): the weights of step" in text and f"saved to {out}" in text
    meta = load(out).meta["training"]
    assert meta["status"] == "stopped" and meta["epochs_done"] >= 2


def test_F46_eval_of_what_it_cannot_measure(tmp_path, capsys):
    model = ROOT / "assets" / "mnist-vae2d.safetensors"
    for args, msg in ((["--data", "digits"], "digits holds 1×8×8 images but the model makes 1×28×28"),
                      (["--n", "10"], "the quality figures need 100 to 50000 samples, got 10")):
        code, lines = run_cli(capsys, "eval", model, *args)
        assert code == 2 and len(lines) == 1 and msg in lines[0], lines
    code, lines = run_cli(capsys, "eval", VAE2D, "--data", str(tmp_path / "nope"))
    assert code == 2 and len(lines) == 1 and "no such file or folder" in lines[0]


@pytest.mark.parametrize("args, msg", [
    (["sample", VAE2D, "--out", "x.png", "--seed", "-1"], "seed must be between 0 and 4294967295, got -1"),
    (["sample", VAE2D, "--out", "x.png", "--seed", "9" * 30], "seed must be between 0 and 4294967295"),
    (["sample", VAE2D, "--out", "x.png", "--scale", "0"], "scale must be between 1 and 64, got 0"),
    (["sample", VAE2D, "--out", "x.png", "--eta", "2"], "eta must be between 0 and 1, got 2"),
    (["sample", VAE2D, "--out", "x.png", "--guidance", "inf"], "guidance must be a finite number, got 'inf'"),
    (["train", "--model", "vae", "--data", "digits", "--lr", "nan", "--out", "y.safetensors"],
     "learning rate must be a finite number, got 'nan'"),
    (["train", "--model", "vae", "--data", "digits", "--max-steps", "0", "--out", "y.safetensors"],
     "max steps must be between 1 and"),
    (["eval", VAE2D, "--seed", "true"], "seed must be a whole number, got 'true'"),
])
def test_F47_command_line_numbers_out_of_range(tmp_path, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(tmp_path)
    code, lines = run_cli(capsys, *args)
    assert code == 2 and len(lines) == 1 and msg in lines[0], lines
    assert not list(tmp_path.iterdir())  # nothing written


def test_F48_the_last_model_fails_to_open_at_start(qtbot, tmp_path, monkeypatch):
    from explorer.main_window import MainWindow
    from explorer.state import make_settings

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
    from explorer.main_window import MainWindow

    secret = tmp_path / "elsewhere"
    secret.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(secret / "a.png")
    read = []
    import models.data as data_module

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


def _address_space_limited(code: str, limit_gb: float = 1.5):
    """Run ``code`` in a child whose address space may grow by at most ``limit_gb`` once our modules are
    imported (PyTorch alone maps more than that): a regression that allocates fails there, instead of taking
    the machine down. Returns (exit code, stderr)."""
    script = (f"import resource, sys\nsys.path.insert(0, {str(ROOT)!r})\nimport models\n"
              "vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1]) * 1024\n"
              f"cap = vm + {int(limit_gb * 2**30)}\n"
              "resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n" + code)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    return r.returncode, r.stderr


def test_F50_a_gzip_bomb_as_idx_data(tmp_path, capsys):
    import gzip as gz

    bomb = tmp_path / "bomb-images-idx3-ubyte.gz"
    header = struct.pack(">HBBIII", 0, 8, 3, 2_000_000, 28, 28)
    with gz.open(bomb, "wb", compresslevel=9) as f:  # 1.5 GB of zeros in a few MB
        f.write(header)
        block = bytes(2**24)
        for _ in range(90):
            f.write(block)
    assert bomb.stat().st_size < 5 * 2**20
    code, err = _address_space_limited(
        "from models import load_dataset, DataError\n"
        f"try:\n    load_dataset({str(bomb)!r})\nexcept DataError as e:\n    print(e, file=sys.stderr)\n")
    assert code == 0 and "decompresses to more than 512 MB; the limit is 512 MB" in err, err


def test_F51_idx_sizes_that_overflow(tmp_path, capsys):
    p = tmp_path / "x-images-idx3-ubyte"
    p.write_bytes(struct.pack(">HBBIII", 0, 8, 3, 2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(16))
    with pytest.raises(DataError, match="header says .*79228162458924105385300197375 bytes"):
        load_dataset(str(p))


def test_F52_an_npz_whose_arrays_inflate_beyond_memory(tmp_path):
    p = tmp_path / "zeros.npz"
    np.savez_compressed(p, images=np.zeros((60_000, 64, 64, 1), np.uint8))  # tiny file, 983 MB as floats
    assert p.stat().st_size < 2 * 2**20
    code, err = _address_space_limited(
        "from models import load_dataset, DataError\n"
        f"try:\n    load_dataset({str(p)!r})\nexcept DataError as e:\n    print(e, file=sys.stderr)\n")
    assert code == 0 and "would take 938 MB in memory as floats; the limit is 512 MB" in err, err


def test_F53_a_fifo_or_device_given_as_a_file(tmp_path, capsys):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(str(fifo))  # returns at once: a FIFO is never opened
    ck = tmp_path / "model.safetensors"
    os.mkfifo(ck)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load(ck)
    code, lines = run_cli(capsys, "info", "/dev/zero")
    assert code == 2 and "not a regular file" in lines[0]
    classed = tmp_path / "data" / "a"
    classed.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(classed / "ok.png")
    os.mkfifo(classed / "pipe.png")
    data = load_dataset(str(tmp_path / "data"))
    assert len(data) == 1 and any("not a regular file" in why for _, why in data.skipped)


def test_F54_16_bit_images_and_exif_orientation(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    deep = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep.png")
    x = load_dataset(str(folder)).images[0, 0]
    assert x.max() > 0.99 and x.min() < 0.01 and len(np.unique(x)) > 100  # scaled, not clipped at 255
    (folder / "deep.png").unlink()
    im = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8)[None] * 16, (8, 1)))  # 8 high, 16 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    im.save(folder / "phone.jpg", exif=exif, quality=100)
    data = load_dataset(str(folder))
    assert data.images.shape[2:] == (8, 8)  # square crop of a 16 x 8 (upright) picture
    from models.data import read_image

    assert read_image(folder / "phone.jpg").shape == (1, 16, 8)


@pytest.mark.parametrize("images, msg, top", [
    (np.full((4, 8, 8), 0.5, np.float32) * 2 - 1.5, "values run from -0.5 to -0.5", None),
    (np.linspace(-1, 1, 256, dtype=np.float32).reshape(4, 8, 8), "values run from -1 to 1", None),
    (np.full((4, 8, 8), 200.0, np.float32), None, 200 / 255),
    (np.full((4, 8, 8), 40000, np.uint16), None, 40000 / 65535),
    (np.full((4, 8, 8), 0.25, np.float64), None, 0.25),
])
def test_F55_npz_values_outside_0_1(tmp_path, images, msg, top):
    p = tmp_path / "d.npz"
    np.savez(p, images=images)
    if msg:
        with pytest.raises(DataError, match=msg):
            load_dataset(str(p))
    else:
        assert load_dataset(str(p)).images.max() == pytest.approx(top, rel=1e-5)


@pytest.mark.parametrize("labels, msg", [
    (np.array([0, 1, 2**63 + 5, 1], np.uint64), "labels must be 0 to 999, found 0 to 9223372036854775813"),
    (np.array([0, 1, 10**9, 1], np.int64), "labels must be 0 to 999, found 0 to 1000000000"),
    (np.array([0, -1, 2, 1], np.int8), "labels must be 0 to 999, found -1 to 2"),
])
def test_F56_labels_beyond_any_class_list(tmp_path, labels, msg):
    p = tmp_path / "d.npz"
    np.savez(p, images=np.zeros((4, 8, 8), np.uint8), labels=labels)
    with pytest.raises(DataError, match=msg):
        load_dataset(str(p))


def test_F57_class_subfolders_and_the_held_out_split(tmp_path, capsys):
    for c, n in (("cat", 20), ("dog", 20), ("owl", 10)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
    data = load_dataset(str(tmp_path / "d"))
    assert data.labels.tolist() == [0] * 20 + [1] * 20 + [2] * 10  # one class after another
    _, val = data.split(0.1)
    assert np.bincount(val.labels).tolist() == [2, 2, 1]  # not the last class held out whole
    out = tmp_path / "m.safetensors"
    code, _ = run_cli(capsys, "train", "--model", "vae", "--data", tmp_path / "d", "--epochs", "1", "--batch-size",
                      "8", "--out", out, "--quiet")
    assert code == 0 and load(out).meta["data"]["split"] == "stratified"


def test_F58_hostile_text_and_duplicate_names_in_a_checkpoint(ckpt, capsys):
    raw = ckpt.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = raw[8 : 8 + n].decode()
    first = re.search(r'"([^"_][^"]*)":\{"dtype"', header).group(1)
    # the same tensor named twice: json would keep the last silently; safetensors refuses, so do we
    dup = header.replace("{", "{" + f'"{first}":' + re.search(r'"' + re.escape(first) + r'":(\{[^}]*\})',
                                                                      header).group(1) + ",", 1)
    dup = dup.encode()
    ckpt.write_bytes(struct.pack("<Q", len(dup)) + dup + raw[8 + n :])
    with pytest.raises(CheckpointError, match="names .* twice"):
        load(ckpt)
    # a tensor name of control characters and 10,000 letters: escaped and shortened in the message
    from models.errors import shown

    evil = "\x1b[2J\x1b[31mOWNED\n" + "x" * 10_000
    assert "\x1b" not in shown(evil) and "\n" not in shown(evil) and len(shown(evil)) < 100


@pytest.mark.parametrize("field, value, msg", [
    ("latent_dim", True, "model config 'latent_dim' must be int, not true"),
    ("n_critic", True, "model config 'n_critic' must be int, not true"),
    ("beta", False, "model config 'beta' must be float, not false"),
    ("class_names", ["ok", "\x1b]0;pwned\x07"], "class names must be a list of short text"),
])
def test_F59_booleans_are_not_numbers_and_names_are_short_text(tmp_path, field, value, msg):
    kind = "wgan" if field == "n_critic" else "vae"
    ck = save(tiny_model(kind), tmp_path / "m.safetensors")

    def change(m):
        config = json.loads(m["config"])
        config[field] = value
        m["config"] = json.dumps(config)

    _rewrite(ck, meta=change)
    with pytest.raises(CheckpointError, match=re.escape(msg)):
        load(ck)


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


def test_F60_a_generator_that_hangs_in_its_decode(make_window, qtbot, tmp_path, monkeypatch):
    import threading

    from explorer.live_decoder import LiveDecoder

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


def test_F61_interrupts_at_random_points_of_a_run(tmp_path):
    """SIGINT (once or twice), SIGTERM or SIGHUP at seeded random moments: while PyTorch imports, before the
    first step, inside steps, evaluations and saves. Every time, the message and the file agree."""
    import random
    import threading

    rng = random.Random(0)
    for i in range(6):
        out = tmp_path / f"r{i}.safetensors"
        sig = rng.choice([signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
        twice = sig == signal.SIGINT and rng.random() < 0.5
        proc = _child([sys.executable, "main.py", "train", "--model", "vae", "--data", "digits",
                                 "--epochs", "40", "--quiet", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                preexec_fn=_signals_as_in_a_terminal)
        lines = []
        reader = threading.Thread(target=lines.extend, args=(proc.stderr,), daemon=True)
        reader.start()
        time.sleep(rng.uniform(0.0, 8.0))  # a random moment of the run: that is what this test is about
        if proc.poll() is None:
            proc.send_signal(sig)
            if twice:
                proc.send_signal(sig)
        code = proc.wait(timeout=300)
        reader.join(60)
        text = "".join(lines)
        assert "Traceback" not in text, text
        if "interrupted" in text or re.search(r"^saved ", text, re.M):
            _what_the_message_says_agrees_with_the_file(text, out)
        else:  # killed by the signal before our handlers were installed: nothing can have been saved
            assert code == -sig and not out.exists(), (code, text)


def test_F62_a_folder_of_big_photos_is_read_within_a_memory_budget(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    big = Image.fromarray(np.tile(np.arange(3000, dtype=np.uint16)[None] % 256, (3000, 1)).astype(np.uint8))
    for i in range(40):  # 40 x 9 megapixels: 1.4 GB as full-size float copies, a few MB as we read them
        big.save(folder / f"{i:02d}.png", compress_level=1)
    code, err = _address_space_limited(
        "from models import load_dataset\n"
        f"d = load_dataset({str(folder)!r})\n"
        "print(len(d), d.shape, file=sys.stderr)\n", limit_gb=1.0)
    assert code == 0 and "40 (1, 64, 64)" in err, err


def test_F63_sample_quality_of_unlabelled_data(tmp_path, capsys):
    from models.classifier import classifier_for
    from models.data import ImageData
    from models.progress import run_to_end

    data = ImageData(np.random.default_rng(0).random((300, 1, 8, 8), np.float32), spec="mine")
    with pytest.raises(DataError, match="the quality yardstick needs labelled data"):
        run_to_end(classifier_for(data))
    npz = tmp_path / "u.npz"
    np.savez(npz, images=(data.images[:, 0] * 255).astype(np.uint8))
    model = save(tiny_model("vae"), tmp_path / "v.safetensors", data={"spec": str(npz)})
    code, lines = run_cli(capsys, "eval", model, "--n", "100")
    assert code == 2 and len(lines) == 1 and "needs labelled data" in lines[0]


def test_F64_a_damaged_classifier_in_the_cache_is_trained_again(tmp_path, monkeypatch):
    from models.classifier import cache_dir, classifier_for, fingerprint, load_classifier
    from models.progress import run_to_end

    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    data = load_dataset("digits").subset(slice(0, 400))
    run_to_end(classifier_for(data, epochs=1))
    cached = cache_dir() / f"{fingerprint(data)}-s0.safetensors"
    cached.write_bytes(b"\x00" * 100)  # a disk error, a crash mid-write by another program
    steps = list(classifier_for(data, epochs=1))
    assert steps  # trained again, not an error
    assert load_classifier(cached).config.heads["label"] == [str(i) for i in range(10)]


def test_F65_a_conditional_model_whose_classes_are_not_the_datas(tmp_path):
    from models.classifier import train_classifier
    from models.errors import ConfigError
    from models.progress import run_to_end
    from models.quality import measure

    digits = load_dataset("digits")
    net = run_to_end(train_classifier(digits, epochs=1))
    model = tiny_model("cvae", classes=3)  # classes c0, c1, c2
    with pytest.raises(ConfigError, match=r"the model's classes \(c0, c1, c2\) are not the data's \(0, 1, 2"):
        run_to_end(measure(model, digits, net, n=100))


def test_F66_a_classifier_file_that_is_not_one(tmp_path, ckpt):
    from models.classifier import load_classifier, save_classifier, train_classifier
    from models.progress import run_to_end

    with pytest.raises(CheckpointError, match="not a Latent Explorer classifier"):
        load_classifier(ckpt)  # a model checkpoint
    net = run_to_end(train_classifier(load_dataset("digits"), epochs=1))
    path = save_classifier(net, tmp_path / "c.safetensors")
    _raw = path.read_bytes()
    from safetensors.torch import save as st_save

    n = struct.unpack("<Q", _raw[:8])[0]
    meta = json.loads(_raw[8 : 8 + n])["__metadata__"]
    config = json.loads(meta["config"])
    config["heads"] = {"label": ["a", "b"]}  # says 2 classes, the weights have 10
    meta["config"] = json.dumps(config)
    path.write_bytes(st_save({k: v.contiguous() for k, v in net.state_dict().items()}, metadata=meta))
    with pytest.raises(CheckpointError, match="its weights do not match its config"):
        load_classifier(path)


def test_F67_ctrl_c_in_a_command_that_writes_a_file(tmp_path):
    out = tmp_path / "c.safetensors"
    proc = _child([sys.executable, "main.py", "classifier", "--data", "scenes:20000", "--epochs", "50",
                             "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_signals_as_in_a_terminal)
    lines, reader = _stderr_until_started(proc)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=300)
    reader.join(60)
    text = "".join(lines)
    assert code == 130, text
    assert "interrupted: nothing was saved" in text and "Traceback" not in text and not out.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left either


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


def test_F68_a_link_to_a_device_given_as_data_or_as_a_model(tmp_path, capsys):
    link = tmp_path / "data.npz"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(str(link))
    model_link = tmp_path / "m.safetensors"
    model_link.symlink_to("/dev/urandom")
    code, lines = run_cli(capsys, "info", model_link)
    assert code == 2 and "not a regular file" in lines[0]


def test_F69_a_folder_whose_links_loop(tmp_path):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(root / "a" / "x.png")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # data/a/loop -> data
    data = load_dataset(str(root))
    assert len(data) == 1 and data.class_names == ["a"]


def test_F70_an_oversized_sidecar(tmp_path, capsys):
    import zipfile

    g = tmp_path / "g.pt"
    with zipfile.ZipFile(g, "w") as z:
        z.writestr("g/code/__torch__.py", "def forward(self, z):\n    return z\n")
        z.writestr("g/data.pkl", b"")
    (tmp_path / "g.pt.json").write_text('{"latent_dim": 2, "image_shape": [1, 8, 8], "pad": "' + "x" * 3_000_000
                                        + '"}')
    code, lines = run_cli(capsys, "info", g)
    assert code == 2 and len(lines) == 1 and "is not a sidecar (at most 1 MB)" in lines[0]


def test_readme_rows_match_tests():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## When things go wrong", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (F\d{2,3}) \|", section, flags=re.M)
    source = "".join(p.read_text() for p in sorted(Path(__file__).parent.glob("test_catalogue*.py")))
    tests = sorted({m.group(1) for m in re.finditer(r"^def test_(F\d{2,3})_", source, re.M)}, key=lambda f: int(f[1:]))
    assert rows == tests and len(rows) >= 130



def test_F71_a_damaged_settings_file(make_window, tmp_path, monkeypatch):
    ini = tmp_path / "s.ini"
    ini.write_text("[General]\ntab=seven\nrecent=5\ngeometry=not a geometry\nwindowState=@Variant(garbage)\n"
                   "lastModel=/dev/zero\ntrusted_code=1, 2\n[folders]\nmodels=\\0\\0\n")
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(ini))
    w = make_window(load_bundled=False)  # starts with its defaults: no exception reaches the hook
    assert w.tabs.currentIndex() == 0 and "not a regular file" in w.last_error  # /dev/zero is never read
    from explorer.dialogs import start_folder

    assert Path(start_folder("models")).is_dir()
    ini.write_text("[General]\ntab=99\n")
    w2 = make_window(load_bundled=False)
    assert w2.tabs.currentIndex() == 0


class _Generator(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(6, 64))

    def forward(self, z):
        return (z @ self.w).view(-1, 1, 8, 8)


def test_F72_a_trusted_torchscript_generator_never_runs_on_the_windows_thread(make_window, qtbot, tmp_path,
                                                                                 monkeypatch):
    import threading

    from models.external import ExternalGenerator

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


def test_F73_file_names_that_are_not_utf8(tmp_path, capsys):
    folder = tmp_path / "d" / "a"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    bad = os.fsdecode(bytes(folder) + b"/\xff\xfe bad.png")
    Path(bad).write_bytes(b"not an image")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(os.fsdecode(bytes(folder) + b"/\xfe good.png"))
    data = load_dataset(str(tmp_path / "d"))
    assert len(data) == 4 and len(data.skipped) == 1
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", tmp_path / "d", "--batch-size", "2",
                          "--max-steps", "1", "--quiet", "--out", tmp_path / "m.safetensors")
    note = next(ln for ln in lines if ln.startswith("note:"))
    assert code == 0 and "\\xff\\xfe bad.png" in note and "\\udc" not in note


def test_F74_sample_output_that_is_not_a_png(tmp_path, capsys, ckpt):
    before = ckpt.read_bytes()
    for out in (ckpt, tmp_path / "grid.jpg", tmp_path):
        code, lines = run_cli(capsys, "sample", ckpt, "--n", "4", "--out", out)
        assert code == 2 and len(lines) == 1 and "ending in .png" in lines[0]
    assert ckpt.read_bytes() == before  # the trained model is never replaced by a picture
    code, _ = run_cli(capsys, "sample", ckpt, "--n", "4", "--out", tmp_path / "grid.png")
    assert code == 0 and Image.open(tmp_path / "grid.png").format == "PNG"


def test_F75_a_diffusion_checkpoint_naming_a_data_path(make_window, qtbot, tmp_path, monkeypatch):
    import models.data as data_module

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


_PAUSED_CHILD = """
import importlib, os, runpy, select, signal, sys
sys.path.insert(0, '.')
checkpoint, training = importlib.import_module("models.checkpoint"), importlib.import_module("models.train")
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


@pytest.mark.parametrize("phase", ["evaluation", "save"])
@pytest.mark.parametrize("sig, twice", [(signal.SIGINT, False), (signal.SIGTERM, False), (signal.SIGINT, True)])
def test_F76_a_signal_inside_an_evaluation_or_a_save(tmp_path, phase, sig, twice):
    out = tmp_path / "run.safetensors"
    proc = _child([sys.executable, "-c", _PAUSED_CHILD, phase, "train", "--model", "vae", "--data", "digits",
                   "--epochs", "40", "--quiet", "--out", str(out)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                  env={**os.environ, "PYTHONUNBUFFERED": "1"}, preexec_fn=_signals_as_in_a_terminal)
    lines, reader = _stderr_until(proc, f"PAUSED-IN-{phase.upper()}")
    proc.send_signal(sig)
    if twice:
        proc.send_signal(sig)
    code = proc.wait(timeout=300)
    reader.join(60)
    text = "".join(lines)
    assert "Traceback" not in text and code == 128 + sig, (code, text)
    assert "interrupted" in text, text
    _what_the_message_says_agrees_with_the_file(text, out)
    if not twice:  # once: the save finishes and the weights of the step reached are kept as "stopped"
        assert load(out).meta["training"]["status"] == "stopped"


def test_F77_the_output_folder_vanishes_during_a_run(tmp_path, monkeypatch, capsys):
    """The folder removed (or the disk full) between epochs: the run goes on, says so, and its last save goes
    where it can be written; the trained weights are never lost."""
    import shutil

    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "runs"
    folder.mkdir()
    out = folder / "m.safetensors"
    model, data = tiny_model("vae"), tiny_data()
    seen = []
    for p in train(model, data, TrainConfig(epochs=3, batch_size=16, checkpoint_every=1), out=str(out)):
        seen.append(p)
        if p.event == "epoch" and p.epoch == 1:
            assert out.exists()
            shutil.rmtree(folder)
    epoch2 = next(p for p in seen if p.event == "epoch" and p.epoch == 2)
    assert "does not exist" in epoch2.message and "tries again" in epoch2.message
    done = seen[-1]
    assert done.event == "done" and "saved to" in done.message and "instead" in done.message
    rescued = Path(done.checkpoint)
    assert rescued.parent == tmp_path / "cache" / "recovered" and rescued.name.startswith("m-")
    assert load(rescued).meta["training"]["status"] == "finished"
    # the CLI says where the weights went, and exits 0: they are kept
    import models.checkpoint as checkpoint

    folder.mkdir()
    real = checkpoint.save

    def full(model, path, **kw):
        if Path(path) == out:
            raise CheckpointError(f"cannot save {path}: the disk is full; any previous file there is unchanged")
        return real(model, path, **kw)

    monkeypatch.setattr(checkpoint, "save", full)
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--epochs", "2", "--quiet",
                          "--out", out)
    warn = [ln for ln in lines if ln.startswith("warning:")]
    assert code == 0 and not out.exists() and len(warn) == 2, lines  # the epoch's save, then the last one
    assert "tries again" in warn[0] and "the disk is full" in warn[1] and "instead" in warn[1]
    saved = Path(lines[-1].split()[1])
    assert load(saved).meta["training"]["status"] == "finished"


def test_F78_generated_data_asked_beyond_the_memory_budget(tmp_path, capsys):
    """A checkpoint names its data, and a built-in one loads without asking: its size is checked first."""
    for spec, shape in (("scenes:200000", "(200000, 3, 32, 32)"), ("shapes:200000", "(200000, 1, 32, 32)"),
                        ("scenes:100000:objects=2", "(100000, 3, 32, 32)")):
        code, err = _address_space_limited(f"from models import load_dataset\nload_dataset({spec!r})")
        assert code == 1 and f"{shape} images would take" in err and "the limit is 512 MB" in err, err[-600:]
        assert "MemoryError" not in err
    code, err = _address_space_limited("from models import load_dataset\nprint(len(load_dataset('scenes:40000')))")
    assert code == 0, err[-600:]


def test_F79_an_output_that_is_a_device_or_a_pipe(tmp_path, capsys):
    from models.checkpoint import atomic_write, check_output

    fifo = tmp_path / "out.safetensors"
    os.mkfifo(fifo)
    for force in (False, True):
        with pytest.raises(CheckpointError, match="not a regular file .* never written or replaced"):
            check_output("/dev/null", force=force)  # only checked: nothing is written to /dev
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--epochs", "1", "--force",
                          "--out", fifo)
    assert code == 2 and len(lines) == 1 and "not a regular file" in lines[0]
    picture = tmp_path / "grid.png"
    os.mkfifo(picture)
    code, lines = run_cli(capsys, "sample", VAE2D, "--n", "4", "--out", picture)
    assert code == 2 and "not a regular file" in lines[-1]
    with pytest.raises(CheckpointError, match="not a regular file"):
        atomic_write(fifo, b"x")
    assert fifo.is_fifo() and picture.is_fifo() and sorted(p.name for p in tmp_path.iterdir()) == [
        "grid.png", "out.safetensors"]  # no temporary file left either


def _with_training_metadata(path: Path, training: str) -> Path:
    raw = VAE2D.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header["__metadata__"]["training"] = training
    hb = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(hb)) + hb + raw[8 + n :])
    return path


def test_F80_metadata_that_inflates_in_memory(tmp_path, capsys):
    """A 90 MB header of 30 million empty objects took 3.4 GB and 28 s to open; now it is refused unread."""
    big = _with_training_metadata(tmp_path / "big.safetensors", '{"history": [' + ",".join(["{}"] * 30_000_000) + "]}")
    small = _with_training_metadata(tmp_path / "small.safetensors",
                                    '{"history": [' + ",".join(["{}"] * 2_000_000) + "]}")
    for path, says in ((big, "header length 90"), (small, "its 'training' metadata is 6,000,014 characters")):
        code, err = _address_space_limited(f"from models import load\nload({str(path)!r})")
        assert code == 1 and "CheckpointError" in err and says in err and "MemoryError" not in err, err[-500:]
        code, lines = run_cli(capsys, "info", path)
        assert code == 2 and len(lines) == 1 and says in lines[0]
    assert load(VAE2D).meta["training"]["status"] == "finished"  # a real history loads as before


def test_F81_a_diffusers_folder_that_cannot_be_honoured(tmp_path, capsys):
    """Each fault of a diffusers folder: one line, exit 2, nothing unpickled; the good folder opens."""
    pytest.importorskip("diffusers")
    import diffusers

    from tests.models.test_diffusers_models import _unet

    good = tmp_path / "good"
    _unet().save_pretrained(good)
    diffusers.DDIMScheduler(num_train_timesteps=100).save_pretrained(good)

    def variant(name, edit):
        d = tmp_path / name
        shutil.copytree(good, d)
        edit(d)
        return d

    def set_config(d, file="config.json", **change):
        (d / file).write_text(json.dumps({**json.loads((d / file).read_text()), **change}))

    cases = [
        (variant("empty", lambda d: [f.unlink() for f in d.glob("*.json")]), "no config.json or model_index.json"),
        (variant("garbled", lambda d: (d / "config.json").write_text("{\"_class_name\": ")), "not valid JSON"),
        (variant("other", lambda d: set_config(d, _class_name="ControlNetModel")), "a ControlNetModel; only"),
        (variant("pickled", lambda d: ((d / "diffusion_pytorch_model.safetensors").rename(
            d / "diffusion_pytorch_model.bin"))), "only pickle weights"),
        (variant("misfit", lambda d: set_config(d, block_out_channels=[12, 16])), "cannot load the UNet2DModel"),
        (variant("v", lambda d: set_config(d, "scheduler_config.json", prediction_type="v_prediction")),
         "prediction_type 'v_prediction'"),
    ]
    for folder, says in cases:
        code, lines = run_cli(capsys, "info", folder)
        assert code == 2 and len(lines) == 1 and says in lines[0], (folder.name, lines)
    assert (tmp_path / "pickled" / "diffusion_pytorch_model.bin").read_bytes()[:1] != b""  # left as it was
    code, lines = run_cli(capsys, "sample", good, "--n", "4", "--sampler", "ddim", "--steps", "3", "--out",
                          tmp_path / "g.png")
    assert code == 0 and (tmp_path / "g.png").is_file()


def test_F82_an_onnx_generator_that_does_not_fit(tmp_path, capsys):
    pytest.importorskip("onnx")
    from tests.models.test_onnx_model import make_onnx

    cases = [(make_onnx(tmp_path / "rank.onnx", input_rank=4)[0], "has rank 4 (n×8×1×1)"),
             (make_onnx(tmp_path / "gen.onnx", sidecar={"latent_dim": 16, "image_shape": [3, 4, 4]})[0],
              "gen.onnx.json says latent_dim 16, but the graph takes z of 8 numbers"),
             (make_onnx(tmp_path / "lies.onnx", sidecar={"latent_dim": 8, "image_shape": [1, 8, 8]})[0],
              "another shape than the sidecar's (1, 8, 8)")]
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x07not a graph")
    (tmp_path / "junk.onnx.json").write_text(json.dumps({"latent_dim": 8, "image_shape": [3, 4, 4]}))
    cases.append((tmp_path / "junk.onnx", "not a loadable ONNX graph"))
    for path, says in cases:
        code, lines = run_cli(capsys, "sample", path, "--n", "4", "--out", tmp_path / "s.png")
        assert code == 2 and len(lines) == 1 and says in lines[0], (path.name, lines)
    assert not (tmp_path / "s.png").exists()
    good, _ = make_onnx(tmp_path / "good.onnx")
    code, _ = run_cli(capsys, "sample", good, "--n", "4", "--out", tmp_path / "s.png")
    assert code == 0 and (tmp_path / "s.png").is_file()


def test_F83_a_drawing_translate_cannot_answer(tmp_path, capsys):
    from models import build_model, make_config

    torch.manual_seed(0)
    save(build_model(make_config("pix2pix", (3, 32, 32), width=8)), tmp_path / "p.safetensors")
    rgba = np.zeros((64, 64, 4), np.uint8)  # black strokes on a transparent sheet, twice the size
    rgba[10:50, 30:34] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    code, lines = run_cli(capsys, "translate", tmp_path / "p.safetensors", "--input", tmp_path / "clear.png",
                          "--out", tmp_path / "o.png")
    assert code == 0 and any("transparent background" in ln for ln in lines)
    assert any("resized from 64x64 to the model's 32x32" in ln for ln in lines)
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "blank.png")
    for args, says in (((tmp_path / "p.safetensors", "--input", tmp_path / "blank.png"), "the sketch is empty"),
                       (("assets/digits-vae2d.safetensors", "--input", tmp_path / "clear.png"),
                        "translate needs an image-to-image model"),
                       ((tmp_path / "p.safetensors", "--input", tmp_path / "clear.png", "--direction", "b2a"),
                        "translates one way only"),
                       ((tmp_path / "p.safetensors", "--input", tmp_path / "none.png"), "--input none.png")):
        code, lines = run_cli(capsys, "translate", *args, "--out", tmp_path / "x.png")
        assert code == 2 and len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "x.png").exists()


def test_F84_a_run_record_that_is_damaged_or_missing(tmp_path):
    from models.run_record import load_record, record_of, record_path

    out = tmp_path / "v.safetensors"
    for _ in train(tiny_model("vae"), tiny_data(80), TrainConfig(epochs=1, batch_size=16, record_n=5),
                   out=str(out)):
        pass
    rec = record_path(out)
    rec.write_bytes(rec.read_bytes()[:200])  # cut short
    with pytest.raises(CheckpointError, match="v.record.safetensors"):
        load_record(rec)
    assert load(out).kind == "vae"  # the model itself is untouched
    rec.unlink()
    assert record_of(load(out)) is None  # no record: the views say there is none


def test_F85_models_of_different_image_sizes_compared():
    from models import ConfigError
    from models.compare import check_comparable

    a, b = load("assets/digits-vae2d.safetensors"), load("assets/mnist-vae2d.safetensors")
    with pytest.raises(ConfigError, match="makes 1×28×28 images but a makes 1×8×8: compare models of one image"):
        check_comparable({"a": a, "b": b})
    with pytest.raises(ConfigError, match="at least two"):
        check_comparable({"a": a})


def test_F86_paired_folders_that_do_not_pair(tmp_path, capsys):
    def pair(root, a_names, b_names):
        for side, names in (("A", a_names), ("B", b_names)):
            (root / side).mkdir(parents=True)
            for n in names:
                Image.fromarray(np.full((16, 16), 90, np.uint8)).save(root / side / n)
        return root

    for spec, says in ((f"pairs:{tmp_path / 'nowhere'}", "needs two subfolders, A/ (sources) and B/ (targets)"),
                       (f"pairs:{pair(tmp_path / 'apart', ['x.png'], ['y.png'])}",
                        "no name is in both A/ (1 images) and B/ (1 images)")):
        code, lines = run_cli(capsys, "train", "--model", "pix2pix", "--data", spec, "--out",
                              tmp_path / "m.safetensors")
        assert code == 2 and len(lines) == 1 and says in lines[0], lines
    some = pair(tmp_path / "some", ["a.png", "b.png", "c.png", "lone.png"], ["a.png", "b.png", "c.png"])
    code, lines = run_cli(capsys, "train", "--model", "pix2pix", "--data", f"pairs:{some}", "--width", "4", "--epochs",
                          "1", "--batch-size", "2", "--record-n", "0", "--quiet", "--out", tmp_path / "m.safetensors")
    assert code == 0 and any("3 pairs; 1 image(s) of A/ and 0 of B/ have no partner" in ln and "A/lone" in ln
                             for ln in lines)
    from models import build_model, make_config

    m = build_model(make_config("pix2pix", (3, 16, 16), width=4, source="paired"))
    with pytest.raises(Exception, match="has none \\(use --data pairs:FOLDER"):
        m.condition_of(load_dataset("scenes:4").conform(3, 16))


def test_F87_cyclegan_domains_that_split_nothing(tmp_path, capsys):
    for domains, says in (("background", "domains must look like FACTOR=v1,v2|v3,v4"),
                          ("mood=happy|sad", "scenes:200 has no factor 'mood' to split into domains"),
                          ("colour=red|mauve", "mauve is not a value of colour (its values: red, orange"),
                          ("colour=red|red", "red is in both A and B")):
        code, lines = run_cli(capsys, "train", "--model", "cyclegan", "--data", "scenes:200", "--domains", domains,
                              "--width", "4", "--epochs", "1", "--out", tmp_path / "c.safetensors")
        assert code == 2 and len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "c.safetensors").exists()


def test_F88_a_controlnet_without_its_control_or_its_base(tmp_path, capsys):
    import tests.models.test_controlnet as tc
    from models import build_model, make_config

    data = load_dataset("scenes:64")
    torch.manual_seed(0)
    for name, kind, over in (("ae", "latent-ae", {"width": 8}), ("te", "clip", {"layers": 1, "embed_dim": 16})):
        save(build_model(make_config(kind, data.shape, data=data, **over)), tmp_path / f"{name}.safetensors")
    save(build_model(make_config("ldm", data.shape, data=data, autoencoder=str(tmp_path / "ae.safetensors"),
                                 text_encoder=str(tmp_path / "te.safetensors"), width=16, timesteps=50)),
         tmp_path / "ldm.safetensors")
    save(build_model(make_config("controlnet", data.shape, data=data, base=str(tmp_path / "ldm.safetensors"))),
         tmp_path / "cn.safetensors")
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "blank.png")
    base = ("txt2img", tmp_path / "cn.safetensors", "--prompt", "a circle", "--out", tmp_path / "g.png")
    for extra, says in (((), "is a ControlNet: give its control image (edges) with --control FILE"),
                        (("--control", tmp_path / "blank.png"), "the sketch is empty")):
        code, lines = run_cli(capsys, *base, *extra)
        assert code == 2 and len(lines) == 1 and says in lines[0], lines
    code, lines = run_cli(capsys, "txt2img", tmp_path / "ldm.safetensors", "--prompt", "a circle", "--control",
                          tmp_path / "blank.png", "--out", tmp_path / "g.png")
    assert code == 2 and "--control needs a ControlNet" in lines[0]
    save(build_model(make_config("ldm", data.shape, data=data, autoencoder=str(tmp_path / "ae.safetensors"),
                                 text_encoder=str(tmp_path / "te.safetensors"), width=8, timesteps=50)),
         tmp_path / "ldm.safetensors")  # another base under the same name
    code, lines = run_cli(capsys, *base, "--control", tmp_path / "blank.png")
    assert code == 2 and "is not the model this ControlNet was trained on" in lines[0]
    (tmp_path / "ldm.safetensors").unlink()
    code, lines = run_cli(capsys, *base, "--control", tmp_path / "blank.png")
    assert code == 2 and "needs 'ldm.safetensors' beside it" in lines[0]
    assert not (tmp_path / "g.png").exists() and tc is not None
