"""``latent_explorer.show`` from a user's own project (issue P.2): a folder with its own ``models`` package
and a VAE that TorchScript cannot script; the window opens on the live modules in a subprocess started there
and the map is drawn."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

USER_VAE = '''
import torch
from torch import nn


class VAE(nn.Module):
    """Python control flow on the data, **kwargs and a dict of mixed values: TorchScript refuses all three."""

    def __init__(self, d=4):
        super().__init__()
        self.d = d
        self.enc = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 2 * d))
        self.dec = nn.Sequential(nn.Linear(d, 32), nn.ReLU(), nn.Linear(32, 64))

    def encode(self, x, **kwargs):
        h = self.enc(x)
        if float(h.abs().max()) > 1e6:
            h = h / float(h.abs().max())
        return {"mu": h[:, : self.d], "logvar": h[:, self.d :], "note": "a Gaussian q(z|x)"}

    def decode(self, z, **kwargs):
        return torch.tanh(self.dec(z)).view(-1, 1, 8, 8)  # images in [-1, 1]

    def forward(self, x, **kwargs):  # as a training loop calls it
        out = self.encode(x)
        z = out["mu"] + torch.randn_like(out["mu"]) * (0.5 * out["logvar"]).exp()
        return {**out, "recon": self.decode(z)}
'''

SCRIPT = '''
import sys

import numpy as np
import torch

import latent_explorer
from models.vae import VAE  # the user's own package called models

images = torch.from_numpy(np.load("images.npy"))  # (500, 1, 8, 8) in [-1, 1]
labels = np.load("labels.npy")
torch.manual_seed(0)
win = latent_explorer.show(model=VAE(), data=images, labels=labels, screenshot=sys.argv[1])
m = win.map
print(type(m.model).__name__, m.model.kind, len(m.xy), m.model.latent_dim, win.library.current.name)
'''


@pytest.fixture
def project(tmp_path):
    from sklearn.datasets import load_digits

    root = tmp_path / "my_project"
    (root / "models").mkdir(parents=True)
    (root / "models" / "__init__.py").write_text('"""The user\'s own models package."""\n')
    (root / "models" / "vae.py").write_text(USER_VAE)
    (root / "show_it.py").write_text(SCRIPT)
    d = load_digits()
    np.save(root / "images.npy", (d.images[:500] / 16.0 * 2 - 1).astype(np.float32)[:, None])
    np.save(root / "labels.npy", d.target[:500].astype(np.int64))
    return root


