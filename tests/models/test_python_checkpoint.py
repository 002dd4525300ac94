"""A user's modules saved as a checkpoint (``latent_explorer.save``) and a run from their own training loop
(``latent_explorer.Recorder``), issue P.2/P.3: the file names the classes and never runs them unasked, opens
later as the same model, and the record is the one our runs write, with the epoch's losses."""

import json
import sys

import numpy as np
import pytest
import torch

from latent_explorer.models.errors import CheckpointError, ConfigError

PACKAGE = '''
import pathlib

import torch
from torch import nn

pathlib.Path(__file__).with_name("imported.txt").write_text("the module ran")  # what importing it does


class AE(nn.Module):
    def __init__(self, latent_dim, width=32, *, squash=True):
        super().__init__()
        self.latent_dim, self.width, self.squash = latent_dim, width, squash
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, latent_dim))
        self.dec = nn.Sequential(nn.Linear(latent_dim, width), nn.ReLU(), nn.Linear(width, 64))

    def encode(self, x):
        return self.enc(x)

    def decode(self, z):
        out = self.dec(z).view(-1, 1, 8, 8)
        return torch.sigmoid(out) if self.squash else out


class Forgetful(nn.Module):
    """Keeps none of its arguments: save() must be told them."""

    def __init__(self, n):
        super().__init__()
        self.lin = nn.Linear(n, 64)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A user's folder with a package of its own, called as ML projects call theirs; imported from there."""
    root = tmp_path / "proj"
    (root / "usernets").mkdir(parents=True)
    (root / "usernets" / "__init__.py").write_text("")
    (root / "usernets" / "nets.py").write_text(PACKAGE)
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "usernets" or m.startswith("usernets.")]:
        del sys.modules[name]


def _data(n=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 8, 8, generator=g), torch.randint(0, 3, (n,), generator=g)


def test_a_saved_autoencoder_opens_as_the_same_model_only_once_trusted(project, tmp_path):
    from usernets.nets import AE

    import latent_explorer
    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.io.python_checkpoint import UntrustedModules

    ae = AE(3, width=16)
    x, y = _data()
    path = latent_explorer.save(tmp_path / "ae", model=ae, data=x, labels=y, class_names=["a", "b", "c"])
    assert path.name == "ae.safetensors"
    (project / "usernets" / "imported.txt").unlink()
    for name in [m for m in sys.modules if m.startswith("usernets")]:
        del sys.modules[name]
    with pytest.raises(UntrustedModules, match=r"usernets\.nets:AE.*trust") as e:
        load(path)
    assert not (project / "usernets" / "imported.txt").exists()  # nothing of it ran
    model = load(path, trust_code=e.value.digest)
    assert (project / "usernets" / "imported.txt").exists()
    assert model.kind == "python-autoencoder" and model.latent_dim == 3 and model.meta["class_names"] == ["a", "b", "c"]
    assert type(model.encoder.__self__).__name__ == "AE" and model.encoder.__self__.width == 16
    z = torch.randn(5, 3)
    np.testing.assert_allclose(model.decode(z).numpy(), torch.sigmoid(ae.dec(z)).view(-1, 1, 8, 8).detach().numpy(),
                               atol=1e-6)
    from latent_explorer.models.data.memory import kept

    data = kept(model.meta["data"]["spec"])
    np.testing.assert_allclose(data.images, x.numpy(), atol=0.5 / 255 + 1e-6)  # kept as 8-bit
    assert data.labels.tolist() == y.tolist()


def test_constructor_arguments_the_module_does_not_keep_are_asked_for(project, tmp_path):
    from usernets.nets import Forgetful

    import latent_explorer
    from latent_explorer.models.io.checkpoint import load

    gen = Forgetful(5)
    with pytest.raises(ConfigError, match=r"needs n.*init=\{'generator': \{'n'"):
        latent_explorer.save(tmp_path / "g", generator=gen, latent_dim=5)
    with pytest.raises(ConfigError, match="does not rebuild the generator"):
        latent_explorer.save(tmp_path / "g", generator=gen, latent_dim=5, init={"generator": {"n": 4}})
    path = latent_explorer.save(tmp_path / "g", generator=gen, latent_dim=5, init={"generator": {"n": 5}})
    model = load(path, trust_code=True)
    z = torch.randn(3, 5)
    np.testing.assert_allclose(model.decode(z).numpy(), gen(z).detach().numpy(), atol=1e-6)
    with pytest.raises(CheckpointError, match="exists: pass overwrite=True"):
        latent_explorer.save(tmp_path / "g", generator=gen, latent_dim=5, init={"generator": {"n": 5}})
    (tmp_path / "photo.safetensors").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="never replaced"):
        latent_explorer.save(tmp_path / "photo", generator=gen, latent_dim=5, init={"generator": {"n": 5}},
                             overwrite=True)
    assert (tmp_path / "photo.safetensors").read_bytes() == b"not a model"


def test_classes_nobody_can_import_later_are_refused_when_saving(tmp_path):
    import latent_explorer

    class Local(torch.nn.Module):  # defined inside a function
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 64)

        def forward(self, z):
            return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)

    with pytest.raises(ConfigError, match="inside a function"):
        latent_explorer.save(tmp_path / "g", generator=Local(), latent_dim=2)


def _tamper(path, **meta_changes):
    from safetensors.torch import load_file, save_file

    from latent_explorer.models.io.safetensors_header import read_header

    meta = dict(read_header(path).meta)
    meta.update(meta_changes)
    save_file(load_file(path), path, metadata=meta)


@pytest.mark.parametrize("field, value, said", [
    ("modules", json.dumps({"m0": {"class": "os:system", "init": {}}}), "not a torch module class"),
    ("modules", json.dumps({"m0": {"class": "a b:c", "init": {}}}), "is not a class name"),
    ("calls", json.dumps({"decoder": ["m9", None]}), "names no module method"),
    ("calls", json.dumps({"decoder": ["m0", "__class__.__init__"]}), "names no module method"),
    ("config", "{]", "config"),
    ("version", "7", "version"),
])
def test_a_tampered_file_is_one_clear_message(project, tmp_path, field, value, said):
    from usernets.nets import Forgetful

    import latent_explorer
    from latent_explorer.models.io.checkpoint import load

    path = latent_explorer.save(tmp_path / "g", generator=Forgetful(5), latent_dim=5, init={"generator": {"n": 5}})
    _tamper(path, **{field: value})
    with pytest.raises(CheckpointError, match=said):
        load(path, trust_code=True)


def test_weights_of_another_shape_or_nan_are_refused(project, tmp_path):
    from safetensors.torch import load_file, save_file
    from usernets.nets import Forgetful

    import latent_explorer
    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.io.safetensors_header import read_header

    path = latent_explorer.save(tmp_path / "g", generator=Forgetful(5), latent_dim=5, init={"generator": {"n": 5}})
    meta, tensors = read_header(path).meta, load_file(path)
    save_file({**tensors, "m0.lin.weight": torch.zeros(64, 6)}, path, metadata=meta)
    with pytest.raises(CheckpointError, match=r"weight lin.weight is of shape \[64, 6\]"):
        load(path, trust_code=True)
    save_file({**tensors, "m0.lin.bias": torch.full((64,), float("nan"))}, path, metadata=meta)
    with pytest.raises(CheckpointError, match="NaN"):
        load(path, trust_code=True)


SCRIPT_DEFINES = '''
"""A script whose class opens later: its work is under the main guard."""
import torch
from torch import nn

