"""Inpainting (issue Q): RePaint's known-region replacement for our own diffusion models, in latents (latent
diffusion) and in pixels (DDPM), with its resampling; the mask read and checked; the CLI's --mask."""

import numpy as np
import pytest
import torch
from PIL import Image

from latent_explorer.models import ConfigError, save
from latent_explorer.models.progress import run_to_end
from latent_explorer.models.sampling import inpaint as repaint
from latent_explorer.models.sampling.text_trajectory import record_txt2img

from .helpers import cli, tiny_model
from .ldm_parts import _ldm

PROMPT = "a large blue star at the center on a navy background"


def _right_half(h=32, w=32):
    m = torch.zeros(1, 1, h, w)
    m[..., w // 2:] = 1
    return m


def test_latent_diffusion_keeps_the_known_latents(parts):
    folder, data = parts
    model = _ldm(folder, data).eval()
    init = torch.from_numpy(data.images[:2])
    sched = model.make_scheduler("ddim", 4)
    z, inp = model.start(2, sched, torch.Generator().manual_seed(0), init, _right_half())
    assert inp.mask.shape == (2, 1, 8, 8) and inp.mask[..., :4].sum() == 0 and inp.mask[..., 4:].all()
    for *_, prev, _ in model.reverse(z, [PROMPT] * 2, "", sched, 5.0, torch.Generator().manual_seed(1), inpaint=inp):
        z = prev
    known = inp.mask == 0
    assert torch.allclose(z[known.expand_as(z)], inp.known[known.expand_as(z)], atol=1e-6)
    assert not torch.allclose(z[~known.expand_as(z)], inp.known[~known.expand_as(z)], atol=1e-2)
    # recorded: the scrub's last frame is the image txt2img paints for the same settings
    traj = run_to_end(record_txt2img(model, PROMPT, n=2, steps=4, seed=3, init=init, mask=_right_half()))
    want = model.txt2img([PROMPT] * 2, steps=4, seed=3, init=init, mask=_right_half()).numpy()
    np.testing.assert_allclose(traj.x[-1].astype(np.float32), want, atol=2e-3)


def test_ddpm_keeps_the_other_half_and_resamples(monkeypatch):
    model = tiny_model("ddpm", shape=(1, 8, 8), classes=3).eval()
    image = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    calls = []
    real = model.predict_noise
    monkeypatch.setattr(model, "predict_noise", lambda *a, **k: calls.append(1) or real(*a, **k))
    y = model.sample(2, torch.tensor([1, 2]), generator=torch.Generator().manual_seed(1), sampler="ddim", steps=4,
                     inpaint=model.inpaint(image, _right_half(8, 8), resample=3))
    assert torch.allclose(y[..., :4], image[..., :4], atol=1e-5)
    assert len(calls) == 3 * 3 + 1  # each step three times, the last once (nothing to go back to)


def test_a_bad_mask_says_why():
    image = torch.rand(1, 3, 8, 8)
    for mask, says in ((torch.ones(1, 1, 4, 4), "a mask must be the image's size"),
                       (torch.full((1, 1, 8, 8), 0.5), "not binary"), (torch.zeros(1, 1, 8, 8), "empty")):
        with pytest.raises(ConfigError, match=says):
            repaint.check_mask(mask, image)
    with pytest.raises(ConfigError, match="resample must be 1..20"):
        repaint.Inpaint(image, torch.ones(1, 1, 8, 8), resample=0)


def test_the_cli_inpaints_with_a_mask(parts, tmp_path, capsys):
    import shutil

    folder, data = parts
    for f in ("ae.safetensors", "te.safetensors"):
        shutil.copy(folder / f, tmp_path)
    ck = tmp_path / "ldm.safetensors"
    save(_ldm(folder, data), ck)
    Image.fromarray((data.images[0].transpose(1, 2, 0) * 255).astype(np.uint8)).save(tmp_path / "init.png")
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 8:24] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    grey = mask.copy()
    grey[0, 0] = 100
    Image.fromarray(grey).save(tmp_path / "grey.png")
    Image.fromarray(mask[:16]).save(tmp_path / "short.png")
    out = tmp_path / "out.png"
    base = ["txt2img", ck, "--prompt", "a blue star", "--steps", "3", "--n", "2", "--out", out]
    assert cli(capsys, *base, "--init-image", tmp_path / "init.png", "--mask", tmp_path / "mask.png",
               "--resample", "2")[0] == 0 and out.exists()
    out.unlink()
    for args, says in ((["--init-image", tmp_path / "init.png", "--mask", tmp_path / "grey.png"], "not binary"),
                       (["--init-image", tmp_path / "init.png", "--mask", tmp_path / "short.png"],
                        "the mask is 32x16, the init image 32x32"),
                       (["--mask", tmp_path / "mask.png"], "--mask needs the image it masks")):
        code, _, err = cli(capsys, *base, *args)
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and says in lines[0], (args, lines)
    assert not out.exists()
    # a DDPM inpaints from `sample`; a model without a reverse process says it cannot
    ddpm = tmp_path / "ddpm.safetensors"
    save(tiny_model("ddpm", shape=(3, 32, 32), classes=3), ddpm)
    assert cli(capsys, "sample", ddpm, "--n", "2", "--sampler", "ddim", "--steps", "2", "--class", "1",
               "--init-image", tmp_path / "init.png", "--mask", tmp_path / "mask.png", "--out", out)[0] == 0
    vae = tmp_path / "vae.safetensors"
    save(tiny_model("vae", shape=(3, 32, 32)), vae)
    code, _, err = cli(capsys, "sample", vae, "--init-image", tmp_path / "init.png", "--mask", tmp_path / "mask.png",
                       "--out", out)
    assert code == 2 and "inpaint with a diffusion model" in err
