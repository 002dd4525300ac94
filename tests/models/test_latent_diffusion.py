"""Latent diffusion (issue J, third part): a U-Net with cross-attention on a latent autoencoder's latents,
its parts named by file and digest, classifier-free guidance with a negative prompt, img2img."""

import shutil

import numpy as np
import pytest
import torch

from latent_explorer.models import CheckpointError, ConfigError, build_model, load, load_dataset, make_config, save
from latent_explorer.models.cli import main as cli

from .helpers import run
from .ldm_parts import _ldm


def test_the_config_reads_its_parts_shapes_and_digests(parts):
    folder, data = parts
    m = _ldm(folder, data)
    cfg = m.config
    assert cfg.latent_shape == (4, 8, 8) and m.latent_dim == 256 and cfg.context_dim == 64
    assert len(cfg.autoencoder_sha256) == 64 and cfg.autoencoder_sha256 != cfg.text_encoder_sha256
    with pytest.raises(ConfigError, match="needs its autoencoder checkpoint"):
        make_config("ldm", data.shape, data=data, text_encoder=str(folder / "te.safetensors"))
    with pytest.raises(CheckpointError, match="is a clip model, not a latent-ae"):
        make_config("ldm", data.shape, data=data, autoencoder=str(folder / "te.safetensors"),
                    text_encoder=str(folder / "te.safetensors"))


def test_cross_attention_reads_the_prompt(parts):
    folder, data = parts
    m = _ldm(folder, data).eval()
    for p in m.ema.parameters():  # past the zero-initialised output projections: every layer has a say
        p.data.normal_(0, 0.05)
    z = torch.randn(2, 4, 8, 8)
    ids = m.prompt_ids(["a small red circle at the top left on a navy background",
                        "a large blue star at the bottom right on a white background"]).ids
    context, pad = m.tokens(ids)
    kept = []
    eps = m.ema(z, torch.tensor([10, 10]), context, pad, kept)
    swapped = m.ema(z, torch.tensor([10, 10]), context.flip(0), pad.flip(0))
    assert eps.shape == z.shape and not torch.allclose(eps, swapped)  # the prompt changes the prediction
    assert len(kept) == 3 and kept[0].shape == (2, 64, 32)  # three attention layers; 8x8 positions x 32 tokens
    assert torch.allclose(kept[0].sum(-1), torch.ones(2, 64), atol=1e-5)
    assert (kept[0][:, :, ids.shape[1] - 1] == 0).all()  # padding is never attended to


def test_trains_saves_and_reopens_with_its_parts_beside_it(parts, tmp_path):
    folder, data = parts
    m = _ldm(folder, data)
    records = run(m, data, out=str(tmp_path / "ldm.safetensors"), batch_size=16, max_steps=3)
    assert records[-1].event == "done" and torch.isfinite(torch.tensor(records[-1].losses["noise_mse"]))
    # opened from elsewhere: the parts must lie beside it, under the names it records
    with pytest.raises(CheckpointError, match="needs 'ae.safetensors' beside it"):
        load(tmp_path / "ldm.safetensors")
    shutil.copy(folder / "ae.safetensors", tmp_path)
    shutil.copy(folder / "te.safetensors", tmp_path)
    loaded = load(tmp_path / "ldm.safetensors")
    imgs = loaded.txt2img(["a small red circle at the top left on a navy background"] * 2, steps=3, guidance=3.0,
                          seed=1)
    assert imgs.shape == (2, 3, 32, 32) and 0 <= imgs.min() <= imgs.max() <= 1
    again = m.eval().txt2img(["a small red circle at the top left on a navy background"] * 2, steps=3,
                             guidance=3.0, seed=1)
    assert torch.allclose(imgs, again, atol=1e-5)  # the same weights, parts and seed: the same images
    # a negative prompt changes the guided result; at guidance 1 it plays no part (weights past their
    # zero-initialised attention outputs, which three steps of EMA leave almost untouched)
    torch.manual_seed(3)
    for p in loaded.ema.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    imgs = loaded.txt2img(["a small red circle at the top left on a navy background"] * 2, steps=3, guidance=3.0,
                          seed=1)
    neg = loaded.txt2img(["a small red circle at the top left on a navy background"] * 2, negative="a star",
                         steps=3, guidance=3.0, seed=1)
    assert not torch.allclose(neg, imgs)
    plain = loaded.txt2img(["a circle"], steps=3, guidance=1.0, seed=1)
    assert torch.allclose(plain, loaded.txt2img(["a circle"], negative="a star", steps=3, guidance=1.0, seed=1))
    # a part that changed since: refused with both digests
    other = build_model(make_config("latent-ae", data.shape, width=8))
    save(other, tmp_path / "ae.safetensors")
    with pytest.raises(CheckpointError, match=r"ae.safetensors is not the latent-ae this model was trained with"):
        load(tmp_path / "ldm.safetensors")


