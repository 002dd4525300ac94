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

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, need
from latent_explorer.models.errors import CheckpointError, check_regular, printable, shown
from latent_explorer.models.io.readers import Reader, register_reader
from latent_explorer.models.io.schema import Bool, Either, Float, Int, List, Null, SchemaError, Str, check, read_json
from latent_explorer.models.kinds.ddpm import DDPM
from latent_explorer.models.registry import Capabilities, KindSpec, TrainDefaults, register
from latent_explorer.models.sampling.schedule import DiffusionScheduler

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

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.scaling_factor, float) and math.isfinite(self.scaling_factor)
             and 0 < self.scaling_factor <= 1e6, "scaling_factor must be a finite number above 0 (0 decodes "
             "every latent to one grey image)")


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


def _opens(path: Path, head: bytes | None) -> bool:
    return head is None and (is_diffusers_folder(path) or (path.name in ("config.json", "model_index.json")
                                                            and is_diffusers_folder(path.parent)))


register_reader(Reader("a diffusers folder", _opens, lambda path, device, **_: load_diffusers(path, device)))
register(KindSpec("diffusers-unet", "Diffusion (diffusers UNet2DModel)", DiffusersUNet, DiffusersUNetConfig,
                  TrainDefaults(1, 1, 1e-4), Capabilities(diffusion=True, slow_decode=True, inpaints=True),
                  trainable=False,
                  latent_dim=None, description="a UNet2DModel from a local diffusers folder"))
register(KindSpec("diffusers-vae", "Autoencoder (diffusers AutoencoderKL)", DiffusersVAE, DiffusersVAEConfig,
                  TrainDefaults(1, 1, 1e-4), Capabilities(encoder=True, slow_decode=True), trainable=False,
                  latent_dim=None, description="an AutoencoderKL from a local diffusers folder"))


# -- folders ----------------------------------------------------------------------------------------------
SIZE = Int(1, 4096)
MODEL_FIELDS = {  # what we read of a model's config.json (diffusers reads the rest itself, after these hold)
    "_class_name": Str(100, default=""),
    "sample_size": Either((SIZE, List(SIZE, 2, 2)), default=32),
    "in_channels": Int(1, 64, default=3),
    "out_channels": Either((Int(1, 64), Null()), default=None),
    "latent_channels": Int(1, 64, default=4),
    "block_out_channels": List(Int(1, 1 << 16), 1, 16, default=[0]),
    "layers_per_block": Either((Int(1, 16), List(Int(1, 16), 1, 16)), default=1),
    "down_block_types": List(Str(100), 1, 16, default=[]),
    "up_block_types": List(Str(100), 1, 16, default=[]),
    "scaling_factor": Float(0.0, 1e6, default=0.18215, above=True),
}
SCHEDULER_FIELDS = {
    "_class_name": Str(100, default=""),
    "num_train_timesteps": Int(1, 100_000, default=1000),
    "beta_start": Float(0.0, 1.0, default=0.0001),
    "beta_end": Float(0.0, 1.0, default=0.02),
    "beta_schedule": Str(100, default="linear"),
    "trained_betas": Either((Null(), List(Float(0.0, 1.0), 1, 100_000)), default=None),
    "prediction_type": Str(100, default="epsilon"),
    "thresholding": Bool(default=False),
    "clip_sample": Bool(default=True),
    "clip_sample_range": Float(0.0, 1e6, default=1.0),
}


def _json(path: Path, what: str, fields: dict | None = None) -> dict:
    """A config file read through the schema layer (bounded, typed): the ``fields`` it declares, else the
    object itself (a pipeline's index)."""
    if not path.is_file():
        raise CheckpointError(f"{path.parent.name}: no {path.name} ({what})")
    d = read_json(path, MAX_CONFIG_BYTES)
    typed = check(d, fields or {}, f"{path.parent.name}/{path.name}")  # an object, at least
    return typed if fields is not None else d


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
        listed = ", ".join(f"{printable(k[:40])}: {printable(v[:40])}" for k, v in list(comps.items())[:8]
                           ) + (f" and {len(comps) - 8:,} more" if len(comps) > 8 else "") or "nothing"
        raise CheckpointError(f"{folder.name}: a pipeline of {listed}; only a UNet2DModel or an AutoencoderKL "
                              "can be opened")
    cls = _json(folder / "config.json", "a diffusers model folder holds config.json and its weights",
                MODEL_FIELDS)["_class_name"]
    if cls not in CLASSES:
        raise CheckpointError(f"{folder.name}: a {printable(cls) if cls else 'model without _class_name'}; only "
                              f"{' and '.join(CLASSES)} can be opened")
    sched = folder / "scheduler_config.json"
    if cls == "UNet2DModel" and not sched.is_file() and (folder.parent / "scheduler").is_dir():
        sched = folder.parent / "scheduler" / "scheduler_config.json"
    return cls, folder, sched if cls == "UNet2DModel" else None


def _betas(sched_path: Path, out_channels: int, in_channels: int) -> tuple[torch.Tensor, bool, dict]:
    """The betas its scheduler config defines (computed as diffusers computes them), clip_sample, the config.
    Every field is typed and range-checked first (1e9 timesteps would allocate 4 GB in diffusers)."""
    import diffusers

    cfg = _json(sched_path, "the UNet's scheduler: save it with scheduler.save_pretrained(folder)", SCHEDULER_FIELDS)
    pred = cfg["prediction_type"]
    if pred != "epsilon":
        raise CheckpointError(f"{sched_path.name}: prediction_type {shown(pred)}; only models that predict the "
                              "noise (epsilon) can be opened")
    if out_channels != in_channels:
        raise CheckpointError(f"the UNet predicts {out_channels} channels for {in_channels}: a learned variance "
                              "is not supported")
    if cfg["thresholding"]:
        raise CheckpointError(f"{sched_path.name}: dynamic thresholding is not supported")
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas")
    try:
        ref = diffusers.DDPMScheduler(**{k: cfg[k] for k in keys})
    except (ValueError, TypeError, NotImplementedError) as e:
        raise CheckpointError(f"{sched_path.name}: {printable(str(e).splitlines()[0][:200])}") from None
    if not torch.isfinite(ref.betas).all() or not ((ref.betas > 0) & (ref.betas < 1)).all():
        raise CheckpointError(f"{sched_path.name}: its betas are not all between 0 and 1")
    return ref.betas.double(), cfg["clip_sample"] and cfg["clip_sample_range"] == 1, cfg


