"""The text encoder (issue J, second part): its tokenizer and its CLIP-style training."""

import pytest
import torch

from latent_explorer.models import ConfigError, build_model, load, load_dataset, make_config
from latent_explorer.models.cli import main as cli
from latent_explorer.models.nn.tokenizer import BOS, EOS, PAD, Tokenizer, UnknownWords

from .helpers import run


def test_the_tokenizer_knows_the_captions_words_and_names_the_others():
    tok = Tokenizer(Tokenizer.vocabulary(["a small red triangle at the top left on a navy background"]), 8)
    assert tok.vocab == sorted(["a", "small", "red", "triangle", "at", "the", "top", "left", "on", "navy",
                                "background"])
    t = tok(["A red triangle!", ""])
    ids = t.ids.tolist()
    assert ids[0][:5] == [BOS, tok.ids["a"], tok.ids["red"], tok.ids["triangle"], EOS] and ids[0][5:] == [PAD] * 3
    assert ids[1][:2] == [BOS, EOS] and t.truncated == [False, False]  # the empty prompt: <bos> <eos>
    long = tok(["a small red triangle at the top left on a navy background"])
    assert long.truncated == [True] and long.ids[0, -1] == EOS  # cut to the context, still ended
    with pytest.raises(UnknownWords, match="unknown words 'purple', 'hexagon'") as e:
        tok(["a purple hexagon on a navy background"])
    assert e.value.words == ["purple", "hexagon"]
    assert tok.decode(t.ids[0].tolist()) == ["<bos>", "a", "red", "triangle", "<eos>"]


def test_the_vocabulary_comes_from_the_data():
    data = load_dataset("scenes:500")
    cfg = make_config("clip", data.shape, data=data)
    assert {"circle", "red", "navy", "background", "top", "left", "small"} <= set(cfg.vocab)
    assert cfg.latent_dim == cfg.embed_dim == 64
    with pytest.raises(ConfigError, match="vocabulary"):
        make_config("clip", data.shape)  # no data: no words
    with pytest.raises(ConfigError, match="learns from captions: digits has none"):
        build_model(make_config("clip", (1, 8, 8), data=load_dataset("scenes:10"))).condition_of(
            load_dataset("digits"))


def test_contrastive_training_matches_images_with_their_captions(tmp_path):
    data = load_dataset("scenes:512")
    torch.manual_seed(0)
    model = build_model(make_config("clip", data.shape, data=data, layers=1))
    records = run(model, data, out=str(tmp_path / "clip.safetensors"), epochs=4, batch_size=64, lr=2e-3)
    epochs = [r for r in records if r.event == "epoch"]
    assert epochs[-1].losses["loss"] < 0.8 * epochs[0].losses["loss"]
    assert epochs[-1].losses["accuracy"] > 3 / 64  # well above chance (1/64) within a batch
    loaded = load(tmp_path / "clip.safetensors")
    ids = loaded.tokenize(["a large red circle at the center on a white background"]).ids
    tokens, emb = loaded.encode_text(ids)
    assert tokens.shape == (1, 32, 64) and emb.shape == (1, 64)
    assert torch.allclose(emb.norm(dim=-1), torch.ones(1), atol=1e-5)
    torch.testing.assert_close(loaded.encode_text(ids)[1], model.eval().encode_text(ids)[1], rtol=0, atol=1e-6)


def test_the_cli_says_which_data_it_needs(tmp_path, capsys):
    assert cli(["train", "--model", "clip", "--data", "digits", "--epochs", "1",
                "--out", str(tmp_path / "c.safetensors")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "learns from captions: digits has none (use scenes)" in err[0]


def test_retrieval_and_zero_shot_factor_accuracy(tmp_path, capsys):
    import json

    from latent_explorer.models.kinds.text_encoder import text_figures

    data = load_dataset("scenes:512")
    torch.manual_seed(0)
    model = build_model(make_config("clip", data.shape, data=data, layers=1))
    untrained = text_figures(model.eval(), data, n=120)
    run(model, data, out=str(tmp_path / "clip.safetensors"), epochs=4, batch_size=64, lr=2e-3)
    trained = text_figures(model.eval(), data, n=120)
    assert set(trained["zero_shot_accuracy"]) == {"shape", "colour", "size", "position", "background"}
    assert all(0 <= v <= 1 for v in trained["zero_shot_accuracy"].values())
    assert trained["retrieval_top5"] >= trained["retrieval_top1"]
    # training teaches it the easy factors: the background fills most of the picture
    assert trained["zero_shot_accuracy"]["background"] > max(0.5, untrained["zero_shot_accuracy"]["background"])
    assert trained["retrieval_top5"] > untrained["retrieval_top5"]
    assert cli(["eval", str(tmp_path / "clip.safetensors"), "--n", "100"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"retrieval_top1", "retrieval_top5", "zero_shot_accuracy", "loss", "accuracy"} <= set(out)
