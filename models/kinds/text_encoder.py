"""The text encoder of latent diffusion in miniature: a word tokenizer over the captions' vocabulary and a
small transformer, trained CLIP-style (Radford et al. 2021, "Learning Transferable Visual Models From
Natural Language Supervision", fig. 3: a symmetric cross-entropy over the batch's image-text similarities)
against a small image encoder, on captioned data (``scenes``).

What it gives the diffusion U-Net is the sequence of token features (B, L, width) its cross-attention reads;
what it gives a user is retrieval (type a caption, see the nearest images) and zero-shot factor accuracy.
Its latent space, in the map, is the joint embedding of the images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from latent_explorer.models.base import GenerativeModel, ModelConfig, adam, losses_to_floats, need, optimize
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.nn.tokenizer import EOS, MAX_VOCAB, PAD, WORD, Tokenizer, Tokens
from latent_explorer.models.registry import Capabilities, KindSpec, Param, TrainDefaults, register


@dataclass
class TextEncoderConfig(ModelConfig):
    vocab: list[str] = field(default_factory=list)  # the words of the training captions
    context: int = 32  # tokens per text, <bos> and <eos> included
    width: int = 64  # token features (what the U-Net's cross-attention reads)
    layers: int = 3
    heads: int = 4
    embed_dim: int = 64  # the joint image-text space
    phrase_drop: float = 0.0  # captions cut to a random subset of their phrases (short prompts), see _contrast

    image_sizes = (8, 64)
    latent_dims = (2, 1024)

    def __post_init__(self):
        self.latent_dim = self.embed_dim if isinstance(self.embed_dim, int) else 0

    def validate(self) -> None:
        super().validate()
        need(isinstance(self.vocab, list) and 1 <= len(self.vocab) <= MAX_VOCAB and all(
            isinstance(w, str) and WORD.fullmatch(w) and len(w) <= 40 for w in self.vocab)
            and len(set(self.vocab)) == len(self.vocab),
            f"the vocabulary must be 1 to {MAX_VOCAB} distinct lower-case words")
        need(isinstance(self.context, int) and 4 <= self.context <= 256, "context must be 4..256 tokens")
        need(isinstance(self.width, int) and 8 <= self.width <= 1024, "width must be 8..1024")
        need(isinstance(self.heads, int) and 1 <= self.heads <= 16 and self.width % self.heads == 0,
             f"heads must be 1..16 and divide the width {self.width}")
        need(isinstance(self.layers, int) and 1 <= self.layers <= 12, "layers must be 1..12")
        need(isinstance(self.embed_dim, int) and 2 <= self.embed_dim <= 1024, "embed_dim must be 2..1024")
        need(isinstance(self.phrase_drop, (int, float)) and 0 <= self.phrase_drop <= 1,
             "phrase_drop must be in [0, 1]")


class TextTransformer(nn.Module):
    """ids (B, L) -> token features (B, L, width) and the text's feature at its <eos> (B, width)."""

    def __init__(self, vocab_size: int, context: int, width: int, layers: int, heads: int):
        super().__init__()
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Parameter(torch.randn(context, width) * 0.01)
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.token(ids) + self.position[: ids.shape[1]]  # (B, L, W)
        h = self.norm(self.blocks(h, src_key_padding_mask=ids == PAD))
        eos = (ids == EOS).int().argmax(1)
        return h, h[torch.arange(len(ids), device=ids.device), eos]


class ImageEncoder(nn.Module):
    """x (B, C, H, W) in [0, 1] -> (B, out): what the text is contrasted with while training."""

    def __init__(self, channels: int, out: int, w: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 3, 1, 1), nn.GroupNorm(8, w), nn.SiLU(),  # (B, w, H, W)
            nn.Conv2d(w, 2 * w, 3, 2, 1), nn.GroupNorm(8, 2 * w), nn.SiLU(),  # (B, 2w, H/2, W/2)
            nn.Conv2d(2 * w, 2 * w, 3, 1, 1), nn.GroupNorm(8, 2 * w), nn.SiLU(),
            nn.Conv2d(2 * w, 2 * w, 3, 2, 1), nn.GroupNorm(8, 2 * w), nn.SiLU(),  # (B, 2w, H/4, W/4)
        )
        self.where = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(2 * w * 5, out)  # [max over the image, 2x2 average] -> out

    def forward(self, x):
        h = self.net(x * 2 - 1)
        return self.fc(torch.cat([h.amax((2, 3)), self.where(h).flatten(1)], 1))


