"""StyleGAN's networks in miniature (Karras et al. 2019, "A Style-Based Generator Architecture for GANs";
StyleGAN2: Karras et al. 2020, "Analyzing and Improving the Image Quality of StyleGAN"):

- :class:`MappingNetwork`: z (normalised, sec. 2 of StyleGAN) -> w by an MLP of equalised-learning-rate layers
  (StyleGAN sec. 2, their learning rate × 0.01, StyleGAN2-ADA's default).
- :class:`SynthesisNetwork`: a learned constant 4×4 input; at each resolution two 3×3 convolutions whose
  weights are modulated by a style s = A(w) and demodulated (StyleGAN2 sec. 2.2, eq. 1–3), each followed by
  per-pixel noise of a learned strength (StyleGAN sec. 3.2) and a leaky ReLU; a skip architecture (StyleGAN2
  fig. 7b): a 1×1 modulated "toRGB" at every resolution, the RGB images upsampled and summed.
  One w per layer: ``num_ws`` of them (W+), layer k's convolution reads ``ws[:, k]``.

Shapes are commented; images are in [-1, 1] (not clamped here).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.nn.blocks import resolution_plan


class EqualLinear(nn.Module):
    """y = x (W · c)ᵀ + b · lr_mul, c = lr_mul / √fan_in: weights stored at unit scale (StyleGAN sec. 4.1,
    "equalized learning rate")."""

    def __init__(self, n_in: int, n_out: int, bias_init: float = 0.0, lr_mul: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.full((n_out,), float(bias_init)))
        self.scale, self.lr_mul = lr_mul / math.sqrt(n_in), lr_mul

    def forward(self, x):
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class MappingNetwork(nn.Module):
    """z (B, z_dim) [and a class embedding] -> w (B, w_dim)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int = 8, n_classes: int = 0, lr_mul: float = 0.01):
        super().__init__()
        self.embed = nn.Embedding(n_classes, z_dim) if n_classes else None
        dims = [z_dim * (2 if n_classes else 1)] + [w_dim] * layers
        self.net = nn.ModuleList(EqualLinear(a, b, lr_mul=lr_mul) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z, y=None):
        x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # pixel norm of z
        if self.embed is not None:
            e = self.embed(y)
            x = torch.cat([x, e * torch.rsqrt(e.pow(2).mean(1, keepdim=True) + 1e-8)], 1)
        for layer in self.net:
            x = F.leaky_relu(layer(x), 0.2) * math.sqrt(2)
        return x  # (B, w_dim)


class ModulatedConv(nn.Module):
    """A k×k convolution whose weights each image's style scales per input channel (modulation) and then
    normalises per output channel (demodulation): StyleGAN2 eq. 1–3."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, k: int = 3, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(c_out, c_in, k, k))
        self.affine = EqualLinear(w_dim, c_in, bias_init=1.0)  # A: w -> style s, starting at 1
        self.scale, self.demodulate, self.upsample, self.pad = 1 / math.sqrt(c_in * k * k), demodulate, upsample, k // 2

    def forward(self, x, w):
        # StyleGAN2's unfused form (their modulated_conv2d, fused_modconv=False): scaling the input channels by s
        # and the output channels by the demodulation coefficients is the same convolution as eq. 1–3's per-image
        # weights, as one shared-weight convolution of the batch (a grouped convolution per image is several
        # times slower on a CPU)
        s = self.affine(w)  # (B, c_in)
        weight = self.weight * self.scale  # (c_out, c_in, k, k)
        x = x * s[:, :, None, None]  # eq. 1: w'_ijk = s_i · w_ijk, applied to the input
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        out = F.conv2d(x, weight, padding=self.pad)  # (B, c_out, H, W)
        if self.demodulate:  # eq. 2–3: σ_j = √(Σ_ik (s_i w_ijk)²) = √(s² · Σ_k w_ijk²)
            sigma = s.pow(2) @ weight.pow(2).sum((2, 3)).t()  # (B, c_out)
            out = out * torch.rsqrt(sigma + 1e-8)[:, :, None, None]
        return out


class StyleLayer(nn.Module):
    """Modulated 3×3 convolution, per-pixel noise × a learned strength, bias, leaky ReLU."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, size: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv(c_in, c_out, w_dim, 3, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.register_buffer("fixed_noise", torch.randn(1, 1, size, size))  # the noise of a deterministic decode
        self.noise_on = True  # the view's switch: this layer's noise input (off: none)

    def forward(self, x, w, noise: str = "fixed", generator=None):
        x = self.conv(x, w)
        if not self.noise_on:
            pass
        elif noise == "random":
            n = torch.randn((len(x), 1, *x.shape[-2:]), generator=generator, device=x.device)
            x = x + n * self.noise_strength
        elif noise == "fixed":
            x = x + self.fixed_noise * self.noise_strength
        return F.leaky_relu(x + self.bias[None, :, None, None], 0.2) * math.sqrt(2)


