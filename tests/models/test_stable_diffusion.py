"""A Stable Diffusion folder opened by our loader gives the images diffusers' own pipelines give from the same
initial latents (a tiny random pipeline built from configs, as diffusers' tests build theirs); its word maps
are the attention weights a hook on diffusers' processors reads. (What cannot be opened: tests/catalogue/
test_stable_diffusion.py, F142–F146.)"""

import numpy as np
import pytest
import torch

from latent_explorer.models import load
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import run_to_end
from latent_explorer.models.sampling.text_trajectory import check_prompt, record_txt2img

from . import sd_pipeline

diffusers = pytest.importorskip("diffusers")
TOL = 1e-4  # the same arithmetic in another order (batch halves swapped, attention not fused)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("sd")
    return {name: sd_pipeline.save(root / name, **kw) for name, kw in (
        ("ddim", {}), ("v", {"prediction": "v_prediction"}),
        ("euler", {"scheduler": "EulerAncestralDiscreteScheduler"}), ("inpaint", {"inpaint": True}))}


def _reference(folder, cls="StableDiffusionPipeline"):
    pipe = getattr(diffusers, cls).from_pretrained(folder, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("name,sampler", [("ddim", "ddim"), ("v", "ddim"), ("euler", "euler-a")])
def test_the_same_images_as_diffusers(folders, name, sampler):
    model = load(folders[name])
    lat = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(3))
    ref = _reference(folders[name])(["a red circle"] * 2, negative_prompt=["blue"] * 2, num_inference_steps=6,
                                    guidance_scale=5.0, latents=lat.clone(), output_type="pt", height=16, width=16,
                                    generator=torch.Generator().manual_seed(5)).images
    ours = model.txt2img(["a red circle"] * 2, "blue", sampler=sampler, steps=6, guidance=5.0, seed=5,
                         latents=lat.clone())
    assert ours.shape == ref.shape == (2, 3, 16, 16)
    assert (ours - ref).abs().max().item() <= TOL


def test_inpainting_as_diffusers_inpaint_pipeline(folders):
    model = load(folders["inpaint"])
    g = torch.Generator().manual_seed(1)
    image, lat = torch.rand(1, 3, 16, 16, generator=g), torch.randn(1, 4, 8, 8, generator=g)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 8:] = 1
    ref = _reference(folders["inpaint"], "StableDiffusionInpaintPipeline")(
        "a blue star", image=image, mask_image=mask, num_inference_steps=5, guidance_scale=5.0, latents=lat.clone(),
        generator=torch.Generator().manual_seed(5), output_type="pt", height=16, width=16).images
    ours = model.txt2img(["a blue star"], sampler="ddim", steps=5, guidance=5.0, seed=5, latents=lat.clone(),
                         init=image, mask=mask)
    assert (ours - ref).abs().max().item() <= TOL
    with pytest.raises(ConfigError, match="not binary"):
        model.txt2img(["a"], steps=2, init=image, mask=mask * 0.5 + 0.25)
    with pytest.raises(ConfigError, match="the image's size"):
        model.txt2img(["a"], steps=2, init=image, mask=mask[..., :8])


def test_word_maps_are_the_attention_a_hook_reads(folders):
    from diffusers.models.attention_processor import AttnProcessor

    model = load(folders["ddim"])
    prompt = "a large redblue circle"  # "redblue" is several tokens: one word, its map their mean
    words, groups = model.word_groups(prompt)
    assert words == ["<bos>", "a", "large", "redblue", "circle", "<eos>"] and len(groups[3]) > 1
    z = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    ctx, _ = model.tokens(model.prompt_ids([prompt]).ids)
    neg, _ = model.tokens(model.prompt_ids([""]).ids)
    _, maps = model.predict_noise(z, 501, ctx, neg, 5.0, maps_of=model.config.context)

    seen = []  # (probs, heads) of every cross-attention layer, read by a hook on diffusers' own processor

    class Hooked(AttnProcessor):
        def __call__(self, attn, *a, **kw):
            scores = attn.get_attention_scores
            attn.get_attention_scores = lambda q, k, m=None: seen.append((scores(q, k, m), attn.heads)) or seen[-1][0]
            try:
                return super().__call__(attn, *a, **kw)
            finally:
                del attn.get_attention_scores

    ref_unet = diffusers.UNet2DConditionModel.from_pretrained(folders["ddim"] / "unet")
    ref_unet.set_attn_processor({n: Hooked() if ".attn2." in n else AttnProcessor()
                                 for n in ref_unet.attn_processors})
    ref_unet(torch.cat([z, z]), 501, encoder_hidden_states=torch.cat([ctx, neg]))
    total = 0
    for probs, heads in seen:
        a = probs.view(2, heads, probs.shape[1], -1)[:1].mean(1)  # the prompt's half, heads averaged
        s = int(probs.shape[1] ** 0.5)
        m = a.transpose(1, 2).reshape(1, -1, s, s)
        total = total + torch.nn.functional.interpolate(m, size=(8, 8), mode="bilinear", align_corners=False)
    ref = torch.stack([total[:, g].mean(1) for g in groups], 1)
    from latent_explorer.models.nn.word_maps import cross_attention_layers, merge_words

    assert len(seen) == len(cross_attention_layers(model.unet)) == 7
    assert (merge_words(maps, groups) - ref).abs().max().item() <= 1e-5


def test_recorded_generation_is_txt2img_and_decodes_when_shown(folders, monkeypatch):
    from latent_explorer.models.sampling import text_trajectory

    monkeypatch.setattr(text_trajectory, "EAGER_PIXELS", 8 * 8)  # 16×16 images: decoded when shown
    model = load(folders["ddim"])
    traj = run_to_end(record_txt2img(model, "a red circle", n=2, steps=4, guidance=5.0, seed=2))
    assert traj.x.shape == (5, 2, 3, 16, 16) and traj.attention.shape == (5, 2, 5, 8, 8)
    assert traj.tokens == ["<bos>", "a", "red", "circle", "<eos>"]
    want = model.txt2img(["a red circle"] * 2, sampler="ddim", steps=4, guidance=5.0, seed=2).numpy()
    np.testing.assert_allclose(traj.x[-1].astype(np.float32), want, atol=2e-3)  # frames are float16
    assert traj.x0[1, 1].shape == (3, 16, 16) and np.isfinite(traj.x0[2].astype(np.float32)).all()


def test_a_prompt_past_the_context_is_named(folders):
    model = load(folders["ddim"])
    check = check_prompt(model, " ".join(["circle"] * 80))
    assert check.truncated and check.context == 75
    assert "longer than the text encoder's 75 tokens" in check.problems()[0]
    assert model.prompt_ids([" ".join(["circle"] * 80)]).truncated == [True]
