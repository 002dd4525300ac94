"""Latent diffusion driven by text (Rombach et al. 2022, sec. 3.3): a U-Net predicts the noise of the latent
autoencoder's latents, reading the text encoder's token features through cross-attention
(softmax(QKᵀ/√d)·V, eq. 3, Q from the image features, K and V from the tokens), conditioned on the timestep;
captions are dropped to the empty prompt a tenth of the time, so one network predicts both ε(z_t, text) and
ε(z_t, "") for classifier-free guidance (Ho & Salimans 2022): ε̂ = ε_neg + w (ε_text − ε_neg), where the
negative prompt's prediction stands in for the unconditional one.

The two parts are checkpoints of their own (``latent-ae``, ``clip``). This model's checkpoint holds only the
U-Net and names its parts by file name and SHA-256: they are looked for beside it (then among the bundled
models) and a file that differs from the one it was trained with is refused with both digests.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, need, optimize
from latent_explorer.models.errors import CheckpointError, ConfigError
from latent_explorer.models.io.digest import file_digest
from latent_explorer.models.nn.blocks import ema_update
from latent_explorer.models.nn.text_unet import TextUNet
from latent_explorer.models.progress import Step
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register
from latent_explorer.models.sampling import latent_runs
from latent_explorer.models.sampling.latent_runs import sdedit
from latent_explorer.models.sampling.samplers import SAMPLERS, make_sampler
from latent_explorer.models.sampling.schedule import DiffusionScheduler


@dataclass
class LatentDiffusionConfig(ModelConfig):
    autoencoder: str = ""  # the latent-ae checkpoint it was trained with (a path while training; its name after)
    text_encoder: str = ""  # the clip checkpoint
    autoencoder_sha256: str = ""
    text_encoder_sha256: str = ""
    latent_shape: tuple[int, ...] = (0, 0, 0)  # of the autoencoder's latents, e.g. (4, 8, 8)
    context_dim: int = 0  # width of the text encoder's token features
    width: int = 64
    heads: int = 4
    timesteps: int = 1000
    schedule: str = "linear"
    ema_decay: float = 0.999
    cond_drop: float = 0.1  # captions replaced by the empty prompt, for classifier-free guidance
    phrase_drop: float = 0.0  # captions cut to a random subset of their phrases (short prompts), see partial_prompts

    image_sizes = (8, 64)
    latent_dims = (1, 16 * 16 * 16)

    def __post_init__(self):
        shape = self.latent_shape if isinstance(self.latent_shape, tuple) else ()
        ok = len(shape) == 3 and all(isinstance(v, int) and v > 0 for v in shape)
        self.latent_dim = math.prod(shape) if ok else 1  # the "latent" is z_T, a grid of latent channels

    def validate(self) -> None:
        super().validate()
        for name in ("autoencoder", "text_encoder"):
            need(isinstance(getattr(self, name), str) and getattr(self, name),
                 f"latent diffusion needs its {name.replace('_', ' ')} checkpoint (--{name.replace('_', '-')} FILE)")
        need(isinstance(self.width, int) and 8 <= self.width <= 512, f"width must be 8..512, got {self.width}")
        need(isinstance(self.heads, int) and 1 <= self.heads <= 16 and self.width % self.heads == 0,
             f"heads must be 1..16 and divide the width {self.width}")
        need(isinstance(self.timesteps, int) and 10 <= self.timesteps <= 10000, "timesteps must be 10..10000")
        need(self.schedule in ("linear", "cosine"), f"unknown schedule {self.schedule!r}")
        need(isinstance(self.ema_decay, (int, float)) and 0 <= self.ema_decay < 1, "ema_decay must be in [0, 1)")
        need(isinstance(self.cond_drop, (int, float)) and 0 <= self.cond_drop < 1, "cond_drop must be in [0, 1)")
        need(isinstance(self.phrase_drop, (int, float)) and 0 <= self.phrase_drop <= 1,
             "phrase_drop must be in [0, 1]")
        need(isinstance(self.latent_shape, tuple) and len(self.latent_shape) == 3 and all(
            isinstance(v, int) and 1 <= v <= 64 for v in self.latent_shape), "latent_shape must be 3 sizes")
        need(isinstance(self.context_dim, int) and 1 <= self.context_dim <= 4096, "context_dim must be 1..4096")
        for name in ("autoencoder_sha256", "text_encoder_sha256"):
            need(isinstance(getattr(self, name), str) and len(getattr(self, name)) == 64, f"{name} must be a "
                 "SHA-256 digest")


def _load_parts(cfg: LatentDiffusionConfig, autoencoder: Path, text_encoder: Path):
    """[(autoencoder, sha256), (text encoder, sha256)], checked: each file exists, is of its kind, matches
    the digest the config holds (if it holds one) and fits the images."""
    from latent_explorer.models.io.checkpoint import load

    parts = []
    for path, kind, want in ((autoencoder, "latent-ae", cfg.autoencoder_sha256),
                             (text_encoder, "clip", cfg.text_encoder_sha256)):
        if not path.is_file():
            raise CheckpointError(f"{path}: no such file (the {kind} of this latent diffusion model)")
        digest = file_digest(path)
        if want and digest != want:
            raise CheckpointError(f"{path.name} is not the {kind} this model was trained with (its SHA-256 is "
                                  f"{digest[:12]}…, the model's {want[:12]}…)")
        part = load(path)
        if part.kind != kind:
            raise CheckpointError(f"{path.name} is a {part.kind} model, not a {kind}")
        parts.append((part.requires_grad_(False).eval(), digest))
    ae = parts[0][0]
    if tuple(ae.image_shape) != tuple(cfg.image_shape):
        raise ConfigError(f"the autoencoder {autoencoder.name} reads {ae.image_shape} images, the data is "
                          f"{tuple(cfg.image_shape)}")
    return parts


def resolve_parts(cfg: LatentDiffusionConfig) -> None:
    """A new model's config (the CLI, the Training view): the shapes and digests of the part files the user
    named, read now so the U-Net can be built and the checkpoint can name them."""
    for name in ("autoencoder", "text_encoder"):
        if not getattr(cfg, name):
            raise ConfigError(f"latent diffusion needs its {name.replace('_', ' ')} checkpoint "
                              f"(--{name.replace('_', '-')} FILE)")
    (ae, ae_sha), (te, te_sha) = _load_parts(cfg, Path(cfg.autoencoder), Path(cfg.text_encoder))
    cfg.autoencoder_sha256, cfg.text_encoder_sha256 = ae_sha, te_sha
    cfg.latent_shape, cfg.context_dim = tuple(ae.latent_shape), te.config.width
    cfg.__post_init__()


class LatentDiffusion(GenerativeModel):
    loss_names = ("noise_mse",)

    def __init__(self, config: LatentDiffusionConfig):
        super().__init__(config)
        self._parts: tuple | None = None  # (autoencoder, text encoder), frozen; not in this state_dict
        self._autoencoder_file: Path | None = None  # where the autoencoder was found (beside a loaded file)
        self.unet = TextUNet(config.latent_shape, config.width, config.context_dim, config.heads)
        self.ema = copy.deepcopy(self.unet).requires_grad_(False)
        with torch.device("cpu"):
            self.scheduler = DiffusionScheduler(config.timesteps, config.schedule, clip_sample=False)

    # -- the parts ---------------------------------------------------------------------------
    def attach_parts(self, autoencoder: Path, text_encoder: Path) -> None:
        """Load the two part checkpoints, refusing files other than those this model was trained with."""
        self._parts = tuple(p for p, _ in _load_parts(self.config, Path(autoencoder), Path(text_encoder)))
        self._autoencoder_file = Path(autoencoder)

    def on_loaded(self, path: Path) -> None:
        """After its checkpoint is read: the parts are the files of their names beside it (then among the
        bundled models); a checkpoint does not choose other paths to read."""
        from latent_explorer.models.io.checkpoint import BUNDLED_DIR

        found = []
        for name in (Path(self.config.autoencoder).name, Path(self.config.text_encoder).name):
            cand = [d / name for d in (path.parent, BUNDLED_DIR) if (d / name).is_file()]
            if not cand:
                raise CheckpointError(f"{path.name} needs {name!r} beside it (the part it was trained with)")
            found.append(cand[0])
        self.attach_parts(*found)

    def resume_with(self, **changes) -> None:
        """As the base; a new text encoder (``text_encoder``) is read now and must give tokens of the width the
        U-Net reads: the U-Net goes on learning, now from its tokens (the checkpoint names the new file)."""
        if "text_encoder" in changes:
            cfg = copy.deepcopy(self.config)
            cfg.text_encoder, cfg.text_encoder_sha256 = changes["text_encoder"], ""
            cfg.autoencoder = str(self._autoencoder_file or cfg.autoencoder)  # still checked by its digest
            resolve_parts(cfg)
            if (cfg.latent_shape, cfg.context_dim) != (self.config.latent_shape, self.config.context_dim):
                raise ConfigError(f"--text-encoder {Path(cfg.text_encoder).name}: its tokens are {cfg.context_dim} "
                                  f"wide, the U-Net reads {self.config.context_dim}")
            changes = {**changes, "text_encoder_sha256": cfg.text_encoder_sha256}
            self._parts = None  # read again from the config's paths
            self.config.autoencoder = str(self._autoencoder_file or self.config.autoencoder)
        super().resume_with(**changes)

    @property
    def parts(self):
        if self._parts is None:  # a model being trained: the files the user named
            self.attach_parts(Path(self.config.autoencoder), Path(self.config.text_encoder))
        return self._parts

    def condition_of(self, data):
        from latent_explorer.models.nn.tokenizer import UnknownWords

        try:
            return self.parts[1].condition_of(data)
        except UnknownWords as e:
            raise ConfigError(f"{data.spec}: its captions hold words the text encoder never learnt ({e})") from None

    def tokens(self, ids: torch.Tensor):
        """Token ids (B, L) -> token features (B, L, ctx) and their padding mask (B, L)."""
        feats, _ = self.parts[1].encode_text(ids)
        return feats.to(self.device), (ids == 0).to(self.device)

    def prompt_ids(self, prompts: list[str]):
        return self.parts[1].tokenize(prompts)

    # -- training ----------------------------------------------------------------------------
    def make_optimizers(self, lr=None):
        return {"opt": adam(self.unet.parameters(), lr or self.default_lr)}

    @torch.no_grad()
    def _latents(self, x):
        ae = self.parts[0].to(x.device)
        return ae.encode(x).view(len(x), *self.config.latent_shape)

    def _loss(self, net, x, ids, generator=None):
        z0 = self._latents(x)
        t = torch.randint(0, self.config.timesteps, (len(z0),), generator=generator).to(x.device)
        noise = torch.randn(z0.shape, generator=generator).to(x.device)
        with torch.no_grad():
            context, pad = self.tokens(ids)
        return F.mse_loss(net(self.scheduler.add_noise(z0, noise, t), t, context, pad), noise)

    def drop_prompts(self, ids: torch.Tensor, p: float) -> torch.Tensor:
        """Token ids with a share ``p`` of the prompts replaced by the empty one (<bos> <eos>), for
        classifier-free guidance."""
        ids = ids.clone()
        ids[torch.rand(len(ids), device=ids.device) < p] = self.prompt_ids([""]).ids.to(ids.device)
        return ids

    def partial_prompts(self, ids: torch.Tensor, p: float) -> torch.Tensor:
        """Token ids with a share ``p`` of the captions cut to a random subset of their phrases (each of size,
        colour, shape, position and background kept with probability 1/2: :func:`models.data.scenes.partial_caption`),
        so that a short prompt such as "a blue star" is one the network has read, and what it leaves unsaid
        varies as in the data. Captions of another grammar stay whole."""
        from latent_explorer.models.data import scenes

        rows = (torch.rand(len(ids)) < p).nonzero().flatten().tolist()
        if not rows:
            return ids
        keep = torch.rand(len(ids), len(scenes.FACTORS)) < 0.5
        tok = self.parts[1].tokenizer
        texts = []
        for i in rows:
            words = [w for w in tok.decode(ids[i].tolist()) if not w.startswith("<")]
            texts.append(scenes.partial_caption(" ".join(words), dict(zip(scenes.FACTORS, keep[i].tolist()))))
        ids = ids.clone()
        ids[rows] = tok(texts).ids.to(ids.device)
        return ids

    def train_step(self, x, y, opts, step):
        if self.config.phrase_drop > 0:
            y = self.partial_prompts(y, self.config.phrase_drop)
        loss = self._loss(self.unet, x, self.drop_prompts(y, self.config.cond_drop))
        optimize(loss, opts["opt"], self.unet.parameters(), clip=1.0, grad_sync=self.grad_sync,
                 name="noise-prediction loss")
        return {"noise_mse": loss.item()}

    def after_step(self):
        ema_update(self.ema, self.unet, self.config.ema_decay)

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        return {"noise_mse": self._loss(self.ema, x, y, generator).item()}

    # -- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def predict_noise(self, z_t, t: int, context, pad, neg_context, neg_pad, guidance: float = 1.0,
                      kept: list | None = None, controller=None):
        """ε̂ = ε_neg + w (ε_text − ε_neg); w = 1 is the prompt alone (one network call). ``controller``
        (z_t, t, context, pad) -> residuals: a ControlNet steering both predictions."""
        tt = torch.full((len(z_t),), int(t), device=z_t.device, dtype=torch.long)

        def net(z, t_, c, p):
            return self.ema(z, t_, c, p, kept, None if controller is None else controller(z, t_, c, p))

        if guidance == 1.0:
            return net(z_t, tt, context, pad)
        both = net(torch.cat([z_t, z_t]), torch.cat([tt, tt]), torch.cat([context, neg_context]),
                   torch.cat([pad, neg_pad]))
        eps, eps_neg = both.chunk(2)
        return eps_neg + guidance * (eps - eps_neg)

    def make_scheduler(self, sampler: str = "ddim", steps: int | None = 25, eta: float = 0.0):
        cls = SAMPLERS.get(sampler)
        return make_sampler(sampler, self.scheduler, steps if cls is not None and cls.takes_steps else None, eta)

    def word_groups(self, prompt: str) -> tuple[list[str], list[list[int]]]:
        """The prompt's tokens as shown beside their maps (<bos> words… <eos>), each its own group."""
        ids = self.prompt_ids([prompt]).ids[0]
        names = self.parts[1].tokenizer.decode(ids[ids != 0].tolist())
        return names, [[i] for i in range(len(names))]

    def reverse(self, z_T, prompts: list[str], negative: str = "", scheduler=None, guidance: float = 5.0,
                generator=None, keep_attention: bool = False, controller=None, inpaint=None):
        """Generator over the reverse process in latent space; yields (t, z_t, ε̂, ẑ_0, z_prev, maps): maps
        (n, tokens, s, s) the cross-attention per token when ``keep_attention`` (else None). ``inpaint``: the
        known region kept by RePaint (:mod:`models.sampling.inpaint`)."""
        from latent_explorer.models.nn.word_maps import attention_maps
        from latent_explorer.models.sampling import inpaint as repaint

        sched = scheduler or self.make_scheduler()
        ids = self.prompt_ids(prompts).ids
        context, pad = self.tokens(ids)
        neg_context, neg_pad = self.tokens(self.prompt_ids([negative] * len(prompts)).ids)

        def step(z, t):
            kept: list | None = [] if keep_attention else None
            eps = self.predict_noise(z, t, context, pad, neg_context, neg_pad, guidance, kept, controller)
            out = sched.step(eps, t, z, generator=generator)
            maps = attention_maps(kept, len(z), ids.shape[1], z.shape[-1]) if keep_attention else None
            return eps, out.pred_original_sample, out.prev_sample, maps

        yield from repaint.steps(sched, step, z_T, inpaint, generator)

    def start(self, n, sched, g, init=None, mask=None, strength=1.0, size=None, latents=None, resample=1):
        """z_T and the inpainting to run: ``init`` with ``mask`` (1 where to paint): RePaint on its latents;
        ``init`` alone: SDEdit (Meng et al. 2022), its encoding noised to the step ``strength`` of the way."""
        from latent_explorer.models.sampling import inpaint as repaint

        if size is not None and tuple(size) != tuple(self.image_shape[1:]):
            raise ConfigError(f"this model makes {self.image_shape[2]}×{self.image_shape[1]} images only")
        shape = (n, *self.config.latent_shape)
        z = torch.randn(shape, generator=g) if latents is None else latents.float()
        if init is None:
            if mask is not None:
                raise ConfigError("a mask needs the image it masks (--init-image)")
            return z, None
        if mask is not None:
            repaint.check_mask(mask, init)
            known = self._latents(init)
            return z, repaint.Inpaint(known, repaint.latent_mask(mask, shape[-2:]).expand(n, 1, *shape[-2:]),
                                      resample=resample)
        return sdedit(sched, lambda: self._latents(init), z, strength), None

    def txt2img(self, prompts: list[str], negative: str = "", sampler: str = "ddim", steps: int = 25,
                guidance: float = 5.0, seed: int = 0, **kw):
        """Images (B, C, H, W) in [0, 1] for ``prompts``; ``init``, ``mask``, ``strength``: see :meth:`start`
        (:func:`models.sampling.latent_runs.txt2img`)."""
        return latent_runs.txt2img(self, prompts, negative, sampler, steps, guidance, seed, **kw)

    def sample(self, n, y=None, generator=None, prompt: str = "", **kw):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator)) if generator is not None else 0
        return self.txt2img([prompt] * n, seed=seed, **{k: v for k, v in kw.items() if v is not None})

    def decode(self, z, y=None):
        raise NotImplementedError("latent diffusion decodes through its prompt: use txt2img")

    def preview(self, x, y, generator):
        return None  # sampling 25 steps per preview would slow training down


