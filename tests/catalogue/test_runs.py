"""Runs and commands: settings, outputs, signals, interrupts, evaluation.
Rows of the README's 'When things go wrong', one test per row (``test_Fnn_…``); tests/catalogue/test_readme.py
keeps the table and the tests in step."""

import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_explorer.models import CheckpointError, TrainConfig, load, load_dataset, save, train
from tests.catalogue.helpers import (
    _PAUSED_CHILD,
    KILL_SCRIPT,
    ROOT,
    VAE2D,
    _child,
    _signals_as_in_a_terminal,
    _stderr_until,
    _stderr_until_started,
    _what_the_message_says_agrees_with_the_file,
    run_cli,
)
from tests.models.helpers import tiny_data, tiny_model


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

    monkeypatch.setattr("latent_explorer.models.io.checkpoint.tempfile.mkstemp", refuse)
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

    monkeypatch.setattr("latent_explorer.models.io.checkpoint.os.fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(CheckpointError, match="the disk is full; any previous file there is unchanged"):
        save(tiny_model("vae"), ckpt)
    assert ckpt.read_bytes() == before and sorted(p.name for p in ckpt.parent.iterdir()) == ["m.safetensors"]


def test_F28_stop_mid_epoch_saves_the_last_weights(tmp_path):
    out = tmp_path / "s.safetensors"
    n = {"k": 0}

    def stop():
        n["k"] += 1
        return n["k"] > 2

    recs = list(train(tiny_model("vae"), tiny_data(), TrainConfig(epochs=3, batch_size=8), out=str(out),
                      should_stop=stop))
    assert recs[-1].event == "stopped" and load(out).meta["training"]["status"] == "stopped"


def test_F30_a_diverging_run_keeps_the_last_good_weights(tmp_path, capsys):
    out = tmp_path / "d.safetensors"
    code, lines = run_cli(capsys, "train", "--model", "ae", "--data", "digits", "--lr", "1e5", "--epochs", "5",
                          "--quiet", "--out", out)
    assert code == 1 and "diverged" in lines[-1] and "last good step" in lines[-1]
    kept = load(out)
    assert kept.meta["training"]["status"] == "diverged"


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


def test_F37_a_hyperparameter_of_another_kind_or_malformed(tmp_path, capsys):
    out = tmp_path / "a.safetensors"
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", "digits", "--timesteps", "10", "--out", out)
    assert code == 2 and len(lines) == 1 and "--timesteps does not apply to vae (it applies to ddpm, ldm)" in lines[0]
    code, lines = run_cli(capsys, "train", "--model", "ae", "--data", "digits", "--hidden", "512,x", "--out", out)
    assert code == 2 and len(lines) == 1 and "--hidden must be comma-separated whole numbers" in lines[0]
    assert not out.exists()


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


@pytest.mark.slow
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


def test_F64_a_damaged_classifier_in_the_cache_is_trained_again(tmp_path, monkeypatch):
    from latent_explorer.models.analysis.classifier import cache_dir, classifier_for, fingerprint, load_classifier
    from latent_explorer.models.progress import run_to_end

    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    data = load_dataset("digits").subset(slice(0, 400))
    run_to_end(classifier_for(data, epochs=1))
    cached = cache_dir() / f"{fingerprint(data)}-s0.safetensors"
    cached.write_bytes(b"\x00" * 100)  # a disk error, a crash mid-write by another program
    steps = list(classifier_for(data, epochs=1))
    assert steps  # trained again, not an error
    assert load_classifier(cached).config.heads["label"] == [str(i) for i in range(10)]


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
    import latent_explorer.models.io.checkpoint as checkpoint

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


def test_F79_an_output_that_is_a_device_or_a_pipe(tmp_path, capsys):
    from latent_explorer.models.io.checkpoint import atomic_write, check_output

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


def test_F83_a_drawing_translate_cannot_answer(tmp_path, capsys):
    from latent_explorer.models import build_model, make_config

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
    from latent_explorer.models.training.run_record import load_record, record_of, record_path

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
    from latent_explorer.models import ConfigError
    from latent_explorer.models.analysis.compare import check_comparable

    a, b = load("assets/digits-vae2d.safetensors"), load("assets/mnist-vae2d.safetensors")
    with pytest.raises(ConfigError, match="makes 1×28×28 images but a makes 1×8×8: compare models of one image"):
        check_comparable({"a": a, "b": b})
    with pytest.raises(ConfigError, match="at least two"):
        check_comparable({"a": a})


def test_F88_a_controlnet_without_its_control_or_its_base(tmp_path, capsys):
    import tests.models.ldm_parts as tc  # the test models of latent diffusion (once: test_controlnet)
    from latent_explorer.models import build_model, make_config

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
