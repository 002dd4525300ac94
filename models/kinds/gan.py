"""GANs with DCGAN-style conv nets (Radford et al. 2016): non-saturating BCE (Goodfellow et al. 2014)
or WGAN-GP (Gulrajani et al. 2017), optionally class-conditional (Mirza & Osindero 2014)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, one_hot, optimize
from latent_explorer.models.nn.blocks import resolution_plan
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register


@dataclass
class GANConfig(ModelConfig):
    width: int = 64  # base channels of the conv nets
    gan_loss: str = "bce"  # "bce" (non-saturating) or "wgan-gp"
    gp_weight: float = 10.0  # WGAN-GP gradient penalty weight (Gulrajani et al. 2017)
    n_critic: int = 5  # WGAN-GP: critic updates per generator update
    # the discriminator's learning rate as a multiple of the generator's: the two time-scale update rule
    # (Heusel et al. 2017) uses a faster critic; far from 1 either net overpowers the other (mode collapse:
    # README, "Mode collapse on purpose")
    d_lr_scale: float = 1.0
    # the generator's normalisation: "batch" (Radford et al. 2016, sec. 3: BatchNorm "prevent[s] the generator
    # from collapsing all samples to a single point"), or "none" to see what it prevents
    g_norm: str = "batch"

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.width, int) and 4 <= self.width <= 512, f"width must be 4..512, got {self.width}")
        need(self.gan_loss in ("bce", "wgan-gp"), f"unknown GAN loss {self.gan_loss!r} (bce or wgan-gp)")
        need(isinstance(self.n_critic, int) and self.n_critic >= 1, "n_critic must be >= 1")
        need(isinstance(self.gp_weight, (int, float)) and self.gp_weight >= 0, "gp_weight must be >= 0")
        need(self.g_norm in G_NORMS, f"the generator's normalisation must be one of {', '.join(G_NORMS)}, "
             f"got {self.g_norm!r}")
        need(isinstance(self.d_lr_scale, (int, float)) and 1e-3 <= self.d_lr_scale <= 1e3,
             f"the discriminator's learning-rate scale must be 0.001..1000, got {self.d_lr_scale}")


G_NORMS = ("batch", "none")


def _norm(kind: str, dims: int, n: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    return nn.BatchNorm1d(n) if dims == 1 else nn.BatchNorm2d(n)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, n_classes: int, image_shape, width: int, norm: str = "batch"):
        super().__init__()
        c, h, _ = image_shape
        base, levels = resolution_plan(h)
        chans = [width * 2 ** min(i, 3) for i in range(levels, -1, -1)]  # e.g. [256, 128, 64] for 2 levels
        self.base, self.c0 = base, chans[0]
        self.fc = nn.Sequential(nn.Linear(latent_dim + n_classes, chans[0] * base * base),
                                _norm(norm, 1, chans[0] * base * base), nn.ReLU())
        blocks: list[nn.Module] = []
        for a, b in zip(chans[:-1], chans[1:]):
            # (B, a, s, s) -> (B, b, 2s, 2s)
            blocks += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=norm == "none"), _norm(norm, 2, b), nn.ReLU()]
        # (B, width, H, W) -> (B, width, H, W) -> (B, C, H, W)
        blocks += [nn.Conv2d(chans[-1], chans[-1], 3, 1, 1, bias=norm == "none"), _norm(norm, 2, chans[-1]), nn.ReLU(),
                   nn.Conv2d(chans[-1], c, 3, 1, 1), nn.Tanh()]
        self.net = nn.Sequential(*blocks)

    def forward(self, z, yh):
        h = self.fc(torch.cat([z, yh], 1)).view(-1, self.c0, self.base, self.base)  # (B, c0, base, base)
        return self.net(h)  # (B, C, H, W) in [-1, 1]


class Discriminator(nn.Module):
    def __init__(self, n_classes: int, image_shape, width: int, batchnorm: bool):
        super().__init__()
        c, h, _ = image_shape
        base, levels = resolution_plan(h)
        chans = [width * 2 ** min(i, 3) for i in range(levels + 1)]  # e.g. [64, 128, 256]
        # one-hot labels enter as constant planes (B, n_classes, H, W)
        layers: list[nn.Module] = [nn.Conv2d(c + n_classes, chans[0], 3, 1, 1), nn.LeakyReLU(0.2)]
        for a, b in zip(chans[:-1], chans[1:]):
            # (B, a, s, s) -> (B, b, s/2, s/2)
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=not batchnorm)]
            if batchnorm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(0.2))
        self.net = nn.Sequential(*layers)
        self.out = nn.Linear(chans[-1] * base * base, 1)  # (B, c_last*base*base) -> (B, 1)

    def forward(self, x, yh):
        if yh.shape[1]:
            x = torch.cat([x, yh[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.out(self.net(x).flatten(1))


class GAN(GenerativeModel):
    loss_names = ("d", "g")

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        k, w = config.num_classes, config.width
        self.generator = Generator(config.latent_dim, k, config.image_shape, w, config.g_norm)
        self.discriminator = Discriminator(k, config.image_shape, w, batchnorm=config.gan_loss == "bce")

    @property
    def wasserstein(self) -> bool:
        return self.config.gan_loss == "wgan-gp"

    def _y(self, y, batch):
        return one_hot(y, self.num_classes, batch, self.device)

    @torch.no_grad()
    def decode(self, z, y=None):
        was = self.generator.training
        self.generator.eval()  # BatchNorm running statistics: a deterministic map z -> image
        try:
            return (self.generator(z, self._y(y, len(z))) + 1) / 2
        finally:
            self.generator.train(was)

    def make_optimizers(self, lr=None):
        if self.wasserstein:  # Gulrajani et al. 2017, Algorithm 1
            lr, betas = lr or self.default_lr, (0.0, 0.9)
        else:  # Radford et al. 2016
            lr, betas = lr or self.default_lr, (0.5, 0.999)
        return {"g": adam(self.generator.parameters(), lr, betas),
                "d": adam(self.discriminator.parameters(), lr * self.config.d_lr_scale, betas)}

    def d_loss(self, real, fake, yh):
        d_real, d_fake = self.discriminator(real, yh), self.discriminator(fake, yh)
        if self.wasserstein:
            # critic loss E[D(fake)] − E[D(real)] + λ E[(‖∇D(x̂)‖ − 1)²], x̂ between real and fake
            eps = torch.rand(len(real), 1, 1, 1, device=real.device)
            mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
            grad, = torch.autograd.grad(self.discriminator(mix, yh).sum(), mix, create_graph=True)
            gp = ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()
            return d_fake.mean() - d_real.mean() + self.config.gp_weight * gp
        return (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))

    def g_loss(self, fake, yh):
        d_fake = self.discriminator(fake, yh)
        if self.wasserstein:
            return -d_fake.mean()
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))  # non-saturating

    def train_step(self, x, y, opts, step):
        real = x * 2 - 1
        yh = self._y(y, len(x))
        z = torch.randn(len(x), self.latent_dim, device=x.device)
        fake = self.generator(z, yh)
        d_loss = self.d_loss(real, fake.detach(), yh)
        optimize(d_loss, opts["d"], self.discriminator.parameters(), grad_sync=self.grad_sync,
                 name="discriminator loss")
        out = {"d": d_loss.item()}
        if not self.wasserstein or step % self.config.n_critic == 0:
            g_loss = self.g_loss(fake, yh)
            optimize(g_loss, opts["g"], self.generator.parameters(), grad_sync=self.grad_sync,
                     name="generator loss")
            self._last_g = g_loss.item()
        out["g"] = getattr(self, "_last_g", float("nan")) if self.wasserstein else self._last_g
        if out["g"] != out["g"]:
            out.pop("g")
        return out

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        self.eval()
        real = x * 2 - 1
        yh = self._y(y, len(x))
        z = torch.randn(len(x), self.latent_dim, generator=generator).to(x.device)
        fake = self.generator(z, yh)
        d_real, d_fake = self.discriminator(real, yh), self.discriminator(fake, yh)
        if self.wasserstein:
            return {"critic_gap": (d_real.mean() - d_fake.mean()).item()}
        return {"d_real": torch.sigmoid(d_real).mean().item(), "d_fake": torch.sigmoid(d_fake).mean().item()}


# -- registration ---------------------------------------------------------------------------------
WIDTH = Param("width", "Width", int, "base channels of the conv nets", minimum=4, maximum=512)
D_LR = Param("d_lr_scale", "D learning rate ×", float, "the discriminator's learning rate as a multiple of the "
             "generator's (two time-scale update rule, Heusel et al. 2017); far from 1, one net overpowers the "
             "other", minimum=1e-3, maximum=1e3)
G_NORM = Param("g_norm", "Generator normalisation", str, "BatchNorm in the generator (Radford et al. 2016), or none: "
               "without it a deep generator tends to collapse onto a few modes", choices=G_NORMS)
GAN_CAPS = Capabilities(directions=True)
GAN_PARAMS = (WIDTH, D_LR, G_NORM)

register(KindSpec("gan", "GAN (DCGAN)", GAN, GANConfig, TrainDefaults(50, 64, 2e-4), GAN_CAPS, params=GAN_PARAMS,
                  latent_dim=32))
register(KindSpec("cgan", "Conditional GAN", GAN, GANConfig, TrainDefaults(50, 64, 2e-4), GAN_CAPS,
                  conditioning="class", params=GAN_PARAMS, latent_dim=32))
register(KindSpec("wgan", "WGAN-GP", GAN, GANConfig, TrainDefaults(50, 64, 1e-4), GAN_CAPS, params=GAN_PARAMS,
                  latent_dim=32, config={"gan_loss": "wgan-gp"}))
