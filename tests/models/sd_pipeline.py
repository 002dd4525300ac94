"""A tiny random Stable Diffusion pipeline for tests (not a test module), built from configs as diffusers' own
tests build theirs: a small U-Net, a CLIP text encoder of a small config, a CLIP tokenizer over a vocabulary
written here (byte-level BPE: every byte, then merges that make a few whole words), an AutoencoderKL."""

from __future__ import annotations

from pathlib import Path

import torch

WORDS = ("a", "large", "small", "red", "blue", "circle", "star", "at", "the", "center", "on", "navy",
         "background")


def _bytes() -> list[str]:
    """CLIP's byte -> printable character table (every byte a character of its own)."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    out, extra = list(keep), 0
    for b in range(256):
        if b not in keep:
            out.append(256 + extra)
            extra += 1
    return [chr(c) for c in out]


def tokenizer(max_length: int = 77):
    from transformers import CLIPTokenizer

    chars = _bytes()
    vocab = ["<|startoftext|>", "<|endoftext|>", *chars, *(c + "</w>" for c in chars)]
    merges = []
    for w in WORDS:
        cur = [*w[:-1], w[-1] + "</w>"]
        while len(cur) > 1:
            merges.append((cur[0], cur[1]))
            vocab.append(cur[0] + cur[1])
            cur = [cur[0] + cur[1], *cur[2:]]
    vocab, merges = list(dict.fromkeys(vocab)), list(dict.fromkeys(merges))
    tok = CLIPTokenizer(vocab={t: i for i, t in enumerate(vocab)}, merges=merges)
    tok.model_max_length = max_length
    return tok


def pipeline(inpaint: bool = False, prediction: str = "epsilon", seed: int = 0, scheduler: str = "DDIMScheduler"):
    """A random StableDiffusionPipeline (or StableDiffusionInpaintPipeline, its U-Net of 9 input channels) for
    16×16 images (8×8 latents)."""
    import diffusers
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    tok = tokenizer()
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=9 if inpaint else 4,
        out_channels=4, down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16, norm_num_groups=4,
        attention_head_dim=2)
    vae = diffusers.AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3,
                                  down_block_types=["DownEncoderBlock2D"] * 2,
                                  up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, norm_num_groups=4,
                                  sample_size=16)
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=16,
                                        intermediate_size=37, layer_norm_eps=1e-5, num_attention_heads=2,
                                        num_hidden_layers=2, vocab_size=len(tok), max_position_embeddings=77))
    sched = getattr(diffusers, scheduler)(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                          prediction_type=prediction, steps_offset=1,
                                          **({"clip_sample": False, "set_alpha_to_one": False}
                                             if scheduler == "DDIMScheduler" else {"timestep_spacing": "trailing"}))
    cls = diffusers.StableDiffusionInpaintPipeline if inpaint else diffusers.StableDiffusionPipeline
    return cls(unet=unet, vae=vae, text_encoder=text, tokenizer=tok, scheduler=sched, safety_checker=None,
               feature_extractor=None, requires_safety_checker=False)


def save(folder: Path, **kw) -> Path:
    """The pipeline saved as save_pretrained writes it (safetensors); returns the folder."""
    pipe = pipeline(**kw)
    pipe.set_progress_bar_config(disable=True)
    pipe.save_pretrained(folder, safe_serialization=True)
    return Path(folder)
