"""Stable Diffusion from a local folder (:mod:`models.io.sd_folder`), sampled by our own samplers so that every
step can be recorded: Rombach et al. 2022 — a U-Net predicts the noise (or v, Salimans & Ho 2022) of the
autoencoder's scaled latents, reading CLIP's token features through cross-attention; classifier-free
guidance (Ho & Salimans 2022) ε̂ = ε_neg + w (ε_text − ε_neg). It answers the Text-to-Image view as our own
latent diffusion does (its parts: an autoencoder and a text encoder), with word maps aggregated over every
cross-attention layer as the U-Net runs (:mod:`models.nn.word_maps`).

Inpainting: a U-Net of 9 input channels reads the mask and the masked image's latents beside z_t, as diffusers'
``StableDiffusionInpaintPipeline`` gives them; any other keeps the known region by RePaint's replacement
(:mod:`models.sampling.inpaint`). Parity with diffusers' pipelines: ``tests/models/test_stable_diffusion.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from latent_explorer.models.base import GenerativeModel, ModelConfig, need
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.nn.tokenizer import Tokens
from latent_explorer.models.nn.word_maps import record_word_maps
from latent_explorer.models.registry import Capabilities, KindSpec, TrainDefaults, register
from latent_explorer.models.sampling import inpaint as repaint
from latent_explorer.models.sampling import latent_runs
from latent_explorer.models.sampling.latent_runs import sdedit
from latent_explorer.models.sampling.samplers import SAMPLERS, EulerAncestralSampler, make_sampler
from latent_explorer.models.sampling.schedule import DiffusionScheduler


@dataclass
class StableDiffusionConfig(ModelConfig):
    folder: str = ""
    latent_shape: tuple[int, ...] = (4, 64, 64)  # of the default size: (latent channels, H/8, W/8)
    timesteps: int = 1000
    prediction: str = "epsilon"  # or "v_prediction"
    vae_scale: int = 8  # image pixels per latent cell
    context: int = 77  # tokens the text encoder reads, <bos> and <eos> among them

    image_sizes = (8, 4096)
    square = False
    latent_dims = (1, 1 << 26)

    def validate(self) -> None:
        super().validate()
        need(self.prediction in ("epsilon", "v_prediction"), "prediction must be epsilon or v_prediction")


class ClipWords:
    """The CLIP tokenizer as the views read a prompt: its words (sub-word tokens merged back), which of them
    fit in the context, and the token groups that make each word."""

    subwords = True  # a word may be several tokens

    def __init__(self, tok):
        self.tok = tok
        self.context = int(tok.model_max_length)

    def pieces(self, text: str) -> list[tuple[str, list[int]]]:
        """(word, the 0-based indices of its tokens after <bos>) for every word of ``text``."""
        out, group, start = [], [], 0
        toks = self.tok.tokenize(str(text))
        for i, t in enumerate(toks):
            group.append(t)
            if t.endswith("</w>") or i == len(toks) - 1:
                out.append((self._text(group), list(range(start, i + 1))))
                group, start = [], i + 1
        return out

    @staticmethod
    def _text(tokens: list[str]) -> str:
        """Byte-level BPE tokens ("re", "d</w>") back to the text they read ("red")."""
        from tokenizers import decoders

        return decoders.ByteLevel().decode(["".join(t.replace("</w>", "") for t in tokens)]).strip()

    def words(self, text: str) -> list[str]:
        return [w for w, _ in self.pieces(text)]

    @staticmethod
    def unknown(text: str) -> list[str]:
        return []  # byte-level BPE reads any text

    def fitting(self, text: str) -> int:
        """How many of the words fit whole in the context (less <bos> and <eos>)."""
        return sum(ix[-1] < self.context - 2 for _, ix in self.pieces(text))


class SDText:
    """The CLIP text encoder as our latent diffusion's text part: prompts -> ids -> token features."""

    def __init__(self, model, tok):
        self.model, self.tokenizer = model, ClipWords(tok)
        self.config = self  # the CLI reads .config.context
        self.context = self.tokenizer.context

    def tokenize(self, prompts: list[str]) -> Tokens:
        tok = self.tokenizer.tok
        ids = tok(list(prompts), padding="max_length", max_length=self.context, truncation=True,
                  return_tensors="pt").input_ids
        fits = [self.tokenizer.fitting(p) >= len(self.tokenizer.words(p)) for p in prompts]
        return Tokens(ids, [not f for f in fits])

    @torch.no_grad()
    def encode_text(self, ids: torch.Tensor):
        dev = next(self.model.parameters()).device
        return self.model(ids.to(dev))[0], None  # the last hidden state, as diffusers' encode_prompt


