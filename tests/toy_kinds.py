"""Toy kinds for tests (not a test module): a linear generator with its own hyperparameter and a toy
translator, as a user would write a kind in one file. A test registers them (``registry.register``) and
unregisters them after."""


from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models import GenerativeModel, ModelConfig, registry, save
from models.base import adam, optimize


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
