"""A run from the user's own training loop in the window (issue P.3): ``latent_explorer.Recorder`` in a script
of a project with its own ``models`` package writes 3 epochs, and the window's Training movie scrubs them with
the loss curves and samples; while the window is open, epochs logged by the loop appear without a reload."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from .test_show import project  # noqa: F401 - the fixture: a folder with models/vae.py and 500 digits

RECORD_IT = '''
import numpy as np
import torch

import latent_explorer
from models.vae import VAE  # the user's own package called models

images = torch.from_numpy(np.load("images.npy"))  # (500, 1, 8, 8) in [-1, 1]
labels = np.load("labels.npy")
torch.manual_seed(0)
vae = VAE()
opt = torch.optim.Adam(vae.parameters(), lr=1e-2)
rec = latent_explorer.Recorder("runs/vae", model=vae, images=images[400:], labels=labels[400:])
for epoch in range(1, 4):
    for step in range(40):
        out = vae(images[:400])
        kl = -0.5 * (1 + out["logvar"] - out["mu"] ** 2 - out["logvar"].exp()).sum(1).mean()
        recon = ((out["recon"] - images[:400]) ** 2).sum((1, 2, 3)).mean()
        opt.zero_grad()
        (recon + kl).backward()
        opt.step()
    rec.log(epoch, losses={"recon": recon.item(), "kl": kl.item()})
rec.close()
'''


@pytest.fixture
def forget_users_models():
    """The user's ``models`` package, imported from a test's folder, is forgotten after it."""
    yield
    for name in [m for m in sys.modules if m == "models" or m.startswith("models.")]:
        del sys.modules[name]


def _open_trusted(w, qtbot, path):
    w.library.confirm_code = lambda path, message: "names Python code" in message  # the user says yes
    w.library.add(path, select=True)
    w.show_view("map")
    m = w.map
    qtbot.waitUntil(lambda: m.is_ready() and m.btn_movie.isVisible(), timeout=120000)
    return m


def test_a_recorded_run_from_a_users_project_scrubs_in_the_training_movie(project, make_window, qtbot,  # noqa: F811
                                                                          forget_users_models):
    (project / "record_it.py").write_text(RECORD_IT)
    r = subprocess.run([sys.executable, "record_it.py"], cwd=project, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    w = make_window()
    m = _open_trusted(w, qtbot, project / "runs" / "vae.safetensors")
    assert w.library.current.model.kind == "python-autoencoder"
    assert "kept in the file" in w.library.current.describe()
    QTest.mouseClick(m.btn_movie, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: m.movie_label.text() == "epoch 3 of 3", timeout=60000)
    movie = m.movie
    assert len(m.xy) == 100 and movie.losses.isVisible() and movie.samples.isVisible()
    terms = {item.name() for item in movie.losses.getPlotItem().listDataItems()}
    assert terms == {"recon", "kl"}
    frames = []
    for e in (0, 1, 2):
        m.movie_slider.setValue(e)
        assert m.movie_label.text() == f"epoch {e + 1} of 3" and movie.epoch_line.value() == e + 1
        frames.append((m.xy.copy(), movie.samples.data.copy()))
    assert not np.allclose(frames[0][0], frames[2][0], atol=1e-3)  # the codes moved between epochs
    assert not np.allclose(frames[0][1], frames[2][1], atol=1e-3)  # and so did the samples


def test_the_movie_follows_epochs_the_loop_logs_while_the_window_is_open(make_window, qtbot, tmp_path):
    """Each epoch logged appears within 2 s (the issue's bound): a file-system watch, not a poll."""
    import latent_explorer
    from tests.user_nets import SmallAE

    torch.manual_seed(0)
    ae = SmallAE()
    x = torch.rand(200, 1, 8, 8)
    rec = latent_explorer.Recorder(tmp_path / "live", model=ae, images=x, labels=torch.arange(200) % 4)
    opt = torch.optim.Adam(ae.parameters(), lr=1e-2)

    def epoch(e):
        loss = ((ae.decode(ae.encode(x)) - x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.log(e, losses={"mse": loss.item()})

    epoch(1)
    w = make_window()
    m = _open_trusted(w, qtbot, tmp_path / "live.safetensors")
    QTest.mouseClick(m.btn_movie, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: m.movie_label.text() == "epoch 1 of 1", timeout=60000)
    assert not m.movie._follow.isActive()  # nothing runs while the file is still
    for e in (2, 3, 4):
        epoch(e)
        qtbot.waitUntil(lambda e=e: m.movie_label.text() == f"epoch {e} of {e}", timeout=2000)
        assert m.movie_slider.maximum() == e - 1 and len(m.xy) == 200
    m.movie_slider.setValue(0)  # a user looking at an early epoch stays there when another comes
    epoch(5)
    qtbot.waitUntil(lambda: m.movie_slider.maximum() == 4, timeout=2000)
    assert m.movie_label.text() == "epoch 1 of 5"
    rec.close()