def held_out_prompts(data, n: int = 256, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Up to ``n`` distinct captions of held-out single-object ``scenes`` (under the "captions" split they
    were never training captions) and their factors (n, 5) in :data:`models.data.scenes.FACTORS` order."""
    from latent_explorer.models.data import scenes

    if data.captions is None or data.factors is None or list(data.factor_names)[:5] != scenes.FACTORS:
        raise ConfigError(f"{data.spec}: prompt adherence is measured on one-object scenes (their factors "
                          "name what each prompt asks for)")
    first: dict[str, int] = {}
    for i, c in enumerate(data.captions):
        first.setdefault(c, i)
    caps = sorted(first)
    pick = np.sort(np.random.default_rng(seed).choice(len(caps), min(n, len(caps)), replace=False))
    prompts = [caps[i] for i in pick]
    return prompts, np.stack([np.asarray(data.factors[first[c]][:5], np.int64) for c in prompts])


def prompt_adherence(model: LatentDiffusion, prompts: list[str], factors: np.ndarray, classifier,
                     guidance: float = 5.0, sampler: str = "ddim", steps: int | None = 25, seed: int = 0,
                     eta: float = 0.0, batch: int = 32):
    """Does an image show what its prompt asks for? One image per prompt, judged by the ``scenes``
    classifier (issue I's yardstick): the share of images whose predicted factor is the prompt's, per factor.
    A generator of Steps; returns {factor: accuracy}."""
    from latent_explorer.models.data import scenes

    heads = ["shape" if h == "label" else h for h in classifier.head_names]
    missing = [f for f in scenes.FACTORS if f not in heads]
    if missing:
        raise ConfigError(f"the classifier has no head for {', '.join(missing)}")
    preds = []
    for i in range(0, len(prompts), batch):
        yield Step(i, len(prompts), f"guidance {guidance:g}: images {i + 1}–{min(len(prompts), i + batch)}")
        x = model.txt2img(prompts[i : i + batch], sampler=sampler, steps=steps, guidance=guidance,
                          seed=seed + i, eta=eta)
        preds.append(classifier.predict(x.clamp(0, 1).numpy())[1])
    pred = np.concatenate(preds)
    return {f: round(float((pred[:, heads.index(f)] == factors[:, j]).mean()), 4)
            for j, f in enumerate(scenes.FACTORS)}


register(KindSpec(
    "ldm", "Latent diffusion (text)", LatentDiffusion, LatentDiffusionConfig,
    TrainDefaults(30, 128, 3e-4, split="captions"),
    Capabilities(prior=False, decodes_z=False, slow_decode=True, text_to_image=True, inpaints=True),
    conditioning="text",
    latent_dim=None,
    params=(Param("autoencoder", "Autoencoder", str, "the latent-ae checkpoint whose latents it learns",
                  file_filter="Latent autoencoder (*.safetensors)"),
            Param("text_encoder", "Text encoder", str, "the clip checkpoint whose tokens it reads (resuming "
                  "with another: the U-Net learns to read its tokens)", file_filter="Text encoder (*.safetensors)",
                  resumable=True),
            Param("width", "Width", int, "base channels of the U-Net", minimum=8, maximum=512),
            Param("timesteps", "Timesteps T", int, "diffusion steps T", minimum=10, maximum=10000),
            Param("phrase_drop", "Short captions", float, "share of captions cut to a random subset of their "
                  "phrases, so that short prompts are understood (may change when resuming)", minimum=0,
                  maximum=1, resumable=True)),
    map_samples=64, prepare=resolve_parts,
    description="text -> latents -> image: a U-Net with cross-attention on a latent autoencoder's latents"))
