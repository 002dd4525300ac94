import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.cli import main

ROOT = Path(__file__).resolve().parents[2]


def cli(capsys, *args):
    code = main(list(map(str, args)))
    out, err = capsys.readouterr()
    return code, out, err


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
    code, out, _ = cli(capsys, "eval", vae_file)
    ev = json.loads(out)
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

    from models import load
    from models.cli import main as cli

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
