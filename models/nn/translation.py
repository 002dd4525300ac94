"""The image-to-image networks of pix2pix (Isola et al. 2017) and CycleGAN (Zhu et al. 2017): a U-Net generator
with skip connections and a PatchGAN discriminator that judges each patch."""

from __future__ import annotations

import torch
from torch import nn

from latent_explorer.models.nn.blocks import resolution_plan


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
