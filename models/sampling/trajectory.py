"""Recording diffusion trajectories for frame-by-frame viewing.

Frames are stored as float16 in preallocated arrays: a full 1000-step DDPM trajectory of 16 samples of
8x8 digits (x_t, x̂_0 and ε̂) is 6 MB; of 16 RGB 32x32 images, 300 MB rather than 600 MB in float32.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass

import numpy as np
import torch

from latent_explorer.models.progress import Step

FRAME_DTYPE = np.float16


@dataclass
class Trajectory:
    timesteps: np.ndarray  # (K+1,) timestep of each frame; the last frame (x_0) has t = -1
    x: np.ndarray  # (K+1, N, C, H, W) x_t in model units ([-1, 1] data), float16
    x0: np.ndarray  # (K+1, N, C, H, W) predicted x̂_0 made from frame k (the last frame repeats)
    eps: np.ndarray  # (K+1, N, C, H, W) predicted noise ε̂ from frame k (the last frame repeats)
    sampler: str
    complete: bool = True

    def __len__(self) -> int:
        return len(self.timesteps)

    @property
    def nbytes(self) -> int:
        return self.x.nbytes + self.x0.nbytes + self.eps.nbytes


def record_reverse(model, n: int = 16, y=None, sampler: str = "ddpm", steps: int | None = None,
                   eta: float = 0.0, guidance: float = 1.0, seed: int = 0,
                   should_stop: Callable[[], bool] | None = None, inpaint=None
                   ) -> Generator[Step, None, Trajectory | None]:
    """Run the reverse process from seeded noise x_T ~ N(0, I), recording every frame; ``inpaint``
    (``model.inpaint(image, mask)``): the known region kept, the masked one filling in frame by frame.

    The noise is drawn from ``torch.Generator().manual_seed(seed)``: first x_T, then the noise of each
    step in order, so the same loop written by hand with the same generator gives the same frames."""
    g = torch.Generator().manual_seed(seed)
    shape = (n, *model.image_shape)
    x_T = torch.randn(shape, generator=g)
    if y is not None:
        y = torch.as_tensor(y).long().reshape(-1)
        if y.numel() == 1:
            y = y.expand(n)
    sched = model.make_scheduler(sampler, steps, eta)  # the one scheduler of this run
    ts = sched.timesteps.tolist()
    k = len(ts)
    traj = Trajectory(np.array(ts + [-1]), np.empty((k + 1, *shape), FRAME_DTYPE),
                      np.empty((k + 1, *shape), FRAME_DTYPE), np.empty((k + 1, *shape), FRAME_DTYPE), sampler)
    traj.x[0] = x_T.numpy()
    for i, (t, x, eps, x0, prev) in enumerate(model.reverse(x_T, y, sched, guidance, g, inpaint=inpaint)):
        if i == 0:
            traj.x[0] = x.numpy()  # with inpainting: its known region already in place
        traj.eps[i] = eps.numpy()
        traj.x0[i] = x0.numpy()
        traj.x[i + 1] = prev.numpy()
        yield Step(i + 1, k, f"t = {t}")
        if should_stop is not None and should_stop():
            return None
    traj.eps[k], traj.x0[k] = traj.eps[k - 1], traj.x0[k - 1]
    return traj


def forward_frame(scheduler, x0: torch.Tensor, noise: torch.Tensor, t: int) -> torch.Tensor:
    """x_t = add_noise(x_0, ε, t); t = -1 (or below 0) shows x_0 itself."""
    if t < 0:
        return x0
    return scheduler.add_noise(x0, noise, int(t))


def frame_indices(n_frames: int, n: int) -> np.ndarray:
    """``n`` frames spread evenly over a trajectory of ``n_frames``, first and last included, no repeats."""
    return np.unique(np.linspace(0, n_frames - 1, max(1, min(n, n_frames))).round().astype(int))
