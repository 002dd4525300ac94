"""A kind registered from this file only: the CLI, the Training view and every view derive what they offer
from its spec, with no edit anywhere else."""


import numpy as np
import pytest
import torch

from latent_explorer.models import load, registry
from latent_explorer.models.cli import build_parser
from latent_explorer.models.cli import main as cli
from tests.toy_kinds import TOY, TOY_I2I, _toy_file

from .flows import check, use_view


@pytest.fixture
def toy_kinds():
    registry.register(TOY)
    registry.register(TOY_I2I)
    yield
    registry.unregister("toy")
    registry.unregister("toy-i2i")


def test_the_cli_offers_the_toy_kind_and_trains_it(toy_kinds, tmp_path, capsys):
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if a.dest == "model")
    assert "toy" in train.choices and "toy-i2i" in train.choices
    out = tmp_path / "t.safetensors"
    assert cli(["train", "--model", "toy", "--data", "digits", "--gain", "3", "--max-steps", "3", "--quiet",
                "--out", str(out)]) == 0
    model = load(out)
    assert model.kind == "toy" and model.config.gain == 3.0 and model.latent_dim == 3
    assert cli(["train", "--model", "toy", "--data", "digits", "--beta", "2", "--out", str(out)]) == 2
    assert "--beta does not apply to toy" in capsys.readouterr().err


def test_the_training_view_lists_the_toy_kind_with_its_own_form(toy_kinds, make_window, qtbot):
    w = make_window(load_bundled=False)
    use_view(w, "training")
    form = w.training.form
    assert form.kind.findData("toy") >= 0
    form.kind.setCurrentIndex(form.kind.findData("toy"))
    enabled = {f.param.name for f in form.fields if f.widget.isEnabled()}
    assert enabled == {"gain"} and form.latent.isEnabled() and form.latent.value() == 3
    assert form.epochs.value() == 1 and form.batch.value() == 16 and not form.conditional.isEnabled()
    spec = form.spec()
    assert spec.kind == "toy" and spec.params == {"gain": 1.0}
    form.kind.setCurrentIndex(form.kind.findData("vae"))
    assert {f.param.name for f in form.fields if f.widget.isEnabled()} == {"hidden", "beta"}


def test_the_views_enable_their_controls_from_the_toys_capabilities(toy_kinds, make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    assert w.open_path(str(_toy_file(tmp_path)))
    assert "Toy linear generator" in w.models.info.text()
    for view in ("map", "editor", "diffusion"):
        use_view(w, view)
        check(w, qtbot, view)
    ed = w.editor
    assert len(ed.rows) == 3 and not ed.btn_encode.isEnabled() and ed.btn_random.isEnabled()
    assert ed.tabs.isTabEnabled(1) and not ed.cls.isEnabled()  # directions: yes; classes: none
    assert w.map.latents.source == "sampled" and len(w.map.latents.z) == 300 and not w.map.btn_data.isEnabled()
    assert w.diffusion.placeholder.isVisible() and not w.diffusion.body.isVisible()
    z = np.array([0.5, -1.0, 2.0], np.float32)
    with qtbot.waitSignal(ed.imageUpdated, timeout=180000):
        w.latent.set_z(z)
    want = w.latent.model.decode(torch.from_numpy(z[None]))[0, 0].numpy()
    assert np.allclose(ed.panel.data, want, atol=1e-6)


def test_a_kind_that_decodes_no_z_gets_hints_not_crashes(toy_kinds, make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    assert w.open_path(str(_toy_file(tmp_path, TOY_I2I)))
    for view in ("map", "editor", "diffusion", "training"):
        use_view(w, view)
        qtbot.waitUntil(lambda: not w.map.busy(), timeout=180000)
    ed = w.editor
    assert ed.rows == [] and not ed.btn_random.isEnabled() and not ed.btn_png.isEnabled()
    assert "does not decode a latent code" in ed.dims.widget().text()
    assert "no latent space to map" in w.map.source.text() and w.map.latents is None
    assert w.last_error is None