def test_img2img_starts_from_the_noised_encoding(parts):
    folder, data = parts
    m = _ldm(folder, data).eval()
    init = torch.from_numpy(data.images[:1])
    prompt = ["a small red circle at the top left on a navy background"]
    full = m.txt2img(prompt, steps=10, seed=2)
    light = m.txt2img(prompt, steps=10, seed=2, init=init, strength=0.2)
    recon = m.parts[0].decode(m.parts[0].encode(init))
    # a light touch stays nearer the input's reconstruction than a full generation does
    assert (light - recon).abs().mean() < (full - recon).abs().mean()
    with pytest.raises(ConfigError, match="strength"):
        m.txt2img(prompt, steps=10, init=init, strength=0.0)


def test_the_cli_trains_it_from_named_parts(parts, tmp_path, capsys):
    folder, _ = parts
    out = tmp_path / "l.safetensors"
    code = cli(["train", "--model", "ldm", "--data", "scenes:64", "--autoencoder", str(folder / "ae.safetensors"),
                "--text-encoder", str(folder / "te.safetensors"), "--width", "16", "--timesteps", "50",
                "--max-steps", "1", "--batch-size", "16", "--quiet", "--out", str(out)])
    assert code == 0 and out.exists()
    code = cli(["train", "--model", "ldm", "--data", "scenes:64", "--autoencoder", str(tmp_path / "nope"),
                "--text-encoder", str(folder / "te.safetensors"), "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "nope: no such file (the latent-ae of this latent diffusion model)" in err[-1]


def test_txt2img_writes_its_parameters_and_info_reads_them_back(parts, tmp_path, capsys):
    import json

    import numpy as np
    from PIL import Image

    folder, data = parts
    m = _ldm(folder, data)
    run(m, data, out=str(tmp_path / "ldm.safetensors"), batch_size=16, max_steps=1)
    for f in ("ae.safetensors", "te.safetensors"):
        shutil.copy(folder / f, tmp_path)
    ck, out = tmp_path / "ldm.safetensors", tmp_path / "grid.png"
    prompt = "a small red circle at the top left on a navy background"
    assert cli(["txt2img", str(ck), "--prompt", prompt, "--negative-prompt", "a star", "--sampler", "euler-a",
                "--steps", "3", "--cfg", "5", "--seed", "7", "--n", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert cli(["info", str(out)]) == 0
    params = json.loads(capsys.readouterr().out)["parameters"]
    assert params == (f"{prompt}\nNegative prompt: a star\nSteps: 3, Sampler: Euler a, CFG scale: 5, Seed: 7, "
                      "Size: 32x32, Model: ldm")
    # img2img from a picture of another size: resized, said so, and the strength recorded
    Image.fromarray(np.zeros((50, 40, 3), np.uint8)).save(tmp_path / "init.png")
    assert cli(["txt2img", str(ck), "--prompt", "", "--steps", "4", "--init-image", str(tmp_path / "init.png"),
                "--strength", "0.5", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "an empty prompt: unconditional samples" in err and "(40x50) is resized to the model's 32x32" in err
    assert "Denoising strength: 0.5" in Image.open(out).text["parameters"]
    # bad input: one line each, exit 2, nothing written
    out.unlink()
    (tmp_path / "bad.png").write_bytes(b"not a png")
    for args, says in ((["--prompt", "a golden hexagon"], "unknown words 'golden', 'hexagon'"),
                       (["--prompt", "a circle", "--cfg", "nan"], "--cfg"),
                       (["--prompt", "a circle", "--cfg", "-1"], "--cfg"),
                       (["--prompt", "a circle", "--steps", "0"], "--steps"),
                       (["--prompt", "a circle", "--init-image", str(tmp_path / "bad.png")], "--init-image bad.png"),
                       (["--prompt", "a circle", "--sampler", "euler-a", "--eta", "0.5"], "--eta applies")):
        assert cli(["txt2img", str(ck), *args, "--out", str(out)]) == 2, args
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and says in lines[0], (args, lines)
    assert cli(["txt2img", str(folder / "ae.safetensors"), "--prompt", "a circle", "--out", str(out)]) == 2
    assert "txt2img needs a latent diffusion model" in capsys.readouterr().err
    assert not out.exists()


def test_the_captions_split_holds_out_whole_captions():
    data = load_dataset("scenes:3000")
    train, val = data.split(0.1, "captions")
    assert len(train) + len(val) == len(data) and 0.05 < len(val) / len(data) < 0.15
    assert not set(train.captions) & set(val.captions)  # a held-out caption is never a training caption
    # the choice is by caption, not by draw: another draw holds out a caption both hold iff this one does
    other = load_dataset("scenes:3000:seed=1")
    common = set(data.captions) & set(other.captions)
    assert len(common) > 500
    assert set(data.held_out_captions()) & common == set(other.held_out_captions()) & common


def test_the_cli_trains_latent_diffusion_on_the_captions_split(parts, tmp_path):
    folder, _ = parts
    out = folder / "l.safetensors"  # beside its parts
    assert cli(["train", "--model", "ldm", "--data", "scenes:200", "--autoencoder", str(folder / "ae.safetensors"),
                "--text-encoder", str(folder / "te.safetensors"), "--width", "16", "--timesteps", "50",
                "--max-steps", "1", "--batch-size", "16", "--quiet", "--out", str(out)]) == 0
    assert load(out).meta["data"]["split"] == "captions"
    out.unlink()


class _Oracle:
    """Stands in for a model that draws each prompt perfectly (the scene its caption describes)."""

    def __init__(self, data, shuffle=False):
        self.by_caption = {c: data.images[i] for i, c in enumerate(data.captions)}
        self.shuffle, self.calls = shuffle, []

    def txt2img(self, prompts, **kw):
        self.calls.append(kw)
        x = torch.from_numpy(np.stack([self.by_caption[p] for p in prompts]))
        return x[torch.randperm(len(x), generator=torch.Generator().manual_seed(0))] if self.shuffle else x


def test_prompt_adherence_judges_each_factor_with_the_scenes_classifier():
    from latent_explorer.models.analysis.classifier import bundled_for, load_classifier
    from latent_explorer.models.kinds.latent_diffusion import held_out_prompts, prompt_adherence
    from latent_explorer.models.progress import run_to_end

    data = load_dataset("scenes:3000")
    _, val = data.split(0.1, "captions")
    prompts, factors = held_out_prompts(val, n=64)
    assert len(prompts) == len(set(prompts)) == 64 and factors.shape == (64, 5)
    assert not set(prompts) & set(data.split(0.1, "captions")[0].captions)
    classifier = load_classifier(bundled_for(data))
    oracle = _Oracle(val)
    right = run_to_end(prompt_adherence(oracle, prompts, factors, classifier, guidance=3, steps=7, batch=16))
    assert set(right) == {"shape", "colour", "size", "position", "background"}
    assert min(right.values()) >= 0.95  # what the prompt asked for, drawn, is recognised
    assert len(oracle.calls) == 4 and oracle.calls[0]["guidance"] == 3 and oracle.calls[0]["steps"] == 7
    wrong = run_to_end(prompt_adherence(_Oracle(val, shuffle=True), prompts, factors, classifier, batch=16))
    # another prompt's picture is not (near chance; not size: the prompts come sorted, so the pictures
    # shuffled within a batch of 16 mostly share their size word)
    assert max(v for k, v in wrong.items() if k != "size") < 0.4
    with pytest.raises(ConfigError, match="one-object scenes"):
        held_out_prompts(load_dataset("scenes:50:objects=2"))


def test_eval_prints_prompt_adherence_with_and_without_guidance(parts, tmp_path, capsys):
    import json

    folder, data = parts
    m = _ldm(folder, data)
    run(m, data, out=str(tmp_path / "ldm.safetensors"), batch_size=16, max_steps=1, split="captions")
    for f in ("ae.safetensors", "te.safetensors"):
        shutil.copy(folder / f, tmp_path)
    assert cli(["eval", str(tmp_path / "ldm.safetensors"), "--n", "6", "--steps", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prompts"] == {"n": 6, "held_out_captions": True, "sampler": "ddim", "steps": 2}
    for key in ("prompt_adherence_cfg5", "prompt_adherence_cfg1"):
        assert set(out[key]) == {"shape", "colour", "size", "position", "background"}
        assert all(0 <= v <= 1 for v in out[key].values())
    assert "noise_mse" in out
    short = out["short_prompts_cfg5"]  # one short prompt (6 // 16 rounds up to one), 16 images of it
    assert short["n_prompts"] == 1 and short["per_prompt"] == 16
    assert set(short["named"]) | set(short["unnamed_spread"]) <= {"shape", "colour", "size", "position",
                                                                   "background"}
    assert all(0 <= v <= 1 for v in short["named"].values()) and short["unnamed_spread_all"] >= 0
    assert cli(["eval", str(tmp_path / "ldm.safetensors"), "--steps", "0"]) == 2
