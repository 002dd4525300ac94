"""StyleGAN in miniature (:mod:`models.nn.style`): z -> the mapping network -> w, then synthesis from a learned
constant, every layer's convolution modulated by its own w (W+: ``num_ws`` of them), with per-pixel noise.

Training (StyleGAN2, Karras et al. 2020, sec. 2 and app. B): the non-saturating logistic loss (Goodfellow et
al. 2014) with R1 regularisation γ/2 · E‖∇D(x_real)‖² (Mescheder et al. 2018), applied lazily every
``r1_every`` steps and scaled by it; style mixing regularisation (StyleGAN sec. 3.1): a share of the batch
drawn from two z, switched at a random layer; the running mean of w kept for truncation
w' = w̄ + ψ (w − w̄) (StyleGAN sec. 3.3), or towards the nearest of W's modes instead (multi-modal truncation,
Mokady et al. 2022: on data of separate modes w̄ lies between them). Class conditioning optional (an embedding
beside z; a projection discriminator).

``decode(z)`` is deterministic (the layers' fixed noise, ψ = 1): the editor's sliders move z as for any GAN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, optimize
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.nn.style import MappingNetwork, StyleDiscriminator, SynthesisNetwork
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register

PSI_RANGE = (0.0, 2.0)
SPACES = ("z", "w", "w+")
TOWARDS = ("mean", "modes")  # truncation towards w̄ (StyleGAN), or towards the nearest mode of W (Mokady et al.)
MODES = 64  # k-means centres of W for the multi-modal truncation
MODE_SAMPLES = 10_000  # seeded w's they are fitted to


@dataclass
class StyleGANConfig(ModelConfig):
    width: int = 32  # channels at the largest resolution (×2 per halving, at most ×4)
    mapping_layers: int = 8
    r1_gamma: float = 1.0  # R1 weight γ (StyleGAN2 uses 0.01–10 by resolution; small images want little)
    r1_every: int = 4  # lazy regularisation interval
    style_mix: float = 0.9  # share of a batch drawn with two w's switched at a random layer
    w_avg_beta: float = 0.995  # w̄ ← w̄ + (1 − β)(mean w − w̄) at every generator step

    latent_dims = (2, 512)

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.width, int) and 4 <= self.width <= 256, f"width must be 4..256, got {self.width}")
        need(isinstance(self.mapping_layers, int) and 1 <= self.mapping_layers <= 16,
             f"mapping layers must be 1..16, got {self.mapping_layers}")
        need(isinstance(self.r1_gamma, (int, float)) and 0 <= self.r1_gamma <= 1000, "r1_gamma must be 0..1000")
        need(isinstance(self.r1_every, int) and 1 <= self.r1_every <= 64, "r1_every must be 1..64")
        need(isinstance(self.style_mix, (int, float)) and 0 <= self.style_mix <= 1, "style_mix must be 0..1")
        need(isinstance(self.w_avg_beta, (int, float)) and 0 <= self.w_avg_beta < 1, "w_avg_beta must be in [0, 1)")


class StyleGAN(GenerativeModel):
    loss_names = ("d", "g")

    def __init__(self, config: StyleGANConfig):
        super().__init__(config)
        d, k = config.latent_dim, config.num_classes
        self.mapping = MappingNetwork(d, d, config.mapping_layers, k)
        self.synthesis = SynthesisNetwork(d, config.image_shape, config.width)
        self.discriminator = StyleDiscriminator(config.image_shape, config.width, k)
        self.register_buffer("w_avg", torch.zeros(d))

        # what the views edit and map (set_style): W, where a StyleGAN is edited (its paths are the shorter, GANSpace
        # finds its directions there), and the truncation
        self.space, self.psi, self.towards = "w", 1.0, "mean"
        self._modes: torch.Tensor | None = None  # W's modes (MODES, D), fitted when first asked (modes())

    @property
    def num_ws(self) -> int:
        """Ws of W+: one per synthesis layer and one for the last toRGB."""
        return self.synthesis.num_ws

    # -- the space the views see: Z, W or W+ (one w per layer), and ψ ------------------------------------
    def set_style(self, space: str | None = None, psi: float | None = None, towards: str | None = None) -> None:
        """Edit and map in ``space`` ("z", "w" or "w+") from now on, with truncation ``psi`` ``towards`` w̄
        ("mean") or the nearest of W's modes ("modes"), applied where z becomes w: sampling in Z or W, and a z
        decoded."""
        if towards is not None:
            if towards not in TOWARDS:
                raise ConfigError(f"truncation goes towards one of {', '.join(TOWARDS)}, got {towards!r}")
            if towards == "modes":
                self.modes()  # fitted now (a second or so), not in the middle of a decode
            self.towards = towards
        if space is not None:
            if space not in SPACES:
                raise ConfigError(f"the space must be one of {', '.join(SPACES)}, got {space!r}")
            self.space = space
        if psi is not None:
            check_psi(psi)
            self.psi = float(psi)

    @property
    def latent_dim(self) -> int:
        d = self.config.latent_dim
        return d * self.num_ws if self.space == "w+" else d

    def latent_names(self) -> list[str]:
        d = self.config.latent_dim
        if self.space == "z":
            return [f"z{i}" for i in range(d)]
        if self.space == "w":
            return [f"w{i}" for i in range(d)]
        return [f"{self.layer_group(k)} L{k} w{i}" for k in range(self.num_ws) for i in range(d)]

    def layer_group(self, k: int) -> str:
        """coarse / middle / fine: the resolution layer ``k`` draws at (StyleGAN sec. 3.1: up to 8², 16²–32²,
        above; scaled to this model's resolutions as the first, middle and last third of its layers)."""
        third = max(1, self.num_ws // 3)
        return "coarse" if k < third else "middle" if k < 2 * third else "fine"

    def origin(self) -> torch.Tensor:
        """Z: 0; W: the mean w̄; W+: w̄ at every layer."""
        if self.space == "z":
            return torch.zeros(self.config.latent_dim)
        w = self.w_avg.detach().cpu()
        return w if self.space == "w" else w.repeat(self.num_ws)

    @torch.no_grad()
    def prior(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Samples of the current space: z ~ N(0, I), or its w (truncated by ψ), or that w at every layer."""
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        if self.space == "z":
            return z
        w = self.to_w(z, psi=self.psi)
        return w if self.space == "w" else self.broadcast(w).reshape(n, -1)

    def convert(self, code: torch.Tensor, space: str, y=None) -> torch.Tensor | None:
        """Codes (B, latent_dim) of the current space in ``space``: Z -> W by the mapping (ψ applied), W -> W+
        the same w at every layer, W+ -> W the mean over the layers; None to Z (the mapping has no inverse)."""
        code = code.reshape(len(code), -1).to(self.device)
        if space == self.space:
            return code
        if space == "z":
            return None
        with torch.no_grad():
            if self.space == "w+":  # to W
                return code.view(len(code), self.num_ws, -1).mean(1)
            w = self.to_w(code, y, self.psi) if self.space == "z" else code
            return w if space == "w" else self.broadcast(w).reshape(len(code), -1)

    def _y(self, y, n: int):
        if not self.conditional:
            return None
        if y is None:
            return torch.zeros(n, dtype=torch.long, device=self.device)
        return torch.as_tensor(y, device=self.device).long().reshape(-1).expand(n)

    # -- z -> w -> W+ -> image -----------------------------------------------------------------------
    @torch.no_grad()
    def to_w(self, z, y=None, psi: float = 1.0) -> torch.Tensor:
        """z (B, D) -> w (B, D), truncated by ψ (1: none, 0: every image its centre's) towards w̄, or, with
        ``towards`` "modes", towards the nearest of W's modes: w' = c + ψ (w − c)."""
        check_psi(psi)
        w = self.mapping(z, self._y(y, len(z)))
        return w if psi == 1.0 else self._centre(w, self.towards).lerp(w, psi)

    def _centre(self, w: torch.Tensor, towards: str) -> torch.Tensor:
        """What ψ draws each w (B, D) towards: w̄, or (B, D) each w's nearest mode of W."""
        if towards != "modes":
            return self.w_avg
        modes = self.modes()
        return modes[torch.cdist(w, modes).argmin(1)]

    def _centre_before(self, w: torch.Tensor) -> torch.Tensor:
        """The centre that truncated each w (B, D) with the current ψ: w̄; or the mode c whose untruncated
        c + (w − c) / ψ has c for its nearest mode. For ψ ≤ 1 that is w's own nearest (W's cells around the modes
        are convex); above 1 two modes may fit, and the nearer to w is taken (the editor keeps the untruncated
        code it drew, so its own codes never need this guess)."""
        if self.towards != "modes" or self.psi <= 1.0:
            return self._centre(w, self.towards)
        modes = self.modes()  # (K, D)
        near = torch.cdist(w, modes)  # (B, K)
        k = len(modes)
        raw = modes[None] + (w[:, None] - modes[None]) / self.psi  # (B, K, D): w undone towards every mode
        own = torch.cdist(raw.reshape(-1, w.shape[1]), modes).argmin(1).view(len(w), k) == torch.arange(
            k, device=w.device)  # (B, K): that mode is the nearest of its undone w
        pick = torch.where(own.any(1), near.masked_fill(~own, float("inf")).argmin(1), near.argmin(1))
        return modes[pick]

    @torch.no_grad()
    def untruncate(self, code: torch.Tensor) -> torch.Tensor | None:
        """Codes (B, latent_dim) of W or W+ as drawn with the current ψ and centre -> the ws before truncation
        (every layer's alike): c + (w − c) / ψ, c from :meth:`_centre_before`. None at ψ = 0 (nothing is left
        to undo); Z's codes as they are (ψ applies where they become w)."""
        if self.space == "z" or self.psi == 1.0:
            return code
        if self.psi == 0.0:
            return None
        w = code.reshape(-1, self.config.latent_dim).to(self.device)
        centre = self._centre_before(w)
        return (centre + (w - centre) / self.psi).reshape(code.shape)

    @torch.no_grad()
    def truncate(self, code: torch.Tensor, psi: float, towards: str) -> torch.Tensor:
        """Untruncated codes (B, latent_dim) of W or W+ -> drawn with ``psi`` ``towards`` w̄ or each w's nearest
        mode (every layer's w alike); Z's codes as they are."""
        check_psi(psi)
        if towards not in TOWARDS:
            raise ConfigError(f"truncation goes towards one of {', '.join(TOWARDS)}, got {towards!r}")
        if self.space == "z" or psi == 1.0:
            return code
        w = code.reshape(-1, self.config.latent_dim).to(self.device)
        return self._centre(w, towards).lerp(w, psi).reshape(code.shape)

    @torch.no_grad()
    def modes(self) -> torch.Tensor:
        """W's modes (MODES, D): the k-means centres of MODE_SAMPLES seeded w's, for the multi-modal truncation
        (Mokady et al. 2022, "Self-Distilled StyleGAN"; they take the perceptually nearest centre, by
        LPIPS, where this takes the nearest in W). Fitted once per model; training clears them."""
        if self._modes is None:
            from sklearn.cluster import KMeans

            g = torch.Generator().manual_seed(0)
            z = torch.randn(MODE_SAMPLES, self.config.latent_dim, generator=g).to(self.device)
            y = (torch.randint(0, self.num_classes, (MODE_SAMPLES,), generator=g).to(self.device)
                 if self.conditional else None)
            w = self.mapping(z, y).double().cpu().numpy()
            centres = KMeans(MODES, n_init=1, random_state=0).fit(w).cluster_centers_
            self._modes = torch.from_numpy(centres).float()
        return self._modes.to(self.device)

    def broadcast(self, w: torch.Tensor) -> torch.Tensor:
        """w (B, D) -> W+ (B, num_ws, D), every layer the same w."""
        return w[:, None].expand(-1, self.num_ws, -1)

    def synthesize(self, ws: torch.Tensor, noise: str = "fixed", generator=None, features=None) -> torch.Tensor:
        """W+ (B, num_ws, D) -> images (B, C, H, W) in [0, 1]."""
        d = self.config.latent_dim
        if ws.dim() != 3 or ws.shape[1:] != (self.num_ws, d):
            raise ConfigError(f"a W+ code of this model is {self.num_ws} × {d} numbers (one w per "
                              f"layer), got {'×'.join(map(str, ws.shape[1:]))}")
        return ((self.synthesis(ws, noise, generator, features) + 1) / 2).clamp(0, 1)

    def layers(self) -> list[str]:
        """A line per synthesis layer: its index, group, resolution and channels (the layer view's list)."""
        return [f"L{k} {self.layer_group(k)} · {s}×{s} · {layer.bias.numel()} channels"
                for k, (s, layer) in enumerate(zip(self.synthesis.sizes, self.synthesis.layers))]

    @torch.no_grad()
    def layer_features(self, code, y=None, k: int = 0) -> torch.Tensor:
        """Layer ``k``'s output (C, s, s) for one code of the current space (the fixed noise, ψ as set)."""
        ws = self.ws_of(torch.as_tensor(code, dtype=torch.float32).reshape(1, -1), y)
        if not 0 <= k < len(self.synthesis.layers):
            raise ConfigError(f"layer {k}: this model has layers 0 to {len(self.synthesis.layers) - 1}")
        feats: list = []
        self.synthesis(ws, "fixed", None, feats)
        return feats[k][0].cpu()

    def set_noise(self, on: list[bool] | None = None, seed: int | None = None) -> None:
        """Each synthesis layer's noise input on or off (``on``, one per layer); ``seed``: draw the fixed noise
        a decode uses anew (StyleGAN sec. 3.2: the same image, other stochastic details)."""
        layers = self.synthesis.layers
        if on is not None:
            if len(on) != len(layers):
                raise ConfigError(f"noise switches for {len(on)} layers; this model has {len(layers)}")
            for layer, flag in zip(layers, on):
                layer.noise_on = bool(flag)
        if seed is not None:
            g = torch.Generator().manual_seed(int(seed))
            for layer in layers:
                layer.fixed_noise.copy_(torch.randn(layer.fixed_noise.shape, generator=g))

    @torch.no_grad()
    def noise_spread(self, code, y=None, draws: int = 16, seed: int = 0) -> torch.Tensor:
        """The per-pixel standard deviation (H, W) of one code's image over ``draws`` draws of the noise (the
        layers switched on): where the noise changes the picture (StyleGAN fig. 4)."""
        ws = self.ws_of(torch.as_tensor(code, dtype=torch.float32).reshape(1, -1), y)
        g = torch.Generator().manual_seed(int(seed))
        x = torch.cat([self.synthesize(ws, "random", g) for _ in range(draws)])  # (draws, C, H, W)
        return x.std(0).mean(0).cpu()

    @torch.no_grad()
    def ws_of(self, code: torch.Tensor, y=None) -> torch.Tensor:
        """Codes (B, latent_dim) of the current space (Z: through the mapping and ψ; W; W+ flattened) -> W+."""
        code = code.reshape(len(code), -1).to(self.device)
        d = self.config.latent_dim
        if code.shape[1] != self.latent_dim:  # a code of another space or model: said, never reshaped
            shape = f"{self.num_ws} × {d} numbers (one w per layer)" if self.space == "w+" else f"{d} numbers"
            raise ConfigError(f"a {self.space.upper()} code of this model is {shape}, got {code.shape[1]}")
        if self.space == "z":
            return self.broadcast(self.to_w(code, y, self.psi))
        return self.broadcast(code) if self.space == "w" else code.view(len(code), self.num_ws, -1)

    @torch.no_grad()
    def decode(self, z, y=None):
        """A code of the current space -> images in [0, 1] (the layers' fixed noise)."""
        return self.synthesize(self.ws_of(z, y))

    # -- training ------------------------------------------------------------------------------------
    def make_optimizers(self, lr=None):
        lr = lr or self.default_lr
        betas = (0.0, 0.99)  # StyleGAN2's Adam
        return {"g": adam(list(self.mapping.parameters()) + list(self.synthesis.parameters()), lr, betas),
                "d": adam(self.discriminator.parameters(), lr, betas)}

    def _fake(self, n, y, generator=None):
        """Images of the generator in training, with style mixing regularisation; and the w's mean."""
        z = torch.randn(n, self.config.latent_dim, generator=generator).to(self.device)
        w = self.mapping(z, y)
        ws = self.broadcast(w).clone()
        if self.config.style_mix > 0:
            w2 = self.mapping(torch.randn(n, self.config.latent_dim, generator=generator).to(self.device), y)
            cut = torch.randint(1, self.num_ws, (n,), generator=generator).to(self.device)
            mix = (torch.rand(n, generator=generator).to(self.device) < self.config.style_mix)[:, None]
            later = torch.arange(self.num_ws, device=self.device)[None] >= cut[:, None]  # (n, num_ws)
            ws = torch.where((later & mix)[..., None], w2[:, None], ws)
        return self.synthesis(ws, "random", generator), w.detach().mean(0)

    def train_step(self, x, y, opts, step):
        self._modes = None  # the mapping changes: its modes are fitted anew when next asked
        real = x * 2 - 1
        yy = self._y(y, len(x))
        fake, w_mean = self._fake(len(x), yy)
        # D: softplus(D(fake)) + softplus(−D(real)) (the logistic loss), + lazy R1 on the real images
        real.requires_grad_(step % self.config.r1_every == 0 and self.config.r1_gamma > 0)
        d_real = self.discriminator(real, yy)
        d_loss = F.softplus(self.discriminator(fake.detach(), yy)).mean() + F.softplus(-d_real).mean()
        if real.requires_grad:
            grad, = torch.autograd.grad(d_real.sum(), real, create_graph=True)
            r1 = grad.pow(2).flatten(1).sum(1).mean()
            d_loss = d_loss + self.config.r1_gamma / 2 * r1 * self.config.r1_every
        optimize(d_loss, opts["d"], self.discriminator.parameters(), grad_sync=self.grad_sync,
                 name="discriminator loss")
        # G: softplus(−D(G(z))) (non-saturating)
        g_loss = F.softplus(-self.discriminator(fake, yy)).mean()
        optimize(g_loss, opts["g"], list(self.mapping.parameters()) + list(self.synthesis.parameters()),
                 grad_sync=self.grad_sync, name="generator loss")
        with torch.no_grad():
            self.w_avg.lerp_(w_mean, 1 - self.config.w_avg_beta)
        return {"d": d_loss.item(), "g": g_loss.item()}

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        yy = self._y(y, len(x))
        z = torch.randn(len(x), self.config.latent_dim, generator=generator).to(self.device)
        fake = self.synthesis(self.broadcast(self.mapping(z, yy)), "random", generator)
        return {"d_real": torch.sigmoid(self.discriminator(x * 2 - 1, yy)).mean().item(),
                "d_fake": torch.sigmoid(self.discriminator(fake, yy)).mean().item()}


def mix(model: StyleGAN, ws_a: torch.Tensor, ws_b: torch.Tensor, cut: int) -> torch.Tensor:
    """Style mixing (StyleGAN sec. 3.1): W+ codes with layers ``< cut`` from A and the rest from B (B, num_ws, D)."""
    if ws_a.shape[1:] != ws_b.shape[1:] or ws_a.shape[1:] != (model.num_ws, model.config.latent_dim):
        raise ConfigError(f"style mixing needs two codes of this model's W+ ({model.num_ws} × "
                          f"{model.config.latent_dim}), got {tuple(ws_a.shape[1:])} and {tuple(ws_b.shape[1:])}: "
                          "codes of models of different sizes do not mix")
    if not 0 <= cut <= model.num_ws:
        raise ConfigError(f"the crossover layer must be 0 to {model.num_ws}, got {cut}")
    return torch.cat([ws_a[:, :cut], ws_b[:, cut:]], 1)


@torch.no_grad()
def mixing_grid(model: StyleGAN, seeds_a: list[int], seeds_b: list[int], cut: int, y=None) -> torch.Tensor:
    """The paper's figure 3: images of ``seeds_b`` along the top, of ``seeds_a`` down the left, and in each
    cell A's layers below ``cut`` (coarse: pose, shape) with B's from there on ((len(a) + 1) × (len(b) + 1)
    images, the corner blank) -> (N, C, H, W) in row order."""
    def ws(seeds):
        z = torch.stack([torch.randn(model.config.latent_dim, generator=torch.Generator().manual_seed(int(s)))
                         for s in seeds]).to(model.device)
        return model.broadcast(model.to_w(z, y, model.psi))

    return grid_of(model, ws(seeds_a), ws(seeds_b), cut)


@torch.no_grad()
def grid_of(model: StyleGAN, wa: torch.Tensor, wb: torch.Tensor, cut: int) -> torch.Tensor:
    """:func:`mixing_grid` of W+ codes (A: (n, num_ws, D) down the left, B: (m, num_ws, D) along the top) —
    two points picked on the map, say."""
    a, b = model.synthesize(wa), model.synthesize(wb)
    cells = [torch.ones_like(a[:1])]
    cells += list(b)
    for i in range(len(wa)):
        cells.append(a[i])
        cells += list(model.synthesize(mix(model, wa[i:i + 1].expand(len(wb), -1, -1), wb, cut)))
    return torch.stack([c if c.dim() == 3 else c[0] for c in cells])


def check_psi(psi) -> None:
    lo, hi = PSI_RANGE
    if not (isinstance(psi, (int, float)) and lo <= float(psi) <= hi):
        raise ConfigError(f"the truncation ψ must be a number from {lo:g} to {hi:g}, got {psi!r}")


register(KindSpec(
    "stylegan", "StyleGAN (miniature)", StyleGAN, StyleGANConfig, TrainDefaults(30, 32, 2e-3),
    Capabilities(directions=True, styles=True), conditioning="class", conditioning_optional=True, latent_dim=64,
    params=(Param("width", "Width", int, "channels at the largest resolution (×2 per halving, at most ×4)",
                  minimum=4, maximum=256),
            Param("mapping_layers", "Mapping layers", int, "layers of the mapping network z → w", minimum=1,
                  maximum=16),
            Param("r1_gamma", "R1 γ", float, "weight of the R1 penalty on the discriminator's gradient at real "
                  "images", minimum=0, maximum=1000),
            Param("style_mix", "Style mixing", float, "share of each batch drawn from two w's switched at a "
                  "random layer (style mixing regularisation)", minimum=0, maximum=1)),
    description="z → mapping network → w; synthesis from a constant with modulated convolutions and noise"))
