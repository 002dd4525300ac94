"""Issue R's measured figures: the truncation sweep (FD, precision, recall against ψ) and the style-mixing
table (what each crossover takes from source A and from B, as a classifier reads it); a training-time budget
(`train --minutes`, for the same-wall-time comparison of StyleGAN and DCGAN)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from latent_explorer.models import ConfigError, TrainConfig, train
from latent_explorer.models.analysis.style_figures import MixingTable, mixing_shares, truncation_sweep

from .helpers import tiny_data, tiny_model


@pytest.fixture()
def sg():
    return tiny_model("stylegan", shape=(3, 16, 16), width=8, mapping_layers=2).eval()


def fake_classifier(heads: int, shape=(3, 16, 16), classes=("c0", "c1", "c2")):
    """Reads pixel (0, 0, j) of an image as head j's label (0 or 1); its features: a 4×4 pooling."""
    def predict(images, batch=500):
        x = torch.from_numpy(np.asarray(images, np.float32))
        feats = torch.nn.functional.avg_pool2d(x, 4).flatten(1)[:, :16].double().numpy()
        return feats, (x[:, 0, 0, :heads] > 0.5).long().numpy()

    names = [f"h{j}" for j in range(heads)]
    return SimpleNamespace(predict=predict, head_names=names, config=SimpleNamespace(
        image_shape=shape, heads={n: list(classes) for n in names}, data="fake", held_out_accuracy={}))


def test_mixing_shares_count_what_each_crossover_takes_from_a_and_b(sg, monkeypatch):
    """An image that shows each layer's first w component at pixel (0, 0, layer): below the crossover every
    head reads A's, from it on B's — exactly, over the pairs whose sources differ."""
    k = sg.num_ws
    with torch.no_grad():  # the middle of w's first component: about half the pairs differ in each head
        z = torch.randn(2000, sg.config.latent_dim, generator=torch.Generator().manual_seed(9))
        mid = sg.to_w(z)[:, 0].median()

    def synthesize(ws, noise="fixed", generator=None, features=None):  # (B, k, D) -> (B, 3, 16, 16)
        x = torch.zeros(len(ws), 3, 16, 16)
        x[:, 0, 0, :k] = (ws[:, :, 0] > mid).float()
        return x

    monkeypatch.setattr(sg, "synthesize", synthesize)
    table = list_result(mixing_shares(sg, fake_classifier(k), n=64, seed=0, batch=20))
    assert table.cuts == list(range(1, k)) and table.from_a.shape == (k - 1, k)
    for i, cut in enumerate(table.cuts):
        for j in range(k):
            assert table.pairs[i, j] > 0
            assert table.from_a[i, j] == pytest.approx(1.0 if j < cut else 0.0)
            assert table.from_b[i, j] == pytest.approx(0.0 if j < cut else 1.0)
    assert (1, "h0", "h1") in table.splits() and all(a != b for _, a, b in table.splits())
    assert "layers from A" in table.text() and table.to_json()["cuts"] == table.cuts


def test_a_table_without_a_split_says_none():
    t = MixingTable([1, 2], ["shape", "colour"], np.full((2, 2), 0.5), np.full((2, 2), 0.5), np.ones((2, 2), int))
    assert t.splits() == []


def test_truncation_sweep_measures_each_psi_and_leaves_the_models_own(sg):
    real = tiny_data(n=120, shape=(3, 16, 16), seed=1)
    sg.set_style(psi=0.8)
    with torch.no_grad():
        sg.w_avg.copy_(torch.randn(sg.config.latent_dim))
    rows = list_result(truncation_sweep(sg, real, fake_classifier(2), psis=(1.0, 0.5, 0.0), n=100, seed=0))
    assert [r["psi"] for r in rows] == [1.0, 0.5, 0.0] and sg.psi == 0.8
    assert all(np.isfinite(r["frechet_distance"]) and 0 <= r["precision"] <= 1 and 0 <= r["recall"] <= 1
               for r in rows)
    assert rows[0]["frechet_distance"] != pytest.approx(rows[2]["frechet_distance"], rel=1e-3)
    assert rows[2]["recall"] <= rows[0]["recall"]  # ψ = 0: one image, w̄'s, drawn n times
    modes = list_result(truncation_sweep(sg, real, fake_classifier(2), psis=(1.0, 0.0), n=100, seed=0,
                                         towards="modes"))
    assert sg.towards == "mean" and sg.psi == 0.8  # the model's own, as it was
    assert modes[0]["frechet_distance"] == pytest.approx(rows[0]["frechet_distance"], rel=1e-4)  # ψ = 1: no pull
    assert modes[1]["frechet_distance"] != pytest.approx(rows[2]["frechet_distance"], rel=1e-3)  # ψ = 0: the modes


def test_a_model_without_a_mapping_network_has_no_truncation_to_measure():
    gan = tiny_model("gan", shape=(3, 16, 16))
    with pytest.raises(ConfigError, match="no mapping network"):
        list_result(mixing_shares(gan, fake_classifier(2)))


def test_a_training_time_budget_ends_the_run_at_the_first_step_past_it(tmp_path):
    m = tiny_model("ae")
    records = list(train(m, tiny_data(), TrainConfig(epochs=5, batch_size=16, max_minutes=1e-9),
                         out=str(tmp_path / "ae.safetensors")))
    assert records[-1].event == "done" and records[-1].step == 1
    assert [r.event for r in records].count("epoch") == 1
    from latent_explorer.models import load
    from latent_explorer.models.io.meta import meta_of

    training = meta_of(load(tmp_path / "ae.safetensors")).training
    assert training["status"] == "finished" and training["max_minutes"] == 1e-9
    with pytest.raises(ConfigError, match="training time"):
        TrainConfig(max_minutes=0).validate()


def list_result(job):
    try:
        while True:
            next(job)
    except StopIteration as stop:
        return stop.value


def test_sampled_codes_on_the_map_are_labelled_by_the_classifier():
    """Issue R: the map of an unconditional generator colours each sampled code by the yardstick's reading."""
    from latent_explorer.models import build_model, make_config
    from latent_explorer.models.analysis.classifier import bundled_classifier
    from latent_explorer.models.analysis.latent import sample_latents

    sg = build_model(make_config("stylegan", (3, 16, 16), 8, [], width=8, mapping_layers=2)).eval()
    sg.set_style(space="w")
    ls = list_result(sample_latents(sg, 40, seed=0, classifier=fake_classifier(2)))
    assert ls.z.shape == (40, 8) and ls.labels.shape == (40,) and ls.class_names == ["c0", "c1", "c2"]
    assert ls.source.startswith("sampled, labelled") and set(ls.labels) <= {0, 1}
    assert list_result(sample_latents(sg, 8, classifier="bundled")).labels is None  # no data named: no reader
    mnist = bundled_classifier("mnist:500", (1, 28, 28))
    assert mnist is not None and mnist.config.heads["label"][3] == "3"
    assert bundled_classifier("mnist", (3, 32, 32)) is None and bundled_classifier("../x", (1, 28, 28)) is None
