"""A Stable Diffusion folder as diffusers' ``save_pretrained`` writes it (SD 1.x and 2.x, ε- and
v-prediction, text-to-image and inpainting): ``model_index.json`` and one folder per component. Read without
a network and without pickle: safetensors weights only (a ``.bin`` can run code when opened and is refused),
every config typed and range-checked, the components' sizes checked against each other and each network's
parameters counted against its weights file before it is built. One clear line for each thing wrong.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from latent_explorer.models.errors import CheckpointError, check_regular, printable, shown
from latent_explorer.models.io.schema import Bool, Either, Float, Int, List, Null, SchemaError, Str, check, read_json

MAX_CONFIG_BYTES = 1 << 20
MAX_TOKENIZER_BYTES = 32 << 20  # SD's vocab.json is 1 MB, merges.txt 0.5 MB, tokenizer.json 2 MB
PIPELINES = {"StableDiffusionPipeline": False, "StableDiffusionImg2ImgPipeline": False,
             "StableDiffusionInpaintPipeline": True}  # class -> made for inpainting (its U-Net's 9 channels say)
COMPONENTS = {  # name -> (library, the classes we open)
    "unet": ("diffusers", ("UNet2DConditionModel",)),
    "vae": ("diffusers", ("AutoencoderKL",)),
    "text_encoder": ("transformers", ("CLIPTextModel",)),
    "tokenizer": ("transformers", ("CLIPTokenizer", "CLIPTokenizerFast")),
    "scheduler": ("diffusers", None),  # any: only its betas and prediction type are read
}
WEIGHTS = {"unet": "diffusion_pytorch_model", "vae": "diffusion_pytorch_model", "text_encoder": "model"}
SIZE = Int(1, 4096)
UNET_FIELDS = {
    "in_channels": Int(1, 64), "out_channels": Int(1, 64), "sample_size": Either((SIZE, List(SIZE, 2, 2))),
    "cross_attention_dim": Either((Int(1, 1 << 16), List(Int(1, 1 << 16), 1, 16))),
    "block_out_channels": List(Int(1, 1 << 16), 1, 16), "time_cond_proj_dim": Either((Null(), Int(1, 1 << 16)),
                                                                                     default=None),
    "addition_embed_type": Either((Null(), Str(100)), default=None),
}
VAE_FIELDS = {"latent_channels": Int(1, 64), "block_out_channels": List(Int(1, 1 << 16), 1, 16),
              "in_channels": Int(1, 64, default=3), "out_channels": Int(1, 64, default=3),
              "scaling_factor": Float(0.0, 1e6, default=0.18215, above=True),
              "shift_factor": Either((Null(), Float(-1e6, 1e6)), default=None)}
TEXT_FIELDS = {"hidden_size": Int(1, 1 << 16), "max_position_embeddings": Int(1, 1 << 16),
               "vocab_size": Int(1, 1 << 22)}
SCHEDULER_FIELDS = {
    "num_train_timesteps": Int(1, 100_000, default=1000), "beta_start": Float(0.0, 1.0, default=0.0001),
    "beta_end": Float(0.0, 1.0, default=0.02), "beta_schedule": Str(100, default="linear"),
    "trained_betas": Either((Null(), List(Float(0.0, 1.0), 1, 100_000)), default=None),
    "prediction_type": Str(100, default="epsilon"), "thresholding": Bool(default=False),
    "steps_offset": Int(0, 1000, default=0), "set_alpha_to_one": Bool(default=True),
    "rescale_betas_zero_snr": Bool(default=False),
}
PREDICTIONS = ("epsilon", "v_prediction")


@dataclass
class Folder:
    """What a Stable Diffusion folder holds, checked; the networks are built by :func:`build`."""

    path: Path
    pipeline: str
    unet: dict
    vae: dict
    text: dict
    scheduler: dict
    betas: torch.Tensor  # (T,) float64, as diffusers computes them
    variants: dict  # component -> its weights' variant ("" or "fp16")

    @property
    def latent_channels(self) -> int:
        return self.vae["latent_channels"]

    @property
    def inpaints(self) -> bool:
        return self.unet["in_channels"] == 2 * self.latent_channels + 1

    @property
    def vae_scale(self) -> int:
        return 2 ** (len(self.vae["block_out_channels"]) - 1)

    @property
    def sample_size(self) -> tuple[int, int]:
        s = self.unet["sample_size"]
        return (s, s) if isinstance(s, int) else tuple(s)


def index_of(folder: Path) -> dict | None:
    """The folder's model_index.json (read bounded), or None without one."""
    p = Path(folder) / "model_index.json"
    if not p.is_file():
        return None
    d = read_json(p, MAX_CONFIG_BYTES)
    if not isinstance(d, dict):
        raise CheckpointError(f"{Path(folder).name}/model_index.json: not a JSON object")
    return d


def is_text_pipeline(index: dict) -> bool:
    """Does this index describe a text-to-image pipeline (rather than a DDPM's or a VAE's folder)?"""
    unet = index.get("unet")
    return "text_encoder" in index or (isinstance(unet, list) and unet[1:] == ["UNet2DConditionModel"])