class SDAutoencoder:
    """The AutoencoderKL in the units the U-Net works in (× scaling_factor), images in [0, 1]."""

    def __init__(self, vae):
        self.vae = vae
        self.scale = float(vae.config.scaling_factor)

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        p = next(self.vae.parameters())
        x = self.vae.decode(z.to(p.device, p.dtype) / self.scale).sample
        return (x.float() / 2 + 0.5).clamp(0, 1).cpu()

    @torch.no_grad()
    def encode(self, x: torch.Tensor, generator=None) -> torch.Tensor:
        """x (B, 3, H, W) in [0, 1] -> a sample of q(z | x), scaled (drawn from ``generator``, as diffusers)."""
        p = next(self.vae.parameters())
        dist = self.vae.encode(x.to(p.device, p.dtype) * 2 - 1).latent_dist
        return (dist.sample(generator) * self.scale).float()


class StableDiffusion(GenerativeModel):
    """A Stable Diffusion pipeline's networks, stepped by our samplers."""

    def __init__(self, config: StableDiffusionConfig, unet=None, vae=None, text=None, tok=None, betas=None,
                 scheduler: dict | None = None):
        super().__init__(config)
        self.unet, self.vae, self.text_model = unet, vae, text
        with torch.device("cpu"):
            self.scheduler = DiffusionScheduler(config.timesteps, betas=betas, clip_sample=False)
        sched = scheduler or {}
        self.scheduler.steps_offset = int(sched.get("steps_offset", 0))
        if not sched.get("set_alpha_to_one", True):
            self.scheduler.final_alpha_cumprod = float(self.scheduler.alphas_cumprod[0])
        self.word_maps = record_word_maps(unet) if unet is not None else None
        self._parts = (SDAutoencoder(vae), SDText(text, tok)) if vae is not None else None

    @property
    def parts(self):
        return self._parts

    @property
    def inpaints(self) -> bool:
        """A U-Net trained for inpainting (it reads the mask and the masked image)."""
        return self.unet.config.in_channels == 2 * self.config.latent_shape[0] + 1

    def size_of(self, size: tuple[int, int] | None) -> tuple[int, int]:
        """(H, W) of an image to generate: ``size`` or the default, each a multiple of the latent cell."""
        h, w = size or self.image_shape[1:]
        f = self.config.vae_scale
        if not (isinstance(h, int) and isinstance(w, int)) or h % f or w % f or not (f <= h <= 4096 and
                                                                                       f <= w <= 4096):
            raise ConfigError(f"the size must be multiples of {f} pixels from {f} to 4096, got {w}×{h}")
        return h, w

    def latent_shape_for(self, size=None) -> tuple[int, int, int]:
        h, w = self.size_of(size)
        return self.config.latent_shape[0], h // self.config.vae_scale, w // self.config.vae_scale

    # -- text ---------------------------------------------------------------------------------------
    def prompt_ids(self, prompts: list[str]) -> Tokens:
        return self.parts[1].tokenize(prompts)

    def tokens(self, ids: torch.Tensor):
        return self.parts[1].encode_text(ids)[0].float(), None

    def word_groups(self, prompt: str) -> tuple[list[str], list[list[int]]]:
        """The prompt as shown beside its maps: <bos>, its words that fit, <eos>, and each one's tokens."""
        pieces = self.parts[1].tokenizer.pieces(prompt)
        fit = [(w, [i + 1 for i in ix]) for w, ix in pieces if ix[-1] < self.config.context - 2]
        last = 1 + (fit[-1][1][-1] if fit else 0)
        return (["<bos>", *(w for w, _ in fit), "<eos>"], [[0], *(ix for _, ix in fit), [last]])

    # -- sampling -----------------------------------------------------------------------------------
    def make_scheduler(self, sampler: str = "ddim", steps: int | None = 25, eta: float = 0.0):
        cls = SAMPLERS.get(sampler)
        return make_sampler(sampler, self.scheduler, steps if cls is not None and cls.takes_steps else None, eta)

    @torch.no_grad()
    def predict_noise(self, z_t, t: int, context, neg_context, guidance: float = 1.0, cond=None,
                      maps_of: int = 0):
        """ε̂ (in latent units, float32) with guidance; ``cond`` (B, 1 + C, h, w): an inpainting U-Net's mask
        and masked-image latents; ``maps_of`` > 0: record the word maps of that many tokens."""
        n = len(z_t)
        p = next(self.unet.parameters())
        x, c = (z_t, context) if guidance == 1.0 else (torch.cat([z_t, z_t]), torch.cat([context, neg_context]))
        if cond is not None:
            x = torch.cat([x, cond if guidance == 1.0 else torch.cat([cond, cond])], 1)
        if maps_of:
            self.word_maps.start(n, maps_of, tuple(z_t.shape[-2:]))
        try:
            tt = torch.full((len(x),), int(t), device=p.device, dtype=torch.long)
            out = self.unet(x.to(p.device, p.dtype), tt, encoder_hidden_states=c.to(p.device, p.dtype)
                            ).sample.float().to(z_t.device)
        finally:
            maps = self.word_maps.stop()
        if guidance != 1.0:
            out_text, out_neg = out.chunk(2)
            out = out_neg + guidance * (out_text - out_neg)
        if self.config.prediction == "v_prediction":  # ε = √ᾱ v + √(1−ᾱ) x_t (Salimans & Ho 2022, sec. 4)
            a = float(self.scheduler.alphas_cumprod[int(t)])
            out = math.sqrt(a) * out + math.sqrt(1 - a) * z_t
        return out, (maps.cpu() if maps_of and maps is not None else None)

    def reverse(self, z_T, prompts: list[str], negative: str = "", scheduler=None, guidance: float = 7.5,
                generator=None, keep_attention: bool = False, controller=None, inpaint=None):
        """Generator over the reverse process in latent space; yields (t, z_t, ε̂, ẑ_0, z_prev, word maps or
        None). ``inpaint``: :class:`models.sampling.inpaint.Inpaint` in latent units."""
        if controller is not None:
            raise ConfigError("a ControlNet steers our own latent diffusion models, not Stable Diffusion")
        sched = scheduler or self.make_scheduler()
        context, _ = self.tokens(self.prompt_ids(prompts).ids)
        neg_context, _ = self.tokens(self.prompt_ids([negative] * len(prompts)).ids)
        cond = inpaint.condition if inpaint is not None and inpaint.condition is not None else None
        known = inpaint if inpaint is not None and cond is None else None
        keep = self.config.context if keep_attention else 0

        def step(z, t):
            eps, maps = self.predict_noise(z, t, context, neg_context, guidance, cond, keep)
            out = sched.step(eps, t, z, generator=generator)
            return eps, out.pred_original_sample, out.prev_sample, maps

        yield from repaint.steps(sched, step, z_T, known, generator)

    def _mask_condition(self, init, mask, shape, generator):
        """An inpainting U-Net's extra input (B, 1 + C, h, w): the mask on the latent grid (nearest, as
        diffusers) and the latents of the image with the masked region blanked to 0 in [−1, 1] (mid-grey)."""
        m = F.interpolate(mask, size=shape[-2:])
        keep = (mask < 0.5).to(init.dtype)
        masked = self.parts[0].encode(init * keep + 0.5 * (1 - keep), generator)
        return torch.cat([m, masked], 1)

    def txt2img(self, prompts: list[str], negative: str = "", sampler: str = "ddim", steps: int = 25,
                guidance: float = 7.5, seed: int = 0, **kw):
        """Images (B, 3, H, W) in [0, 1]. ``init`` (B, 3, H, W): img2img from its encoding noised ``strength``
        of the way, or with ``mask`` (B, 1, H, W), 1 where to paint: inpainting. ``latents``: z_T itself
        (:func:`models.sampling.latent_runs.txt2img`)."""
        return latent_runs.txt2img(self, prompts, negative, sampler, steps, guidance, seed, **kw)

    def start(self, n, sched, g, init=None, mask=None, strength=1.0, size=None, latents=None, resample=1):
        """z_T and the inpainting to run, drawn from ``g`` in diffusers' order (the noise, then the masked
        image's latents); img2img starts later in the schedule (SDEdit, Meng et al. 2022)."""
        shape = (n, *self.latent_shape_for(size if init is None else tuple(init.shape[-2:])))
        z = torch.randn(shape, generator=g) if latents is None else latents.float()
        if tuple(z.shape) != shape:
            raise ConfigError(f"latents of shape {tuple(z.shape)} for {shape}")
        if isinstance(sched, EulerAncestralSampler) and (init is None or mask is not None or strength == 1.0):
            # diffusers and k-diffusion start Euler a at x_σ = σ_max ε (x_0 taken as 0), not at √(σ²+1) ε
            s = sched.sigma(int(sched.timesteps[0]))
            z = z * (s / math.sqrt(s * s + 1))
        if init is None:
            if mask is not None:
                raise ConfigError("a mask needs the image it masks (--init-image)")
            return z, None
        if mask is not None:
            repaint.check_mask(mask, init)
            if self.inpaints:
                return z, repaint.Inpaint(None, None, condition=self._mask_condition(init, mask, shape, g))
            known = self.parts[0].encode(init, g)
            return z, repaint.Inpaint(known, repaint.latent_mask(mask, shape[-2:]), resample=resample)
        if self.inpaints:
            raise ConfigError("an inpainting model paints a masked region: give a mask with the image")
        return sdedit(sched, lambda: self.parts[0].encode(init, g), z, strength), None

    def sample(self, n, y=None, generator=None, prompt: str = "", **kw):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator)) if generator is not None else 0
        return self.txt2img([prompt] * n, seed=seed, **{k: v for k, v in kw.items() if v is not None})

    def decode(self, z, y=None):
        raise NotImplementedError("Stable Diffusion decodes through its prompt: use txt2img")

    def train_step(self, x, y, opts, step):
        raise NotImplementedError("Stable Diffusion is not trained here")

    def preview(self, x, y, generator):
        return None


