"""Stable Diffusion: one sampling step of a full-size SD 1.5 U-Net (random weights: speed does not depend on
them) as the app runs it — recording every step and its word maps — against the same step in diffusers' own
pipeline loop on a separate copy of the same weights; and the memory a recorded generation holds.

No download: the folder is written here from configs (the U-Net's is SD 1.5's; the text encoder is one CLIP
layer 768 wide, the autoencoder a small one of SD's latent scale, the tokenizer and scheduler those of the
tests' tiny pipeline, ``tests/models/sd_pipeline.py``) and opened by our loader as the app opens one.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Target, part

# SD 1.5's unet/config.json (runwayml/stable-diffusion-v1-5), the fields that make its architecture; the rest
# are UNet2DConditionModel's defaults, as in that file
SD15_UNET_CONFIG = dict(
    sample_size=64, in_channels=4, out_channels=4, center_input_sample=False, flip_sin_to_cos=True, freq_shift=0,
    down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2, downsample_padding=1, mid_block_scale_factor=1,
    act_fn="silu", norm_num_groups=32, norm_eps=1e-5, cross_attention_dim=768, attention_head_dim=8)
# the smoke run's U-Net (128×128 images: frames kept as latents, as for SD's sizes), and the one the memory
# figure is recorded with (the arrays a trajectory keeps do not depend on the U-Net, only on the latents'
# size, the steps and the words)
SMALL_UNET_CONFIG = dict(
    sample_size=16, in_channels=4, out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), block_out_channels=(32, 64), layers_per_block=1,
    norm_num_groups=32, cross_attention_dim=768, attention_head_dim=8)
GUIDANCE = 7.5  # diffusers' default guidance scale: batch 2 through the U-Net
STEPS = 25


def write_folder(folder: Path, unet_config: dict) -> Path:
    """A StableDiffusionPipeline folder of random weights, as ``save_pretrained`` writes it: the U-Net of
    ``unet_config``, a one-layer CLIP text encoder as wide as the U-Net reads, an autoencoder of 8 pixels a
    latent cell (SD's) with few channels, the tiny pipeline's tokenizer and DDIM scheduler."""
    import diffusers
    import torch
    import transformers
    from transformers import CLIPTextConfig, CLIPTextModel

    from tests.models import sd_pipeline

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    tiny = sd_pipeline.pipeline()
    torch.manual_seed(0)
    width = unet_config["cross_attention_dim"]
    text = CLIPTextModel(CLIPTextConfig(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=width,
                                        intermediate_size=64, layer_norm_eps=1e-5, num_attention_heads=12,
                                        num_hidden_layers=1, vocab_size=len(tiny.tokenizer),
                                        max_position_embeddings=77))
    vae = diffusers.AutoencoderKL(block_out_channels=[8, 16, 16, 16], in_channels=3, out_channels=3,
                                  down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                                  latent_channels=4, norm_num_groups=4, sample_size=8 * unet_config["sample_size"])
    unet = diffusers.UNet2DConditionModel(**unet_config)
    pipe = diffusers.StableDiffusionPipeline(**{**tiny.components, "unet": unet, "vae": vae, "text_encoder": text},
                                             requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe, unet, tiny
    gc.collect()  # a full-size U-Net is 3.4 GB: not kept beside the two copies read back
    return Path(folder)


def a_prompt(words: int) -> str:
    """A prompt of ``words`` words of the tiny tokenizer's vocabulary (one token each)."""
    from tests.models.sd_pipeline import WORDS

    return " ".join(WORDS[i % len(WORDS)] for i in range(words))


def step_times(folder: Path, reps: int) -> tuple[list[float], list[float]]:
    """Seconds of one sampling step, ours and diffusers', interleaved after one warm-up step of each.

    Ours is a step of ``record_txt2img`` itself (the time between two of its yields): ``predict_noise`` with
    the word maps of the whole context recorded by our cross-attention processors, the DDIM step, and the
    step's copies into the trajectory (z_t, ẑ_0 and ε̂ as float16 latents, z as float32, the merged word maps).
    Diffusers' is StableDiffusionPipeline's loop body on a separate copy of the U-Net read from the same
    folder with its default processors: the batch of two through the U-Net, chunk, guidance,
    ``scheduler.step``; the same prompt embeddings, initial latents, timesteps and guidance."""
    import diffusers
    import torch
    from diffusers.models.attention_processor import AttnProcessor2_0

    from latent_explorer.models import load
    from latent_explorer.models.sampling.text_trajectory import record_txt2img

    model = load(folder)
    prompt = a_prompt(8)
    unet = diffusers.UNet2DConditionModel.from_pretrained(folder / "unet", use_safetensors=True,
                                                          local_files_only=True).requires_grad_(False).eval()
    assert all(isinstance(p, AttnProcessor2_0) for p in unet.attn_processors.values())
    sched = diffusers.DDIMScheduler.from_pretrained(folder / "scheduler", local_files_only=True)
    sched.set_timesteps(STEPS)
    with torch.no_grad():
        ctx, _ = model.tokens(model.prompt_ids([prompt]).ids)
        neg, _ = model.tokens(model.prompt_ids([""]).ids)
    embeds = torch.cat([neg, ctx])  # diffusers' order: the negative half first
    latents = torch.randn(1, *model.latent_shape_for(None), generator=torch.Generator().manual_seed(0))

    @torch.no_grad()
    def theirs(i: int) -> float:
        nonlocal latents
        t0 = time.perf_counter()
        t = sched.timesteps[i]
        x = sched.scale_model_input(torch.cat([latents] * 2), t)
        noise = unet(x, t, encoder_hidden_states=embeds, return_dict=False)[0]
        uncond, text = noise.chunk(2)
        noise = uncond + GUIDANCE * (text - uncond)
        latents = sched.step(noise, t, latents, return_dict=False)[0]
        return time.perf_counter() - t0

    gen = record_txt2img(model, prompt, n=1, sampler="ddim", steps=STEPS, guidance=GUIDANCE, seed=0)

    def ours() -> float:
        t0 = time.perf_counter()
        next(gen)
        return time.perf_counter() - t0

    ours(), theirs(0)  # warm-up (ours: the prompt encoded and the trajectory allocated too)
    o, b = [], []
    for i in range(1, reps + 1):  # interleaved: drifting load affects both alike
        o.append(ours())
        b.append(theirs(i))
    gen.close()
    return o, b


def record_mb(folder: Path, size: tuple[int, int], steps: int, words: int) -> tuple[float, float]:
    """MB a recorded generation of one image holds (``TextTrajectory.nbytes``): just recorded, and after every
    frame of z_t and ẑ_0 has been shown once (each decoded frame is then kept, up to ``DECODED_KEPT``)."""
    from latent_explorer.models import load
    from latent_explorer.models.progress import run_to_end
    from latent_explorer.models.sampling.text_trajectory import record_txt2img

    model = load(folder)
    traj = run_to_end(record_txt2img(model, a_prompt(words), n=1, sampler="ddim", steps=steps, guidance=GUIDANCE,
                                     seed=0, size=size))
    recorded = traj.nbytes / 2**20
    for k in range(len(traj)):
        traj.x[k], traj.x0[k]
    return recorded, traj.nbytes / 2**20


@part("stable_diffusion",
      Target("sd_step_overhead_ratio", "<=", 1.10, "SD 1.5 U-Net (random weights), 64×64 latents, CFG: one "
             "step recorded with word maps ÷ the same step in diffusers' pipeline loop (time)"),
      Target("sd_record_mb_25_steps", "<=", 200.0, "memory a recorded 25-step SD generation of one 512×512 "
             "image holds, every frame shown once, all 75 words mapped (MB)"))
def bench_stable_diffusion(smoke: bool) -> dict:
    """The step ratio is the median of ours ÷ the median of diffusers' (interleaved, after a warm-up each); the
    memory is from the arrays of a trajectory recorded at 512×512 (a small U-Net: the arrays do not depend
    on it) with a prompt filling the context (75 words, so 77 maps a step)."""
    with tempfile.TemporaryDirectory() as d:
        small = write_folder(Path(d) / "small", SMALL_UNET_CONFIG)
        big = small if smoke else write_folder(Path(d) / "sd15", SD15_UNET_CONFIG)
        o, b = step_times(big, 1 if smoke else 3)
        gc.collect()
        recorded, shown = record_mb(small, (128, 128) if smoke else (512, 512), 3 if smoke else STEPS, 75)
    return {"sd_step_overhead_ratio": float(np.median(o)) / float(np.median(b)),
            "sd_step_s": float(np.median(o)), "sd_diffusers_step_s": float(np.median(b)),
            "sd_record_mb_25_steps": shown, "sd_record_mb_25_steps_recorded": recorded}