class SynthesisNetwork(nn.Module):
    """W+ (B, num_ws, w_dim) -> images (B, C, H, W) in about [-1, 1]; ``features`` collects every layer's
    output (the layer view)."""

    def __init__(self, w_dim: int, image_shape, width: int = 64):
        super().__init__()
        c, h, _ = image_shape
        base, levels = resolution_plan(h)
        chans = [min(width * 2 ** (levels - i), 4 * width) for i in range(levels + 1)]  # per resolution
        self.const = nn.Parameter(torch.randn(1, chans[0], base, base))
        self.layers = nn.ModuleList([StyleLayer(chans[0], chans[0], w_dim, base)])
        self.to_rgb = nn.ModuleList([ModulatedConv(chans[0], c, w_dim, 1, demodulate=False)])
        self.sizes = [base]
        for i in range(1, levels + 1):
            size = base * 2 ** i
            self.layers.append(StyleLayer(chans[i - 1], chans[i], w_dim, size, upsample=True))
            self.layers.append(StyleLayer(chans[i], chans[i], w_dim, size))
            self.to_rgb.append(ModulatedConv(chans[i], c, w_dim, 1, demodulate=False))
            self.sizes += [size, size]
        self.rgb_bias = nn.Parameter(torch.zeros(len(self.to_rgb), c))
        self.num_ws = len(self.layers) + 1  # the last toRGB reads a w of its own

    def forward(self, ws, noise: str = "fixed", generator=None, features: list | None = None):
        x = self.const.expand(len(ws), -1, -1, -1)
        rgb = None
        for k, layer in enumerate(self.layers):
            x = layer(x, ws[:, k], noise, generator)
            if features is not None:
                features.append(x)
            if k == 0 or k % 2 == 0:  # the last layer of a resolution: its RGB, added to the upsampled sum
                j = (k + 1) // 2
                y = self.to_rgb[j](x, ws[:, k + 1]) + self.rgb_bias[j][None, :, None, None]
                rgb = y if rgb is None else F.interpolate(rgb, scale_factor=2, mode="bilinear",
                                                          align_corners=False) + y
        return rgb


class StyleDiscriminator(nn.Module):
    """Residual downsampling convolutions (StyleGAN2 fig. 7c), the minibatch standard deviation (Karras et al.
    2018) as an extra channel, and a linear head; class-conditional by projection (Miyato & Koyama 2018)."""

    def __init__(self, image_shape, width: int = 64, n_classes: int = 0):
        super().__init__()
        c, h, _ = image_shape
        base, levels = resolution_plan(h)
        chans = [min(width * 2 ** i, 4 * width) for i in range(levels + 1)]
        self.from_rgb = nn.Conv2d(c, chans[0], 1)
        self.blocks = nn.ModuleList()
        for a, b in zip(chans[:-1], chans[1:]):
            self.blocks.append(nn.ModuleDict({"conv1": nn.Conv2d(a, a, 3, 1, 1), "conv2": nn.Conv2d(a, b, 3, 1, 1),
                                              "skip": nn.Conv2d(a, b, 1, bias=False)}))
        self.final = nn.Conv2d(chans[-1] + 1, chans[-1], 3, 1, 1)
        self.fc = nn.Linear(chans[-1] * base * base, chans[-1])
        self.out = nn.Linear(chans[-1], 1)
        self.embed = nn.Embedding(n_classes, chans[-1]) if n_classes else None

    def forward(self, x, y=None):
        x = F.leaky_relu(self.from_rgb(x), 0.2)
        for blk in self.blocks:
            h = F.leaky_relu(blk["conv1"](x), 0.2)
            h = F.avg_pool2d(F.leaky_relu(blk["conv2"](h), 0.2), 2)
            x = (h + F.avg_pool2d(blk["skip"](x), 2)) / math.sqrt(2)
        group = min(4, len(x))
        while len(x) % group:
            group -= 1
        std = (x.view(group, -1, *x.shape[1:]).var(0, unbiased=False) + 1e-8).sqrt().mean((1, 2, 3))  # (B/group,)
        x = torch.cat([x, std.repeat(group)[:, None, None, None].expand(-1, 1, *x.shape[2:])], 1)
        feat = F.leaky_relu(self.fc(F.leaky_relu(self.final(x), 0.2).flatten(1)), 0.2)
        out = self.out(feat)
        if self.embed is not None and y is not None:
            out = out + (self.embed(y) * feat).sum(1, keepdim=True)
        return out  # (B, 1)
