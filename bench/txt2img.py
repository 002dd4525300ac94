"""Text to image: latent diffusion at the bundled build's sizes (speed does not depend on the weights, so
untrained parts do), and our sampling loop against a bare loop calling the same U-Net and decoder."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Target, part


@part("txt2img",
      Target("txt2img_16x25_cfg_s", "<=", 1.5, "latent diffusion (bundled sizes): 16 images, 25 DDIM steps, CFG 5, "
             "decoded (s)"),
      Target("txt2img_loop_ratio", "<=", 1.05, "our txt2img ÷ a bare loop calling the same U-Net and decoder "
             "(time)"))
def bench_txt2img(smoke: bool) -> dict:
    """16 images, 25 DDIM steps, classifier-free guidance, decoded (the median of interleaved runs); the
    ratio is the fastest of ours ÷ the fastest bare loop."""
    import torch

    from latent_explorer.models import build_model, load_dataset, make_config, save

    data = load_dataset("scenes:256")
    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        save(build_model(make_config("latent-ae", data.shape)), Path(d) / "ae.safetensors")
        save(build_model(make_config("clip", data.shape, data=data)), Path(d) / "te.safetensors")
        model = build_model(make_config("ldm", data.shape, data=data, autoencoder=str(Path(d) / "ae.safetensors"),
                                        text_encoder=str(Path(d) / "te.safetensors"))).eval()
        _ = model.parts  # the parts are read once, before any timing
    n, steps, w = (4, 3, 5.0) if smoke else (16, 25, 5.0)
    prompt = ["a small red circle at the top left on a navy background"] * n

    def ours():
        t = time.perf_counter()
        model.txt2img(prompt, sampler="ddim", steps=steps, guidance=w, seed=0)
        return time.perf_counter() - t

    def bare():
        ae, te = model.parts
        abar = model.scheduler.alphas_cumprod
        t0 = time.perf_counter()
        with torch.no_grad():
            ids = te.tokenize(prompt + [""] * n).ids
            context, _ = te.encode_text(ids)
            pad = ids == 0
            g = torch.Generator().manual_seed(0)
            z = torch.randn(n, *model.config.latent_shape, generator=g)
            ts = list(range(0, 1000, 1000 // steps))[::-1]
            for i, t in enumerate(ts):
                both = model.ema(torch.cat([z, z]), torch.full((2 * n,), t), context, pad)
                e, e0 = both.chunk(2)
                eps = e0 + w * (e - e0)
                a, ap = abar[t], abar[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
                x0 = (z - (1 - a).sqrt() * eps) / a.sqrt()
                z = ap.sqrt() * x0 + (1 - ap).sqrt() * eps
            ae.decode_latents(z)
        return time.perf_counter() - t0

    o, b = [], []
    for _ in range(1 if smoke else 5):  # interleaved: drifting load affects both alike
        o.append(ours())
        b.append(bare())
    return {"txt2img_16x25_cfg_s": float(np.median(o)), "txt2img_loop_ratio": float(np.min(o)) / float(np.min(b))}
