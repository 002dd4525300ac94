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
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import GenerativeModel, ModelConfig, adam, need, optimize
from .gan import resolution_plan
from .registry import Capabilities, KindSpec, Param, Source, TrainDefaults, register

SOURCES = ("edges", "silhouette", "outline", "paired")
EDGE_THRESHOLD = 0.08  # the colour change (max over channels, in [0, 1]) that makes an edge


def edges(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> (N, 1, H, W) float32 of 0/1: a pixel is an edge where the colour differs
    from its right or lower neighbour by more than EDGE_THRESHOLD in some channel (one pixel thick)."""
    x = np.asarray(images, np.float32)
    dx = np.abs(np.diff(x, axis=3, append=x[..., -1:])).max(1)
    dy = np.abs(np.diff(x, axis=2, append=x[:, :, -1:, :])).max(1)
    return (np.maximum(dx, dy) > EDGE_THRESHOLD).astype(np.float32)[:, None]


def _background(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C, 1, 1): each image's background colour, the median of its border pixels."""
    border = np.concatenate([x[:, :, 0, :], x[:, :, -1, :], x[:, :, :, 0], x[:, :, :, -1]], axis=2)
    return np.median(border, axis=2)[:, :, None, None]


def silhouette(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, 1, H, W) 0/1: where the colour differs from the image's background (the median
    of its border pixels) by more than EDGE_THRESHOLD."""
    x = np.asarray(images, np.float32)
    return (np.abs(x - _background(x)).max(1) > EDGE_THRESHOLD).astype(np.float32)[:, None]


def outline(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> (N, C, H, W): a colour sketch of each image, its background colour as the paper and
    the object's rim (silhouette pixels with a background pixel beside them) drawn in the object's own colours:
    what is inside the line, and in what colour, is left for the model to fill in."""
    x = np.asarray(images, np.float32)
    m = silhouette(x)[:, 0] > 0
    pad = np.pad(m, ((0, 0), (1, 1), (1, 1)), constant_values=False)
    inner = m & pad[:, :-2, 1:-1] & pad[:, 2:, 1:-1] & pad[:, 1:-1, :-2] & pad[:, 1:-1, 2:]
    rim = (m & ~inner)[:, None]
    return np.where(rim, x, np.broadcast_to(_background(x), x.shape)).astype(np.float32)


def source_of(images: np.ndarray, source: str) -> np.ndarray:
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    if source == "paired":
        raise ValueError("paired sources are not computed from the images: they come with the data (pairs:FOLDER)")
    return {"edges": edges, "silhouette": silhouette, "outline": outline}[source](images)


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
        from .errors import ConfigError

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


class UNet(nn.Module):
    """Encoder-decoder with skip connections (Isola et al. 2017, sec. 3.1.1): each level halves the size, each
    decoder level doubles it back and sees the encoder's features of its size."""

    def __init__(self, c_in: int, c_out: int, size: int, width: int, norm: bool = True, dropout: bool = True):
        super().__init__()
        _, levels = resolution_plan(size)
        chans = [width * 2 ** min(i, 3) for i in range(levels + 1)]  # e.g. [32, 64, 128, 256, 256]

        def bn(c):
            return nn.BatchNorm2d(c) if norm else nn.Identity()

        self.inc = nn.Sequential(nn.Conv2d(c_in, chans[0], 3, 1, 1), nn.LeakyReLU(0.2))  # (B, w, H, W)
        self.down = nn.ModuleList()
        for a, b in zip(chans[:-1], chans[1:]):  # (B, a, s, s) -> (B, b, s/2, s/2)
            self.down.append(nn.Sequential(nn.Conv2d(a, b, 4, 2, 1, bias=not norm), bn(b), nn.LeakyReLU(0.2)))
        self.up = nn.ModuleList()
        for i, (a, b) in enumerate(zip(chans[:0:-1], chans[-2::-1])):
            # (B, a (+ a skip), s, s) -> (B, b, 2s, 2s); dropout in the deepest two, as the paper's noise
            a_in = a if i == 0 else 2 * a
            layers = [nn.ConvTranspose2d(a_in, b, 4, 2, 1, bias=not norm), bn(b), nn.ReLU()]
            if i < 2 and dropout:
                layers.append(nn.Dropout(0.5))
            self.up.append(nn.Sequential(*layers))
        self.out = nn.Sequential(nn.Conv2d(2 * chans[0], c_out, 3, 1, 1), nn.Tanh())  # (B, C, H, W)

    def forward(self, x):
        h = self.inc(x)
        skips = [h]
        for d in self.down:
            h = d(h)
            skips.append(h)
        skips.pop()  # the bottleneck is h itself
        for u in self.up:
            h = u(h)
            h = torch.cat([h, skips.pop()], 1)
        return self.out(h)


