"""What the Text-to-Image view shows, computed without Qt: a generation recorded step by step (the same
images txt2img makes), per-token cross-attention, the CFG strip, the latent atlas, PNG Info parsing."""

import numpy as np
import pytest
import torch

from latent_explorer.models import ConfigError, load
from latent_explorer.models.display import heat_overlay
from latent_explorer.models.io.images import generation_parameters
from latent_explorer.models.nn.word_maps import attention_maps
from latent_explorer.models.progress import run_to_end
from latent_explorer.models.sampling.text_trajectory import (
    cfg_strip,
    check_prompt,
    latent_atlas,
    parse_parameters,
    record_txt2img,
)

from .helpers import tiny_text_models

PROMPT = "a small red circle at the top left on a navy background"


@pytest.fixture(scope="module")
def ldm(tmp_path_factory):
    return load(tiny_text_models(tmp_path_factory.mktemp("t2i"))[2])


def test_the_recording_ends_with_the_images_txt2img_makes(ldm):
    for sampler in ("ddim", "euler-a"):
        tr = run_to_end(record_txt2img(ldm, PROMPT, "a star", n=3, sampler=sampler, steps=4, guidance=3, seed=5))
        want = ldm.txt2img([PROMPT] * 3, "a star", sampler, 4, 3.0, 5).numpy()
        assert len(tr) == 5 and tr.timesteps[-1] == -1 and tr.x.shape == (5, 3, 3, 32, 32)
        np.testing.assert_allclose(tr.x[-1].astype(np.float32), want, atol=2e-3)  # float16 frames
        assert tr.z.shape == (5, 3, 256) and tr.eps.shape == (5, 3, 4, 8, 8)
    assert tr.tokens == ["<bos>", *PROMPT.split(), "<eos>"]
    assert [tr.tokens[i] for i in tr.word_tokens] == PROMPT.split()
    # attention: for each latent pixel a distribution over the prompt's tokens (softmax, padding masked)
    assert tr.attention.shape == (5, 3, len(tr.tokens), 8, 8)
    np.testing.assert_allclose(tr.attention.astype(np.float32).sum(2), 1.0, atol=5e-3)
    with pytest.raises(ConfigError, match="guidance"):
        run_to_end(record_txt2img(ldm, PROMPT, guidance=float("nan")))


def test_stopping_a_recording_returns_nothing(ldm):
    calls = []

    def stop():
        calls.append(1)
        return len(calls) >= 2

    assert run_to_end(record_txt2img(ldm, PROMPT, steps=10, should_stop=stop)) is None and len(calls) == 2


def test_attention_maps_average_layers_on_the_latent_grid():
    # two layers at 8x8 and one at 4x4, guidance doubling the batch: the prompt's half, real tokens only
    fine = torch.zeros(4, 64, 6)
    fine[:, :, 1] = 1.0
    coarse = torch.zeros(4, 16, 6)
    coarse[:, :, 2] = 1.0
    out = attention_maps([fine, coarse, fine], n=2, tokens=3, side=8)
    assert out.shape == (2, 3, 8, 8)
    assert torch.allclose(out[:, 1], torch.full((2, 8, 8), 2 / 3)) and torch.allclose(out[:, 2], torch.full(
        (2, 8, 8), 1 / 3))


def test_the_cfg_strip_is_the_same_sample_at_each_scale(ldm):
    strip = run_to_end(cfg_strip(ldm, PROMPT, n=3, sample=1, steps=3, seed=2, scales=(1.0, 4.0)))
    assert strip.shape == (2, 3, 32, 32)
    for img, w in zip(strip, (1.0, 4.0)):
        np.testing.assert_allclose(img, ldm.txt2img([PROMPT] * 3, "", "ddim", 3, w, 2)[1].numpy(), atol=1e-6)


def test_the_atlas_places_any_latent_on_the_data_plane(ldm):
    atlas = run_to_end(latent_atlas(ldm, n=50))
    assert atlas.xy.shape == (50, 2) and set(atlas.factors) == {"shape", "colour", "size", "position",
                                                                "background"}
    assert atlas.classes["shape"][:2] == ["circle", "square"]
    z = np.random.default_rng(0).normal(size=(7, 256)).astype(np.float32)
    assert atlas.place(z).shape == (7, 2)
    np.testing.assert_allclose(atlas.place(z)[0], (z[0] - atlas.pca.mean) @ atlas.pca.components.T, rtol=1e-5)


def test_prompt_checks_name_unknown_words_and_the_cut(ldm):
    c = check_prompt(ldm, "a golden circle on a hexagon")
    assert c.unknown == ["golden", "hexagon"] and not c.truncated
    assert "unknown words 'golden', 'hexagon'" in c.problems()[0]
    long = check_prompt(ldm, " ".join(["a red circle"] * 20))
    assert long.truncated and "longer than the text encoder's 30 words" in long.problems()[0]
    assert check_prompt(ldm, "").words == [] and check_prompt(ldm, "").problems() == []


def test_generation_parameters_read_back():
    text = generation_parameters("a red circle", "a star", 25, "Euler a", 7.5, 42, (32, 32), "scenes-ldm", 0.6)
    assert parse_parameters(text) == {"prompt": "a red circle", "negative": "a star", "steps": 25,
                                      "sampler": "Euler a", "cfg": 7.5, "seed": 42, "size": "32x32",
                                      "model": "scenes-ldm", "strength": 0.6}
    assert parse_parameters(generation_parameters("", "", 3, "DDIM", 1, 0, (32, 32), "m"))["negative"] == ""
    for bad in ("just a caption", "a\nSteps: many, Sampler: DDIM"):
        with pytest.raises(ValueError):
            parse_parameters(bad)


def test_heat_overlay_is_strong_where_the_token_looks():
    image = np.full((3, 32, 32), 0.5, np.float32)
    heat = np.zeros((8, 8), np.float32)
    heat[0, 0] = 0.8
    out = heat_overlay(image, heat, top=0.8)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert np.allclose(out[0, 0], [1, 1, 0]) and np.allclose(out[31, 31], 0.35 * 0.5)
    assert out[:4, :4].min() == out[0, 0].min() and not np.allclose(out[4, 4], out[0, 0])
