import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latent_explorer.models import load
from latent_explorer.models.cli import main
from tests.models.helpers import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def vae_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "vae.safetensors"
    assert main(["train", "--model", "vae", "--data", "digits", "--epochs", "2", "--latent-dim", "2",
                 "--out", str(out), "--quiet"]) == 0
    return out


def test_train_info_eval_sample(vae_file, capsys, tmp_path):
    code, out, _ = cli(capsys, "info", vae_file)
    meta = json.loads(out)
    assert code == 0 and meta["kind"] == "vae" and meta["data"]["spec"] == "digits"
    assert meta["training"]["epochs_done"] == 2 and len(meta["class_names"]) == 10
    code, out, err = cli(capsys, "eval", vae_file)
    ev = json.loads(out)
    # stderr is not a terminal here: progress comes as plain lines with an ETA, never a redrawn bar
    assert "\r" not in err and any(ln.startswith("quality: sampling") and "ETA" in ln for ln in err.splitlines())
    assert code == 0 and ev["n_val"] == 179 and ev["loss_nats_per_image"] > 0 and ev["reconstruction_mse"] > 0
    code, _, _ = cli(capsys, "sample", vae_file, "--n", "16", "--out", tmp_path / "g.png", "--seed", "3")
    im = np.asarray(Image.open(tmp_path / "g.png"))
    assert code == 0 and im.ndim == 3 and im.shape[0] == im.shape[1] > 4 * 8


def test_ddpm_sampling_options(tmp_path, capsys):
    f = tmp_path / "d.safetensors"
    assert main(["train", "--model", "ddpm", "--data", "digits", "--epochs", "1", "--max-steps", "2",
                 "--timesteps", "20", "--width", "8", "--conditional", "--out", str(f), "--quiet"]) == 0
    code, _, _ = cli(capsys, "sample", f, "--n", "4", "--out", tmp_path / "a.png", "--steps", "5",
                     "--sampler", "ddim", "--class", "3", "--guidance", "2")
    assert code == 0 and (tmp_path / "a.png").exists()
    code, _, err = cli(capsys, "sample", f, "--n", "4", "--out", tmp_path / "b.png", "--steps", "5",
                       "--sampler", "ddpm")
    assert code == 2 and "ddim" in err
    code, _, err = cli(capsys, "sample", f, "--n", "4", "--out", tmp_path / "b.png", "--class", "cat")
    assert code == 2 and "unknown class" in err


def _pickle(tmp_path):
    p = tmp_path / "m.pth"
    torch.save({"w": torch.zeros(2)}, p)
    return p


