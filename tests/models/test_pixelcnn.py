"""PixelCNN (models/kinds/pixelcnn.py): the masks keep the chain rule's order, the parallel and the pixel-by-pixel
paths give the same probabilities, and the likelihood is an exact −log p(x) that training lowers."""

import math

import numpy as np
import pytest
import torch

from latent_explorer.models import build_model, load, make_config, registry, save
from latent_explorer.models.errors import ConfigError
from latent_explorer.models.kinds.pixelcnn import binarise

from .helpers import run, tiny_data


def _model(side=10, **over):
    torch.manual_seed(0)
    over.setdefault("width", 8)
    over.setdefault("layers", 6)
    return build_model(make_config("pixelcnn", (1, side, side), **over)).eval()


@pytest.mark.parametrize("kernel", [3, 5])
def test_each_pixel_sees_exactly_the_pixels_before_it(kernel):
    m = _model(kernel=kernel)
    x = binarise(torch.rand(1, 1, 10, 10, generator=torch.Generator().manual_seed(1)))
    for i in (0, 1, 9, 10, 37, 55, 99):
        xx = x.clone().requires_grad_(True)
        r, c = divmod(i, 10)
        m.logits(xx)[0, 0, r, c].backward()
        seen = (xx.grad[0, 0].flatten() != 0).numpy()
        assert not seen[i:].any(), f"pixel {i} sees itself or a later pixel"
        # no blind spot (the two stacks): every earlier pixel within reach counts
        far = (m.config.layers + 1) * (kernel // 2)  # each layer reaches k // 2 further up and sideways
        reach = [j for j in range(i) if r - j // 10 <= far and abs(c - j % 10) <= far]
        assert seen[reach].all(), f"pixel {i} is blind to {[j for j in reach if not seen[j]]}"


def test_pixel_by_pixel_probabilities_give_the_same_likelihood_as_the_parallel_pass():
    m = _model()
    x = binarise(torch.rand(3, 1, 10, 10, generator=torch.Generator().manual_seed(2)))
    log_p = torch.zeros(3)
    for i, _, p in m.sample_steps(3, known=x):  # every pixel known: p is p(x_i = 1 | x_<i) of x itself
        r, c = divmod(i, 10)
        on = x[:, 0, r, c]
        log_p += torch.log(torch.where(on > 0, p, 1 - p))
    assert torch.allclose(-log_p, m.nll(x), atol=1e-3)


def test_completion_keeps_the_known_pixels_and_draws_the_rest():
    m = _model()
    x = binarise(torch.rand(2, 1, 10, 10, generator=torch.Generator().manual_seed(3)))
    mask = torch.ones_like(x)
    mask[:, :, 5:] = 0  # the lower half erased
    steps = list(m.sample_steps(2, torch.Generator().manual_seed(0), known=x, mask=mask))
    assert len(steps) == 100
    out = steps[-1][1]
    assert torch.equal(out[:, :, :5], x[:, :, :5])
    assert set(out.unique().tolist()) <= {0.0, 1.0}


def test_sampling_is_seeded_and_binary():
    m = _model(side=8)
    a = m.sample(2, generator=torch.Generator().manual_seed(5))
    b = m.sample(2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and set(a.unique().tolist()) <= {0.0, 1.0} and a.shape == (2, 1, 8, 8)


def test_training_lowers_the_held_out_nll_and_the_checkpoint_round_trips(tmp_path):
    data = tiny_data(128, (1, 8, 8))
    data.images[:] = (np.arange(64).reshape(8, 8) % 3 == 0)  # one pattern: learnable in a few steps
    m = build_model(make_config("pixelcnn", (1, 8, 8), width=8, layers=2))
    before = m.evaluate(torch.as_tensor(data.images[:32]), None)["nll"]
    run(m, data, epochs=3, lr=1e-2)
    after = m.evaluate(torch.as_tensor(data.images[:32]), None)["nll"]
    assert after < 0.5 * before
    assert math.isclose(m.evaluate(torch.as_tensor(data.images[:32]), None)["bpd"], after / (64 * math.log(2)))
    save(m, tmp_path / "pc.safetensors")
    back = load(tmp_path / "pc.safetensors")
    x = torch.as_tensor(data.images[:4])
    assert torch.allclose(back.nll(x), m.nll(x))


def test_the_kind_says_what_it_can_do():
    caps = registry.get("pixelcnn").capabilities
    assert caps.autoregressive and caps.likelihood == "exact"
    assert not (caps.encoder or caps.decodes_z or caps.prior)
    with pytest.raises(ConfigError, match="1-channel"):
        make_config("pixelcnn", (3, 8, 8))
