"""A second kind and a sampler, each registered from one file (issue O): a sampler that takes η, and a kind that
samples pixel by pixel. The CLI, the Training view, the Quality view and every view that applies offer them,
with no edit anywhere else."""

from pathlib import Path

import numpy as np
import pytest

from latent_explorer.models import build_model, load, make_config, registry, save
from latent_explorer.models.cli import build_parser
from latent_explorer.models.cli import main as cli
from latent_explorer.models.sampling.samplers import register_sampler, unregister_sampler
from tests.toy_kinds import TOY_AR, ToyEtaSampler

from .flows import use_view

ROOT = Path(__file__).resolve().parents[2]
DDPM = ROOT / "assets" / "digits-ddpm.safetensors"


@pytest.fixture
def toys():
    registry.register(TOY_AR)
    register_sampler(ToyEtaSampler)
    yield
    registry.unregister("toy-ar")
    unregister_sampler("toy-eta")


def _toy_ar_file(tmp_path):
    model = build_model(make_config("toy-ar", (1, 8, 8)))
    return save(model, tmp_path / "toy-ar.safetensors", data={"spec": "digits"})


def _choices(command: str, dest: str):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return next(a for a in sub._actions if a.dest == dest).choices


def test_the_cli_offers_the_new_sampler_with_eta_and_trains_and_samples_the_new_kind(toys, tmp_path, capsys):
    assert "toy-eta" in _choices("sample", "sampler") and "toy-eta" in _choices("txt2img", "sampler")
    assert "toy-ar" in _choices("train", "model")
    out = tmp_path / "ddpm.png"
    assert cli(["sample", str(DDPM), "--sampler", "toy-eta", "--steps", "3", "--eta", "0.5", "--n", "4",
                "--out", str(out)]) == 0 and out.exists()
    capsys.readouterr()
    assert cli(["sample", str(DDPM), "--sampler", "euler-a", "--eta", "0.5", "--out", str(out)]) == 2
    assert "--eta applies to the DDIM or Toy η sampler only" in capsys.readouterr().err  # from the classes
    ar = tmp_path / "ar.safetensors"
    assert cli(["train", "--model", "toy-ar", "--data", "digits", "--max-steps", "3", "--quiet", "--out", str(ar)]) == 0
    assert load(ar).kind == "toy-ar"
    grid = tmp_path / "ar.png"
    assert cli(["sample", str(ar), "--n", "4", "--out", str(grid)]) == 0 and grid.exists()


def test_the_views_offer_the_new_sampler_and_the_new_kind(toys, make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    use_view(w, "training")
    assert w.training.form.kind.findData("toy-ar") >= 0
    assert w.open_path(str(DDPM))
    use_view(w, "diffusion")
    d = w.diffusion
    qtbot.waitUntil(lambda: d.body.isVisible(), timeout=180000)
    i = d.sampler.findData("toy-eta")
    assert i >= 0 and d.sampler.itemText(i) == "Toy η"
    d.sampler.setCurrentIndex(i)
    assert d.eta.isEnabled() and d.steps.isEnabled()
    d.steps.setValue(3)
    d.eta.setValue(0.5)
    d.n.setValue(2)
    s = d.controls.settings()
    assert (s.sampler, s.steps, s.eta, s.batch) == ("toy-eta", 3, 0.5, 2)
    d.run_reverse()
    qtbot.waitUntil(lambda: d.trajectory is not None and not d.busy(), timeout=180000)
    assert d.trajectory.x.shape[0] == 4  # the x_t of each of the 3 steps, and x_T
    assert w.txt2img.sampler.findData("toy-eta") >= 0  # the text-to-image view lists it too

    assert w.open_path(str(_toy_ar_file(tmp_path)))
    for view in ("pixels", "quality"):
        use_view(w, view)
        v = getattr(w, view)
        qtbot.waitUntil(lambda v=v: v.body.isVisible(), timeout=180000)
    q = w.quality
    assert q.btn.isEnabled() and not q.steps.isVisible() and q.sample_kw() == {}  # no sampler: pixel by pixel
    p = w.pixels
    p.n.setValue(2)
    p.run()
    qtbot.waitUntil(lambda: p.record is not None, timeout=180000)
    assert np.isin(p.record.images, (0.0, 1.0)).all() and p.record.steps == 64
    model = w.latent.model
    assert w.pixels.applies(model) is None and w.quality.applies(model) is None
    for view in ("diffusion", "txt2img", "sketch"):
        use_view(w, view)
        assert getattr(w, view).placeholder.isVisible(), view  # those views say why they do not apply
    assert "diffusion models" in w.diffusion.applies(model) and "driven by text" in w.txt2img.applies(model)
    for view in ("map", "editor"):
        use_view(w, view)
        qtbot.waitUntil(lambda: not w.map.busy(), timeout=180000)
    assert "no latent space to map" in w.map.source.text() and w.editor.rows == []
    assert w.last_error is None
