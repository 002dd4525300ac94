"""Models trained with diffusers, opened from a local folder: safetensors weights only (a pickle ``.bin`` can
run code and is never opened), nothing downloaded.

- A ``UNet2DModel`` (``config.json`` + ``diffusion_pytorch_model.safetensors``) with its scheduler's
  ``scheduler_config.json`` beside it (or a pipeline folder: ``model_index.json``, ``unet/``, ``scheduler/``)
  opens as a diffusion model: the Diffusion view steps through it with our samplers (DDPM, DDIM, Euler a) on
  the betas its scheduler config defines.
- An ``AutoencoderKL`` opens as a latent model: encode to the mean of its latent distribution times its
  ``scaling_factor`` (the units latent diffusion works in), decode back; the map and the editor show it.

What cannot be honoured is refused with the reason (another prediction type, a learned variance, a class of
model we do not know), one message each.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .base import GenerativeModel, ModelConfig, need
from .ddpm import DDPM
from .diffusion import DiffusionScheduler
from .errors import CheckpointError
from .registry import Capabilities, KindSpec, TrainDefaults, register

WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLE_WEIGHTS = "diffusion_pytorch_model.bin"
MAX_CONFIG_BYTES = 1 << 20
CLASSES = {"UNet2DModel": "diffusers-unet", "AutoencoderKL": "diffusers-vae"}


@dataclass
class DiffusersUNetConfig(ModelConfig):
    timesteps: int = 1000
    clip_sample: bool = True

    image_sizes = (4, 1024)
    square = False
    latent_dims = (1, 3 * 1024 * 1024)

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.timesteps, int) and 1 <= self.timesteps <= 100_000, "timesteps must be 1..100000")


@dataclass
class DiffusersVAEConfig(ModelConfig):
    latent_shape: tuple[int, ...] = (4, 8, 8)
    scaling_factor: float = 0.18215

    image_sizes = (4, 1024)
    square = False
    latent_dims = (1, 1 << 20)


class _Noise(nn.Module):
    """The UNet2DModel as our networks are called: net(x_t, t[, y]) -> ε̂."""

    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, x, t, y=None):
        return self.unet(x, t).sample


class DiffusersUNet(DDPM):
    """A diffusers UNet2DModel as a (class-free) DDPM: same reverse process, same views."""

    def __init__(self, config: DiffusersUNetConfig, unet=None, betas=None):
        GenerativeModel.__init__(self, config)
        self.ema = _Noise(unet).requires_grad_(False).eval()
        self.unet = self.ema
        with torch.device("cpu"):
            self.scheduler = DiffusionScheduler(config.timesteps, "linear", clip_sample=config.clip_sample,
                                                betas=betas, clipped_model_output=False)  # as DDIMPipeline

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("a diffusers model is not trained here")


class DiffusersVAE(GenerativeModel):
    """A diffusers AutoencoderKL as a latent model of its scaled latents (C·h·w numbers)."""

    def __init__(self, config: DiffusersVAEConfig, vae=None):
        super().__init__(config)
        self.vae = vae.requires_grad_(False).eval() if vae is not None else None

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return tuple(self.config.latent_shape)  # type: ignore[return-value]

    def latent_names(self) -> list[str]:
        c, h, w = self.latent_shape
        return [f"c{k} ({i},{j})" for k in range(c) for i in range(h) for j in range(w)]

    @torch.no_grad()
    def encode(self, x, y=None):
        """x (B, C, H, W) in [0, 1] -> the scaled mean of q(z | x), flattened."""
        dist = self.vae.encode(x * 2 - 1).latent_dist
        return (dist.mean * self.config.scaling_factor).flatten(1)

    @torch.no_grad()
    def decode(self, z, y=None):
        z = z.reshape(len(z), *self.latent_shape) / self.config.scaling_factor
        return ((self.vae.decode(z).sample + 1) / 2).clamp(0, 1)

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("a diffusers model is not trained here")


register(KindSpec("diffusers-unet", "Diffusion (diffusers UNet2DModel)", DiffusersUNet, DiffusersUNetConfig,
                  TrainDefaults(1, 1, 1e-4), Capabilities(diffusion=True, slow_decode=True), trainable=False,
                  latent_dim=None, description="a UNet2DModel from a local diffusers folder"))
register(KindSpec("diffusers-vae", "Autoencoder (diffusers AutoencoderKL)", DiffusersVAE, DiffusersVAEConfig,
                  TrainDefaults(1, 1, 1e-4), Capabilities(encoder=True, slow_decode=True), trainable=False,
                  latent_dim=None, description="an AutoencoderKL from a local diffusers folder"))


# -- folders ----------------------------------------------------------------------------------------------
def _json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path.parent.name}: no {path.name} ({what})")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{path.name}: {path.stat().st_size:,} bytes, too large for a config")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path.parent.name}/{path.name}: not valid JSON ({e})") from None
    if not isinstance(d, dict):
        raise CheckpointError(f"{path.parent.name}/{path.name}: a JSON object was expected")
    return d


def is_diffusers_folder(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and ((path / "config.json").is_file() or (path / "model_index.json").is_file())


def _parts(folder: Path) -> tuple[str, Path, Path | None]:
    """(class name, the model's folder, its scheduler config) of a model or pipeline folder."""
    if (folder / "model_index.json").is_file():
        index = _json(folder / "model_index.json", "a diffusers pipeline")
        comps = {k: v[1] for k, v in index.items() if isinstance(v, list) and len(v) == 2 and isinstance(v[1], str)}
        for name in ("unet", "vae"):
            if comps.get(name) in CLASSES:
                sched = folder / "scheduler" / "scheduler_config.json"
                return comps[name], folder / name, sched if name == "unet" else None
        listed = ", ".join(f"{k}: {v}" for k, v in comps.items()) or "nothing"
        raise CheckpointError(f"{folder.name}: a pipeline of {listed}; only a UNet2DModel or an AutoencoderKL "
                              "can be opened")
    cls = _json(folder / "config.json", "a diffusers model folder holds config.json and its weights").get(
        "_class_name")
    if cls not in CLASSES:
        raise CheckpointError(f"{folder.name}: a {cls or 'model without _class_name'}; only "
                              f"{' and '.join(CLASSES)} can be opened")
    sched = folder / "scheduler_config.json"
    if cls == "UNet2DModel" and not sched.is_file() and (folder.parent / "scheduler").is_dir():
        sched = folder.parent / "scheduler" / "scheduler_config.json"
    return cls, folder, sched if cls == "UNet2DModel" else None


def _betas(sched_path: Path, out_channels: int, in_channels: int) -> tuple[torch.Tensor, bool, dict]:
    """The betas its scheduler config defines (computed as diffusers computes them), clip_sample, the config."""
    import diffusers

    cfg = _json(sched_path, "the UNet's scheduler: save it with scheduler.save_pretrained(folder)")
    pred = cfg.get("prediction_type", "epsilon")
    if pred != "epsilon":
        raise CheckpointError(f"{sched_path.name}: prediction_type {pred!r}; only models that predict the noise "
                              "(epsilon) can be opened")
    if out_channels != in_channels:
        raise CheckpointError(f"the UNet predicts {out_channels} channels for {in_channels}: a learned variance "
                              "is not supported")
    if cfg.get("thresholding"):
        raise CheckpointError(f"{sched_path.name}: dynamic thresholding is not supported")
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas")
    try:
        ref = diffusers.DDPMScheduler(**{k: cfg[k] for k in keys if k in cfg})
    except (ValueError, TypeError, NotImplementedError) as e:
        raise CheckpointError(f"{sched_path.name}: {str(e).splitlines()[0][:200]}") from None
    return ref.betas.double(), bool(cfg.get("clip_sample", True)) and float(cfg.get("clip_sample_range", 1)) == 1, cfg


def load_diffusers(path: str | Path, device="cpu") -> GenerativeModel:
    """Open a diffusers model or pipeline folder (or its config.json / model_index.json)."""
    import diffusers

    path = Path(path)
    folder = path.parent if path.name in ("config.json", "model_index.json") else path
    cls, model_dir, sched = _parts(folder)
    if not (model_dir / WEIGHTS).is_file():
        if (model_dir / PICKLE_WEIGHTS).is_file():
            raise CheckpointError(f"{model_dir.name}: only pickle weights ({PICKLE_WEIGHTS}), which can run code "
                                  f"when opened: convert them to {WEIGHTS}")
        raise CheckpointError(f"{model_dir.name}: no {WEIGHTS}")
    config = _json(model_dir / "config.json", "the model's config")
    diffusers.utils.logging.set_verbosity_error()
    try:
        net = getattr(diffusers, cls).from_pretrained(model_dir, use_safetensors=True, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - diffusers raises ValueError, OSError, RuntimeError, TypeError…
        raise CheckpointError(f"{model_dir.name}: cannot load the {cls} ({str(e).splitlines()[0][:300]})") from None
    size = config.get("sample_size", 32)
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    meta = {"path": str(folder), "kind": CLASSES[cls], "data": {}, "class_names": [], "training": {},
            "config": {"class": cls, "folder": str(model_dir)}}
    if cls == "UNet2DModel":
        c = int(config.get("in_channels", 3))
        betas, clip, sched_cfg = _betas(sched, int(config.get("out_channels", c)), c)
        cfg = DiffusersUNetConfig(kind="diffusers-unet", image_shape=(c, h, w), latent_dim=c * h * w,
                                  timesteps=len(betas), clip_sample=clip)
        model: GenerativeModel = DiffusersUNet(cfg, net, betas)
        meta["config"]["scheduler"] = sched_cfg.get("_class_name", "")
    else:
        c = int(config.get("in_channels", 3))
        down = 2 ** (len(config.get("block_out_channels", [0])) - 1)
        shape = (int(config.get("latent_channels", 4)), h // down, w // down)
        cfg = DiffusersVAEConfig(kind="diffusers-vae", image_shape=(c, h, w), latent_dim=math.prod(shape),
                                 latent_shape=shape, scaling_factor=float(config.get("scaling_factor", 0.18215)))
        model = DiffusersVAE(cfg, net)
    model.meta = meta
    return model.to(device)
