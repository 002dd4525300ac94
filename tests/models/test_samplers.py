"""Our samplers against diffusers' schedulers: the same inputs (noise, model outputs, random draws) give the
same trajectory. diffusers is a dev dependency; the tests skip cleanly without it."""

import math

import pytest
import torch

from latent_explorer.models.sampling.samplers import SAMPLERS, EulerAncestralSampler, make_sampler
from latent_explorer.models.sampling.schedule import DiffusionScheduler

diffusers = pytest.importorskip("diffusers")

SHAPE = (3, 2, 6, 6)
LINEAR = dict(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4, beta_end=0.02)


ALPHA_BAR = DiffusionScheduler(1000, "linear").alphas_cumprod


def fake_eps(x, t):
    """A stand-in network that denoises towards x̂_0 = tanh(x) / 2: it depends on its input and timestep, so
    any difference would compound, and its trajectories stay bounded as a trained network's do."""
    a = float(ALPHA_BAR[int(t)])
    return (x - math.sqrt(a) * 0.5 * torch.tanh(x)) / math.sqrt(1 - a)


def _ours(name, steps, eta=0.0, seed=0):
    sampler = make_sampler(name, DiffusionScheduler(1000, "linear"), steps, eta)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(SHAPE, generator=g)
    frames = [x]
    for t in sampler.timesteps.tolist():
        x = sampler.step(fake_eps(x, t), t, x, generator=g).prev_sample
        frames.append(x)
    return sampler, frames


def test_ddpm_matches_diffusers():
    ref = diffusers.DDPMScheduler(**LINEAR, clip_sample=True, variance_type="fixed_small")
    ref.set_timesteps(1000)
    sampler, frames = _ours("ddpm", None)
    assert sampler.timesteps.tolist() == ref.timesteps.tolist()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=g)
    for i, t in enumerate(ref.timesteps.tolist()):
        x = ref.step(fake_eps(x, t), t, x, generator=g).prev_sample
        if i in (0, 1, 500, 998, 999):
            assert torch.allclose(frames[i + 1], x, atol=2e-4, rtol=1e-3), (i, t)


@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
def test_ddim_matches_diffusers(eta):
    ref = diffusers.DDIMScheduler(**LINEAR, clip_sample=True, set_alpha_to_one=True, steps_offset=0,
                                  timestep_spacing="leading")
    ref.set_timesteps(50)
    sampler, frames = _ours("ddim", 50, eta)
    assert sampler.timesteps.tolist() == ref.timesteps.tolist()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(SHAPE, generator=g)
    for i, t in enumerate(ref.timesteps.tolist()):
        x = ref.step(fake_eps(x, t), t, x, eta=eta, generator=g).prev_sample
        assert torch.allclose(frames[i + 1], x, atol=2e-4, rtol=1e-3), (eta, i, t)


@pytest.mark.parametrize("steps", [1, 25, 50])
def test_euler_ancestral_matches_diffusers(steps):
    """diffusers works in σ coordinates (x_σ = x_0 + σ ε, the network fed x_σ / √(σ² + 1)); ours in the
    network's coordinates: the same run, seen through that scaling."""
    ref = diffusers.EulerAncestralDiscreteScheduler(**LINEAR, timestep_spacing="trailing")
    ref.set_timesteps(steps)
    sampler, frames = _ours("euler-a", steps)
    assert sampler.timesteps.tolist() == [int(t) for t in ref.timesteps.tolist()]
    assert sampler.timesteps[0] == 999  # trailing: the first step starts from pure noise
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(SHAPE, generator=g) * ref.init_noise_sigma
    for i, t in enumerate(ref.timesteps):
        eps = fake_eps(ref.scale_model_input(latents, t), int(t))
        latents = ref.step(eps, t, latents, generator=g).prev_sample
        s_next = float(ref.sigmas[i + 1])
        assert torch.allclose(frames[i + 1], latents / math.sqrt(s_next**2 + 1), atol=2e-4, rtol=1e-3), (i, int(t))
    assert float(ref.sigmas[-1]) == 0.0 and torch.allclose(frames[-1], latents, atol=2e-4, rtol=1e-3)


def test_euler_ancestral_sigmas_and_noise():
    s = EulerAncestralSampler(DiffusionScheduler(1000, "linear"))
    ts = s.set_timesteps(25).tolist()
    assert ts[:3] == [999, 959, 919] and ts[-1] == 39 and len(ts) == 25
    a = s.alphas_cumprod[999].item()
    assert s.sigma(999) == pytest.approx(math.sqrt((1 - a) / a)) and s.sigma(-1) == 0.0
    # the last step lands on x̂_0 exactly (σ_next = 0: no fresh noise)
    x, eps = torch.randn(2, 1, 4, 4), torch.randn(2, 1, 4, 4)
    out = s.step(eps, 39, x, noise=torch.full_like(x, 100.0))
    assert torch.allclose(out.prev_sample, out.pred_original_sample)


def test_every_sampler_is_named_and_refuses_bad_settings():
    assert list(SAMPLERS) == ["ddpm", "ddim", "euler-a"]
    sched = DiffusionScheduler(100)
    with pytest.raises(ValueError, match="unknown sampler 'plms'"):
        make_sampler("plms", sched)
    with pytest.raises(ValueError, match="between 1 and 100"):
        make_sampler("euler-a", sched, 0)
    with pytest.raises(ValueError, match="DDPM sampling runs all 100 steps"):
        make_sampler("ddpm", sched, 10)
    with pytest.raises(ValueError, match="eta must be in"):
        make_sampler("ddim", sched, 10, eta=1.5)


def test_a_bundled_ddpm_samples_with_every_sampler(tmp_path, capsys):
    from pathlib import Path

    from latent_explorer.models import load
    from latent_explorer.models.cli import main as cli

    path = Path(__file__).resolve().parents[2] / "assets" / "digits-ddpm.safetensors"
    model = load(path)
    g = torch.Generator().manual_seed(0)
    for name, steps in (("ddim", 10), ("euler-a", 10)):
        x = model.sample(4, torch.arange(4), generator=g, sampler=name, steps=steps)
        assert x.shape == (4, *model.image_shape) and torch.isfinite(x).all() and 0 <= x.min() <= x.max() <= 1
    assert cli(["sample", str(path), "--n", "4", "--sampler", "euler-a", "--steps", "10",
                "--out", str(tmp_path / "e.png")]) == 0
    assert cli(["sample", str(path), "--n", "4", "--sampler", "euler-a", "--steps", "10", "--eta", "0.5",
                "--out", str(tmp_path / "e.png")]) == 2
    assert "--eta applies to the DDIM sampler only" in capsys.readouterr().err
