"""Issue A's quality bars on real local data (the MNIST test split; skipped where it is absent)."""

import sys
from pathlib import Path

import pytest
import torch

from latent_explorer.models import TrainConfig, build_model, load_dataset, make_config, train

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.baselines import bare_vae_heldout_nats, pca_mse  # noqa: E402


@pytest.fixture(scope="module")
def mnist(request):
    path = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
    if not (path / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("../shared/data/mnist is absent")
    return load_dataset(str(path))


def _fit(kind, data, latent, epochs):
    torch.manual_seed(0)
    model = build_model(make_config(kind, data.shape, latent))
    records = list(train(model, data, TrainConfig(epochs=epochs, batch_size=128, lr=1e-3)))
    return records[-1].val


def test_vae20_matches_a_bare_mlp_vae(mnist):
    tr, va = mnist.split(0.1)
    bare = bare_vae_heldout_nats(tr.images, va.images, epochs=10)
    ours = _fit("vae", mnist, 20, 10)["loss"]
    print(f"held-out nats/image: ours {ours:.2f}, bare {bare:.2f}")
    assert ours <= bare + 0.5


@pytest.mark.slow
def test_ae8_beats_pca8_by_half(mnist):
    tr, va = mnist.split(0.1)
    pca = pca_mse(tr.images, va.images, 8)
    ours = _fit("ae", mnist, 8, 30)["mse"]
    print(f"held-out MSE: AE {ours:.4f}, PCA {pca:.4f}")
    assert ours <= pca / 2