def test_torchscript_cannot_script_the_users_vae(project):
    import importlib.util

    spec = importlib.util.spec_from_file_location("users_vae", project / "models" / "vae.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # from its file: TorchScript reads the source it compiles
    with pytest.raises(torch.jit.frontend.NotSupportedError, match="kwargs|variable number"):
        torch.jit.script(module.VAE())


def test_show_opens_the_map_of_a_users_live_vae_from_their_own_project(project, tmp_path):
    shot = tmp_path / "map.png"
    env_code = textwrap.dedent("""
        import os, runpy, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        sys.argv = ["show_it.py", sys.argv[1]]
        sys.path.insert(0, os.getcwd())
        runpy.run_path("show_it.py", run_name="__main__")
    """)
    r = subprocess.run([sys.executable, "-c", env_code, str(shot)], cwd=project, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["PythonModel", "python-autoencoder", "500", "4", "VAE"]
    from PySide6.QtGui import QImage

    img = QImage(str(shot))
    assert not img.isNull() and img.width() >= 1000


def test_the_readmes_python_example_runs_as_written(tmp_path):
    import os
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Use it from Python", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "example.py").write_text(code)
    shot = tmp_path / "example.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "LATENT_EXPLORER_SCREENSHOT": str(shot)}
    r = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    from PySide6.QtGui import QImage

    assert not QImage(str(shot)).isNull()
    from latent_explorer.models.io.checkpoint import load
    from latent_explorer.models.training.run_record import record_of

    run = load(tmp_path / "runs" / "digits-vae.safetensors", trust_code=True)  # the script, without its loop
    rec = record_of(run)
    assert rec.epochs == [1, 2, 3, 4, 5, 6] and len(rec.z) == 6 and rec.z[0].shape == (297, 2)
    assert rec.losses[-1]["recon"] < rec.losses[0]["recon"]


def _digits_autoencoder():
    """A small autoencoder of the user's, trained in their own loop for a few hundred steps."""
    from sklearn.datasets import load_digits
    from torch import nn

    torch.manual_seed(0)
    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    enc = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
    dec = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.Sigmoid(), nn.Unflatten(1, (1, 8, 8)))
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-2)
    for _ in range(200):
        loss = ((dec(enc(x)) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return enc, dec, x, d.target


def test_quality_and_compare_apply_to_a_model_from_python(make_window, qtbot):
    import latent_explorer

    enc, dec, x, y = _digits_autoencoder()
    model, name = latent_explorer.wrap(encoder=enc, decoder=dec, data=x, labels=y, name="my-ae")
    w = make_window()
    w.library.set_current(w.library.add_live(name, model))
    qtbot.waitUntil(lambda: w.map.is_ready() and w.editor.is_ready(), timeout=180000)
    assert len(w.map.xy) == 1797 and w.map.source.text() == "python:my-ae"
    w.show_view("quality")  # its yardstick classifier is trained on the user's data, on the fly
    q = w.quality
    assert q.body.isVisible() and q.btn.isEnabled()
    q.n.setValue(q.n.minimum())
    q.measure()
    qtbot.waitUntil(q.is_ready, timeout=600000)
    assert w.last_error is None and q.failed is None and q.report is not None
    w.show_view("compare")  # against a bundled model of the same data
    c = w.compare
    c.choose(["my-ae", "digits-vae2d"])
    c.n_points.setValue(300)
    c.n_quality.setValue(200)
    c.compare()
    qtbot.waitUntil(lambda: c.result is not None, timeout=300000)
    sides = {s.name: s for s in c.result.sides}
    # an autoencoder samples where its codes lie (not N(0, I)): its own z, as the bundled AEs do
    assert not sides["my-ae"].z_synced and sides["my-ae"].samples.shape[1:] == (1, 8, 8)
    assert sides["my-ae"].xy.shape == sides["digits-vae2d"].xy.shape == (len(c.result.images), 2)
    rows = [[c.table.item(r, k).text() for k in range(c.table.columnCount())] for r in range(c.table.rowCount())]
    assert [r[0] for r in rows] == ["my-ae", "digits-vae2d"] and float(rows[0][3]) > 0


def test_a_gan_generator_from_python_gets_the_map_of_sampled_z_and_directions(make_window, qtbot):
    import latent_explorer

    torch.manual_seed(0)
    g = torch.nn.Sequential(torch.nn.Linear(8, 128), torch.nn.ReLU(), torch.nn.Linear(128, 3 * 16 * 16),
                            torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 16, 16)))
    model, name = latent_explorer.wrap(generator=g, latent_dim=8, image_range=(-1, 1), name="my-gan")
    assert model.image_shape == (3, 16, 16) and model.capabilities.directions and not model.capabilities.encoder
    w = make_window(load_bundled=False)
    w.library.set_current(w.library.add_live(name, model))
    qtbot.waitUntil(lambda: w.map.is_ready() and w.editor.is_ready(), timeout=180000)
    assert len(w.map.xy) == model.spec.map_samples and w.map.latents.source == "sampled"
    w.show_view("editor")
    with qtbot.waitSignal(w.editor.dirs.ready, timeout=180000):
        w.editor.tabs.setCurrentIndex(1)  # GANSpace-style directions of the user's generator
    assert len(w.editor.dirs.rows) >= 2 and w.last_error is None


class _Denoiser(torch.nn.Module):
    """A tiny ε-network of the user's: a conv over x_t and a learned embedding of t."""

    def __init__(self, T=50):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 3, padding=1)
        self.t = torch.nn.Embedding(T, 1)

    def forward(self, x, t):
        t = torch.as_tensor(t).reshape(-1).expand(len(x))
        return self.conv(x) + self.t(t).view(-1, 1, 1, 1)


def test_a_denoiser_from_python_steps_through_the_diffusion_view(make_window, qtbot):
    import diffusers

    import latent_explorer

    torch.manual_seed(0)
    sched = diffusers.DDPMScheduler(num_train_timesteps=50)
    model, name = latent_explorer.wrap(denoiser=_Denoiser(), scheduler=sched, image_shape=(1, 8, 8), name="my-eps")
    assert model.capabilities.diffusion and model.config.timesteps == 50
    torch.testing.assert_close(model.scheduler.betas.double(), sched.betas.double(), rtol=1e-6, atol=1e-7)
    same, _ = latent_explorer.wrap(denoiser=_Denoiser(), betas=sched.betas.numpy(), image_shape=(1, 8, 8))
    assert same.config.timesteps == 50
    w = make_window(load_bundled=False)
    w.library.set_current(w.library.add_live(name, model))
    w.show_view("diffusion")
    d = w.diffusion
    d.sampler.setCurrentText("DDIM")
    d.steps.setValue(5)
    d.n.setValue(2)
    with qtbot.waitSignal(d.ready, timeout=180000):
        d.run_reverse()
    assert d.frame.maximum() >= 5 and w.last_error is None
    x0 = model.sample(2, generator=torch.Generator().manual_seed(0), sampler="ddim", steps=5)
    assert x0.shape == (2, 1, 8, 8) and bool(((x0 >= 0) & (x0 <= 1)).all())