def _config(path: Path, fields: dict, what: str) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path.parent.parent.name}: no {path.parent.name}/{path.name} ({what})")
    try:
        return check(read_json(path, MAX_CONFIG_BYTES), fields, f"{path.parent.name}/{path.name}")
    except SchemaError as e:
        raise CheckpointError(str(e)) from None


def _weights(folder: Path, name: str) -> tuple[Path, str]:
    """The component's safetensors weights and their variant; a pickle .bin alone is refused."""
    d, stem = folder / name, WEIGHTS[name]
    for variant in ("", "fp16"):
        p = d / (f"{stem}.safetensors" if not variant else f"{stem}.{variant}.safetensors")
        if os.path.lexists(p):
            check_regular(p, CheckpointError)
            return p, variant
    pickles = sorted(q.name for q in d.glob(f"{stem}*.bin")) if d.is_dir() else []
    if pickles:
        raise CheckpointError(f"{folder.name}/{name}: only pickle weights ({pickles[0]}), which can run code "
                              f"when opened: convert them to {stem}.safetensors")
    raise CheckpointError(f"{folder.name}/{name}: no {stem}.safetensors")


def _count(weights: Path) -> int:
    from safetensors import safe_open

    try:
        with safe_open(str(weights), "pt") as f:
            return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    except Exception as e:  # noqa: BLE001 - safetensors raises its own errors on a damaged header
        raise CheckpointError(f"{weights.parent.name}/{weights.name}: not a safetensors file "
                              f"({printable(str(e).splitlines()[0][:200]) if str(e) else type(e).__name__})"
                              ) from None


def _fits(make, cfg_path: Path, weights: Path, what: str) -> None:
    """The network its config describes, built on the meta device (nothing allocated), has no more parameters
    than its weights hold: a 1 KB config can describe billions."""
    try:
        with torch.device("meta"):
            net = make(read_json(cfg_path, MAX_CONFIG_BYTES))
        want = sum(p.numel() for p in net.parameters())
    except SchemaError:
        raise
    except Exception as e:  # noqa: BLE001 - constructors raise ValueError, TypeError, KeyError…
        raise CheckpointError(f"{cfg_path.parent.name}/config.json: does not describe a {what} "
                              f"({printable(str(e).splitlines()[0][:200]) if str(e) else type(e).__name__})"
                              ) from None
    have = _count(weights)
    if want > have:
        raise CheckpointError(f"{cfg_path.parent.name}: its config.json describes {want:,} parameters, its "
                              f"weights hold {have:,} values (refused before it was built)")


def _tokenizer_files(folder: Path) -> None:
    d = folder / "tokenizer"
    if not d.is_dir():
        raise CheckpointError(f"{folder.name}: no tokenizer folder (the CLIPTokenizer the prompts are read with)")
    names = {p.name for p in d.iterdir()}
    if "tokenizer.json" not in names and not {"vocab.json", "merges.txt"} <= names:
        raise CheckpointError(f"{folder.name}/tokenizer: neither tokenizer.json nor vocab.json and merges.txt")
    for p in d.iterdir():
        check_regular(p, CheckpointError)
        if p.stat().st_size > MAX_TOKENIZER_BYTES:
            raise CheckpointError(f"{folder.name}/tokenizer/{p.name}: {p.stat().st_size:,} bytes, more than a "
                                  f"tokenizer's {MAX_TOKENIZER_BYTES >> 20} MB")


