"""ControlNet (models/kinds/controlnet.py): a trainable copy of the latent diffusion U-Net's encoder joined by zero
convolutions, the base frozen; it starts as the base model exactly, learns from edge maps, reopens beside its
base, and draws from the command line with --control."""

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from latent_explorer.models import CheckpointError, build_model, load, make_config, save
from latent_explorer.models.cli import main as cli
from latent_explorer.models.kinds.controlnet import dilate, edge_iou

from .helpers import run
from .ldm_parts import _ldm


@pytest.fixture(scope="module")
def base(parts, tmp_path_factory):  # noqa: F811
    folder, data = parts
    out = tmp_path_factory.mktemp("base")
    for f in ("ae.safetensors", "te.safetensors"):
        shutil.copy(folder / f, out)
    m = _ldm(folder, data)
    run(m, data, out=str(out / "ldm.safetensors"), batch_size=16, max_steps=2)
    return out, data


def _controlnet(base):
    folder, data = base
    torch.manual_seed(0)
    return build_model(make_config("controlnet", data.shape, data=data, base=str(folder / "ldm.safetensors")))


def test_it_starts_as_the_base_model_and_only_its_branch_learns(base):
    folder, data = base
    cn = _controlnet(base)
    assert cn.config.latent_shape == cn.base.config.latent_shape and len(cn.config.base_sha256) == 64
    opts = cn.make_optimizers()  # the copy of the base's encoder is made here
    hint = torch.from_numpy(cn.control_of(data.images[:2]))
    prompts = ["a small red circle at the top left on a navy background"] * 2
    plain = cn.base.txt2img(prompts, steps=3, guidance=3.0, seed=1)
    steered = cn.txt2img(prompts, hint, steps=3, guidance=3.0, seed=1)
    assert torch.allclose(plain, steered, atol=1e-6)  # zero convolutions: the base model, exactly
    frozen = [p.detach().clone() for p in cn.base.ema.parameters()]
    x = torch.from_numpy(data.images[:8])
    y = torch.from_numpy(cn.condition_of(data.subset(slice(0, 8))))
    for step in range(3):
        cn.train_step(x, y, opts, step)
        cn.after_step()
    assert all(torch.equal(a, b) for a, b in zip(frozen, cn.base.ema.parameters()))
    assert any(p.abs().sum() > 0 for p in cn.branch.zero_skips.parameters())  # the zero convolutions moved
    with torch.no_grad():
        for p in cn.ema.parameters():  # past the zero start, the control changes the images
            p.add_(torch.randn_like(p) * 0.05)
    other = torch.from_numpy(cn.control_of(data.images[2:4]))
    assert not torch.allclose(cn.txt2img(prompts, hint, steps=3, seed=1), cn.txt2img(prompts, other, steps=3, seed=1))


def test_it_reopens_beside_its_base_and_refuses_another(base, tmp_path):
    folder, data = base
    cn = _controlnet(base)
    run(cn, data, out=str(tmp_path / "cn.safetensors"), batch_size=16, max_steps=2)
    with pytest.raises(CheckpointError, match="needs 'ldm.safetensors' beside it"):
        load(tmp_path / "cn.safetensors")
    for f in ("ae.safetensors", "te.safetensors", "ldm.safetensors"):
        shutil.copy(folder / f, tmp_path)
    again = load(tmp_path / "cn.safetensors")
    hint = torch.from_numpy(again.control_of(data.images[:1]))
    assert again.txt2img(["a circle"], hint, steps=2, seed=0).shape == (1, 3, 32, 32)
    other = _ldm(folder, data, width=8)
    save(other, tmp_path / "ldm.safetensors")
    with pytest.raises(CheckpointError, match="is not the model this ControlNet was trained on"):
        load(tmp_path / "cn.safetensors")


def test_txt2img_with_a_control_image_and_its_bad_inputs(base, tmp_path, capsys):
    folder, data = base
    cn = _controlnet(base)
    save(cn, folder / "cn.safetensors")
    edges = np.full((64, 64), 255, np.uint8)
    edges[16:48, 16] = edges[16:48, 47] = edges[16, 16:48] = edges[47, 16:48] = 0  # a square, drawn at 64x64
    Image.fromarray(edges).save(tmp_path / "e.png")
    out = tmp_path / "g.png"
    args = ["txt2img", str(folder / "cn.safetensors"), "--prompt", "a large red square at the center on a white "
            "background", "--steps", "2", "--n", "2", "--out", str(out)]
    assert cli(args + ["--control", str(tmp_path / "e.png")]) == 0
    err = capsys.readouterr().err
    assert "resized from 64x64" in err
    with Image.open(out) as im:
        assert "ControlNet: edges from e.png" in im.info["parameters"]
    assert cli(args) == 2 and "give its control image" in capsys.readouterr().err
    plain = ["txt2img", str(folder / "ldm.safetensors"), "--prompt", "a circle", "--out", str(out)]
    assert cli(plain + ["--control", str(tmp_path / "e.png")]) == 2
    assert "--control needs a ControlNet" in capsys.readouterr().err
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "blank.png")
    assert cli(args + ["--control", str(tmp_path / "blank.png")]) == 2 and "empty" in capsys.readouterr().err


def test_edge_iou_of_dilated_maps():
    a = np.zeros((1, 3, 16, 16), np.float32)
    a[0, :, 4:12, 4:12] = 1.0  # a white square on black
    from latent_explorer.models.data.sketches import edges

    e = edges(a)
    assert edge_iou(a, e)[0] == 1.0
    shifted = np.roll(e, 1, axis=3)  # one pixel off: the dilation forgives it mostly
    assert 0.5 < edge_iou(a, shifted)[0] < 1.0
    assert edge_iou(a, np.zeros_like(e))[0] == 0.0 and dilate(e).sum() > e.sum()


def test_held_out_figures_compare_the_control_with_the_prompt_alone(base):
    from latent_explorer.models.analysis.classifier import find_classifier
    from latent_explorer.models.kinds.controlnet import control_figures

    folder, data = base
    clf = find_classifier(load_dataset_scenes())
    if clf is None:
        pytest.skip("no bundled scenes classifier")
    cn = _controlnet(base)
    cn.make_optimizers()
    gen = control_figures(cn, data.subset(slice(0, 6)), clf, n=4, steps=2, batch=2)
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        f = stop.value
    assert f["n"] == 4 and 0 <= f["edges_iou"] <= 1 and 0 <= f["accuracy_colour"] <= 1
    # at the start the ControlNet is its base model: with or without the control, the same images
    assert f["edges_iou"] == pytest.approx(f["edges_iou_without_control"], abs=1e-6)
    assert f["edges_iou_empty_prompt"] == pytest.approx(f["edges_iou_empty_prompt_without_control"], abs=1e-6)


def load_dataset_scenes():
    from latent_explorer.models import load_dataset

    return load_dataset("scenes:20")
