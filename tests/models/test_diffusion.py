import math

import pytest
import torch

from latent_explorer.models.sampling.schedule import DiffusionScheduler, cosine_beta_schedule, linear_beta_schedule


def test_linear_schedule_reference_values():
    s = DiffusionScheduler(1000, "linear")
    assert s.posterior_variance[0].item() == 0.0
    assert s.posterior_variance[487].item() == pytest.approx(0.00979, abs=2e-5)
    assert s.posterior_variance[999].item() == pytest.approx(0.02, abs=1e-4)
    assert s.alphas_cumprod[999].item() == pytest.approx(4.04e-5, rel=0.01)
    assert torch.allclose(s.betas, linear_beta_schedule(1000).float())
    assert s.betas.dtype == torch.float32 and s.alphas_cumprod.shape == (1000,)


def test_cosine_schedule_is_valid():
    b = cosine_beta_schedule(1000)
    assert b.dtype == torch.float64 and (b > 0).all() and (b <= 0.999).all()
    s = DiffusionScheduler(1000, "cosine")
    assert (s.alphas_cumprod[1:] < s.alphas_cumprod[:-1]).all()
    assert (s.log_snr[1:] < s.log_snr[:-1]).all()


def test_add_noise_is_the_forward_formula():
    s = DiffusionScheduler(1000)
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1, torch.randn(4, 1, 8, 8, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    xt = s.add_noise(x0, eps, t)
    for i, ti in enumerate(t.tolist()):
        a = s.alphas_cumprod[ti].item()
        assert torch.allclose(xt[i], math.sqrt(a) * x0[i] + math.sqrt(1 - a) * eps[i], atol=1e-5)
    assert torch.allclose(s.add_noise(x0, eps, 500), math.sqrt(s.alphas_cumprod[500]) * x0
                          + math.sqrt(1 - s.alphas_cumprod[500]) * eps, atol=1e-5)


def test_ddpm_step_matches_the_posterior_formulas():
    s = DiffusionScheduler(1000)
    s.set_timesteps(None, "ddpm")
    g = torch.Generator().manual_seed(1)
    x, eps, z = (torch.randn(2, 1, 4, 4, generator=g) for _ in range(3))
    t = 487
    out = s.step(eps, t, x, noise=z)
    a, ap = s.alphas_cumprod[t].double(), s.alphas_cumprod[t - 1].double()
    beta = 1 - a / ap
    x0 = ((x.double() - (1 - a).sqrt() * eps.double()) / a.sqrt()).clamp(-1, 1)
    mean = ap.sqrt() * beta / (1 - a) * x0 + (1 - beta).sqrt() * (1 - ap) / (1 - a) * x.double()
    var = (1 - ap) / (1 - a) * beta
    assert torch.allclose(out.pred_original_sample.double(), x0, atol=1e-5)
    assert torch.allclose(out.prev_sample.double(), mean + var.sqrt() * z.double(), atol=1e-5)
    # no noise at t = 0
    last = s.step(eps, 0, x, noise=z)
    assert torch.allclose(last.prev_sample, last.pred_original_sample, atol=1e-5)


def test_ddim_leading_timesteps_and_determinism():
    s = DiffusionScheduler(1000)
    ts = s.set_timesteps(50, "ddim", eta=0.0).tolist()
    assert ts[:3] == [980, 960, 940] and ts[-1] == 0 and len(ts) == 50
    assert s.previous_timestep(980) == 960 and s.previous_timestep(0) == -1
    g = torch.Generator().manual_seed(2)
    x, eps = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g) * 0.1
    a, ap = s.alphas_cumprod[980], s.alphas_cumprod[960]
    out = s.step(eps, 980, x)
    x0 = out.pred_original_sample
    e = (x - a.sqrt() * x0) / (1 - a).sqrt()
    assert torch.allclose(out.prev_sample, ap.sqrt() * x0 + (1 - ap).sqrt() * e, atol=1e-5)
    torch.testing.assert_close(out.prev_sample, s.step(eps, 980, x).prev_sample, rtol=0, atol=1e-6)


def test_bad_scheduler_settings_are_refused():
    with pytest.raises(ValueError):
        DiffusionScheduler(1000, "quadratic")
    s = DiffusionScheduler(100)
    with pytest.raises(ValueError):
        s.set_timesteps(0, "ddim")
    with pytest.raises(ValueError):
        s.set_timesteps(10, "ddpm")
    with pytest.raises(ValueError):
        s.set_timesteps(10, "ddim", eta=2)
