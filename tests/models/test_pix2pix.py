"""pix2pix (models/kinds/pix2pix.py): the sources it translates from, its U-Net and PatchGAN, training, reading a
drawing, and ``latent-explorer translate``."""

import numpy as np
import pytest
import torch
from PIL import Image

from latent_explorer.models import TrainConfig, build_model, load, load_dataset, make_config, train
from latent_explorer.models.data.sketches import edges, silhouette
from latent_explorer.models.io.sketches import read_sketch

from .helpers import cli


def _square(size=16, bg=(0.2, 0.4, 0.6), fg=(0.9, 0.1, 0.1)):
    x = np.empty((1, 3, size, size), np.float32)
    x[0] = np.array(bg, np.float32)[:, None, None]
    x[0, :, 4:10, 5:12] = np.array(fg, np.float32)[:, None, None]
    return x


def test_edges_outline_a_shape_and_the_silhouette_fills_it():
    x = _square()
    sil = silhouette(x)[0, 0]
    assert sil.sum() == 6 * 7 and sil[4:10, 5:12].all()
    e = edges(x)[0, 0]
    assert e.any() and not e[6:8, 7:10].any()  # the inside is no edge
    assert e[4:10, 5:12].sum() + e[3:11, 4:13].sum() > 0 and e[0:2, 0:3].sum() == 0  # nor the plain background
    assert set(np.unique(e)) <= {0.0, 1.0}


@pytest.mark.parametrize("size", [8, 28, 32])
def test_the_unet_and_patchgan_fit_every_size(size):
    torch.manual_seed(0)
    m = build_model(make_config("pix2pix", (3, size, size), width=8))
    src = torch.rand(2, 1, size, size).round()
    out = m.translate(src)
    assert out.shape == (2, 3, size, size) and 0 <= out.min() and out.max() <= 1
    patches = m.discriminator(src, out)
    assert patches.ndim == 4 and patches.shape[1] == 1 and patches.shape[2] >= 1
    torch.testing.assert_close(out, m.translate(src), rtol=0, atol=1e-6)  # deterministic: no dropout when translating


def test_training_lowers_the_held_out_l1_and_the_baseline_has_no_discriminator_step():
    data = load_dataset("scenes").subset(slice(0, 400))
    torch.manual_seed(0)
    m = build_model(make_config("pix2pix", data.shape, width=8, data=data))
    recs = list(train(m, data, TrainConfig(epochs=3, batch_size=32, lr=1e-3)))
    epochs = [r for r in recs if r.event == "epoch"]
    assert epochs[-1].val["l1"] < epochs[0].val["l1"] and set(epochs[0].losses) == {"d", "g_adv", "l1"}
    base = build_model(make_config("pix2pix", data.shape, width=8, adv_weight=0.0, data=data))
    recs = list(train(base, data, TrainConfig(epochs=1, batch_size=32, max_steps=3)))
    assert set(recs[-2].losses) == {"l1"}


def test_the_l1_term_is_weighed_on_the_papers_scale(monkeypatch):
    """λ = 100 weighs the L1 of images in [-1, 1], as the paper's code does (on [0, 1] it would be λ = 50); the
    reported l1 is on the [0, 1] scale of the held-out figure."""
    import latent_explorer.models.kinds.pix2pix as p2p

    data = load_dataset("scenes").subset(slice(0, 8))
    torch.manual_seed(0)
    m = build_model(make_config("pix2pix", data.shape, width=8, adv_weight=0.0, data=data))
    x = torch.from_numpy(data.images)
    y = torch.from_numpy(np.ascontiguousarray(m.condition_of(data)))
    m.generator.eval()  # no dropout: the loss below is the one the step computes
    expected = (m.generator(y * 2 - 1) - (x * 2 - 1)).abs().mean().item()
    seen = []
    monkeypatch.setattr(p2p, "optimize", lambda loss, *a, **k: seen.append(loss.item()))
    out = m.train_step(x, y, m.make_optimizers(), 0)
    assert seen == [pytest.approx(100 * expected, rel=1e-5)]
    assert out["l1"] == pytest.approx(expected / 2, rel=1e-5)


