"""Black-and-white versions of grey images, as likelihoods of binary data need them: a fixed threshold, or a
random draw per pixel (the convention of the likelihood papers on MNIST)."""

from __future__ import annotations

import numpy as np
import torch


def binarise(images) -> torch.Tensor:
    """Images in [0, 1] (numpy or tensor) -> 0 and 1, a pixel on above ½: a fixed threshold, so held-out
    figures are reproducible. A floating tensor keeps its dtype and device; anything else becomes float32."""
    x = images if torch.is_tensor(images) else torch.as_tensor(np.asarray(images, dtype=np.float32))
    return (x > 0.5).to(x.dtype if x.is_floating_point() else torch.float32)


def binary_draw(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Grey images in [0, 1] -> 0 and 1, each pixel on with its grey value's probability: x ~ Bernoulli(grey),
    the stochastic binarisation of the likelihood literature (Salakhutdinov & Murray 2008). ``generator`` is a
    CPU one, so a draw is the same on any device; it comes back on ``x``'s device."""
    u = torch.rand(x.shape, generator=generator)
    return (u.to(x.device) < x).to(x.dtype)