def read_folder(folder: str | Path) -> Folder:
    """Check a Stable Diffusion folder without building anything; raises CheckpointError with the reason."""
    import diffusers

    folder = Path(folder)
    index = index_of(folder)
    if index is None:
        raise CheckpointError(f"{folder.name}: no model_index.json (a Stable Diffusion folder as "
                              "save_pretrained writes it)")
    pipeline = index.get("_class_name")
    if pipeline not in PIPELINES:
        raise CheckpointError(f"{folder.name}/model_index.json names a {shown(str(pipeline)[:80])}; the text-to-"
                              f"image pipelines that open here are {', '.join(PIPELINES)}")
    for name, (lib, classes) in COMPONENTS.items():
        entry = index.get(name)
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) for v in entry)):
            raise CheckpointError(f"{folder.name}: model_index.json has no {name} (a Stable Diffusion folder needs "
                                  f"{', '.join(COMPONENTS)})")
        if entry[0] != lib or (classes is not None and entry[1] not in classes):
            want = " or ".join(classes) if classes else f"a {lib} scheduler"
            raise CheckpointError(f"{folder.name}/model_index.json: its {name} is a {printable(entry[1][:80])} "
                                  f"of {printable(entry[0][:40])}; what opens here is {want}")
        if not (folder / name).is_dir():
            raise CheckpointError(f"{folder.name}: no {name} folder (model_index.json names a {entry[1]})")
    _tokenizer_files(folder)
    unet = _config(folder / "unet" / "config.json", UNET_FIELDS, "the U-Net's config")
    vae = _config(folder / "vae" / "config.json", VAE_FIELDS, "the autoencoder's config")
    text = _config(folder / "text_encoder" / "config.json", TEXT_FIELDS, "the text encoder's config")
    sched = _config(folder / "scheduler" / "scheduler_config.json", SCHEDULER_FIELDS, "the noise schedule")
    _sizes_agree(folder.name, unet, vae, text)
    if unet["time_cond_proj_dim"] is not None or unet["addition_embed_type"] is not None:
        raise CheckpointError(f"{folder.name}/unet: a U-Net with extra conditioning (an LCM's guidance embedding "
                              "or SDXL's added embeddings); Stable Diffusion 1.x and 2.x open here")
    if sched["prediction_type"] not in PREDICTIONS:
        raise CheckpointError(f"{folder.name}/scheduler: prediction_type {shown(sched['prediction_type'][:40])}; "
                              "the U-Net must predict the noise (epsilon) or v (v_prediction)")
    for flag, what in (("thresholding", "dynamic thresholding"), ("rescale_betas_zero_snr", "zero-SNR betas")):
        if sched[flag]:
            raise CheckpointError(f"{folder.name}/scheduler: {what} is not supported")
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas")
    try:
        betas = diffusers.DDPMScheduler(**{k: sched[k] for k in keys}).betas.double()
    except (ValueError, TypeError, NotImplementedError) as e:
        raise CheckpointError(f"{folder.name}/scheduler: {printable(str(e).splitlines()[0][:200])}") from None
    if not torch.isfinite(betas).all() or not ((betas > 0) & (betas < 1)).all():
        raise CheckpointError(f"{folder.name}/scheduler: its betas are not all between 0 and 1")
    variants = {}
    for name, make, what in (("unet", diffusers.UNet2DConditionModel.from_config, "UNet2DConditionModel"),
                             ("vae", diffusers.AutoencoderKL.from_config, "AutoencoderKL"),
                             ("text_encoder", _text_model, "CLIPTextModel")):
        weights, variants[name] = _weights(folder, name)
        _fits(make, folder / name / "config.json", weights, what)
    return Folder(folder, pipeline, unet, vae, text, sched, betas, variants)


def _text_model(cfg: dict):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(**{k: v for k, v in cfg.items() if not k.startswith("_")}))


def _sizes_agree(name: str, unet: dict, vae: dict, text: dict) -> None:
    cross = unet["cross_attention_dim"]
    cross = set(cross) if isinstance(cross, list) else {cross}
    if cross != {text["hidden_size"]}:
        raise CheckpointError(f"{name}: the text encoder's tokens are {text['hidden_size']} wide, the U-Net reads "
                              f"{' and '.join(map(str, sorted(cross)))}: components of different models")
    lat = vae["latent_channels"]
    if unet["out_channels"] != lat or unet["in_channels"] not in (lat, 2 * lat + 1):
        raise CheckpointError(f"{name}: the autoencoder's latents have {lat} channels, the U-Net takes "
                              f"{unet['in_channels']} and predicts {unet['out_channels']}: components of "
                              f"different models")
    if text["max_position_embeddings"] < 2:
        raise CheckpointError(f"{name}/text_encoder: a context of {text['max_position_embeddings']} tokens")


def build(f: Folder, device="cpu", dtype=torch.float32):
    """(unet, vae, text encoder, tokenizer) of a checked folder, frozen, on ``device``."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    parts = []
    for name, cls in (("unet", diffusers.UNet2DConditionModel), ("vae", diffusers.AutoencoderKL),
                      ("text_encoder", transformers.CLIPTextModel)):
        variant = f.variants[name] or None
        try:
            net = cls.from_pretrained(f.path / name, use_safetensors=True, local_files_only=True, variant=variant)
        except Exception as e:  # noqa: BLE001 - the libraries raise ValueError, OSError, RuntimeError…
            raise CheckpointError(f"{f.path.name}/{name}: cannot load the {cls.__name__} "
                                  f"({printable(str(e).splitlines()[0][:300]) if str(e) else type(e).__name__})"
                                  ) from None
        parts.append(net.to(device=device, dtype=dtype).requires_grad_(False).eval())
    try:
        tok = transformers.CLIPTokenizer.from_pretrained(f.path / "tokenizer", local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise CheckpointError(f"{f.path.name}/tokenizer: cannot read it "
                              f"({printable(str(e).splitlines()[0][:300]) if str(e) else type(e).__name__})"
                              ) from None
    if len(tok) > f.text["vocab_size"]:
        raise CheckpointError(f"{f.path.name}: the tokenizer knows {len(tok):,} tokens, the text encoder "
                              f"{f.text['vocab_size']:,}: components of different models")
    if tok.model_max_length > f.text["max_position_embeddings"]:
        tok.model_max_length = f.text["max_position_embeddings"]  # as the text encoder reads them
    return (*parts, tok)