def test_reading_a_drawing(tmp_path):
    a = np.full((64, 64), 255, np.uint8)
    a[10:54, 30:34] = 0  # a dark stroke on white paper, at 64x64
    Image.fromarray(a).save(tmp_path / "paper.png")
    ink, notes = read_sketch(tmp_path / "paper.png", 32)
    assert ink.shape == (1, 32, 32) and ink[0, 5:27, 15:17].all() and ink.sum() < 32 * 8
    assert notes == ["resized from 64x64 to the model's 32x32"]
    rgba = np.zeros((32, 32, 4), np.uint8)  # a transparent sheet with one black line
    rgba[16, 4:28] = (0, 0, 0, 255)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    ink, notes = read_sketch(tmp_path / "clear.png", 32)
    assert ink[0, 16, 4:28].all() and ink.sum() == 24 and "transparent" in notes[0]
    deep = np.zeros((32, 32), np.uint16)  # light strokes on black, 16-bit
    deep[8:24, 8] = 60000
    Image.fromarray(deep).save(tmp_path / "deep.png")
    ink, notes = read_sketch(tmp_path / "deep.png", 32)
    assert ink[0, 8:24, 8].all() and ink.sum() == 16 and "scaled" in notes[0]
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(tmp_path / "blank.png")
    with pytest.raises(ValueError, match="empty"):
        read_sketch(tmp_path / "blank.png", 32)


def test_translate_cli(tmp_path, capsys):
    torch.manual_seed(0)
    data = load_dataset("scenes").subset(slice(0, 64))
    m = build_model(make_config("pix2pix", data.shape, width=8, data=data))
    from latent_explorer.models.io.checkpoint import save

    save(m, tmp_path / "p.safetensors", data={"spec": "scenes"})
    Image.fromarray((edges(data.images[:1])[0, 0] * 255).astype(np.uint8)).save(tmp_path / "e.png")
    p, e, o = (str(tmp_path / n) for n in ("p.safetensors", "e.png", "o.png"))
    code, _, err = cli(capsys, "translate", p, "--input", e, "--out", o)
    assert code == 0 and "saved" in err
    with Image.open(tmp_path / "o.png") as im:
        assert im.size[0] == im.size[1] >= 128 and "Model: p" in im.info["parameters"]  # scaled up to 128
    code, _, err = cli(capsys, "translate", p, "--input", e, "--out", o, "--direction", "b2a")
    assert code == 2 and "one way only" in err
    code, _, err = cli(capsys, "translate", "assets/digits-vae2d.safetensors", "--input", e, "--out", o)
    assert code == 2 and "needs an image-to-image model" in err
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(tmp_path / "none.png")
    code, _, err = cli(capsys, "translate", p, "--input", str(tmp_path / "none.png"), "--out", o)
    assert code == 2 and "empty" in err
    assert load(tmp_path / "p.safetensors").kind == "pix2pix"


def _pair_folder(root, names_a, names_b, size=20):
    for side, names in (("A", names_a), ("B", names_b)):
        (root / side).mkdir(parents=True)
        for i, n in enumerate(names):
            img = np.zeros((size, size, 3), np.uint8)
            img[..., 0] = 10 * i + (0 if side == "A" else 100)  # B is A brightened: a learnable pairing
            Image.fromarray(img).save(root / side / n)
    return root


def test_paired_folders_match_by_name_and_count_the_rest(tmp_path, capsys):
    root = _pair_folder(tmp_path / "p", ["a.png", "b.png", "c.png", "odd.png"], ["a.jpg", "b.png", "c.png", "x.png"])
    data = load_dataset(f"pairs:{root}")
    assert len(data) == 3 and data.sources.shape == data.images.shape == (3, 3, 20, 20)
    assert np.all(data.images[:, 0] > data.sources[:, 0])  # each B beside its own A
    assert "3 pairs; 1 image(s) of A/ and 1 of B/ have no partner" in data.note and "A/odd" in data.note
    train_part, val_part = data.split(0.34)
    assert val_part.sources is not None and len(val_part.sources) == len(val_part)
    cfg = make_config("pix2pix", data.shape, width=4, data=data)
    assert cfg.source == "paired"
    m = build_model(cfg)
    assert not m.takes_ink and m.source_shape == (3, 20, 20)
    with pytest.raises(Exception, match="pairs:FOLDER"):
        m.condition_of(load_dataset("scenes:8").conform(3, 20))
    for bad, words in [(f"pairs:{tmp_path}", "needs two subfolders"), ("pairs:", "give the folder")]:
        with pytest.raises(Exception, match=words):
            load_dataset(bad)
    lonely = _pair_folder(tmp_path / "q", ["a.png"], ["b.png"])
    with pytest.raises(Exception, match=r"no name is in both A/ \(1 images\) and B/ \(1 images\)"):
        load_dataset(f"pairs:{lonely}")
    out = tmp_path / "m.safetensors"
    code, _, err = cli(capsys, "train", "--model", "pix2pix", "--data", f"pairs:{root}", "--width", "4", "--epochs",
                       "1", "--batch-size", "2", "--out", out, "--quiet", "--record-n", "0")
    assert code == 0 and "note: 3 pairs; 1 image(s) of A/" in err
    assert load(out).config.source == "paired"
