"""The autoencoder family: AE, denoising AE, VAE, conditional VAE, adversarial AE (MLP networks)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, losses_to_floats, need, one_hot, optimize
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register


@dataclass
class AutoencoderConfig(ModelConfig):
    hidden: tuple[int, ...] = (512,)  # MLP widths, encoder side (the decoder mirrors them)
    beta: float = 1.0  # VAE: weight of the KL term (Higgins et al. 2017)
    noise_std: float = 0.3  # DAE: std of the Gaussian input corruption

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.hidden, tuple) and self.hidden and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 8192 for v in self.hidden),
            f"hidden widths must be 1..8192, got {self.hidden}")
        need(isinstance(self.beta, (int, float)) and math.isfinite(self.beta) and self.beta >= 0,
             f"beta must be >= 0, got {self.beta}")
        need(isinstance(self.noise_std, (int, float)) and math.isfinite(self.noise_std) and self.noise_std >= 0,
             "noise std must be >= 0")


def mlp(sizes: list[int], last_act: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_act:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood summed over pixels (nats), per image: (B,)."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


class Autoencoder(GenerativeModel):
    """Deterministic MLP autoencoder (Hinton & Salakhutdinov 2006), Bernoulli (BCE) reconstruction loss.

    encoder: x (B, C*H*W) [+ one-hot y] -> hidden... -> z (B, D)   [VAE: (B, 2D) = mean, log-variance]
    decoder: z (B, D) [+ one-hot y] -> ...hidden -> logits (B, C*H*W) -> (B, C, H, W)
    """

    stochastic = False
    loss_names = ("recon",)
    preview_reconstructions = True  # no prior to sample from while training

    @torch.no_grad()
    def preview(self, x, y, generator):
        if self.preview_reconstructions:
            return self.decode(self.encode(x, y), y)
        return super().preview(x, y, generator)

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        c, h, w = config.image_shape
        n_in, k, d = c * h * w, config.num_classes, config.latent_dim
        hidden = list(config.hidden)
        self.encoder = mlp([n_in + k, *hidden, d * (2 if self.stochastic else 1)])
        self.decoder = mlp([d + k, *reversed(hidden), n_in])
        # Statistics of the training codes: the sampling distribution of models without a prior.
        self.register_buffer("z_mean", torch.zeros(d))
        self.register_buffer("z_std", torch.ones(d))

    def _y(self, y, batch):
        return one_hot(y, self.num_classes, batch, self.device)

    def encoder_out(self, x, y=None):
        return self.encoder(torch.cat([x.flatten(1), self._y(y, len(x))], 1))

    def decode_logits(self, z, y=None):
        return self.decoder(torch.cat([z, self._y(y, len(z))], 1)).view(-1, *self.image_shape)

    def encode(self, x, y=None):
        return self.encoder_out(x, y)[:, : self.latent_dim]

    @torch.no_grad()
    def decode(self, z, y=None):
        return torch.sigmoid(self.decode_logits(z, y))

    def prior(self, n, generator=None):
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return z * self.z_std + self.z_mean

    def origin(self):
        return self.z_mean.detach().float().cpu().clone()

    def corrupt(self, x):
        return x

    def losses(self, x, y):
        z = self.encode(self.corrupt(x), y)
        recon = bce_per_image(self.decode_logits(z, y), x).mean()
        return {"recon": recon}, recon

    def train_step(self, x, y, opts, step):
        parts, loss = self.losses(x, y)
        optimize(loss, opts["opt"], self.parameters(), grad_sync=self.grad_sync, name="loss")
        return losses_to_floats(parts)

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        parts, loss = self.losses(x, y)
        out = {k: v.item() for k, v in parts.items()}
        out["mse"] = F.mse_loss(self.decode(self.encode(x, y), y), x).item()
        return out

    @torch.no_grad()
    def after_training(self, x, y):
        zs = torch.cat([self.encode(x[i : i + 1024], None if y is None else y[i : i + 1024])
                        for i in range(0, len(x), 1024)])
        self.z_mean.copy_(zs.mean(0))
        self.z_std.copy_(zs.std(0).clamp_min(1e-6) if len(zs) > 1 else torch.ones_like(self.z_std))


class DenoisingAutoencoder(Autoencoder):
    """Vincent et al. 2008: reconstruct the clean x from x + N(0, σ²) (clipped to [0, 1])."""

    def corrupt(self, x):
        if not self.training or self.config.noise_std == 0:
            return x
        return (x + self.config.noise_std * torch.randn_like(x)).clamp(0, 1)


class VAE(Autoencoder):
    """Kingma & Welling 2014. Loss per image: BCE summed over pixels + β·KL(q(z|x) ‖ N(0, I))
    (Appendix B: KL = −½ Σ (1 + log σ² − μ² − σ²)); with β = 1 this is the negative ELBO in nats."""

    stochastic = True
    preview_reconstructions = False
    loss_names = ("loss", "recon", "kl")

    def encode_dist(self, x, y=None):
        h = self.encoder_out(x, y)
        mu, logvar = h[:, : self.latent_dim], h[:, self.latent_dim :].clamp(-30, 20)
        return mu, logvar

    def encode(self, x, y=None):
        return self.encode_dist(x, y)[0]

    def prior(self, n, generator=None):
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    def origin(self):
        return torch.zeros(self.latent_dim)

    def losses(self, x, y):
        mu, logvar = self.encode_dist(x, y)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        recon = bce_per_image(self.decode_logits(z, y), x).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        loss = recon + self.config.beta * kl
        return {"loss": loss, "recon": recon, "kl": kl}, loss

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        mu, logvar = self.encode_dist(x, y)
        eps = torch.randn(mu.shape, generator=generator).to(mu.device)
        z = mu + eps * (0.5 * logvar).exp()  # one-sample ELBO estimate, seeded
        recon = bce_per_image(self.decode_logits(z, y), x).mean()
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
        mse = F.mse_loss(self.decode(mu, y), x)
        return {"loss": (recon + kl).item(), "recon": recon.item(), "kl": kl.item(), "mse": mse.item()}

    def after_training(self, x, y):
        pass  # the prior is N(0, I)


class AAE(Autoencoder):
    """Makhzani et al. 2016, "Adversarial Autoencoders": a latent discriminator D(z) pushes q(z)
    toward N(0, I). Each step: (1) reconstruction update of encoder+decoder (BCE), (2) D update,
    (3) encoder ("generator") update to fool D. Losses are the non-saturating GAN BCE."""

    preview_reconstructions = False
    loss_names = ("recon", "d", "g")

    def __init__(self, config):
        super().__init__(config)
        d = config.latent_dim
        self.discriminator = mlp([d, 256, 256, 1])

    def prior(self, n, generator=None):
        return torch.randn(n, self.latent_dim, generator=generator).to(self.device)

    def origin(self):
        return torch.zeros(self.latent_dim)

    def make_optimizers(self, lr=None):
        lr = lr or self.default_lr
        ae = list(self.encoder.parameters()) + list(self.decoder.parameters())
        return {
            "ae": adam(ae, lr),
            "d": adam(self.discriminator.parameters(), lr / 2, betas=(0.5, 0.999)),
            "g": adam(self.encoder.parameters(), lr / 2, betas=(0.5, 0.999)),
        }

    def _adv(self, z_fake, z_real):
        ones = torch.ones(len(z_real), 1, device=z_real.device)
        zeros = torch.zeros(len(z_fake), 1, device=z_fake.device)
        d_loss = (F.binary_cross_entropy_with_logits(self.discriminator(z_real), ones)
                  + F.binary_cross_entropy_with_logits(self.discriminator(z_fake.detach()), zeros))
        return d_loss

    def train_step(self, x, y, opts, step):
        sync = self.grad_sync
        # 1. reconstruction phase
        recon = bce_per_image(self.decode_logits(self.encode(x, y), y), x).mean()
        optimize(recon, opts["ae"], list(self.encoder.parameters()) + list(self.decoder.parameters()),
                 grad_sync=sync, name="reconstruction loss")
        # 2. regularisation phase: discriminator on prior samples (real) vs codes (fake)
        z_fake = self.encode(x, y)
        d_loss = self._adv(z_fake, torch.randn_like(z_fake))
        optimize(d_loss, opts["d"], self.discriminator.parameters(), grad_sync=sync,
                 name="discriminator loss")
        # 3. encoder fools the discriminator
        g_loss = F.binary_cross_entropy_with_logits(
            self.discriminator(self.encode(x, y)), torch.ones(len(x), 1, device=x.device))
        optimize(g_loss, opts["g"], self.encoder.parameters(), grad_sync=sync, name="encoder loss")
        return losses_to_floats({"recon": recon, "d": d_loss, "g": g_loss})

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        z = self.encode(x, y)
        recon = bce_per_image(self.decode_logits(z, y), x).mean().item()
        prior = torch.randn(z.shape, generator=generator).to(z.device)
        return {"recon": recon, "d": self._adv(z, prior).item(),
                "mse": F.mse_loss(self.decode(z, y), x).item()}

    def after_training(self, x, y):
        pass  # the prior is N(0, I)


# -- registration ---------------------------------------------------------------------------------
HIDDEN = Param("hidden", "Hidden widths", tuple, "MLP widths of the encoder (the decoder mirrors them), e.g. 512,256",
               minimum=1, maximum=8192)
BETA = Param("beta", "β (KL weight)", float, "VAE: weight of the KL term (β-VAE, Higgins et al. 2017)",
             minimum=0, maximum=1000)
NOISE = Param("noise_std", "Input noise σ", float, "DAE: std of the Gaussian corruption of the input",
              minimum=0, maximum=10)
AE_CAPS = Capabilities(encoder=True)
# MLP widths: one wide layer suits the VAE (beats the bare 400-unit VAE on MNIST in 10 epochs);
# two layers let a deterministic AE clearly beat PCA at the same code size.
DEEP = {"hidden": (512, 256)}
WIDE = {"hidden": (512,)}

register(KindSpec("ae", "Autoencoder", Autoencoder, AutoencoderConfig, TrainDefaults(20, 128, 1e-3),
                  AE_CAPS, params=(HIDDEN,), latent_dim=8, config=DEEP,
                  description="deterministic MLP autoencoder; samples from the Gaussian fitted to its codes"))
register(KindSpec("dae", "Denoising autoencoder", DenoisingAutoencoder, AutoencoderConfig,
                  TrainDefaults(20, 128, 1e-3), AE_CAPS, params=(HIDDEN, NOISE), latent_dim=8, config=DEEP))
register(KindSpec("vae", "Variational autoencoder", VAE, AutoencoderConfig, TrainDefaults(20, 128, 1e-3),
                  Capabilities(encoder=True, likelihood="bound"), params=(HIDDEN, BETA), latent_dim=2, config=WIDE))
register(KindSpec("cvae", "Conditional VAE", VAE, AutoencoderConfig, TrainDefaults(20, 128, 1e-3),
                  Capabilities(encoder=True, likelihood="bound"), conditioning="class", params=(HIDDEN, BETA),
                  latent_dim=2, config=WIDE))
register(KindSpec("aae", "Adversarial autoencoder", AAE, AutoencoderConfig, TrainDefaults(30, 128, 1e-3),
                  AE_CAPS, params=(HIDDEN,), latent_dim=2, config=DEEP))
