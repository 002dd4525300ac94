"""Diagnostics (models/analysis/diagnostics.py) on the bundled models: bounds in the right order, active units,
anomaly detection, an autoencoder against PCA, and the CLI that prints them."""

import json

import numpy as np
import pytest
import torch

from latent_explorer.models import load, load_dataset
from latent_explorer.models.analysis.diagnostics import (
    active_units,
    activity,
    anomaly_job,
    bound_per_image,
    kl_per_dimension,
    likelihood_rows,
    pca_vs_model,
    per_image_scores,
    score_names,
)
from latent_explorer.models.analysis.quality import held_out, train_and_held_out
from latent_explorer.models.cli import main
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.progress import run_to_end

from .helpers import tiny_model

ASSETS = "assets/"


@pytest.fixture(scope="module")
def digits_vae16():
    m = load(ASSETS + "digits-vae16.safetensors")
    return m, held_out(m)


def test_the_importance_weighted_bound_tightens_with_k(digits_vae16):
    m, (_, val) = digits_vae16
    x = (torch.as_tensor(val.images[:100]) > 0.5).float()
    g = torch.Generator().manual_seed(0)
    b1, b10, b500 = (bound_per_image(m, x, k=k, generator=g).mean().item() for k in (1, 10, 500))
    assert b1 < b10 < b500 < 0  # log p(x) ≥ IW_k ≥ IW_1 = ELBO (Burda et al. 2016, theorem 1)


def test_the_16d_digits_vae_has_five_active_units_and_both_criteria_agree_away_from_the_threshold(digits_vae16):
    m, (_, val) = digits_vae16
    kl = kl_per_dimension(m, val.images)
    # the same KL, computed here from the encoder directly
    mu, logvar = m.encode_dist(torch.as_tensor(val.images))
    direct = (-0.5 * (1 + logvar - mu ** 2 - logvar.exp())).mean(0).detach().numpy()
    assert np.allclose(kl, direct, atol=1e-5)
    assert list(active_units(kl)) == list(np.flatnonzero(direct > 0.01))
    assert len(active_units(kl)) == 5  # 11 of the 16 dimensions collapsed onto the prior
    a = activity(m, val.images)  # Burda's Cov_x(E_q[u]): near collapse, KL ≈ A_u / 2
    clear = (kl > 0.03) | (kl < 0.003)
    assert np.array_equal((a > 0.01)[clear], (kl > 0.01)[clear])


def test_an_mnist_vae_tells_mnist_from_grey_scenes(digits_vae16):
    m = load(ASSETS + "mnist-vae16.safetensors")
    _, val = held_out(m)
    scenes = load_dataset("scenes:2000")
    corrected = run_to_end(anomaly_job(m, val, scenes, n=400))
    assert corrected.score == "corrected" and corrected.auroc >= 0.95
    assert any("converted" in n for n in corrected.notes)  # 32x32 RGB -> 28x28 grey, said so
    raw = run_to_end(anomaly_job(m, val, scenes, n=400, score="neg_elbo"))
    # the likelihood alone is fooled by nearly black scenes (Nalisnick et al. 2019)
    assert raw.auroc < corrected.auroc
    worst = scenes.conform(1, 28).images[corrected.most_anomalous[:1]]
    assert worst.shape == (1, 1, 28, 28)


def test_a_model_without_encoder_or_likelihood_gives_no_score():
    gan = load(ASSETS + "digits-gan.safetensors")
    assert score_names(gan) == []
    with pytest.raises(ConfigError, match="no encoder and no likelihood"):
        run_to_end(per_image_scores(gan, np.zeros((2, 1, 8, 8), np.float32)))


def test_the_autoencoder_beats_pca_at_the_same_code_size():
    m = load(ASSETS + "digits-ae.safetensors")
    train, val = train_and_held_out(m)
    c = pca_vs_model(m, train, val)
    assert c.code_size == 8 and c.mse_model < c.mse_pca
    assert c.model_recon.shape == c.pca_recon.shape == c.originals.shape


def test_likelihood_rows_refuse_what_they_cannot_compare():
    ae = tiny_model("ae")
    data = load_dataset("digits").subset(slice(0, 50))
    with pytest.raises(ConfigError, match="gives no likelihood"):
        run_to_end(likelihood_rows({"ae": ae}, data))
    pc = tiny_model("pixelcnn", shape=(1, 16, 16))
    with pytest.raises(ConfigError, match="16×16"):
        run_to_end(likelihood_rows({"pc": pc}, data))


def test_cli_likelihood_and_anomaly(capsys):
    assert main(["likelihood", ASSETS + "digits-vae16.safetensors", ASSETS + "digits-vae2d.safetensors",
                 "--n", "60", "--k", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["binarised"] and [m["name"] for m in out["models"]] == ["digits-vae16", "digits-vae2d"]
    for row in out["models"]:
        assert row["neg_iw_bound"] <= row["neg_elbo"] and row["variational_gap"] >= 0
    assert main(["anomaly", ASSETS + "digits-vae16.safetensors", "--against", "scenes:300", "--n", "100"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["auroc"] > 0.9 and "converted" in captured.err
    assert main(["anomaly", ASSETS + "digits-gan.safetensors", "--against", "scenes:300"]) == 2
    assert "no encoder and no likelihood" in capsys.readouterr().err


def test_which_inspections_apply_is_said_once_with_the_reason():
    from latent_explorer.models.analysis.diagnostics import CONDITIONAL_ANOMALY, applicable

    vae = applicable(tiny_model("vae"))
    assert [k for k, why in vae.items() if why is None] == ["dims", "likelihood", "anomaly", "pca", "modes"]
    assert "no mapping network" in vae["styles"]
    cvae = applicable(tiny_model("cvae"))
    assert cvae["dims"] is None and cvae["modes"] is None and cvae["anomaly"] == CONDITIONAL_ANOMALY
    assert "class-conditional" in cvae["likelihood"] and "class-conditional" in cvae["pca"]
    pixelcnn = applicable(tiny_model("pixelcnn"))
    assert [k for k, why in pixelcnn.items() if why is None] == ["likelihood", "anomaly", "modes"]
    assert pixelcnn["dims"] == "needs a VAE's Gaussian q(z|x)"
    gan = applicable(tiny_model("gan"))
    assert [k for k, why in gan.items() if why is None] == ["modes"]
    stylegan = applicable(tiny_model("stylegan", shape=(1, 16, 16)))
    assert [k for k, why in stylegan.items() if why is None] == ["modes", "styles"]
    assert all(why for why in applicable(tiny_model("pix2pix")).values())  # nothing applies, each says why
