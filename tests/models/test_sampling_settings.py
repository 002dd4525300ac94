"""One generation's settings (issue O): limits written once, what a sampler takes read from its class."""

import pytest

from latent_explorer.models.errors import ConfigError
from latent_explorer.models.sampling.samplers import (
    GUIDANCE_MAX,
    SEED_MAX,
    DDIMSampler,
    register_sampler,
    unregister_sampler,
)
from latent_explorer.models.sampling.settings import SamplingSettings


def test_resolving_for_a_model_follows_the_samplers_classes():
    s = SamplingSettings().for_model(1000, default_steps=25)
    assert (s.sampler, s.steps, s.eta) == ("ddim", 25, 0.0)
    assert SamplingSettings().for_model(1000).sampler == "ddpm"  # no count: all T steps
    full = SamplingSettings("ddpm").for_model(1000, default_steps=25)
    assert full.steps is None and full.steps_run(1000) == 1000
    assert SamplingSettings("euler-a", 7, guidance=3.0).for_model(50).sample_kwargs() == dict(
        sampler="euler-a", steps=7, eta=0.0, guidance=3.0)


@pytest.mark.parametrize("settings, says", [
    (SamplingSettings("ddpm", 10), "DDPM sampling runs all 1000 steps; use --sampler ddim or euler-a for fewer"),
    (SamplingSettings("euler-a", 5, eta=0.5), "--eta applies to the DDIM sampler only, not euler-a"),
    (SamplingSettings("ddim", 1001), "--steps must be between 1 and 1000"),
    (SamplingSettings(guidance=GUIDANCE_MAX + 1), f"--guidance must be between 0 and {GUIDANCE_MAX:g}"),
    (SamplingSettings(guidance=float("nan")), "--guidance must be between 0"),
    (SamplingSettings(eta=1.5), "--eta must be between 0 and 1"),
    (SamplingSettings(seed=SEED_MAX + 1), f"--seed must be between 0 and {SEED_MAX}"),
    (SamplingSettings(batch=0), "--n must be between 1"),
    (SamplingSettings("plms"), "--sampler must be one of ddpm, ddim, euler-a"),
])
def test_each_bad_setting_is_named(settings, says):
    with pytest.raises(ConfigError, match=None) as e:
        settings.for_model(1000)
    assert says in str(e.value)


def test_a_registered_sampler_that_takes_eta_is_offered_eta():
    class Mine(DDIMSampler):
        name, title = "mine", "Mine"

    register_sampler(Mine)
    try:
        s = SamplingSettings("mine", 4, eta=0.3).for_model(100)
        assert (s.sampler, s.steps, s.eta, s.title) == ("mine", 4, 0.3, "Mine")
        with pytest.raises(ValueError, match="already registered"):
            register_sampler(Mine)
    finally:
        unregister_sampler("mine")
    with pytest.raises(TypeError, match="a Sampler subclass"):
        register_sampler(object)