class PatchGAN(nn.Module):
    """D(x, y): logits for overlapping patches of the (source, image) pair (Isola et al. 2017, sec. 3.1.2);
    D(y) for an unconditional judge of one image (CycleGAN's)."""

    def __init__(self, c_in: int, width: int, size: int):
        super().__init__()
        w = width
        k = 4 if size >= 16 else 3  # small images: the last two convolutions keep the size (3x3, padding 1)
        self.net = nn.Sequential(
            nn.Conv2d(c_in, w, 4, 2, 1), nn.LeakyReLU(0.2),  # (B, c, H, W) -> (B, w, H/2, W/2)
            nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),  # -> H/4
            nn.Conv2d(2 * w, 4 * w, k, 1, 1, bias=False), nn.BatchNorm2d(4 * w), nn.LeakyReLU(0.2),  # -> H/4 - 1
            nn.Conv2d(4 * w, 1, k, 1, 1))  # -> (B, 1, H/4 - 2, W/4 - 2): one logit per patch (32 px: 6x6)

    def forward(self, *images):
        return self.net(torch.cat(images, 1))


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


def _read_on_white(path) -> tuple[np.ndarray, tuple[int, int], list[str]]:
    """An image file as (C, H, W) in [0, 1], its (height, width), and notes: a transparent background is laid
    on white paper; 16-bit and float images are scaled to 0..1."""
    from .data import read_image
    from .errors import check_regular
    from .images import MAX_DRAWING_PIXELS, pil_image

    check_regular(Path(path), ValueError)  # a FIFO named drawing.png would wait for ever
    Image = pil_image()
    notes = []
    try:
        im = Image.open(path)
    except Image.DecompressionBombError:
        raise ValueError("too large for a drawing (at most 4096x4096 pixels)") from None
    except OSError as e:
        raise ValueError(f"not a readable image ({type(e).__name__})") from None
    with im:
        mode, (w, h) = im.mode, im.size
        if w * h > MAX_DRAWING_PIXELS:  # from the header, before any pixel is decoded
            raise ValueError(f"too large for a drawing ({w}x{h} pixels; at most 4096x4096)")
        img = None
        if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
            rgba = np.asarray(im.convert("RGBA"), np.float32) / 255.0
            alpha = rgba[..., 3:]
            img = (rgba[..., :3] * alpha + (1 - alpha)).transpose(2, 0, 1)  # laid on white paper
            notes.append("its transparent background is taken as white paper")
    if img is None:
        img = read_image(path)  # 16-bit and palette images scaled to [0, 1]
        if mode.startswith("I") or mode == "F":
            notes.append(f"a {mode} image: its values are scaled to 0..1")
    return img, (h, w), notes


def read_sketch(path, size: int) -> tuple[np.ndarray, list[str]]:
    """A drawing (any image file) as the model's source: (1, size, size) float32 of 0/1 ink, and notes on what
    was done to it. Ink is the minority tone (dark strokes on paper or light strokes on black); a transparent
    background is laid on white; a picture of another size is resized (a cell is ink where a tenth of it is).
    Raises ValueError with a reason (unreadable, or no ink at all)."""
    from PIL import Image

    img, (h, w), notes = _read_on_white(path)
    grey = img.mean(0)
    ink = grey < 0.5 if grey.mean() > 0.5 else grey >= 0.5
    if (h, w) != (size, size):
        small = Image.fromarray((ink * 255).astype(np.uint8)).resize((size, size), Image.Resampling.BOX)
        ink = np.asarray(small, np.float32) / 255.0 > 0.1
        notes.append(f"resized from {w}x{h} to the model's {size}x{size}")
    if not ink.any():
        raise ValueError("the sketch is empty: nothing is drawn on it")
    return ink.astype(np.float32)[None], notes


def read_picture(path, channels: int, size: int, need_strokes: bool = False) -> tuple[np.ndarray, list[str]]:
    """A picture (any image file) as a colour source: (channels, size, size) float32 in [0, 1], and notes on
    what was done to it (a transparent background laid on white, 16-bit values scaled, resized, turned grey
    or colour). ``need_strokes``: a picture of one flat colour is refused as empty (an outline needs a line).
    Raises ValueError with a reason."""
    from .data import conform_images

    img, (h, w), notes = _read_on_white(path)
    if img.shape[0] != channels:
        notes.append("turned grey for the model" if channels == 1 else "its grey taken as colour for the model")
    if (h, w) != (size, size):
        notes.append(f"resized from {w}x{h} to the model's {size}x{size}")
    out = conform_images(img[None].astype(np.float32), channels, size)[0]
    if need_strokes and np.ptp(out.reshape(channels, -1), axis=1).max() < EDGE_THRESHOLD:
        raise ValueError("the picture is empty: one flat colour, nothing drawn on it")
    return out.astype(np.float32), notes


def translation_figures(model, real, classifier, batch: int = 250):
    """Held-out figures of an image-to-image model, as a job: the sources of the held-out images ``real``
    translated, then their mean L1 to the real images, the Fréchet distance between the translations and the
    real images on the yardstick classifier's features (:mod:`models.quality`), and how often the
    classifier gives a translation the real image's label on each head (colour, shape...)."""
    from .progress import Step
    from .quality import frechet_distance

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
