"""Issue I's quality yardstick: Fréchet distance, precision/recall, coverage, the classifier, and the figures
of the bundled models."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_explorer.models import cli, load, load_dataset
from latent_explorer.models.analysis.classifier import (
    CLASSIFIER_DIR,
    classifier_for,
    heads_of,
    load_classifier,
    save_classifier,
    train_classifier,
)
from latent_explorer.models.analysis.quality import (
    class_coverage,
    frechet_distance,
    measure,
    precision_recall,
    real_vs_real,
)
from latent_explorer.models.data import ImageData
from latent_explorer.models.progress import run_to_end

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def test_frechet_distance_matches_the_closed_form():
    """Parity with eq. 6 computed with a general matrix square root (scipy)."""
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 6))
    b = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6)) + 0.5
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    ref = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-6)
    # same covariance, shifted mean: the squared shift
    assert frechet_distance(a, a + 2.0) == pytest.approx(6 * 4.0, rel=1e-6)


def test_precision_and_recall_tell_quality_from_coverage():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(600, 4))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)
    far = real + 50
    assert precision_recall(real, far) == (0.0, 0.0)
    collapsed = real[np.argsort(real[:, 0])[:60]]  # one corner of the data, repeated with jitter
    collapsed = np.repeat(collapsed, 10, 0) + rng.normal(scale=0.01, size=(600, 4))
    p, r = precision_recall(real, collapsed)
    assert p > 0.9 and r < 0.3


def test_class_coverage_counts_classes_with_a_fair_share():
    share = np.full(10, 0.1)
    assert class_coverage(np.full(10, 100), share) == 1.0
    counts = np.array([500, 500, 0, 0, 0, 0, 0, 0, 0, 1])
    assert class_coverage(counts, share) == pytest.approx(0.2)


def test_scenes_have_one_head_per_factor():
    data = load_dataset("scenes:200")
    heads, targets = heads_of(data)
    assert list(heads) == ["label", "colour", "size", "position", "background"]
    assert targets.shape == (200, 5) and heads["label"][0] == "circle"


def test_a_classifier_saves_and_loads_the_same(tmp_path):
    data = load_dataset("digits")
    net = run_to_end(train_classifier(data, epochs=2))
    path = save_classifier(net, tmp_path / "c.safetensors")
    back = load_classifier(path)
    f1, l1 = net.predict(data.images[:50])
    f2, l2 = back.predict(data.images[:50])
    assert np.allclose(f1, f2) and np.array_equal(l1, l2)
    assert back.config.heads == net.config.heads and back.config.held_out_accuracy["label"] > 0.5


def test_user_data_gets_a_classifier_trained_once_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_EXPLORER_CACHE", str(tmp_path / "cache"))
    d = load_dataset("digits")
    npz = tmp_path / "mine.npz"
    np.savez(npz, images=(d.images[:600, 0] * 255).astype(np.uint8), labels=d.labels[:600])
    data = load_dataset(str(npz))
    gen = classifier_for(data, epochs=2)
    steps = []
    while True:
        try:
            steps.append(next(gen))
        except StopIteration as e:
            first = e.value
            break
    assert steps and steps[-1].done == steps[-1].total and "classifier" in steps[0].message
    assert list((tmp_path / "cache" / "classifiers").glob("*.safetensors"))
    second = classifier_for(data, epochs=2)
    with pytest.raises(StopIteration) as stop:
        next(second)  # no training: straight from the cache
    assert np.allclose(stop.value.value.predict(data.images[:20])[0], first.predict(data.images[:20])[0])


def _bundled(name):
    path = ASSETS / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"{path.name} is not built (make assets)")
    return load(path)


@pytest.fixture(scope="module")
def mnist_yardstick():
    path = CLASSIFIER_DIR / "mnist.safetensors"
    assert path.exists(), "the bundled mnist classifier is missing (make assets)"
    data = load_dataset("mnist")
    return load_classifier(path), data.split(0.1)


def test_the_ladder_holds_on_mnist(mnist_yardstick):
    """FD(real held-out vs real train) < FD(+ N(0, 0.1²)) < FD(+ N(0, 0.3²))."""
    net, (train, val) = mnist_yardstick
    ladder = [real_vs_real(net, val, train, noise) for noise in (0.0, 0.1, 0.3)]
    print("FD ladder", ladder)
    assert ladder[0] < ladder[1] < ladder[2]
    assert net.config.held_out_accuracy["label"] >= 0.97


@pytest.mark.slow
def test_bundled_ddpm_beats_the_bundled_gan(mnist_yardstick):
    net, (_, val) = mnist_yardstick
    kw = dict(sampler="ddim", steps=25)
    fd = {}
    for name in ("mnist-dcgan", "mnist-ddpm"):
        model = _bundled(name)
        fd[name] = run_to_end(measure(model, val, net, n=300, sample_kw=kw if "ddpm" in name else {})
                              ).figures["frechet_distance"]
    print(fd)
    assert fd["mnist-ddpm"] < fd["mnist-dcgan"]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mnist-cvae", "mnist-cgan", "mnist-ddpm"])
def test_bundled_conditional_models_make_the_class_asked_for(mnist_yardstick, name):
    net, (_, val) = mnist_yardstick
    model = _bundled(name)
    kw = dict(sampler="ddim", steps=25, guidance=2.0) if model.capabilities.diffusion else {}
    figures = run_to_end(measure(model, val, net, n=300, sample_kw=kw)).figures
    print(name, figures["conditional_accuracy"])
    assert figures["conditional_accuracy"] >= 0.90


def _eval(capsys, *args):
    code = cli.main(["eval", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_eval_prints_the_quality_keys(capsys):
    path = ASSETS / "mnist-vae2d.safetensors"
    if not path.exists():
        pytest.skip("mnist-vae2d is not built")
    code, out, err = _eval(capsys, path, "--n", "200")
    assert code == 0, err
    d = json.loads(out)
    for key in ("frechet_distance", "precision", "recall", "class_coverage", "class_histogram"):
        assert key in d
    assert sum(d["class_histogram"].values()) == 200 and "conditional_accuracy" not in d


@pytest.mark.parametrize("args, msg", [
    (["--data", "digits"], "images but the model makes"),
    (["--n", "10"], "100 to 50000 samples"),
    (["--steps", "10"], "diffusion models only"),
    (["--guidance", "-1"], "guidance must be between 0 and 50, got -1"),
])
def test_eval_bad_input_is_one_line_and_exit_2(capsys, args, msg):
    path = ASSETS / "mnist-vae2d.safetensors"
    if not path.exists():
        pytest.skip("mnist-vae2d is not built")
    code, out, err = _eval(capsys, path, *args)
    assert code == 2 and msg in err and len(err.strip().splitlines()) == 1 and not out


def test_eval_of_a_model_that_cannot_sample_is_refused(tmp_path, capsys):
    from latent_explorer.models import registry, save
    from latent_explorer.models.kinds.autoencoders import Autoencoder, AutoencoderConfig
    from latent_explorer.models.registry import Capabilities, KindSpec, TrainDefaults

    registry.register(KindSpec("encoder-only", "Encoder only", Autoencoder, AutoencoderConfig,
                               TrainDefaults(1, 8, 1e-3), Capabilities(encoder=True, prior=False),
                               latent_dim=2))
    try:
        model = registry.build_model(registry.make_config("encoder-only", (1, 8, 8), 2, hidden=(8,)))
        path = save(model, tmp_path / "e.safetensors", data={"spec": "digits"})
        code, out, err = _eval(capsys, path)
        assert code == 2 and "cannot sample" in err and not out
    finally:
        registry.unregister("encoder-only")


def test_measure_refuses_data_of_another_size():
    from latent_explorer.models.errors import ConfigError

    net = run_to_end(train_classifier(load_dataset("digits"), epochs=1))
    model = _bundled("mnist-vae2d")
    data = load_dataset("digits")
    with pytest.raises(ConfigError, match="makes 1×28×28 images"):
        run_to_end(measure(model, data, net, n=100))


def test_a_conditional_models_samples_cycle_through_its_classes(tmp_path):
    from .helpers import tiny_model

    model = tiny_model("cvae", shape=(1, 8, 8), classes=10)
    digits = load_dataset("digits")
    model.config.class_names = list(digits.class_names)
    net = run_to_end(train_classifier(digits, epochs=1))
    report = run_to_end(measure(model, ImageData(digits.images[:200], digits.labels[:200], digits.class_names,
                                                 "digits"), net, n=100, keep=12))
    assert report.asked == [str(i % 10) for i in range(12)]
    assert "conditional_accuracy" in report.figures and len(report.samples) == 12
    assert torch.is_tensor(torch.from_numpy(report.samples))