WIDTH = 8


class Gen(nn.Module):
    def __init__(self, d=2):
        super().__init__()
        self.d = d
        self.lin = nn.Linear(d, 64)

    def forward(self, z):
        return torch.sigmoid(self.lin(z)).view(-1, 1, 8, 8)


if __name__ == "__main__":
    import sys

    import latent_explorer

    latent_explorer.save(sys.argv[1], generator=Gen(), latent_dim=2)
'''


def test_a_class_from_a_script_opens_when_the_script_only_defines(tmp_path):
    import subprocess

    from latent_explorer.models.io.checkpoint import load

    script = tmp_path / "train_gen.py"
    script.write_text(SCRIPT_DEFINES)
    out = tmp_path / "gen.safetensors"
    r = subprocess.run([sys.executable, str(script), str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from latent_explorer.models.io.python_checkpoint import UntrustedModules

    with pytest.raises(UntrustedModules, match="Gen") as e:
        load(out)
    model = load(out, trust_code=e.value.digest)
    assert model.kind == "python-generator" and model.latent_dim == 2
    script.write_text(SCRIPT_DEFINES + "\nprint('training again')\n")
    with pytest.raises(CheckpointError, match="names other code"):  # the script changed since it was trusted
        load(out, trust_code=e.value.digest)
    with pytest.raises(CheckpointError, match=r"runs code at import.*if __name__ == '__main__'"):
        load(out, trust_code=True)


def test_the_recorder_writes_our_run_record_with_losses_and_a_checkpoint(project, tmp_path):
    from usernets.nets import AE

    import latent_explorer
    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.training.run_record import read_record, record_of

    ae = AE(2)
    x, y = _data()
    ae.train()
    rec = latent_explorer.Recorder(tmp_path / "runs" / "ae", model=ae, images=x, labels=y, n=50)
    opt = torch.optim.Adam(ae.parameters(), 1e-2)
    state = torch.random.get_rng_state()
    for epoch in (1, 2, 3):
        loss = ((ae.decode(ae.encode(x)) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.log(epoch, losses={"mse": loss.item(), "diverged": float("nan")})
    assert torch.equal(torch.random.get_rng_state(), state)  # the user's random stream is untouched
    assert ae.training  # their module is back in training mode
    with pytest.raises(ConfigError, match="after the last one logged"):
        rec.log(3)
    rec.close()
    r = read_record(tmp_path / "runs" / "ae.record.safetensors", 2)
    assert r.epochs == [1, 2, 3] and len(r.z) == 3 and r.z[0].shape == (50, 2) and r.labels.tolist() == y[:50].tolist()
    assert [set(d) for d in r.losses] == [{"mse", "diverged"}] * 3 and r.losses[0]["diverged"] is None
    assert r.losses[2]["mse"] < r.losses[0]["mse"]
    assert len(r.samples) == 3 and r.samples[0].shape == (16, 1, 8, 8)
    assert not np.allclose(r.z[0], r.z[2], atol=1e-4)  # the codes moved as it trained
    model = load(tmp_path / "runs" / "ae.safetensors", trust_code=True)
    assert model.meta["training"]["status"] == "finished" and model.meta["training"]["epochs_done"] == 3
    assert record_of(model).epochs == [1, 2, 3]
    with pytest.raises(ConfigError, match="exists: pass overwrite=True"):
        latent_explorer.Recorder(tmp_path / "runs" / "ae", model=ae, images=x)


def test_a_recorder_says_at_once_what_it_cannot_record(project, tmp_path):
    from usernets.nets import AE, Forgetful

    import latent_explorer

    x, _ = _data()
    with pytest.raises(ConfigError, match="give images="):
        latent_explorer.Recorder(tmp_path / "a", model=AE(2))
    with pytest.raises(ConfigError, match="needs n"):
        latent_explorer.Recorder(tmp_path / "g", generator=Forgetful(3), latent_dim=3)
    rec = latent_explorer.Recorder(tmp_path / "g", generator=Forgetful(3), latent_dim=3, init={"generator": {"n": 3}})
    with pytest.raises(ConfigError, match="dict of numbers"):
        rec.log(1, losses={"loss": "low"})
    (tmp_path / "x.record.safetensors").write_text("mine")
    with pytest.raises(CheckpointError, match="is not a run record"):
        latent_explorer.Recorder(tmp_path / "x", model=AE(2), images=x)
    assert (tmp_path / "x.record.safetensors").read_text() == "mine"


def test_a_record_without_losses_still_reads(tmp_path):
    """Records written before losses were kept (format 1 without the field) open as before."""
    from latent_explorer.models.training.run_record import RunRecord, load_record, save_record

    rec = RunRecord([1, 2], None, [], z=[np.zeros((4, 2), np.float32), np.ones((4, 2), np.float32)],
                    histograms=[{}, {}], coverage=[None, None])
    path = save_record(rec, tmp_path / "old.record.safetensors")
    _tamper(path, losses="[]")
    assert load_record(path).losses == []
    _tamper(path, losses=json.dumps([{"loss": 1.0}]))
    with pytest.raises(CheckpointError, match="1 sets of losses"):
        load_record(path)


def test_info_describes_the_file_without_importing_it(project, tmp_path, capsys):
    from usernets.nets import Forgetful

    import latent_explorer
    from latent_explorer.models.cli import main

    path = latent_explorer.save(tmp_path / "g", generator=Forgetful(5), latent_dim=5, init={"generator": {"n": 5}})
    (project / "usernets" / "imported.txt").unlink()
    for name in [m for m in sys.modules if m.startswith("usernets")]:
        del sys.modules[name]
    assert main(["info", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == ["usernets.nets:Forgetful"] and "not imported" in out["note"]
    assert not (project / "usernets" / "imported.txt").exists()
