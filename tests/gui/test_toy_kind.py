"""A kind registered from this file only: the CLI, the Training view and every view derive what they offer
from its spec, with no edit anywhere else."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from models import GenerativeModel, ModelConfig, load, registry, save
from models.base import adam, optimize
from models.cli import build_parser
from models.cli import main as cli

from .test_user_flows import check, use_view


@dataclass
class ToyConfig(ModelConfig):
    gain: float = 1.0  # multiplies the decoder's logits


class Toy(GenerativeModel):
    """z (B, D) -> sigmoid(gain · W z) as (B, C, H, W): the smallest generator there is."""

    loss_names = ("mse",)

    def __init__(self, config):
        super().__init__(config)
        c, h, w = config.image_shape
        self.lin = nn.Linear(config.latent_dim, c * h * w)

    @torch.no_grad()
    def decode(self, z, y=None):
        if not self.capabilities.decodes_z:
            raise NotImplementedError("this toy translates images; it decodes no z")
        return torch.sigmoid(self.config.gain * self.lin(z)).view(-1, *self.image_shape)

    def make_optimizers(self, lr=None):
        return {"opt": adam(self.parameters(), lr or self.default_lr)}

    def train_step(self, x, y, opts, step):
        z = torch.randn(len(x), self.latent_dim)
        loss = F.mse_loss(torch.sigmoid(self.config.gain * self.lin(z)).view_as(x), x)
        optimize(loss, opts["opt"], self.parameters())
        return {"mse": loss.item()}

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        return {"mse": F.mse_loss(self.decode(torch.randn(len(x), self.latent_dim, generator=generator)), x).item()}


class ToyTranslator(Toy):
    """The toy as an image-to-image model: it keeps what that capability promises (a ``translate``)."""

    @torch.no_grad()
    def translate(self, source):
        return source.clamp(0, 1)


GAIN = registry.Param("gain", "Gain", float, "multiplies the decoder's logits", minimum=0.1, maximum=10)
TOY = registry.KindSpec("toy", "Toy linear generator", Toy, ToyConfig, registry.TrainDefaults(1, 16, 1e-2),
                        registry.Capabilities(directions=True), params=(GAIN,), latent_dim=3, map_samples=300)
# a model that maps images to images: no z to decode or to sample
TOY_I2I = registry.KindSpec("toy-i2i", "Toy translator", ToyTranslator, ToyConfig,
                            registry.TrainDefaults(1, 16, 1e-2),
                            registry.Capabilities(prior=False, decodes_z=False, image_to_image=True), latent_dim=3)


@pytest.fixture
def toy_kinds():
    registry.register(TOY)
    registry.register(TOY_I2I)
    yield
    registry.unregister("toy")
    registry.unregister("toy-i2i")


def _toy_file(tmp_path, spec=TOY):
    torch.manual_seed(0)
    model = registry.build_model(registry.make_config(spec.name, (1, 8, 8), gain=2.0))
    return save(model, tmp_path / f"{spec.name}.safetensors", data={"spec": "digits"})


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