def load_stable_diffusion(folder: str | Path, device="cpu") -> StableDiffusion:
    """Open a checked Stable Diffusion folder: fp16 on CUDA, fp32 elsewhere."""
    from latent_explorer.models.io.sd_folder import build, read_folder

    f = read_folder(folder)
    device = torch.device(device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    unet, vae, text, tok = build(f, device, dtype)
    h, w = (s * f.vae_scale for s in f.sample_size)
    lat = (f.latent_channels, h // f.vae_scale, w // f.vae_scale)
    cfg = StableDiffusionConfig(kind="stable-diffusion", image_shape=(3, h, w), latent_dim=math.prod(lat),
                                folder=str(f.path), latent_shape=lat, timesteps=len(f.betas),
                                prediction=f.scheduler["prediction_type"], vae_scale=f.vae_scale,
                                context=int(tok.model_max_length))
    model = StableDiffusion(cfg, unet, vae, text, tok, f.betas, f.scheduler)
    model.meta = {"path": str(f.path), "kind": "stable-diffusion", "data": {}, "class_names": [], "training": {},
                  "config": {"class": f.pipeline, "folder": str(f.path)}}
    return model


register(KindSpec(
    "stable-diffusion", "Stable Diffusion (diffusers folder)", StableDiffusion, StableDiffusionConfig,
    TrainDefaults(1, 1, 1e-4), Capabilities(prior=False, decodes_z=False, slow_decode=True, text_to_image=True,
                                                 any_size=True, inpaints=True),
    conditioning="text", latent_dim=None, trainable=False,
    description="a Stable Diffusion 1.x/2.x folder: text -> latents -> image, every step recorded"))