class TextEncoder(GenerativeModel):
    """CLIP in miniature. ``encode(x)``: images -> the joint space (the map); ``encode_text``: ids -> tokens."""

    loss_names = ("loss", "accuracy")

    def __init__(self, config: TextEncoderConfig):
        super().__init__(config)
        self.tokenizer = Tokenizer(config.vocab, config.context)
        self.text = TextTransformer(self.tokenizer.size, config.context, config.width, config.layers, config.heads)
        self.text_proj = nn.Linear(config.width, config.embed_dim, bias=False)
        self.image = ImageEncoder(config.image_shape[0], config.embed_dim)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))  # CLIP's initial temperature

    def tokenize(self, texts: list[str]) -> Tokens:
        return self.tokenizer(texts)

    def encode_text(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token features (B, L, width) for cross-attention, and the unit text embeddings (B, embed_dim)."""
        tokens, pooled = self.text(ids.to(self.device))
        return tokens, F.normalize(self.text_proj(pooled), dim=-1)

    def encode(self, x, y=None):
        return F.normalize(self.image(x), dim=-1)

    def condition_of(self, data) -> np.ndarray:
        if data.captions is None:
            raise ConfigError(f"a text encoder learns from captions: {data.spec} has none (use scenes)")
        return self.tokenize(list(data.captions)).ids.numpy()

    def cut_captions(self, ids: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor | None]:
        """A share ``p`` of the captions (B, L) cut to a random subset of their phrases (each factor kept with
        probability 1/2: :func:`models.data.scenes.partial_caption`), and which images each text fits (B texts,
        B images) bool: a cut caption fits every image whose caption has the phrases it kept. (ids, None) for
        captions of another grammar or when nothing was cut."""
        from latent_explorer.models.data import scenes

        rows = (torch.rand(len(ids)) < p).nonzero().flatten().tolist()
        texts = [" ".join(w for w in self.tokenizer.decode(r.tolist()) if not w.startswith("<")) for r in ids]
        parsed = [scenes.caption_factors(t) for t in texts]
        if not rows or any(f is None for f in parsed):
            return ids, None
        keep = torch.rand(len(ids), len(scenes.FACTORS)) < 0.5
        fits = torch.zeros(len(ids), len(ids), dtype=torch.bool)
        for i in range(len(ids)):
            kept = [f for f, k in zip(scenes.FACTORS, keep[i].tolist()) if k] if i in rows else scenes.FACTORS
            kept = kept or scenes.FACTORS  # nothing kept: the whole caption
            fits[i] = torch.tensor([all(parsed[j][f] == parsed[i][f] for f in kept) for j in range(len(ids))])
        cut = ids.clone()
        cut[rows] = self.tokenizer([scenes.partial_caption(texts[i], dict(zip(scenes.FACTORS, keep[i].tolist())))
                                    for i in rows]).ids.to(ids.device)
        return cut, fits.to(ids.device)

    def _contrast(self, x, ids, fits: torch.Tensor | None = None):
        """The symmetric contrastive loss (Radford et al. 2021, fig. 3). ``fits`` (B texts, B images): every
        image a text fits is a right answer (a short caption fits many), the target spread evenly over them."""
        img = self.encode(x)
        _, txt = self.encode_text(ids)
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * img @ txt.T  # (B images, B texts)
        target = torch.arange(len(x), device=x.device)
        if fits is None:  # whole captions: its own image is the target; another of the same caption counts as right
            fits = (ids[:, None, :] == ids[None, :, :]).all(-1)
            loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        else:
            t = fits.float()
            loss = (F.cross_entropy(logits.T, t / t.sum(1, keepdim=True))  # each text -> the images it fits
                    + F.cross_entropy(logits, t.T / t.T.sum(1, keepdim=True))) / 2  # each image -> its texts
        accuracy = fits.T[target, logits.argmax(1)].float().mean()
        return loss, accuracy

    def train_step(self, x, y, opts, step):
        fits = None
        if self.config.phrase_drop > 0:
            y, fits = self.cut_captions(y, self.config.phrase_drop)
        loss, acc = self._contrast(x, y, fits)
        optimize(loss, opts["opt"], self.parameters(), grad_sync=self.grad_sync, name="contrastive loss")
        return losses_to_floats({"loss": loss, "accuracy": acc})

    @torch.no_grad()
    def evaluate(self, x, y, generator=None):
        loss, acc = self._contrast(x, y)
        return {"loss": loss.item(), "accuracy": acc.item()}

    def make_optimizers(self, lr=None):
        return {"opt": adam(self.parameters(), lr or self.default_lr)}

    def decode(self, z, y=None):
        raise NotImplementedError("a text encoder draws no images")

    def preview(self, x, y, generator):
        return None


@torch.no_grad()
def text_figures(model: TextEncoder, data, n: int = 500, seed: int = 0) -> dict:
    """What a text encoder has learnt, on ``n`` held-out images of captioned data: retrieval (each caption
    finds its image among the ``n``: top-1 and top-5, an image of the same caption counting as right) and,
    for single-object ``scenes``, zero-shot factor accuracy (the true caption against the same caption with
    one factor changed to each other value: does the image pick its own?)."""
    from latent_explorer.models.data import scenes

    if data.captions is None:
        raise ConfigError(f"{data.spec} has no captions to match images with")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(data), min(n, len(data)), replace=False))
    caps = [data.captions[i] for i in idx]
    img = torch.cat([model.encode(torch.from_numpy(data.images[idx[i : i + 250]]))
                     for i in range(0, len(idx), 250)])
    txt = model.encode_text(model.tokenize(caps).ids)[1]
    same = torch.tensor([[a == b for b in caps] for a in caps])
    order = (txt @ img.T).argsort(1, descending=True)  # (texts, images), best first
    hits = same.gather(1, order[:, :5])
    out = {"retrieval_top1": round(float(hits[:, 0].float().mean()), 4),
           "retrieval_top5": round(float(hits.any(1).float().mean()), 4), "n_retrieval": len(idx)}
    names = list(data.factor_names or [])
    if data.factors is None or names[:5] != scenes.FACTORS:  # zero-shot needs the one-object scenes' factors
        return out
    zero = {}
    for j, factor in enumerate(scenes.FACTORS):
        values = scenes.FACTOR_VALUES[factor]
        right = 0
        for k, i in enumerate(idx):
            row = np.asarray(data.factors[i], np.int64)
            cands = []
            for v in range(len(values)):
                r = row.copy()
                r[j] = v
                cands.append(scenes.scene_caption(r[:4], r[4]))
            t = model.encode_text(model.tokenize(cands).ids)[1]
            right += int((t @ img[k]).argmax()) == int(row[j])
        zero[factor] = round(right / len(idx), 4)
    out["zero_shot_accuracy"] = zero
    return out


def vocabulary_of(data) -> dict:
    """The config a text encoder takes from its data: the words of its captions."""
    if data.captions is None:
        raise ConfigError(f"a text encoder learns from captions: {data.spec} has none (use scenes)")
    return {"vocab": Tokenizer.vocabulary(data.captions)}


register(KindSpec(
    "clip", "Text encoder (CLIP-style)", TextEncoder, TextEncoderConfig, TrainDefaults(10, 256, 1e-3),
    Capabilities(encoder=True, prior=False, decodes_z=False, text_encoder=True), conditioning="text", latent_dim=None,
    params=(Param("layers", "Layers", int, "transformer layers of the text encoder", minimum=1, maximum=12),
            Param("embed_dim", "Embedding size", int, "size of the joint image-text space", minimum=2,
                  maximum=1024),
            Param("phrase_drop", "Short captions", float, "share of captions cut to a random subset of their "
                  "phrases, so that short prompts are read (may change when resuming)", minimum=0, maximum=1,
                  resumable=True)),
    from_data=vocabulary_of,
    description="a tokenizer and a small transformer trained against images CLIP-style; its map is the "
                "joint embedding of the images"))
