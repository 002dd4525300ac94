"""The latent autoencoder of latent diffusion (Rombach et al. 2022, "High-Resolution Image Synthesis with
Latent Diffusion Models", sec. 3.1): a convolutional encoder and decoder between images and a small grid of
latent channels (32×32×3 ↔ 4×8×8), with a KL term of small weight that keeps the latent space smooth
without forcing it to a standard normal ("KL-reg.", their appendix G).

The latents a diffusion model is trained on are scaled to unit variance: after training, the scale factor
1/σ of the training latents is computed and stored in the checkpoint's config (Stable Diffusion's 0.18215 is
the same figure for its autoencoder). ``encode`` returns scaled latents, flattened to (B, C·h·w), so the map
and the editor treat them like any other latent code; ``decode`` undoes the scaling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, losses_to_floats, need, optimize
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register

DOWNSAMPLE = 4  # image side / latent side: two stride-2 convolutions


@dataclass
class LatentAEConfig(ModelConfig):
    latent_channels: int = 4
    width: int = 32  # channels at full resolution; 2× below
    kl_weight: float = 1e-3  # weight of KL(q(z|x) ‖ N(0, I)) against the summed squared error
    scale_factor: float = 1.0  # 1/σ of the training latents, set after training

    image_sizes = (8, 64)
    latent_dims = (1, 16 * 16 * 16)

    def __post_init__(self):
        c, h, w = self.image_shape
        side = int(h) // DOWNSAMPLE
        self.latent_dim = int(self.latent_channels) * side * side if isinstance(self.latent_channels, int) else 0

    def validate(self) -> None:
        super().validate()
        _, h, _ = self.image_shape
        need(h % DOWNSAMPLE == 0, f"the latent autoencoder needs images whose side is a multiple of {DOWNSAMPLE}, "
                                  f"got {h}")
        need(isinstance(self.latent_channels, int) and 1 <= self.latent_channels <= 16,
             f"latent channels must be 1..16, got {self.latent_channels}")
        need(isinstance(self.width, int) and 4 <= self.width <= 256, f"width must be 4..256, got {self.width}")
        need(isinstance(self.kl_weight, (int, float)) and math.isfinite(self.kl_weight) and self.kl_weight >= 0,
             f"kl_weight must be >= 0, got {self.kl_weight}")
        need(isinstance(self.scale_factor, (int, float)) and math.isfinite(self.scale_factor)
             and 1e-6 <= self.scale_factor <= 1e6, f"scale_factor must be a positive number, got {self.scale_factor}")

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        side = self.image_shape[1] // DOWNSAMPLE
        return (self.latent_channels, side, side)


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(c, 8), c)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, plus the input: (B, c, s, s) -> (B, c, s, s)."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_norm(c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1),
                                  _norm(c), nn.SiLU(), nn.Conv2d(c, c, 3, 1, 1))

    def forward(self, x):
        return x + self.body(x)


class Encoder(nn.Module):
    def __init__(self, c: int, w: int, zc: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(c, w, 3, 1, 1), ResBlock(w),  # (B, C, H, W) -> (B, w, H, W)
            nn.Conv2d(w, 2 * w, 3, 2, 1), ResBlock(2 * w),  # -> (B, 2w, H/2, W/2)
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1), ResBlock(2 * w),  # -> (B, 2w, H/4, W/4)
            _norm(2 * w), nn.SiLU(), nn.Conv2d(2 * w, 2 * zc, 3, 1, 1),  # -> (B, 2·zc, H/4, W/4): mean, log σ²
        )

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    def __init__(self, c: int, w: int, zc: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(zc, 2 * w, 3, 1, 1), ResBlock(2 * w),  # (B, zc, h, w) -> (B, 2w, h, w)
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, 2 * w, 3, 1, 1), ResBlock(2 * w),  # 2h
            nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(2 * w, w, 3, 1, 1), ResBlock(w),  # 4h
            _norm(w), nn.SiLU(), nn.Conv2d(w, c, 3, 1, 1),  # -> (B, C, H, W) logits
        )

    def forward(self, z):
        return self.net(z)


class LatentAutoencoder(GenerativeModel):
    """Loss per image: Σ_pixels (x̂ − x)² + kl_weight · KL(N(μ, σ²) ‖ N(0, I)) summed over the latent grid."""

    loss_names = ("loss", "recon", "kl")

    def __init__(self, config: LatentAEConfig):
        super().__init__(config)
        c = config.image_shape[0]
        self.encoder = Encoder(c, config.width, config.latent_channels)
        self.decoder = Decoder(c, config.width, config.latent_channels)
        # statistics of the scaled training latents: what "random z" draws from (the prior is not N(0, I))
        self.register_buffer("z_mean", torch.zeros(config.latent_dim))
        self.register_buffer("z_std", torch.ones(config.latent_dim))

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return self.config.latent_shape

    def latent_names(self) -> list[str]:
        """z is a grid of latent channels: "c2 (3,5)" is channel 2 at row 3, column 5."""
        c, h, w = self.latent_shape
        return [f"c{k} ({i},{j})" for k in range(c) for i in range(h) for j in range(w)]

    def encode_dist(self, x):
        """x (B, C, H, W) in [0, 1] -> mean, log-variance (B, zc, h, w), unscaled."""
        h = self.encoder(x * 2 - 1)
        mu, logvar = h.chunk(2, 1)
        return mu, logvar.clamp(-30, 20)

    def encode(self, x, y=None):
        return (self.encode_dist(x)[0] * self.config.scale_factor).flatten(1)

    def decode_latents(self, z):
        """Scaled latents (B, zc, h, w) -> images (B, C, H, W) in [0, 1] (what latent diffusion decodes)."""
        return torch.sigmoid(self.decoder(z / self.config.scale_factor))

    @torch.no_grad()
    def decode(self, z, y=None):
        return self.decode_latents(z.reshape(len(z), *self.latent_shape))

    def prior(self, n, generator=None):
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return z * self.z_std + self.z_mean

    def origin(self):
        return self.z_mean.detach().float().cpu().clone()

    def make_optimizers(self, lr=None):
        return {"opt": adam(self.parameters(), lr or self.default_lr)}

    def losses(self, x, sample: bool):
        mu, logvar = self.encode_dist(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        recon = (torch.sigmoid(self.decoder(z)) - x).pow(2).flatten(1).sum(1).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)).mean()
        loss = recon + self.config.kl_weight * kl
        return {"loss": loss, "recon": recon, "kl": kl}, loss

    def train_step(self, x, y, opts, step):
        parts, loss = self.losses(x, sample=True)
        # clipped: a summed-pixel loss has rare gradient spikes, and one undid five epochs of a bundled build
        # (Adam rescales gradients anyway, so the clip only bounds the spikes)
        optimize(loss, opts["opt"], self.parameters(), clip=1.0, grad_sync=self.grad_sync, name="loss")
        return losses_to_floats(parts)

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        parts, _ = self.losses(x, sample=False)
        out = {k: v.item() for k, v in parts.items()}
        out["mse"] = F.mse_loss(self.decode(self.encode(x)), x).item()
        return out

    @torch.no_grad()
    def after_training(self, x, y):
        """The scale factor 1/σ of the training latents, then their per-dimension mean and spread."""
        self.eval()
        mus = torch.cat([self.encode_dist(x[i : i + 512])[0] for i in range(0, len(x), 512)])
        std = mus.std().item() if mus.numel() > 1 else 1.0
        self.config.scale_factor = float(1.0 / max(std, 1e-6))
        z = mus.flatten(1) * self.config.scale_factor
        self.z_mean.copy_(z.mean(0))
        self.z_std.copy_(z.std(0).clamp_min(1e-6) if len(z) > 1 else torch.ones_like(self.z_std))

    def preview(self, x, y, generator):
        return self.decode(self.encode(x))  # reconstructions: a latent autoencoder is judged by them


register(KindSpec(
    "latent-ae", "Latent autoencoder (KL, convolutional)", LatentAutoencoder, LatentAEConfig,
    TrainDefaults(20, 64, 5e-4), Capabilities(encoder=True), latent_dim=None,
    params=(Param("latent_channels", "Latent channels", int, "channels of the latent grid (its side is the "
                  "image side / 4)", minimum=1, maximum=16),
            Param("width", "Width", int, "channels of the convolutions at full resolution", minimum=4, maximum=256),
            Param("kl_weight", "KL weight", float, "weight of the KL term (small: a smooth latent space that "
                  "keeps detail)", minimum=0, maximum=10)),
    map_samples=2000,
    description="the first stage of latent diffusion: images <-> a small grid of latent channels"))
