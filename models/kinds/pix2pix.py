"""pix2pix (Isola et al. 2017, "Image-to-image translation with conditional adversarial networks"): a U-Net
generator G(x) maps a source image x (an edge map or a silhouette of the scene) to the scene, judged by a
PatchGAN discriminator D(x, y) that says real or fake for every 34×34-pixel patch of the pair.

Losses (eq. 1-4): D minimises ½[BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]; G minimises
BCE(D(x, G(x)), 1)·adv_weight + λ‖y − G(x)‖₁ with λ = 100. ``adv_weight`` = 0 trains the same U-Net on L1
alone: the baseline the adversarial term must beat (README, "Image to image").

The source is computed from the target itself (:func:`source_of`), so any image data is paired data: the
edges of a scene (where the colour changes: object outlines), or its silhouette (what differs from the
background). A drawn sketch is such a source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, optimize
from latent_explorer.models.data.sketches import SOURCES, source_of
from latent_explorer.models.nn.blocks import resolution_plan
from latent_explorer.models.nn.translation import PatchGAN, UNet
from latent_explorer.models.registry import Capabilities, KindSpec, Param, Source, TrainDefaults, register


def source_channels(source: str, channels: int) -> int:
    """Channels of a source: one (ink) for edges and silhouettes, the image's own for a colour outline or the
    paired pictures of A/."""
    return channels if source in ("outline", "paired") else 1


def takes_ink(config) -> bool:
    """True: a model of ``config`` reads ink on paper (edges, silhouette); False: a colour picture (an outline)."""
    return source_channels(config.source, 3) == 1


def check_sources(cfg, data) -> None:
    """A paired pix2pix needs paired data (said before training starts)."""
    if cfg.source == "paired" and getattr(data, "sources", None) is None:
        from latent_explorer.models.errors import ConfigError

        raise ConfigError(f"this pix2pix translates paired pictures: {data.spec or 'the data'} has none (use "
                          "--data pairs:FOLDER, a folder with A/ and B/ holding images of the same names)")


def source_from_data(data) -> dict:
    """Paired data (``pairs:FOLDER``) is translated from its own sources unless told otherwise."""
    return {"source": "paired"} if getattr(data, "sources", None) is not None else {}


@dataclass
class Pix2PixConfig(ModelConfig):
    width: int = 32  # channels of the U-Net's first level (doubling down to 8×)
    l1_weight: float = 100.0  # λ of eq. 4, on the L1 of images in [-1, 1] (the paper's code's scale)
    adv_weight: float = 1.0  # the adversarial term's weight (0: the L1-only U-Net baseline)
    source: str = "edges"  # what G translates from: "edges", "silhouette", a colour "outline" of the target, or
    # "paired": the images of A/ beside each image of B/ (pairs:FOLDER)

    latent_dims = (0, 0)  # no latent code: the source image is the input

    def __post_init__(self):
        self.latent_dim = 0

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.width, int) and 4 <= self.width <= 256, f"width must be 4..256, got {self.width}")
        need(self.source in SOURCES, f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")
        for name in ("l1_weight", "adv_weight"):
            v = getattr(self, name)
            need(isinstance(v, (int, float)) and 0 <= v <= 1e4, f"{name} must be 0..10000, got {v}")
        need(self.l1_weight > 0 or self.adv_weight > 0, "the L1 and adversarial weights cannot both be 0")
        _, levels = resolution_plan(self.image_shape[1])
        need(levels >= 1, f"a {self.image_shape[1]}-pixel image cannot be halved for the U-Net")


class Pix2Pix(GenerativeModel):
    loss_names = ("d", "g_adv", "l1")

    def __init__(self, config: Pix2PixConfig):
        super().__init__(config)
        c, h, _ = config.image_shape
        s = source_channels(config.source, c)
        self.generator = UNet(s, c, h, config.width)
        self.discriminator = PatchGAN(s + c, config.width, h)

    @property
    def source_shape(self) -> tuple[int, int, int]:
        return (source_channels(self.config.source, self.image_shape[0]), *self.image_shape[1:])

    def condition_of(self, data):
        return self.sources_for(data)

    def sources_for(self, data) -> np.ndarray:
        """The sources of ``data``'s images: computed from them, or the paired pictures it came with."""
        if self.config.source != "paired":
            return source_of(data.images, self.config.source)
        check_sources(self.config, data)
        return data.sources

    def direction_title(self, direction: str = "a2b") -> str:
        return f"{self.config.source} → image"

    def sample_rows(self, data, n: int) -> list[np.ndarray]:
        """Rows of a held-out picture: sources, their translations, the real images."""
        x = data.images[:n]
        src = self.sources_for(data)[:n]
        out = self.translate(torch.from_numpy(np.ascontiguousarray(src))).cpu().numpy()
        return [np.repeat(src, x.shape[1] // src.shape[1], 1), out, x]

    def held_out_figures(self, real, classifier):
        return translation_figures(self, real, classifier)

    @torch.no_grad()
    def translate(self, source: torch.Tensor) -> torch.Tensor:
        """(B, S, H, W) in [0, 1] (S: :attr:`source_shape`) -> (B, C, H, W) in [0, 1], deterministic (eval
        mode: no dropout)."""
        was = self.training
        self.eval()
        try:
            return (self.generator(source.to(self.device) * 2 - 1) + 1) / 2
        finally:
            self.train(was)

    def make_optimizers(self, lr=None):
        lr = lr or self.default_lr
        return {"g": adam(self.generator.parameters(), lr, (0.5, 0.999)),
                "d": adam(self.discriminator.parameters(), lr, (0.5, 0.999))}

    def train_step(self, x, y, opts, step):
        real, src = x * 2 - 1, y * 2 - 1
        fake = self.generator(src)
        out = {}
        adv = self.config.adv_weight > 0
        if adv:
            d_real, d_fake = self.discriminator(src, real), self.discriminator(src, fake.detach())
            d_loss = 0.5 * (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                            + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
            optimize(d_loss, opts["d"], self.discriminator.parameters(), grad_sync=self.grad_sync,
                     name="discriminator loss")
            out["d"] = d_loss.item()
        l1 = (fake - real).abs().mean()  # on the [-1, 1] scale, as the paper's λ = 100 weighs it
        g_loss = self.config.l1_weight * l1
        if adv:
            d_fake = self.discriminator(src, fake)
            g_adv = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
            g_loss = g_loss + self.config.adv_weight * g_adv
            out["g_adv"] = g_adv.item()
        optimize(g_loss, opts["g"], self.generator.parameters(), grad_sync=self.grad_sync, name="generator loss")
        out["l1"] = l1.item() / 2  # reported on the [0, 1] scale, as evaluate() measures it
        return out

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        return {"l1": (self.translate(y) - x).abs().mean().item()}

    def preview(self, x, y, generator):
        return self.translate(y) if y is not None else None


register(KindSpec(
    "pix2pix", "pix2pix (image to image, paired)", Pix2Pix, Pix2PixConfig, TrainDefaults(30, 64, 2e-4),
    Capabilities(prior=False, decodes_z=False, image_to_image=True), conditioning="image", latent_dim=None,
    source=Source(ink=takes_ink, named_by="source"),  # one way; a blank page has nothing to translate
    params=(Param("width", "Width", int, "channels of the U-Net's first level", minimum=4, maximum=256),
            Param("source", "Source", str, "what is translated into the image: its edges, its silhouette, "
                  "a colour outline (the object's rim in its colours on the background's colour), or the paired "
                  "picture of A/ (data pairs:FOLDER)",
                  choices=SOURCES),
            Param("l1_weight", "L1 weight λ", float, "weight of ‖y − G(x)‖₁ (Isola et al. 2017: 100)",
                  minimum=0, maximum=1e4),
            Param("adv_weight", "Adversarial weight", float, "weight of the PatchGAN term (0: an L1-only U-Net, "
                  "the baseline)", minimum=0, maximum=1e4)),
    from_data=source_from_data, check_data=check_sources,
    description="translates an edge map, silhouette, colour outline or paired picture into the image (U-Net + "
                "PatchGAN)"))


def translation_figures(model, real, classifier, batch: int = 250):
    """Held-out figures of an image-to-image model, as a job: the sources of the held-out images ``real``
    translated, then their mean L1 to the real images, the Fréchet distance between the translations and the
    real images on the yardstick classifier's features (:mod:`models.analysis.quality`), and how often the
    classifier gives a translation the real image's label on each head (colour, shape...)."""
    from latent_explorer.models.analysis.quality import frechet_distance
    from latent_explorer.models.progress import Step

    src = model.sources_for(real)
    outs = []
    for i in range(0, len(src), batch):
        outs.append(model.translate(torch.from_numpy(src[i:i + batch])).cpu().numpy())
        yield Step(min(len(src), i + batch), len(src) + 1, "translating held-out sources")
    fake = np.concatenate(outs)
    yield Step(len(src), len(src) + 1, "measuring")
    f_fake, p_fake = classifier.predict(fake)
    f_real, p_real = classifier.predict(real.images)
    figures = {"n_val": len(real), "l1": float(np.abs(fake - real.images).mean()),
               "frechet_distance": frechet_distance(f_real, f_fake)}
    for j, head in enumerate(classifier.head_names):
        figures[f"agrees_{head}"] = float((p_fake[:, j] == p_real[:, j]).mean())
    return figures
