"""DDPM (Ho et al. 2020): a small U-Net predicting ε, trained with the "simple" loss
E‖ε − ε_θ(√ᾱ_t x_0 + √(1−ᾱ_t) ε, t)‖² (eq. 14), EMA weights for sampling, and optional class
conditioning with label dropout for classifier-free guidance (Ho & Salimans 2022)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, optimize
from latent_explorer.models.nn.blocks import ResBlock, ema_update, norm_groups, resolution_plan, timestep_embedding
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register
from latent_explorer.models.sampling.samplers import SAMPLERS, Sampler, make_sampler
from latent_explorer.models.sampling.schedule import DiffusionScheduler


@dataclass
class DDPMConfig(ModelConfig):
    width: int = 32  # base channels of the U-Net
    timesteps: int = 1000  # T
    schedule: str = "linear"  # beta schedule: linear (Ho et al. 2020) or cosine (Nichol & Dhariwal 2021)
    ema_decay: float = 0.999
    cond_drop: float = 0.1  # label dropout for classifier-free guidance (Ho & Salimans 2022)

    latent_dims = (1, 3 * 64 * 64)

    def __post_init__(self):
        c, h, w = self.image_shape
        self.latent_dim = int(c) * int(h) * int(w)  # the "latent" of a diffusion model is x_T

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.width, int) and 4 <= self.width <= 512, f"width must be 4..512, got {self.width}")
        need(isinstance(self.timesteps, int) and 10 <= self.timesteps <= 10000, "timesteps must be 10..10000")
        need(self.schedule in ("linear", "cosine"), f"unknown schedule {self.schedule!r}")
        need(isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)")
        need(isinstance(self.cond_drop, (int, float)) and 0 <= self.cond_drop < 1, "cond_drop must be in [0, 1)")


class UNet(nn.Module):
    """ε_θ(x_t, t, y). For 28x28 and width 32: 28 (32ch) -> 14 (64ch) -> 7 (64ch) mid, and back up."""

    def __init__(self, image_shape, width: int, num_classes: int, max_levels: int = 2):
        super().__init__()
        c, h, _ = image_shape
        _, levels = resolution_plan(h, max_levels)
        emb = width * 4
        self.num_classes = num_classes
        self.time = nn.Sequential(nn.Linear(width, emb), nn.SiLU(), nn.Linear(emb, emb))
        # class num_classes is the "null" label used for unconditional (guidance) predictions
        self.label = nn.Embedding(num_classes + 1, emb) if num_classes else None
        self.width = width
        chans = [width * min(2 ** i, 2) for i in range(levels + 1)]  # [w, 2w, 2w]
        self.inp = nn.Conv2d(c, chans[0], 3, 1, 1)  # (B, C, H, W) -> (B, w, H, W)
        self.down = nn.ModuleList()
        for i in range(levels):
            self.down.append(nn.ModuleList([
                ResBlock(chans[i], chans[i], emb),
                nn.Conv2d(chans[i], chans[i + 1], 3, 2, 1),  # (B, c_i, s, s) -> (B, c_i+1, s/2, s/2)
            ]))
        self.mid1 = ResBlock(chans[-1], chans[-1], emb)
        self.mid2 = ResBlock(chans[-1], chans[-1], emb)
        self.up = nn.ModuleList()
        for i in reversed(range(levels)):
            self.up.append(nn.ModuleList([
                nn.Conv2d(chans[i + 1], chans[i], 3, 1, 1),  # after nearest x2: (B, c_i, s, s)
                ResBlock(2 * chans[i], chans[i], emb),  # with the skip concatenated
            ]))
        self.out = nn.Sequential(nn.GroupNorm(norm_groups(chans[0]), chans[0]), nn.SiLU(),
                                 nn.Conv2d(chans[0], c, 3, 1, 1))  # (B, w, H, W) -> (B, C, H, W)

    def forward(self, x, t, y=None):
        e = self.time(timestep_embedding(t, self.width))
        if self.label is not None:
            if y is None:
                y = torch.full((len(x),), self.num_classes, device=x.device, dtype=torch.long)
            e = e + self.label(y)
        h = self.inp(x)
        skips = []
        for block, down in self.down:
            h = block(h, e)
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid1(h, e), e)
        for conv, block in self.up:
            h = conv(F.interpolate(h, scale_factor=2, mode="nearest"))
            h = block(torch.cat([h, skips.pop()], 1), e)
        return self.out(h)


class DDPM(GenerativeModel):
    loss_names = ("noise_mse",)

    def __init__(self, config: DDPMConfig):
        super().__init__(config)
        self.unet = UNet(config.image_shape, config.width, config.num_classes)
        self.ema = copy.deepcopy(self.unet).requires_grad_(False)
        with torch.device("cpu"):  # schedules are CPU tensors, even while the model is counted on "meta"
            self.scheduler = DiffusionScheduler(config.timesteps, config.schedule)

    def make_optimizers(self, lr=None):
        return {"opt": adam(self.unet.parameters(), lr or self.default_lr)}

    def _noise_pred_loss(self, net, x, y, generator=None):
        x0 = x * 2 - 1
        n = len(x0)
        t = torch.randint(0, self.config.timesteps, (n,), generator=generator).to(x.device)
        noise = torch.randn(x0.shape, generator=generator).to(x.device)
        x_t = self.scheduler.add_noise(x0, noise, t)
        return F.mse_loss(net(x_t, t, y), noise)

    def train_step(self, x, y, opts, step):
        if y is not None and self.conditional:
            y = y.clone()
            y[torch.rand(len(y), device=y.device) < self.config.cond_drop] = self.num_classes  # null label
        elif not self.conditional:
            y = None
        loss = self._noise_pred_loss(self.unet, x, y)
        optimize(loss, opts["opt"], self.unet.parameters(), clip=1.0, grad_sync=self.grad_sync,
                 name="noise-prediction loss")
        return {"noise_mse": loss.item()}

    def after_step(self):
        ema_update(self.ema, self.unet, self.config.ema_decay)

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        return {"noise_mse": self._noise_pred_loss(self.ema, x, y if self.conditional else None,
                                                   generator).item()}

    # -- sampling ---------------------------------------------------------------------------
    @torch.no_grad()
    def predict_noise(self, x_t, t: int, y=None, guidance: float = 1.0, net=None):
        """ε̂ with classifier-free guidance: ε_null + w (ε_y − ε_null) (w = 1: plain conditional)."""
        net = net or self.ema
        tt = torch.full((len(x_t),), int(t), device=x_t.device, dtype=torch.long)
        if not self.conditional or y is None:
            return net(x_t, tt)
        y = torch.as_tensor(y, device=x_t.device).long().reshape(-1).expand(len(x_t))
        if guidance == 1.0:
            return net(x_t, tt, y)
        both = net(torch.cat([x_t, x_t]), torch.cat([tt, tt]),
                   torch.cat([y, torch.full_like(y, self.num_classes)]))
        eps_y, eps_null = both.chunk(2)
        return eps_null + guidance * (eps_y - eps_null)

    def make_scheduler(self, sampler: str = "ddpm", steps: int | None = None, eta: float = 0.0) -> Sampler:
        """A sampler for one run (models.sampling.samplers): "ddpm" (all T steps), "ddim" (``steps``, η) or "euler-a"
        (``steps``)."""
        cls = SAMPLERS.get(sampler)
        return make_sampler(sampler, self.scheduler, steps if cls is not None and cls.takes_steps else None, eta)

    def reverse(self, x_T, y=None, scheduler: Sampler | None = None, guidance: float = 1.0,
                generator: torch.Generator | None = None, inpaint=None):
        """Generator over the reverse process of ``scheduler`` (default: DDPM, all T steps); yields
        (t, x_t_before, ε̂, x̂_0, x_prev) per step. ``inpaint`` (:func:`inpaint`): the known region kept."""
        from latent_explorer.models.sampling import inpaint as repaint

        sched = scheduler or self.make_scheduler()

        def step(x, t):
            eps = self.predict_noise(x, t, y, guidance)
            out = sched.step(eps, t, x, generator=generator)
            return eps, out.pred_original_sample, out.prev_sample, None

        for t, x, eps, x0, prev, _ in repaint.steps(sched, step, x_T, inpaint, generator):
            yield t, x, eps, x0, prev

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor, resample: int = 1):
        """The known region of ``image`` (B, C, H, W) in [0, 1], ``mask`` (B or 1, 1, H, W) 1 where to paint:
        RePaint in pixel space (:mod:`models.sampling.inpaint`), for :meth:`reverse` and :meth:`denoise`."""
        from latent_explorer.models.sampling import inpaint as repaint

        repaint.check_mask(mask, image)
        return repaint.Inpaint(image * 2 - 1, mask.float().expand(len(image), 1, *image.shape[-2:]),
                               resample=resample)

    @torch.no_grad()
    def denoise(self, x_T, y=None, sampler="ddpm", steps=None, eta=0.0, guidance=1.0, generator=None,
                inpaint=None):
        """Run the whole reverse process from x_T; returns x_0 in [0, 1]."""
        x = x_T
        for record in self.reverse(x_T, y, self.make_scheduler(sampler, steps, eta), guidance, generator,
                                   inpaint):
            x = record[-1]
        return ((x + 1) / 2).clamp(0, 1)

    def sample(self, n, y=None, generator=None, sampler="ddpm", steps=None, eta=0.0, guidance=1.0, inpaint=None,
               **kw):
        x_T = self.prior(n, generator).view(n, *self.image_shape)
        return self.denoise(x_T, y, sampler, steps, eta, guidance, generator, inpaint)

    def decode(self, z, y=None):
        """The deterministic map x_T -> x_0 of DDIM with 50 steps and η = 0."""
        return self.denoise(z.reshape(len(z), *self.image_shape), y, "ddim", min(50, self.config.timesteps))

    def preview(self, x, y, generator):
        yy = torch.arange(len(x), device=self.device) % self.num_classes if self.conditional else None
        x_T = self.prior(len(x), generator).view(len(x), *self.image_shape)
        return self.denoise(x_T, yy, "ddim", min(20, self.config.timesteps))


# -- registration ---------------------------------------------------------------------------------
register(KindSpec(
    "ddpm", "Diffusion (DDPM)", DDPM, DDPMConfig, TrainDefaults(100, 128, 2e-4),
    Capabilities(diffusion=True, slow_decode=True, inpaints=True), conditioning="class", conditioning_optional=True,
    params=(Param("width", "Width", int, "base channels of the U-Net", minimum=4, maximum=512),
            Param("timesteps", "Timesteps T", int, "diffusion steps T", minimum=10, maximum=10000),
            Param("schedule", "Schedule", str, "noise schedule of the betas", choices=("linear", "cosine"))),
    latent_dim=None, map_samples=256,
    description="the latent of a diffusion model is its noise x_T; decoding it runs 50 DDIM steps"))
