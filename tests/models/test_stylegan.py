"""StyleGAN in miniature (issue R, first part): z -> w -> W+ -> image, truncation towards w̄, style mixing by
layer, per-layer noise, R1 and style-mixing regularisation in training; bad W+ codes and ψ say why."""

import numpy as np
import pytest
import torch

from latent_explorer.models import ConfigError, build_model, load, make_config, save

from .helpers import run, tiny_data, tiny_model


@pytest.fixture(scope="module")
def sg():
    m = tiny_model("stylegan", shape=(3, 16, 16), width=8, mapping_layers=2).eval()
    assert m.space == "w" and m.psi == 1.0  # a StyleGAN is edited and mapped in W unless asked
    m.set_style(space="z")  # these tests speak of z
    return m


def test_w_plus_truncation_and_a_deterministic_decode(sg, tmp_path):
    z = torch.randn(3, sg.latent_dim, generator=torch.Generator().manual_seed(0))
    x = sg.decode(z)
    assert x.shape == (3, 3, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1
    assert torch.allclose(sg.decode(z), x, atol=1e-6)  # the fixed noise: the same image for the same z
    assert sg.num_ws == 1 + 2 * 2 + 1  # 4×4, then 8×8 and 16×16 two layers each, and the last toRGB
    with torch.no_grad():
        w = sg.to_w(z)
        assert torch.allclose(sg.synthesize(sg.broadcast(w)), x, atol=1e-6)
        sg.w_avg.copy_(torch.randn(sg.latent_dim))
        same = sg.synthesize(sg.broadcast(sg.to_w(z, psi=0.0)))  # ψ = 0: every image is w̄'s
        assert torch.allclose(same[0], same[1], atol=1e-5) and torch.allclose(same[0], same[2], atol=1e-5)
        half = sg.to_w(z, psi=0.5)
        assert torch.allclose(half, sg.w_avg + 0.5 * (w - sg.w_avg), atol=1e-5)
    save(sg, tmp_path / "sg.safetensors")
    again = load(tmp_path / "sg.safetensors")
    again.set_style(space="z")
    assert torch.allclose(again.decode(z), x, atol=1e-5)


def test_style_mixing_takes_the_layers_from_each_source(sg):
    z = torch.randn(2, sg.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        wa, wb = sg.broadcast(sg.to_w(z))
        a, b = sg.synthesize(wa[None]), sg.synthesize(wb[None])
        for cut in range(1, sg.num_ws):
            ws = torch.cat([wa[:cut], wb[cut:]])[None]  # coarse layers from A, the rest from B
            mixed = sg.synthesize(ws)
            assert not torch.allclose(mixed, a, atol=1e-4) and not torch.allclose(mixed, b, atol=1e-4)
        assert torch.allclose(sg.synthesize(torch.cat([wa[:sg.num_ws], wb[sg.num_ws:]])[None]), a, atol=1e-6)


def test_noise_changes_the_details_not_the_image(sg):
    z = torch.randn(1, sg.latent_dim, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for layer in sg.synthesis.layers:
            layer.noise_strength.fill_(0.3)
        ws = sg.broadcast(sg.to_w(z))
        draws = torch.cat([sg.synthesize(ws, "random", torch.Generator().manual_seed(s)) for s in range(4)])
        none = sg.synthesize(ws, "none")
        for layer in sg.synthesis.layers:
            layer.noise_strength.fill_(0.0)
    spread = draws.std(0).mean().item()
    assert 0 < spread < (draws - none).abs().mean().item() * 4  # the draws differ, around the noiseless image


def test_bad_w_plus_codes_and_truncation_say_why(sg):
    with pytest.raises(ConfigError, match=f"a W\\+ code of this model is {sg.num_ws} × {sg.latent_dim} numbers"):
        sg.synthesize(torch.zeros(1, sg.num_ws - 1, sg.latent_dim))
    for psi in (-0.1, 2.5, float("nan")):
        with pytest.raises(ConfigError, match="the truncation ψ must be a number from 0 to 2"):
            sg.to_w(torch.zeros(1, sg.latent_dim), psi=psi)


def test_truncation_towards_the_nearest_mode_of_w(sg):
    """Multi-modal truncation (Mokady et al. 2022): each w drawn towards the nearest of W's k-means centres,
    so ψ = 0 gives the centres themselves and ψ = 1 leaves w as it was; the model keeps what it was told."""
    from latent_explorer.models.kinds.stylegan import MODES

    z = torch.randn(200, sg.latent_dim, generator=torch.Generator().manual_seed(5))
    try:
        sg.set_style(towards="modes")
        modes = sg.modes()
        assert modes.shape == (MODES, sg.config.latent_dim) and torch.isfinite(modes).all()
        assert sg.modes() is not None and torch.equal(sg.modes(), modes)  # fitted once
        w, at0, half = sg.to_w(z), sg.to_w(z, psi=0.0), sg.to_w(z, psi=0.5)
        nearest = modes[torch.cdist(w, modes).argmin(1)]
        assert torch.allclose(at0, nearest, atol=1e-5)  # ψ = 0: every w its nearest mode
        assert torch.allclose(half, (w + nearest) / 2, atol=1e-5)
        assert torch.allclose(sg.to_w(z, psi=1.0), w, atol=1e-6)
        # towards w̄ the same z's go somewhere else: one point for all at ψ = 0
        sg.set_style(towards="mean")
        assert torch.allclose(sg.to_w(z, psi=0.0), sg.w_avg.expand(len(z), -1), atol=1e-6)
        with pytest.raises(ConfigError, match="truncation goes towards one of mean, modes, got 'median'"):
            sg.set_style(towards="median")
        assert sg.towards == "mean"
    finally:
        sg.set_style(towards="mean")


def test_a_code_shown_truncated_anew_when_psi_or_its_centre_changes(sg):
    """The editor's ψ box acts on the code shown: untruncated (c + (w − c) / ψ), truncated again (c' + ψ' (w −
    c')). Exact for w̄, and for the modes up to ψ = 1 (W's cells around them are convex); above 1 a mode is
    chosen that draws the code back to itself. Z's codes stay (ψ acts in every decode); from ψ = 0 nothing is
    left to undo."""
    def retruncate(code, psi, towards):  # as the editor does with a code it did not draw itself
        raw = sg.untruncate(code)
        return code if raw is None else sg.truncate(raw, psi, towards)

    z = torch.randn(50, sg.config.latent_dim, generator=torch.Generator().manual_seed(9))
    try:
        sg.set_style(space="w", psi=1.0, towards="mean")
        w = sg.to_w(z)
        half = retruncate(w, 0.5, "mean")
        assert torch.allclose(half, sg.to_w(z, psi=0.5), atol=1e-5)
        sg.set_style(psi=0.5)
        assert torch.allclose(sg.untruncate(half), w, atol=1e-4)
        to_modes = retruncate(half, 0.5, "modes")  # the same w, drawn towards its nearest mode instead
        sg.set_style(towards="modes")
        assert torch.allclose(to_modes, sg.to_w(z, psi=0.5), atol=1e-4)
        assert torch.allclose(sg.untruncate(to_modes), w, atol=1e-4)
        assert torch.allclose(retruncate(to_modes, 0.5, "mean"), half, atol=1e-4)
        sg.set_style(psi=1.5)  # above 1: a mode that draws each untruncated w back to the code
        far = sg.to_w(z, psi=1.5)
        assert torch.allclose(sg.truncate(sg.untruncate(far), 1.5, "modes"), far, atol=1e-4)
        sg.set_style(space="w+", psi=1.0, towards="mean")
        plus = sg.broadcast(w).reshape(len(w), -1)
        assert torch.allclose(retruncate(plus, 0.5, "mean"), sg.broadcast(half).reshape(len(w), -1), atol=1e-5)
        sg.set_style(psi=0.0)
        assert sg.untruncate(plus) is None and torch.equal(retruncate(plus, 0.7, "mean"), plus)
        sg.set_style(space="z", psi=0.5)
        assert torch.equal(retruncate(z, 1.0, "mean"), z)
        with pytest.raises(ConfigError, match="the truncation ψ must be a number from 0 to 2, got 3"):
            retruncate(z, 3.0, "mean")
        with pytest.raises(ConfigError, match="truncation goes towards one of mean, modes"):
            sg.truncate(z, 0.5, "median")
    finally:
        sg.set_style(space="z", psi=1.0, towards="mean")


@pytest.mark.parametrize("classes", [0, 3])
def test_training_moves_the_mean_w_and_stays_finite(classes):
    data = tiny_data(32, (3, 16, 16), classes=max(classes, 1))
    torch.manual_seed(0)
    m = build_model(make_config("stylegan", (3, 16, 16), 4, data.class_names, conditional=bool(classes), data=data,
                                width=8, mapping_layers=2, r1_every=1))
    assert m.conditional == bool(classes)
    before = m.w_avg.clone()
    records = run(m, data, epochs=1, batch_size=8)
    assert all(torch.isfinite(torch.tensor(list(r.losses.values()))).all() for r in records if r.losses)
    assert not torch.allclose(m.w_avg, before)
    fitted = m.modes()
    run(m, data, epochs=1, batch_size=8)
    assert m._modes is None and not torch.allclose(m.modes(), fitted)  # the mapping moved: its modes anew
    y = torch.tensor([1, 2]) if classes else None
    assert m.decode(torch.randn(2, m.latent_dim), y).shape == (2, 3, 16, 16)


def test_the_views_space_z_w_or_w_plus_and_codes_carried_between(sg):
    z = torch.randn(2, sg.latent_dim, generator=torch.Generator().manual_seed(3))
    d, n = sg.config.latent_dim, sg.num_ws
    try:
        want = sg.decode(z)
        w = sg.convert(z, "w")
        wp = sg.convert(z, "w+")
        assert w.shape == (2, d) and wp.shape == (2, n * d) and torch.equal(sg.convert(z, "z"), z)
        sg.set_style("w")
        assert sg.latent_dim == d and sg.latent_names()[0] == "w0" and sg.prior(3).shape == (3, d)
        assert torch.allclose(sg.decode(w), want, atol=1e-5) and sg.convert(w, "z") is None
        sg.set_style("w+", psi=0.7)
        assert sg.latent_dim == n * d and sg.latent_names()[0].startswith("coarse L0")
        assert sg.latent_names()[-1].startswith("fine L")
        assert torch.allclose(sg.decode(wp), want, atol=1e-5)
        assert torch.allclose(sg.convert(wp, "w"), w, atol=1e-6)  # the mean over identical layers
        assert torch.allclose(sg.origin(), sg.w_avg.repeat(n))
        with pytest.raises(ConfigError, match="the space must be one of z, w, w\\+"):
            sg.set_style("s")
    finally:
        sg.set_style("z", 1.0)
    assert sg.latent_dim == d


def test_path_length_in_z_and_w_with_the_yardstick_features(sg):
    from latent_explorer.models.analysis.path_length import path_length, slerp
    from latent_explorer.models.progress import run_to_end

    class Features:  # a stand-in for the yardstick classifier: the pixels themselves are the features
        def predict(self, x):
            return x.reshape(len(x), -1).astype(np.float64), None

    a, b = torch.randn(4, 5), torch.randn(4, 5)
    assert torch.allclose(slerp(a, b, torch.zeros(4)), a / a.norm(dim=1, keepdim=True), atol=1e-6)
    ppl = {s: run_to_end(path_length(sg, Features(), s, n=40, batch=20)) for s in ("z", "w")}
    assert all(np.isfinite(v) and v > 0 for v in ppl.values())
    assert run_to_end(path_length(sg, Features(), "w", n=40, batch=20)) == ppl["w"]  # seeded
    with pytest.raises(ConfigError, match="path length is measured in z or w"):
        run_to_end(path_length(sg, Features(), "w+"))


def test_the_mixing_grid_and_codes_of_another_size(sg):
    from latent_explorer.models.kinds.stylegan import mix, mixing_grid

    grid = mixing_grid(sg, [1, 2], [5, 6, 7], cut=2, y=0)
    assert grid.shape == (3 * 4, 3, 16, 16) and torch.all(grid[0] == 1)  # the blank corner
    first_b = sg.synthesize(sg.broadcast(sg.to_w(torch.randn(sg.latent_dim, generator=torch.Generator()
                                                                .manual_seed(5))[None], 0)))
    assert torch.allclose(grid[1], first_b[0], atol=1e-5)
    ws = torch.zeros(1, sg.num_ws, sg.config.latent_dim)
    with pytest.raises(ConfigError, match="codes of models of different sizes do not mix"):
        mix(sg, ws, torch.zeros(1, sg.num_ws + 2, sg.config.latent_dim), 1)
