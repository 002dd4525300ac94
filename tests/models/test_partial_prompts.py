"""Issue T.8: short prompts. Captions cut to a random subset of their phrases in training (phrase_drop), the
cut itself, and the measure of what a short prompt keeps and what it lets vary."""

import numpy as np
import pytest
import torch

from latent_explorer.models.analysis.partial_prompts import _entropy, cut_prompts, reference_spread
from latent_explorer.models.data import scenes

WHOLE = "a large blue star at the top left on a white background"


@pytest.mark.parametrize("keep, want", [
    ({"colour": True, "shape": True}, "a blue star"),
    ({"size": True, "position": True}, "a large at the top left"),
    ({"background": True}, "a on a white background"),
    ({f: True for f in scenes.FACTORS}, WHOLE),
    ({}, WHOLE),  # nothing kept: the whole caption (the empty prompt is cond_drop's job)
])
def test_a_caption_cut_to_its_phrases(keep, want):
    assert scenes.partial_caption(WHOLE, keep) == want


def test_other_texts_stay_whole():
    two = "a small red circle at the top and a large blue star at the left on a black background"
    assert scenes.partial_caption(two, {"shape": True}) == two
    assert scenes.partial_caption("anything else", {"shape": True}) == "anything else"


def test_every_cut_prompt_names_some_factors_and_leaves_some_out():
    images, factors, bg, caps = scenes.make_scenes(40, seed=3)
    prompts, named = cut_prompts(caps, seed=1)
    assert named.any(axis=1).all() and (~named).any(axis=1).all()
    for text, keep, f, b in zip(prompts, named, factors[:, 0], bg):
        words = text.split()
        values = [scenes.SHAPES[f[0]], list(scenes.COLOURS)[f[1]], list(scenes.SIZES)[f[2]]]
        for name, v in zip(("shape", "colour", "size"), values):
            assert (v in words) == keep[scenes.FACTORS.index(name)], (text, name)
        assert (list(scenes.BACKGROUNDS)[b] in words) == keep[4]
        assert ("at the" in text) == keep[3]
    again = cut_prompts(caps, seed=1)
    assert again[0] == prompts and np.array_equal(again[1], named)  # seeded


def test_the_reference_spread_is_the_datas_own_at_that_sample_size():
    rng = np.random.default_rng(0)
    data = np.stack([rng.integers(0, 6, 5000), rng.integers(0, 8, 5000), rng.integers(0, 2, 5000),
                     rng.integers(0, 9, 5000), np.zeros(5000, int)], axis=1)  # one background only
    named = np.array([[True, True, False, False, False]])
    ref = reference_spread(data, data[:1], named, per_prompt=16, seed=0)
    assert np.isnan(ref[0, :2]).all()
    assert 0.4 < ref[0, 2] <= np.log(2) + 1e-9  # two sizes
    assert 1.4 < ref[0, 3] <= np.log(9) + 1e-9  # nine places, 16 draws: below log 9
    assert ref[0, 4] == 0.0  # the data never varies it
    assert _entropy(np.array([1, 1, 1])) == 0.0
    assert abs(_entropy(np.array([0, 1])) - np.log(2)) < 1e-12


def test_phrase_drop_cuts_a_share_of_the_training_captions(tmp_path):
    from latent_explorer.models import load
    from tests.models.helpers import tiny_text_models

    ldm = load(str(tiny_text_models(tmp_path, steps=1)[2]))
    ids = ldm.prompt_ids([WHOLE] * 400).ids
    torch.manual_seed(0)
    out = ldm.partial_prompts(ids, 0.5)
    tok = ldm.parts[1].tokenizer
    texts = [" ".join(w for w in tok.decode(r.tolist()) if not w.startswith("<")) for r in out]
    cut = [t for t in texts if t != WHOLE]
    assert 150 < len(cut) < 250  # about half, each a subset of the phrases
    assert all(set(t.split()) <= set(WHOLE.split()) for t in cut)
    assert "a blue star" in texts or len(set(cut)) > 10
    assert torch.equal(ldm.partial_prompts(ids, 0.0), ids)  # token ids: integers, exact
    assert ldm.config.phrase_drop == 0.0  # the default: models trained before it read whole captions


def test_the_text_encoder_learns_short_captions_against_every_image_they_fit(tmp_path):
    from latent_explorer.models import load
    from tests.models.helpers import tiny_text_models

    te = load(str(tiny_text_models(tmp_path, steps=1)[1]))
    caps = [WHOLE, "a small red circle at the center on a navy background",
            "a large blue star at the center on a gray background"]
    ids = te.tokenize(caps).ids
    torch.manual_seed(3)
    cut, fits = te.cut_captions(ids, 1.0)
    texts = [" ".join(w for w in te.tokenizer.decode(r.tolist()) if not w.startswith("<")) for r in cut]
    for i, text in enumerate(texts):
        assert fits[i, i]  # a caption always fits its own image
        for j in range(3):  # and every image whose caption holds the phrases it kept
            assert bool(fits[i, j]) == all(w in caps[j].split() for w in text.split()), (text, caps[j])
    loss, acc = te._contrast(torch.rand(3, 3, 32, 32), cut, fits)
    assert torch.isfinite(loss) and 0 <= float(acc) <= 1
    whole, none = te.cut_captions(ids, 0.0)
    assert none is None and torch.equal(whole, ids)


def test_resuming_a_latent_diffusion_model_with_another_text_encoder(tmp_path, capsys):
    """The U-Net goes on learning from a new text encoder's tokens; the checkpoint names the new file."""
    import shutil

    from latent_explorer.models import load
    from latent_explorer.models.cli import main as cli
    from tests.models.helpers import tiny_text_models

    ae, te, ldm = tiny_text_models(tmp_path, steps=1)
    other = tmp_path / "other"
    other.mkdir()
    te2 = other / "te2.safetensors"
    assert cli(["train", "--model", "clip", "--data", "scenes:96", "--layers", "1", "--embed-dim", "16",
                "--phrase-drop", "0.5", "--max-steps", "1", "--batch-size", "16", "--quiet", "--out", str(te2)]) == 0
    out = tmp_path / "ldm2.safetensors"
    assert cli(["train", "--model", "ldm", "--data", "scenes:96", "--resume", str(ldm), "--text-encoder", str(te2),
                "--phrase-drop", "0.5", "--max-steps", "1", "--batch-size", "16", "--quiet", "--record-n", "0",
                "--out", str(out)]) == 0
    shutil.copy(te2, tmp_path / "te2.safetensors")  # its parts beside it, as a user keeps them
    model = load(str(out))
    assert model.config.text_encoder.endswith("te2.safetensors") and model.config.phrase_drop == 0.5
    assert model.txt2img(["a blue star"], steps=2, seed=0).shape == (1, 3, 32, 32)
    # a text encoder of another width is refused, naming both widths
    from latent_explorer.models import build_model, load_dataset, make_config
    from tests.models.helpers import run

    data = load_dataset("scenes:96")
    wide = other / "wide.safetensors"
    run(build_model(make_config("clip", data.shape, data=data, layers=1, width=32)), data, out=str(wide),
        batch_size=16, max_steps=1)
    capsys.readouterr()
    code = cli(["train", "--model", "ldm", "--data", "scenes:96", "--resume", str(ldm), "--text-encoder", str(wide),
                "--max-steps", "1", "--quiet", "--out", str(tmp_path / "ldm3.safetensors")])
    assert code == 2 and "wide" in capsys.readouterr().err