def test_a_diffusers_pipeline_object_opens_as_its_unet_and_scheduler():
    import diffusers

    import latent_explorer
    from tests.models.diffusers_nets import _unet

    pipe = diffusers.DDPMPipeline(unet=_unet(), scheduler=diffusers.DDPMScheduler(num_train_timesteps=40))
    model, _ = latent_explorer.wrap(pipe, name="pipe")
    assert model.kind == "python-denoiser" and model.image_shape == (1, 8, 8) and model.config.timesteps == 40
    torch.testing.assert_close(model.scheduler.betas.double(), pipe.scheduler.betas.double(), rtol=1e-6, atol=1e-7)
    # the same reverse process as diffusers' own pipeline: its DDPM steps, from the same noise
    g = torch.Generator().manual_seed(3)
    ours = model.sample(1, generator=g, sampler="ddpm")
    theirs = pipe(batch_size=1, generator=torch.Generator().manual_seed(3), num_inference_steps=40,
                  output_type="np").images
    assert ours.shape == (1, 1, 8, 8) and theirs.shape == (1, 8, 8, 1)
    np.testing.assert_allclose(ours[0, 0].numpy(), theirs[0, :, :, 0], atol=1e-4)


def test_data_from_a_torch_dataset_with_labels_and_class_names():
    import latent_explorer
    from latent_explorer.models import DataError
    from latent_explorer.models.data import load_dataset

    class Pairs(torch.utils.data.Dataset):  # items (image in [-1, 1], label), as torchvision's are
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return torch.full((1, 8, 8), (i % 3) / 1.5 - 1.0), i % 3

    enc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    dec = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Tanh(), torch.nn.Unflatten(1, (1, 8, 8)))
    model, name = latent_explorer.wrap(encoder=enc, decoder=dec, data=Pairs(30), class_names=["a", "b", "c"],
                                       name="from-a-dataset")
    data = load_dataset(model.meta["data"]["spec"])  # what every view reads: [0, 1], labels, names
    assert model.config.image_range == (-1.0, 1.0) and data.images.shape == (30, 1, 8, 8)
    assert data.labels.tolist() == [i % 3 for i in range(30)] and data.class_names == ["a", "b", "c"]
    np.testing.assert_allclose(data.images[:3, 0, 0, 0], [0.0, 1 / 3, 2 / 3], atol=1e-6)
    with pytest.raises(DataError, match="between 1 and 1,000,000 can be shown"):  # counted before any is read
        latent_explorer.wrap(encoder=enc, decoder=dec, data=Pairs(10**9))


def test_a_view_that_does_not_exist_is_refused_before_anything_opens(qapp):
    from PySide6.QtWidgets import QApplication

    import latent_explorer
    from latent_explorer.main_window import MainWindow

    before = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)]
    g = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (1, 8, 8)))
    with pytest.raises(ValueError, match="no view named 'maps' \\(views: map, editor"):
        latent_explorer.show(generator=g, latent_dim=2, view="maps", block=False)
    assert [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow)] == before


def test_a_dcgan_generator_and_a_conv_autoencoder_take_their_codes_in_their_own_shape():
    from torch import nn

    import latent_explorer

    torch.manual_seed(0)
    g = nn.Sequential(nn.ConvTranspose2d(16, 8, 4, 1, 0), nn.ReLU(), nn.ConvTranspose2d(8, 1, 4, 2, 1), nn.Tanh())
    model, _ = latent_explorer.wrap(generator=g, latent_dim=16, image_range=(-1, 1))  # z as (B, 16, 1, 1)
    assert model.config.code_shape == (16, 1, 1) and model.image_shape == (1, 8, 8)
    z = model.prior(3, torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.decode(z), (g(z.view(3, 16, 1, 1)) + 1) / 2)  # flat z in, images in [0, 1]
    enc = nn.Sequential(nn.Conv2d(1, 2, 3, 2, 1))  # codes (B, 2, 4, 4): a feature map
    dec = nn.Sequential(nn.ConvTranspose2d(2, 1, 4, 2, 1), nn.Sigmoid())
    ae, _ = latent_explorer.wrap(encoder=enc, decoder=dec, data=torch.rand(20, 1, 8, 8))
    assert ae.latent_dim == 32 and ae.config.code_shape == (2, 4, 4)
    x = torch.rand(4, 1, 8, 8)
    codes = ae.encode(x)
    assert codes.shape == (4, 32)
    torch.testing.assert_close(ae.decode(codes), dec(enc(x)))
