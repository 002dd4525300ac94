"""Toy kinds for tests (not a test module): a linear generator with its own hyperparameter, a toy translator, a
toy autoregressive model and a toy sampler that takes η, as a user would write each in one file. A test registers
them (``registry.register``, ``register_sampler``) and unregisters them after."""


from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models import GenerativeModel, ModelConfig, registry, save
from latent_explorer.models.base import adam, optimize
from latent_explorer.models.sampling.samplers import DDIMSampler


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


def _toy_file(tmp_path, spec=TOY):
    torch.manual_seed(0)
    model = registry.build_model(registry.make_config(spec.name, (1, 8, 8), gain=2.0))
    return save(model, tmp_path / f"{spec.name}.safetensors", data={"spec": "digits"})


@dataclass
class ToyPixelsConfig(ModelConfig):
    latent_dims = (0, 0)  # no latent code: the pixels are the model's only variables

    def __post_init__(self):
        self.latent_dim = 0


class ToyPixels(GenerativeModel):
    """Binary pixels drawn in raster order, p(x_i = 1 | x_<i) = sigmoid(b_i + w·x_{i−1}): the smallest
    autoregressive model, with an exact likelihood by the chain rule."""

    loss_names = ("nll",)

    def __init__(self, config):
        super().__init__(config)
        c, h, w = config.image_shape
        self.bias = nn.Parameter(torch.zeros(h * w))
        self.weight = nn.Parameter(torch.zeros(()))

    def nll(self, x):
        """−log p(x) in nats per image (B,), of the binarised images."""
        flat = (x > 0.5).float().flatten(1)  # (B, H*W)
        logits = self.bias + self.weight * F.pad(flat[:, :-1], (1, 0))
        return F.binary_cross_entropy_with_logits(logits, flat, reduction="none").sum(1)

    def prior(self, n, generator=None):
        raise NotImplementedError("pixel by pixel: no latent code")

    @torch.no_grad()
    def sample_steps(self, n, generator=None, known=None, mask=None):
        _, h, w = self.image_shape
        x = torch.zeros(n, 1, h, w)
        flat = x.view(n, -1)
        for i in range(h * w):
            p = torch.sigmoid(self.bias[i] + self.weight * (flat[:, i - 1] if i else torch.zeros(n)))
            draw = (torch.rand(n, generator=generator) < p).float()
            if known is not None:
                keep = mask.reshape(n, -1)[:, i] > 0
                draw = torch.where(keep, (known.reshape(n, -1)[:, i] > 0.5).float(), draw)
            flat[:, i] = draw
            yield i, x, p

    @torch.no_grad()
    def sample(self, n, y=None, generator=None, **kwargs):
        last = None
        for _, x, _ in self.sample_steps(n, generator):
            last = x
        return last.clone()

    def make_optimizers(self, lr=None):
        return {"opt": adam(self.parameters(), lr or self.default_lr)}

    def train_step(self, x, y, opts, step):
        loss = self.nll(x).mean()
        optimize(loss, opts["opt"], self.parameters())
        return {"nll": loss.item()}

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        return {"nll": self.nll(x).mean().item()}


TOY_AR = registry.KindSpec("toy-ar", "Toy autoregressive", ToyPixels, ToyPixelsConfig,
                           registry.TrainDefaults(1, 16, 1e-2),
                           registry.Capabilities(prior=False, decodes_z=False, likelihood="exact",
                                                 autoregressive=True), latent_dim=None)


class ToyEtaSampler(DDIMSampler):
    """A new sampler that takes η, as a user would add one: DDIM's steps under another name."""

    name, title = "toy-eta", "Toy η"


# A kind plug-in as a user's package ships one: a module that registers its kind, and a distribution whose
# entry_points.txt names it in the group latent_explorer.kinds (what `pip install` of that package writes).
PLUGIN_KIND = """
from latent_explorer.models import registry
from tests.toy_kinds import Toy, ToyConfig  # its classes are the toy's: what makes it a plug-in is how it arrives

registry.register(registry.KindSpec("plug-toy", "Plugged-in linear generator", Toy, ToyConfig,
                                    registry.TrainDefaults(1, 16, 1e-2), registry.Capabilities(), latent_dim=4))
"""


def plugin_folder(root):
    """A folder for sys.path holding the package ``toyplug`` 0.1: two entry points, ``plug-toy`` (registers
    the kind "plug-toy") and ``broken`` (fails to import, as a plug-in missing its dependency does)."""
    info = root / "toyplug-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toyplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[latent_explorer.kinds]\nplug-toy = toyplug_kind\n"
                                           "broken = toyplug_broken\n")
    (root / "toyplug_kind.py").write_text(PLUGIN_KIND)
    (root / "toyplug_broken.py").write_text("import a_library_that_is_not_installed\n")
    return root


def install_plugins(root, monkeypatch):
    """Put the plug-in folder on sys.path and load what it adds; undone by :func:`remove_plugins`."""
    import importlib

    monkeypatch.syspath_prepend(str(plugin_folder(root)))
    importlib.invalidate_caches()
    return registry.load_plugins()


def remove_plugins():
    import sys

    from latent_explorer.models import plugins

    registry.unregister("plug-toy")
    plugins.forget()
    for name in ("toyplug_kind", "toyplug_broken"):
        sys.modules.pop(name, None)
