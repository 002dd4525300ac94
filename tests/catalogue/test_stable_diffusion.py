"""Faults of a Stable Diffusion folder and of inpainting (issue Q): each is one line, from the CLI with exit 2
and nothing written; a pickle is never opened; the good folder still opens."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from latent_explorer.models import load
from latent_explorer.models.errors import CheckpointError

from .helpers import run_cli

pytest.importorskip("diffusers")


@pytest.fixture(scope="module")
def sd(tmp_path_factory):
    from tests.models import sd_pipeline

    return sd_pipeline.save(tmp_path_factory.mktemp("sd") / "tiny-sd")


def _broken(sd, tmp_path, damage):
    f = tmp_path / "sd"
    shutil.copytree(sd, f)
    damage(f)
    return f


def _edit(path, **changes):
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _says(capsys, folder, tmp_path, text):
    out = tmp_path / "out.png"
    code, lines = run_cli(capsys, "txt2img", folder, "--prompt", "a red circle", "--steps", "2", "--out", out)
    assert code == 2 and len(lines) == 1 and text in lines[0], lines
    assert not out.exists()
    with pytest.raises(CheckpointError) as e:
        load(folder)
    assert text in str(e.value) and "\n" not in str(e.value)


def test_F142_a_stable_diffusion_folder_with_pickle_weights_only(sd, tmp_path, capsys):
    f = _broken(sd, tmp_path, lambda f: [p.rename(p.with_suffix(".bin")) for p in (f / "unet").glob("*.safetensors")])
    _says(capsys, f, tmp_path, "sd/unet: only pickle weights (diffusion_pytorch_model.bin), which can run code")
    assert load(sd).kind == "stable-diffusion"  # the good folder still opens


@pytest.mark.parametrize("part", ["tokenizer", "text_encoder"])
def test_F143_a_folder_without_its_tokenizer_or_text_encoder(sd, tmp_path, capsys, part):
    f = _broken(sd, tmp_path, lambda f: shutil.rmtree(f / part))
    _says(capsys, f, tmp_path, f"no {part} folder")


@pytest.mark.parametrize("change,text", [
    ({"_class_name": "KandinskyPipeline"}, "model_index.json names a 'KandinskyPipeline'"),
    ({"vae": ["diffusers", "VQModel"]}, "its vae is a VQModel of diffusers; what opens here is AutoencoderKL"),
    ({"text_encoder": ["transformers", "T5EncoderModel"]}, "its text_encoder is a T5EncoderModel"),
])
def test_F144_a_model_index_naming_an_unknown_pipeline_or_component(sd, tmp_path, capsys, change, text):
    _says(capsys, _broken(sd, tmp_path, lambda f: _edit(f / "model_index.json", **change)), tmp_path, text)


@pytest.mark.parametrize("damage,text", [
    (lambda f: _edit(f / "text_encoder" / "config.json", hidden_size=32),
     "the text encoder's tokens are 32 wide, the U-Net reads 16: components of different models"),
    (lambda f: _edit(f / "vae" / "config.json", latent_channels=8),
     "the autoencoder's latents have 8 channels, the U-Net takes 4 and predicts 4"),
    (lambda f: _edit(f / "unet" / "config.json", block_out_channels=[64, 128]),
     "unet: its config.json describes"),
])
def test_F145_components_of_mismatched_sizes(sd, tmp_path, capsys, damage, text):
    _says(capsys, _broken(sd, tmp_path, damage), tmp_path, text)


def test_F146_a_mask_of_another_size_or_not_binary_and_a_prompt_past_the_context(sd, tmp_path, capsys):
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "init.png")
    grey = np.zeros((16, 16), np.uint8)
    grey[4:12, 4:12], grey[0, 0] = 255, 128
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(np.full((8, 16), 255, np.uint8)).save(tmp_path / "short.png")
    out = tmp_path / "out.png"
    for mask, text in (("grey.png", "--mask grey.png: the mask is not binary: every pixel must be black (keep) or "
                                    "white (paint); 1 pixels are grey"),
                       ("short.png", "--mask short.png: the mask is 16x8, the init image 16x16: paint the mask at "
                                     "the image's size")):
        code, lines = run_cli(capsys, "txt2img", sd, "--prompt", "a star", "--steps", "2", "--init-image",
                              tmp_path / "init.png", "--mask", tmp_path / mask, "--out", out)
        assert code == 2 and lines == [f"error: {text}"] and not out.exists(), lines
    code, lines = run_cli(capsys, "txt2img", sd, "--prompt", " ".join(["a red circle"] * 30), "--steps", "2",
                          "--n", "1", "--out", out)
    assert code == 0 and "note: the prompt is longer than the text encoder's 75 tokens: the rest is left out" in lines
