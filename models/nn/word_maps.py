"""Where each word of a prompt is looked at, DAAM-style (Tang et al. 2023, "What the DAAM: Interpreting Stable
Diffusion Using Cross Attention", sec. 3): for every cross-attention layer of a diffusers U-Net, the attention
weights softmax(QKᵀ/√d) of the image positions over the prompt's tokens, averaged over the heads, upsampled
to the latent grid and summed over the layers. Aggregated as the network runs (one (n, tokens, h, w) sum per
call), so the memory held is one map per token, never the layers' weights.

The processor computes the attention as diffusers' ``AttnProcessor`` does (the weights are needed anyway);
the self-attention layers keep their own processors.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


class WordMaps:
    """The running sum of one network call's cross-attention maps: ``start`` before the call, ``maps`` after."""

    def __init__(self):
        self.sum: torch.Tensor | None = None  # (n, tokens, h, w)
        self.n, self.tokens, self.size = 0, 0, (0, 0)
        self.active = False

    def start(self, n: int, tokens: int, size: tuple[int, int]) -> None:
        """The next call's first ``n`` images of its batch (the prompt's half under guidance), its first
        ``tokens`` tokens, on a latent grid of ``size`` (h, w)."""
        self.sum, self.n, self.tokens, self.size, self.active = None, int(n), int(tokens), tuple(size), True

    def stop(self) -> torch.Tensor | None:
        self.active = False
        return self.sum

    def add(self, probs: torch.Tensor, heads: int) -> None:
        """probs (B·heads, h'·w', L) of one layer -> its head mean resized to the latent grid, added."""
        if not self.active:
            return
        h, w = self.size
        bh, hw, _ = probs.shape
        scale = math.sqrt(h * w / hw)  # the layer's downsampling of the latent grid
        lh, lw = int(round(h / scale)), int(round(w / scale))
        if lh * lw != hw:
            raise ValueError(f"a cross-attention layer of {hw} positions on a {h}×{w} latent grid")
        a = probs.view(bh // heads, heads, hw, -1)[: self.n, :, :, : self.tokens].float().mean(1)  # (n, hw, tok)
        m = a.transpose(1, 2).reshape(self.n, self.tokens, lh, lw)
        if (lh, lw) != (h, w):
            m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
        self.sum = m if self.sum is None else self.sum + m


class CrossAttentionRecorder:
    """A diffusers attention processor for cross-attention layers: the same output as ``AttnProcessor``, and
    its attention weights added to ``maps``."""

    def __init__(self, maps: WordMaps):
        self.maps = maps

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        ndim = hidden_states.ndim
        if ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        batch, length, _ = context.shape
        attention_mask = attn.prepare_attention_mask(attention_mask, length, batch)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        key, value = attn.to_k(context), attn.to_v(context)
        query, key, value = (attn.head_to_batch_dim(v) for v in (query, key, value))
        probs = attn.get_attention_scores(query, key, attention_mask)  # (B·heads, positions, tokens)
        self.maps.add(probs, attn.heads)
        hidden_states = attn.batch_to_head_dim(torch.bmm(probs, value))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def cross_attention_layers(unet) -> dict:
    """name -> module of every cross-attention layer of a diffusers U-Net."""
    from diffusers.models.attention_processor import Attention

    return {name: m for name, m in unet.named_modules() if isinstance(m, Attention) and m.is_cross_attention}


def record_word_maps(unet) -> WordMaps:
    """Give each cross-attention layer of ``unet`` a recording processor; their maps go to the one returned."""
    maps = WordMaps()
    layers = cross_attention_layers(unet)
    if not layers:
        raise ValueError("the U-Net has no cross-attention layers to draw word maps from")
    for m in layers.values():
        m.set_processor(CrossAttentionRecorder(maps))
    return maps


def merge_words(maps: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
    """Token maps (n, tokens, h, w) -> word maps (n, len(groups), h, w): each word the mean of its sub-word
    tokens' maps (DAAM's merge of a word's tokens)."""
    return torch.stack([maps[:, g].mean(1) for g in groups], 1)


def attention_maps(kept: list[torch.Tensor], n: int, tokens: int, side: int) -> torch.Tensor:
    """Our own latent diffusion's cross-attention weights of one network call, one (B', s'², L) tensor per
    layer (B' = 2n with guidance: the prompt's half comes first) -> (n, tokens, side, side): each layer's map
    resized to the latent grid, then the mean over layers (each layer is already the mean over its heads)."""
    maps = []
    for a in kept:
        a = a[:n, :, :tokens]  # the prompt's half; its real tokens
        s = int(round(a.shape[1] ** 0.5))
        m = a.transpose(1, 2).reshape(n, a.shape[-1], s, s)
        maps.append(F.interpolate(m, size=(side, side), mode="nearest") if s != side else m)
    return torch.stack(maps).mean(0)