def _fits_its_weights(cls: str, model_dir: Path) -> None:
    """The network its config.json describes is built on the meta device (nothing allocated) and its parameters
    counted against the tensors its weights file holds: a config that claims a larger network than its weights
    (a 1 KB file can describe billions of parameters) is refused before diffusers builds it for real."""
    import diffusers
    from safetensors import safe_open

    weights = model_dir / WEIGHTS
    check_regular(weights, CheckpointError)
    try:
        with torch.device("meta"):
            net = getattr(diffusers, cls).from_config(read_json(model_dir / "config.json", MAX_CONFIG_BYTES))
        want = sum(p.numel() for p in net.parameters())
    except SchemaError:
        raise
    except Exception as e:  # noqa: BLE001 - diffusers' constructors raise ValueError, TypeError, KeyError…
        raise CheckpointError(f"{model_dir.name}/config.json: does not describe a {cls} "
                              f"({printable(str(e).splitlines()[0][:200]) if str(e) else type(e).__name__})"
                              ) from None
    try:
        with safe_open(str(weights), "pt") as f:
            have = sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception as e:  # noqa: BLE001 - safetensors raises its own errors on a damaged header
        raise CheckpointError(f"{model_dir.name}/{WEIGHTS}: not a safetensors file "
                              f"({printable(str(e).splitlines()[0][:200]) if str(e) else type(e).__name__})"
                              ) from None
    if want > have:
        raise CheckpointError(f"{model_dir.name}: cannot load the {cls}: its config.json describes {want:,} "
                              f"parameters, its weights hold {have:,} values (refused before it was built)")


def load_diffusers(path: str | Path, device="cpu") -> GenerativeModel:
    """Open a diffusers model or pipeline folder (or its config.json / model_index.json). Every config is read
    typed (models.io.schema) before diffusers sees it."""
    import diffusers

    from latent_explorer.models.io.sd_folder import index_of, is_text_pipeline

    path = Path(path)
    folder = path.parent if path.name in ("config.json", "model_index.json") else path
    index = index_of(folder)
    if index is not None and is_text_pipeline(index):  # Stable Diffusion: a kind of its own
        from latent_explorer.models.kinds.stable_diffusion import load_stable_diffusion

        return load_stable_diffusion(folder, device)
    cls, model_dir, sched = _parts(folder)
    if not os.path.lexists(model_dir / WEIGHTS):  # a FIFO or a link to /proc is refused by check_regular
        if (model_dir / PICKLE_WEIGHTS).is_file():
            raise CheckpointError(f"{model_dir.name}: only pickle weights ({PICKLE_WEIGHTS}), which can run code "
                                  f"when opened: convert them to {WEIGHTS}")
        raise CheckpointError(f"{model_dir.name}: no {WEIGHTS}")
    config = _json(model_dir / "config.json", "the model's config", MODEL_FIELDS)
    size = config["sample_size"]
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    c = config["in_channels"]
    if cls == "UNet2DModel":
        out = config["out_channels"] if config["out_channels"] is not None else c
        betas, clip, sched_cfg = _betas(sched, out, c)  # before the weights: a bad scheduler costs nothing
    diffusers.utils.logging.set_verbosity_error()
    _fits_its_weights(cls, model_dir)
    try:
        net = getattr(diffusers, cls).from_pretrained(model_dir, use_safetensors=True, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - diffusers raises ValueError, OSError, RuntimeError, TypeError…
        raise CheckpointError(f"{model_dir.name}: cannot load the {cls} "
                              f"({printable(str(e).splitlines()[0][:300]) if str(e) else type(e).__name__})"
                              ) from None
    meta = {"path": str(folder), "kind": CLASSES[cls], "data": {}, "class_names": [], "training": {},
            "config": {"class": cls, "folder": str(model_dir)}}
    if cls == "UNet2DModel":
        cfg = DiffusersUNetConfig(kind="diffusers-unet", image_shape=(c, h, w), latent_dim=c * h * w,
                                  timesteps=len(betas), clip_sample=clip)
        model: GenerativeModel = DiffusersUNet(cfg, net, betas)
        meta["config"]["scheduler"] = sched_cfg["_class_name"]
    else:
        down = 2 ** (len(config["block_out_channels"]) - 1)
        shape = (config["latent_channels"], h // down, w // down)
        if min(shape) < 1:
            raise CheckpointError(f"{model_dir.name}/config.json: sample_size {size} is smaller than the "
                                  f"{down}x downsampling its {len(config['block_out_channels'])} blocks make")
        try:
            cfg = DiffusersVAEConfig(kind="diffusers-vae", image_shape=(c, h, w), latent_dim=math.prod(shape),
                                     latent_shape=shape, scaling_factor=config["scaling_factor"])
            cfg.validate()
        except (ValueError, TypeError) as e:
            raise CheckpointError(f"{model_dir.name}/config.json: {printable(e)}") from None
        model = DiffusersVAE(cfg, net)
    model.meta = meta
    return model.to(device)
