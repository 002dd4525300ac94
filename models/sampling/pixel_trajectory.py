"""A recorded pixel-by-pixel sampling run of any autoregressive model (a kind whose capabilities say
``autoregressive``: it implements ``sample_steps``), which the Pixels view scrubs through."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


# -- a recorded pixel-by-pixel sampling run (the Pixels view scrubs through it) ----------------------------
@dataclass
class PixelRecord:
    """One sampling (or completion) run: the final images and, for every pixel in raster order, the
    probability the model gave it being on when it was drawn. The image after step k is the final one with
    the pixels drawn later not yet there, so the record is all a scrubber needs."""

    images: np.ndarray  # (n, 1, H, W) of 0/1
    p_on: np.ndarray  # (n, H*W): p(x_i = 1 | x_<i) at each pixel i, as it was drawn (or, if known, seen)
    known: np.ndarray | None  # (n, 1, H, W) bool: the pixels given (completion), or None (sampling)
    seed: int

    @property
    def steps(self) -> int:
        return self.p_on.shape[1]

    def nll(self, upto: int | None = None) -> np.ndarray:
        """−log p in nats of each image's pixels 0..upto (all by default): (n,). Known pixels count too, so
        at the end this is the image's exact −log p(x)."""
        k = self.steps if upto is None else upto + 1
        x = self.images.reshape(len(self.images), -1)[:, :k]
        p = np.clip(self.p_on[:, :k], 1e-12, 1 - 1e-12)
        return -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum(1)

    def frame(self, k: int, unknown: float = 0.5) -> np.ndarray:
        """The images once pixel k has been drawn: later pixels are ``unknown`` grey unless known."""
        n, _, h, w = self.images.shape
        later = np.arange(h * w).reshape(h, w) > k
        out = np.where(later[None, None], unknown, self.images).astype(np.float32)
        if self.known is not None:
            out = np.where(self.known, self.images, out)
        return out


def record_sampling(model, n: int, seed: int = 0, known: np.ndarray | None = None,
                    mask: np.ndarray | None = None):
    """Sample (or, with ``known`` images and a ``mask`` of the known pixels, complete) ``n`` images pixel by
    pixel, yielding a Step once per row; returns a :class:`PixelRecord`."""
    from latent_explorer.models.progress import Step

    _, h, w = model.image_shape
    if known is not None:
        known = torch.as_tensor(np.asarray(known, np.float32)).reshape(-1, 1, h, w)
        mask_t = torch.as_tensor(np.asarray(mask, np.float32)).reshape(-1, 1, h, w).expand_as(known)
        n = len(known)
        if not (mask_t < 1).any():
            raise ValueError("nothing is erased: mark the pixels to complete")
    g = torch.Generator().manual_seed(int(seed))
    p_on = np.zeros((n, h * w), np.float32)
    x = None
    for i, x_i, p in model.sample_steps(n, g, known=known, mask=None if known is None else mask_t):
        p_on[:, i], x = p.cpu().numpy(), x_i
        if i % w == w - 1:
            yield Step(i + 1, h * w, f"row {i // w + 1} of {h}")
    keep = None if known is None else (mask_t > 0).numpy()
    return PixelRecord(x.cpu().numpy().copy(), p_on, keep, int(seed))
