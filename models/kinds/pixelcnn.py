"""PixelCNN: an autoregressive model with an exact likelihood (van den Oord et al. 2016, "Conditional Image
Generation with PixelCNN Decoders", the gated PixelCNN with a vertical and a horizontal stack, §2.1–2.2).

By the chain rule, p(x) = Π_i p(x_i | x_<i) over the pixels in raster order (left to right, top to bottom),
so −log p(x) is a sum of per-pixel terms and is exact — where a VAE gives only a bound (the ELBO). The model
is of *binarised* images: a pixel is on when its grey value is above ½ (:func:`binarise`), and each
conditional is a Bernoulli whose logit the network predicts for every pixel at once in training (the masks
keep each prediction from seeing its own pixel and those after it) and one pixel at a time in sampling.

Masks (fig. 1 of the paper; the two stacks remove the blind spot of the original PixelCNN):
    vertical stack  : a k×k window over the rows *above* (the first layer) or up to this row (later layers,
                      whose inputs already see only rows above)
    horizontal stack: the pixels left of this one in its row (the first layer: not the pixel itself), plus
                      the vertical stack's features of the same position
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, losses_to_floats, need, optimize
from latent_explorer.models.data.binary import binarise
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register

LN2 = math.log(2.0)


@dataclass
class PixelCNNConfig(ModelConfig):
    width: int = 32  # feature maps of each stack
    layers: int = 7  # gated layers after the first
    kernel: int = 5  # the window's side (odd)

    latent_dims = (0, 0)  # no latent code: x itself is the model's only variable

    def __post_init__(self):
        self.latent_dim = 0

    def validate(self) -> None:
        super().validate()
        need(self.image_shape[0] == 1, f"a PixelCNN models binarised 1-channel images; this data has "
                                       f"{self.image_shape[0]} channels")
        need(isinstance(self.width, int) and 4 <= self.width <= 256, f"width must be 4..256, got {self.width}")
        need(isinstance(self.layers, int) and 1 <= self.layers <= 30, f"layers must be 1..30, got {self.layers}")
        need(isinstance(self.kernel, int) and self.kernel in (3, 5, 7), f"kernel must be 3, 5 or 7, got {self.kernel}")


class ShiftedConv(nn.Module):
    """A convolution over a one-sided window: the k×k mask of the paper with its zero part cut away, so no
    time is spent multiplying by zeros. The input is padded on the sides the window reaches to and the output
    cropped back to H×W; ``vertical``: the rows above (and this row unless ``first``) over k columns;
    otherwise the pixels left in this row (and this pixel unless ``first``)."""

    def __init__(self, c_in: int, c_out: int, k: int, vertical: bool, first: bool):
        super().__init__()
        r = k // 2
        reach = r if first else r + 1  # rows (or columns) the window spans
        self.conv = nn.Conv2d(c_in, c_out, (reach, k) if vertical else (1, reach))
        self.pad = (r, r, r, 0) if vertical else (r, 0, 0, 0)  # left, right, top, bottom

    def forward(self, x):
        h, w = x.shape[-2:]
        return self.conv(F.pad(x, self.pad))[..., :h, :w]


class GatedLayer(nn.Module):
    """One gated layer (eq. 2: y = tanh(W_f ∗ x) ⊙ σ(W_g ∗ x)) of both stacks, fig. 2 of the paper."""

    def __init__(self, c_in: int, c: int, k: int, first: bool):
        super().__init__()
        self.first = first
        self.v = ShiftedConv(c_in, 2 * c, k, vertical=True, first=first)  # (B, c_in, H, W) -> (B, 2c, H, W)
        self.h = ShiftedConv(c_in, 2 * c, k, vertical=False, first=first)  # (B, c_in, H, W) -> (B, 2c, H, W)
        self.v_to_h = nn.Conv2d(2 * c, 2 * c, 1)  # the vertical stack informs the horizontal one
        self.h_out = nn.Conv2d(c, c, 1)

    @staticmethod
    def gate(a: torch.Tensor) -> torch.Tensor:
        f, g = a.chunk(2, 1)
        return torch.tanh(f) * torch.sigmoid(g)

    def forward(self, v, h):
        v_pre = self.v(v)
        h_new = self.h_out(self.gate(self.h(h) + self.v_to_h(v_pre)))
        return self.gate(v_pre), (h_new if self.first else h + h_new)  # residual after the first layer


class PixelCNN(GenerativeModel):
    """Loss per image: −log p(x) = Σ_i BCE(logit_i, x_i) in nats over the binarised pixels (exact)."""

    loss_names = ("nll", "bpd")

    def __init__(self, config: PixelCNNConfig):
        super().__init__(config)
        c, k = config.width, config.kernel
        self.stack = nn.ModuleList([GatedLayer(1, c, k, first=True)] +
                                   [GatedLayer(c, c, k, first=False) for _ in range(config.layers)])
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1))  # -> (B, 1, H, W)

    @property
    def pixels(self) -> int:
        _, h, w = self.image_shape
        return h * w

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Binarised x (B, 1, H, W) -> the logit of p(x_i = 1 | x_<i) at every pixel i (B, 1, H, W)."""
        v = h = x * 2 - 1  # inputs centred on 0
        for layer in self.stack:
            v, h = layer(v, h)
        return self.head(h)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """−log p(x) in nats per image (B,), of the binarised images."""
        xb = binarise(x)
        return F.binary_cross_entropy_with_logits(self.logits(xb), xb, reduction="none").flatten(1).sum(1)

    def bits_per_dim(self, nll_nats: torch.Tensor | float):
        return nll_nats / (self.pixels * LN2)

    # -- generation --------------------------------------------------------------------------
    def prior(self, n, generator=None):
        raise NotImplementedError("a PixelCNN has no latent code: it samples pixel by pixel")

    @torch.no_grad()
    def sample_steps(self, n: int, generator: torch.Generator | None = None, known: torch.Tensor | None = None,
                     mask: torch.Tensor | None = None):
        """Sample pixel by pixel in raster order, yielding ``(i, x, p)`` after each pixel: its index, the
        images so far (n, 1, H, W) and p(x_i = 1 | x_<i) (n,). With ``known`` images and a ``mask`` (1: known)
        the known pixels are kept and only the others drawn (completion; each drawn pixel sees only the
        pixels above and left of it, known or drawn, as the chain rule orders them)."""
        _, h, w = self.image_shape
        x = torch.zeros(n, 1, h, w, device=self.device)
        keep = None
        if known is not None:
            keep = (mask if mask is not None else torch.ones_like(known)).to(self.device).bool()
            x = torch.where(keep, binarise(known.to(self.device)), x)
        self.eval()
        for i in range(h * w):
            r, c = divmod(i, w)
            p = torch.sigmoid(self.logits(x[:, :, : r + 1])[:, 0, r, c])  # rows below cannot matter
            u = torch.rand(n, generator=generator).to(self.device)
            draw = (u < p).float()
            x[:, 0, r, c] = draw if keep is None else torch.where(keep[:, 0, r, c], x[:, 0, r, c], draw)
            yield i, x, p

    @torch.no_grad()
    def sample(self, n, y=None, generator=None, **kwargs):
        last = deque(self.sample_steps(n, generator), maxlen=1)  # (i, x, p) of the last pixel
        return last[0][1].clone()

    # -- training ----------------------------------------------------------------------------
    def make_optimizers(self, lr=None):
        return {"opt": adam(self.parameters(), lr or self.default_lr)}

    def train_step(self, x, y, opts, step):
        nll = self.nll(x).mean()
        optimize(nll, opts["opt"], self.parameters(), clip=1.0, grad_sync=self.grad_sync,
                 name="negative log-likelihood")
        return losses_to_floats({"nll": nll, "bpd": self.bits_per_dim(nll.detach())})

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        nll = self.nll(x).mean().item()
        return {"nll": nll, "bpd": self.bits_per_dim(nll)}

    @torch.no_grad()
    def preview(self, x, y, generator):
        return self.sample(min(len(x), 16), generator=generator)


register(KindSpec(
    "pixelcnn", "PixelCNN (gated, binarised)", PixelCNN, PixelCNNConfig, TrainDefaults(12, 64, 1e-3),
    Capabilities(prior=False, decodes_z=False, likelihood="exact", autoregressive=True), latent_dim=None,
    params=(Param("width", "Width", int, "feature maps of each stack", minimum=4, maximum=256),
            Param("layers", "Layers", int, "gated layers after the first", minimum=1, maximum=30),
            Param("kernel", "Kernel", int, "side of the masked window", choices=(3, 5, 7))),
    description="exact likelihood by the chain rule over binarised pixels; samples pixel by pixel"))
