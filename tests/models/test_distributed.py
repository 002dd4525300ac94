"""The same trainer under torchrun: 2 CPU processes (gloo, loopback) for VAE, GAN and DDPM."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from latent_explorer.models import load
from latent_explorer.models.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]


def torchrun(tmp_path, *args, nproc=2):
    env = dict(os.environ, OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME="lo", MASTER_ADDR="127.0.0.1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "latent_explorer.models.cli", "train", "--quiet", *map(str, args)]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.parametrize("kind, extra", [
    ("gan", ["--latent-dim", "8", "--width", "16"]),
    ("ddpm", ["--timesteps", "50", "--width", "8", "--conditional"]),
])
def test_two_processes_train_a_loadable_checkpoint(tmp_path, kind, extra):
    out = tmp_path / f"{kind}.safetensors"
    r = torchrun(tmp_path, "--model", kind, "--data", "digits", "--epochs", "2", "--batch-size", "64", "--out", out,
                 *extra)
    assert r.stderr.count("epoch 1/2") == 1  # only rank 0 logs
    model = load(out)
    meta = model.meta["training"]
    assert meta["world_size"] == 2 and meta["status"] == "finished" and meta["epochs_done"] == 2
    y = torch.tensor([1, 2]) if model.conditional else None
    img = model.sample(2, y, generator=torch.Generator().manual_seed(0), **({"sampler": "ddim", "steps": 5}
                                                                            if kind == "ddpm" else {}))
    assert img.shape == (2, 1, 8, 8) and torch.isfinite(img).all()
    # no temp files from other ranks: the checkpoint, its optimizer state and (a GAN's) run's record, rank 0's
    assert {p.name for p in tmp_path.iterdir()} - {f"{kind}.record.safetensors"} == {out.name,
                                                                                    f"{kind}.optim.safetensors"}


def test_two_process_vae_follows_the_one_process_loss_curve(tmp_path):
    two, one = tmp_path / "two.safetensors", tmp_path / "one.safetensors"
    common = ["--model", "vae", "--data", "digits", "--epochs", "4", "--batch-size", "64", "--latent-dim", "2",
              "--seed", "3"]
    torchrun(tmp_path, *common, "--out", two)
    assert cli([*(["train", "--quiet"] + common), "--out", str(one)]) == 0
    h2 = load(two).meta["training"]["history"]
    h1 = load(one).meta["training"]["history"]
    for a, b in zip(h1, h2):
        for key in ("train", "val"):
            la, lb = a[key]["loss"], b[key]["loss"]
            assert abs(la - lb) / la < 0.05, (a["epoch"], key, la, lb)
    assert load(two).meta["training"]["world_size"] == 2
