"""The likelihood papers' convention on MNIST (issue S.5): stochastic binarisation, x ~ Bernoulli(grey), drawn
afresh every step in training (``train --binarise stochastic``) and averaged over several seeded draws when
scored (``likelihood --binarise stochastic``), beside the fixed threshold at ½."""

import json

import numpy as np
import pytest
import torch

from latent_explorer.models import load, load_dataset
from latent_explorer.models.analysis.diagnostics import binarised_draws, likelihood_rows
from latent_explorer.models.cli import main
from latent_explorer.models.data.binary import binarise, binary_draw
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import run_to_end
from latent_explorer.models.training.train import TrainConfig, train

from .helpers import tiny_data, tiny_model

ASSETS = "assets/"


def test_a_stochastic_draw_is_binary_and_on_as_often_as_the_grey_says():
    grey = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]).repeat(20000, 1)
    g = torch.Generator().manual_seed(0)
    x = binary_draw(grey, g)
    assert set(x.unique().tolist()) <= {0.0, 1.0}
    # 20,000 draws per value: the share of ones is within 4 standard errors (≤ 0.0036) of the grey value
    assert np.allclose(x.mean(0).numpy(), [0.0, 0.1, 0.5, 0.9, 1.0], atol=0.015)
    assert torch.equal(binary_draw(grey[:10], torch.Generator().manual_seed(3)),
                       binary_draw(grey[:10], torch.Generator().manual_seed(3)))  # seeded: the same draw
    assert binarise(np.array([[0.49, 0.51]])).tolist() == [[0.0, 1.0]]


def test_scoring_draws_are_seeded_distinct_and_checked():
    images = np.full((4, 1, 8, 8), 0.5, np.float32)
    a = binarised_draws(images, "stochastic", 3, seed=0)
    b = binarised_draws(images, "stochastic", 3, seed=0)
    assert len(a) == 3 and all(torch.equal(p, q) for p, q in zip(a, b, strict=True))
    assert not torch.equal(a[0], a[1])
    assert len(binarised_draws(images, "threshold", 1, seed=0)) == 1
    with pytest.raises(ConfigError, match="draws must be 1..100"):
        binarised_draws(images, "stochastic", 0, seed=0)
    with pytest.raises(ConfigError, match="binarisation must be one of"):
        binarised_draws(images, "dither", 1, seed=0)


def test_a_run_trained_on_stochastic_draws_sees_only_black_and_white_and_says_so(tmp_path):
    m = tiny_model("pixelcnn")
    seen = []
    step = m.train_step
    m.train_step = lambda x, *a, **k: (seen.append(x.clone()), step(x, *a, **k))[1]
    data = tiny_data()
    data.images[:] = 0.25  # every image the same grey: a threshold would make them all black
    out = tmp_path / "pc.safetensors"
    list(train(m, data, TrainConfig(epochs=2, batch_size=16, binarise="stochastic", record_n=0), out=str(out)))
    x = torch.cat(seen)
    assert set(x.unique().tolist()) == {0.0, 1.0}
    assert abs(float(x.mean()) - 0.25) < 0.05  # about a quarter of the pixels on (over 6,000 draws)
    assert len({tuple(img.flatten().tolist()) for img in x}) > len(x) // 2  # each image seen is its own draw
    assert load(out).meta["training"]["binarise"] == "stochastic"
    from latent_explorer.models.training.run import RunSpec, prepare_run

    again = prepare_run(RunSpec("pixelcnn", "digits", str(tmp_path / "more.safetensors"), epochs=1, resume=str(out)))
    assert again.config.binarise == "stochastic"  # a resumed run goes on with the images it was trained on
    with pytest.raises(ConfigError, match="binarise must be one of"):
        TrainConfig(binarise="dither").validate()


def test_the_likelihood_of_stochastic_draws_averages_them_and_says_how(capsys):
    data = load_dataset("digits").subset(slice(0, 40))
    vae = load(ASSETS + "digits-vae16.safetensors")
    one = run_to_end(likelihood_rows({"v": vae}, data, k=5, binarisation="stochastic", draws=1))[0].figures
    three = run_to_end(likelihood_rows({"v": vae}, data, k=5, binarisation="stochastic", draws=3))[0].figures
    fixed = run_to_end(likelihood_rows({"v": vae}, data, k=5))[0].figures
    assert three["neg_iw_bound"] <= three["neg_elbo"]
    # the first draw is shared, so three draws differ from one by the other two's spread, not by a scale
    assert 0.5 < three["neg_elbo"] / one["neg_elbo"] < 2
    assert abs(three["neg_elbo"] - fixed["neg_elbo"]) > 1.0  # draws are not the threshold (3.5 nats apart here)
    assert main(["likelihood", ASSETS + "digits-vae16.safetensors", "--n", "30", "--k", "5",
                 "--binarise", "stochastic", "--draws", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["binarised"] == "stochastic" and out["draws"] == 2
    assert out["models"][0]["trained_on"] == "grey"
    assert main(["likelihood", ASSETS + "digits-vae16.safetensors", "--draws", "2"]) == 2
    assert "--draws is for --binarise stochastic" in capsys.readouterr().err
    assert main(["likelihood", ASSETS + "digits-vae16.safetensors", "--n", "20", "--k", "2", "--binarise",
                 "stochastic", "--markdown"]) == 0
    assert "averaged over 5 draws" in capsys.readouterr().out