@pytest.mark.parametrize("args, message", [
    (["train", "--model", "vae", "--data", "/nope", "--out", "{t}/a.safetensors"], "no such file"),
    (["train", "--model", "vae", "--data", "digits", "--epochs", "0", "--out", "{t}/a.safetensors"], "epochs"),
    (["train", "--model", "vae", "--data", "digits", "--lr", "-1", "--out", "{t}/a.safetensors"], "learning"),
    (["train", "--model", "vae", "--data", "digits", "--latent-dim", "0", "--out", "{t}/a.safetensors"],
     "latent dim"),
    (["train", "--model", "vae", "--data", "digits", "--batch-size", "5000", "--out", "{t}/a.safetensors"],
     "larger than"),
    (["train", "--model", "vae", "--data", "digits", "--out", "{t}/missing/a.safetensors"], "does not exist"),
    (["train", "--model", "flow", "--data", "digits", "--out", "{t}/a.safetensors"], "invalid choice"),
    (["train", "--model", "vae", "--data", "digits", "--epochs", "x", "--out", "{t}/a.safetensors"],
     "whole number"),
    (["info", "{t}/nothing.safetensors"], "no such file"),
    (["info", "{pickle}"], "refused"),
    (["eval", "{pickle}"], "refused"),
    (["sample", "{pickle}", "--out", "{t}/x.png"], "refused"),
    (["sample", "{t}", "--out", "{t}/x.png"], "a folder, but not a diffusers model"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys, args, message):
    pk = _pickle(tmp_path)
    args = [a.format(t=tmp_path, pickle=pk) for a in args]
    code, out, err = cli(capsys, *args)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in err


def test_entry_point_runs_as_a_process(vae_file):
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", str(vae_file)], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0 and json.loads(r.stdout)["kind"] == "vae"
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "info", "/no/such"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_train_resume_goes_on_from_a_checkpoint(tmp_path, capsys):
    import torch

    from latent_explorer.models import load
    from latent_explorer.models.cli import main as cli

    first = tmp_path / "a.safetensors"
    assert cli(["train", "--model", "vae", "--data", "digits", "--latent-dim", "2", "--epochs", "1",
                "--max-steps", "3", "--quiet", "--out", str(first)]) == 0
    before = load(first)
    more = tmp_path / "b.safetensors"
    assert cli(["train", "--model", "vae", "--data", "digits", "--resume", str(first), "--epochs", "1",
                "--max-steps", "2", "--lr", "1e-12", "--quiet", "--out", str(more)]) == 0
    after = load(more)
    resumed = after.meta["training"]["resumed_from"]
    assert resumed["file"] == "a.safetensors" and resumed["steps"] == 3 and len(resumed["sha256"]) == 64
    assert after.config == before.config
    for (k, v), w in zip(before.state_dict().items(), after.state_dict().values()):  # its weights went on
        assert torch.allclose(v.float(), w.float(), atol=1e-6), k
    capsys.readouterr()
    for args, says in ((["--model", "ae", "--resume", str(first)], "is a vae model, not a ae"),
                       (["--model", "vae", "--resume", str(first), "--latent-dim", "4"], "leave out --latent-dim"),
                       (["--model", "vae", "--resume", str(first), "--data", "mnist"], "makes (1, 8, 8) images")):
        data = [] if "--data" in args else ["--data", "digits"]
        assert cli(["train", *args, *data, "--out", str(tmp_path / "c.safetensors")]) == 2
        assert says in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_file_that_is_not_a_model_says_what_it_is(tmp_path, capsys):
    Image.new("RGB", (4, 4)).save(tmp_path / "picture.safetensors", format="PNG")
    (tmp_path / "notes.txt").write_text("the run went well\n")
    for args, says in ((["info", tmp_path / "picture.safetensors"], "picture.safetensors: a PNG image, not a model"),
                       (["info", tmp_path / "notes.txt"], "notes.txt: a text file, not a model"),
                       (["sample", tmp_path / "notes.txt", "--out", tmp_path / "s.png"], "a text file, not a model"),
                       (["eval", tmp_path / "picture.safetensors"], "a PNG image, not a model")):
        code, out, err = cli(capsys, *args)
        lines = err.splitlines()
        assert code == 2 and out == "" and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], err


def test_info_prints_a_summary_and_full_prints_everything(capsys):
    model = ROOT / "assets" / "digits-vae2d.safetensors"  # 300 epochs of history
    code, out, _ = cli(capsys, "info", model)
    meta = json.loads(out)
    t = meta["training"]
    assert code == 0 and len(out.splitlines()) < 80 and meta["kind"] == "vae" and meta["image_shape"] == [1, 8, 8]
    assert meta["data"]["spec"] == "digits" and meta["latent_dim"] == 2 and meta["parameters"] > 0
    assert t["epochs_done"] == 300 and t["steps"] > 0 and set(t["final_losses"]) >= {"loss"} and t["time"]
    assert len(t["history"]) == 3 and t["history"][-1].startswith("epoch 300: train loss ")
    assert t["history_shown"] == "3 of 300 epochs (info --full: every one)"
    code, out, _ = cli(capsys, "info", model, "--full")
    full = json.loads(out)
    assert code == 0 and len(full["training"]["history"]) == 300 and full["training"]["history"][0]["epoch"] == 1
    assert full["training"]["final_losses"] == load(model).meta["training"]["final_losses"]  # as stored


def _steps(clock, stages):
    """A job of ``stages`` ((message, steps, seconds a step)), advancing a fake clock; returns "done"."""
    from latent_explorer.models.progress import Step

    total = sum(n for _, n, _ in stages)
    done = 0
    for message, n, dt in stages:
        for _ in range(n):
            clock[0] += dt
            done += 1
            yield Step(done, total, f"{message} {done}/{total}")
    return "done"


@pytest.mark.parametrize("tty", [False, True])
def test_eval_progress_shows_an_eta_whether_or_not_stderr_is_a_terminal(monkeypatch, tty):
    import io

    from latent_explorer.models.cli import progress as cli_progress

    clock = [0.0]
    monkeypatch.setattr(cli_progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    stream.isatty = lambda: tty
    stages = [("training the yardstick classifier", 240, 0.125), ("sampling", 80, 0.125)]  # 30 s, then 10 s
    assert cli_progress.run_steps(_steps(clock, stages), "quality", stream) == "done"
    text = stream.getvalue()
    if tty:  # one line redrawn, at most 10 times a second, then cleared
        assert "\n" not in text and text.count("\r") <= 40 * 10 + 2 and "ETA 0:" in text
        return
    lines = text.splitlines()
    assert "\r" not in text and 2 <= len(lines) <= 40 // cli_progress.PLAIN_EVERY_S + 3  # each stage, every 5 s
    assert lines[0] == "quality: training the yardstick classifier 1/320 [  0%] ETA ?"  # at once
    assert lines[1] == "quality: training the yardstick classifier 41/320 [ 13%] ETA 0:34"  # 5 s on: 279 steps left
    assert "quality: sampling 241/320 [ 75%] ETA ?" in lines  # a new stage at once, its own pace from there
    assert "quality: sampling 281/320 [ 88%] ETA 0:04" in lines and lines[-1] == "quality: done (0:40)"


def test_training_progress_to_a_log_is_a_plain_line_every_few_seconds(monkeypatch):
    import io
    from types import SimpleNamespace

    from latent_explorer.models.cli import progress as cli_progress

    clock = [0.0]
    monkeypatch.setattr(cli_progress.time, "monotonic", lambda: clock[0])
    stream = io.StringIO()
    stream.isatty = lambda: False
    bar = cli_progress.ProgressBar(stream)
    for step in range(1, 201):  # 25 s of steps, 1/8 s each
        clock[0] += 0.125
        bar.update(SimpleNamespace(epoch=1, epochs=2, fraction=step / 400, step=step, total_steps=400,
                                   samples_per_s=512.0, eta_s=(400 - step) * 0.125, losses={"loss": 0.5}))
    lines = stream.getvalue().splitlines()
    assert "\r" not in stream.getvalue() and len(lines) == 5  # at once, then every 5 s
    assert lines[1] == "epoch 1/2 10% 41/400 512 img/s ETA 0:44 loss=0.5"


def test_help_lists_every_command_with_its_line(capsys):
    from latent_explorer.models.cli import COMMANDS, build_parser, command_lines

    sub = next(a for a in build_parser()._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(COMMANDS)  # the parser runs exactly the commands of the one table
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--help"], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "COLUMNS": "200"})
    assert r.returncode == 0 and "--screenshot" in r.stdout and "--debug" in r.stdout  # the window's options
    listed = [ln.split()[0] for ln in r.stdout.split("commands (")[1].splitlines()[1:] if ln.strip()]
    assert listed == list(COMMANDS)
    width = max(len(name) for name in COMMANDS) + 2  # the names in one column, the longest and two spaces
    for name, text in command_lines():
        assert text and f"  {name:<{width}}{text}" in r.stdout.splitlines()


def test_debug_prints_the_traceback_of_an_answered_error(capsys, monkeypatch):
    monkeypatch.delenv("LATENT_EXPLORER_DEBUG", raising=False)
    code, out, err = cli(capsys, "info", "/no/such.safetensors")
    assert code == 2 and err == "error: /no/such.safetensors: no such file\n"  # one line, no traceback
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--debug", "info", "/no/such.safetensors"],
                       capture_output=True, text=True, cwd=ROOT, env={**os.environ, "LATENT_EXPLORER_DEBUG": ""})
    assert r.returncode == 2 and "Traceback" in r.stderr and "CheckpointError" in r.stderr
    assert r.stderr.splitlines()[-1] == "error: /no/such.safetensors: no such file"
