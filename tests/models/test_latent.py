"""Latent-space, projection, display and trajectory maths, without Qt."""

import numpy as np
import pytest
import torch

from latent_explorer.models.analysis.latent import (
    PCA,
    decode_batched,
    decode_one,
    encode_image,
    interpolate,
    slerp,
    traversal,
)
from latent_explorer.models.analysis.projection import Projection, auto_extent, grid_rect, methods_for, plane_latents
from latent_explorer.models.display import mosaic, signed_to_unit, to_display
from latent_explorer.models.progress import run_to_end
from latent_explorer.models.sampling.trajectory import frame_indices, record_reverse

from .helpers import standalone_kinds, tiny_data, tiny_model


def test_decode_one_is_the_models_decode_and_batches_agree():
    m = tiny_model("cvae").eval()
    z = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    want = m.decode(torch.from_numpy(z), torch.full((5,), 2)).numpy()
    one = m.decode(torch.from_numpy(z[3:4]), torch.tensor([2]))[0].numpy()
    np.testing.assert_allclose(decode_one(m, z[3], 2), one, rtol=0, atol=1e-6)
    assert np.allclose(run_to_end(decode_batched(m, z, 2, batch_size=2)), want, atol=1e-6)


def test_encode_image_gives_the_input_its_code_reconstruction_and_error():
    m = tiny_model("vae").eval()
    x = tiny_data(1).images[0]
    enc = encode_image(m, x)
    assert np.array_equal(enc.input, x) and enc.z.shape == (4,)
    np.testing.assert_allclose(enc.reconstruction, decode_one(m, enc.z), rtol=0, atol=1e-6)
    assert enc.mse == pytest.approx(float(np.mean((enc.reconstruction - x) ** 2)))
    assert np.allclose(enc.error, np.abs(x - enc.reconstruction))


def test_pca_components_are_orthonormal_and_ordered():
    z = np.random.default_rng(1).standard_normal((500, 6)).astype(np.float32) * np.arange(6, 0, -1)
    p = PCA(z)
    assert np.allclose(p.components @ p.components.T, np.eye(6), atol=1e-5)
    assert np.all(np.diff(p.explained_ratio) <= 1e-9) and p.explained_ratio.sum() == pytest.approx(1, abs=1e-6)
    assert np.allclose(p.transform(p.mean[None], (0, 1)), 0, atol=1e-5)


def test_interpolation_and_traversal():
    a, b = np.array([1, 0, 0], np.float32), np.array([0, 2, 0], np.float32)
    path = interpolate(a, b, 5, "lerp")
    assert path.shape == (5, 3) and np.allclose(path[0], a) and np.allclose(path[-1], b)
    s = interpolate(a, b, 5, "slerp")
    assert np.allclose(s[0], a) and np.allclose(s[-1], b)
    mid = slerp(np.array([1, 0], np.float32), np.array([0, 1], np.float32), 0.5)
    assert np.linalg.norm(mid) == pytest.approx(1.0, abs=1e-6)  # on the arc, not the chord
    t = traversal(np.array([0.5, -1, 2], np.float32), 1, 3.0, 7)
    assert t.shape == (7, 3) and np.allclose(t[:, 1], np.linspace(-3, 3, 7))
    assert np.all(t[:, 0] == 0.5) and np.all(t[:, 2] == 2)


def test_projections_place_latents_and_their_planes_agree():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((300, 5)).astype(np.float32)
    pca = PCA(z)
    assert methods_for(2) == ["latent"] and methods_for(5, ["tsne"]) == ["pca", "dims", "tsne"]
    assert methods_for(5, ["umap", "tsne"]) == ["pca", "dims", "tsne", "umap"]
    cur = z[7]
    for proj in (Projection("pca", (1, 3), pca), Projection("dims", (4, 0))):
        center, u, v, mc = proj.plane(cur)
        lat, coords = plane_latents(center, u, v, 3, 2.0)
        # a plane point c + a·u + b·v is drawn at the map centre + (a, b)
        assert np.allclose(proj.project(lat), mc + coords, atol=1e-5)
    assert Projection("latent").axis_labels() == ("z0", "z1")
    assert Projection("pca", (0, 1), pca).axis_labels() == ("PC1", "PC2")
    from latent_explorer.models.analysis.embedding import Embedding

    tsne = Projection("tsne", maps={"tsne": Embedding("tsne", np.zeros((300, 2), np.float32), None, 5)})
    assert tsne.project(z) is None and not tsne.linear and tsne.coordinates(z).shape == (300, 2)
    with pytest.raises(ValueError):
        tsne.plane(cur)


def test_chosen_axes_stay_distinct_and_in_range():
    p = Projection("dims").with_axes(1, 1, dim=5)
    assert p.axes == (1, 2)
    assert Projection("dims").with_axes(4, 4, dim=5).axes == (4, 0)
    assert Projection("dims").with_axes(9, -3, dim=5).axes == (4, 0)


def test_grid_geometry():
    x, y, w, h = grid_rect(np.array([1.0, -1.0]), 5, 2.0)
    assert (x, y, w, h) == pytest.approx((1 - 2.5, -1 - 2.5, 5.0, 5.0))
    xy = np.random.default_rng(3).standard_normal((1000, 2)) * 2
    assert 3.5 <= auto_extent(xy) <= 6.0 and auto_extent(xy) * 2 == round(auto_extent(xy) * 2)


def test_display_helpers():
    imgs = np.arange(3 * 1 * 2 * 2, dtype=np.float32).reshape(3, 1, 2, 2)
    pic = mosaic(imgs, 2, gap=1, gap_value=-1)
    assert pic.shape == (6, 6) and np.array_equal(pic[:2, 3:5], imgs[1, 0]) and pic[3:5, 3:5].max() == -1
    assert to_display(np.zeros((3, 4, 5))).shape == (4, 5, 3)
    assert np.allclose(signed_to_unit(np.array([-3.0, 0.0, 3.0, 9.0]), 3.0), [0, 0.5, 1, 1])


def test_frame_indices_cover_both_ends_without_repeats():
    assert frame_indices(1001, 5).tolist() == [0, 250, 500, 750, 1000]
    assert frame_indices(3, 40).tolist() == [0, 1, 2]


def test_recorded_trajectory_is_the_hand_written_loop_with_one_scheduler():
    m = tiny_model("ddpm").eval()
    tr = run_to_end(record_reverse(m, n=2, y=torch.tensor([0, 1]), sampler="ddim", steps=4, seed=5))
    sched = m.make_scheduler("ddim", 4)
    assert tr.timesteps.tolist() == sched.timesteps.tolist() + [-1]
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1, 8, 8, generator=g)
    with torch.no_grad():
        for k, t in enumerate(sched.timesteps.tolist()):
            out = sched.step(m.predict_noise(x, t, torch.tensor([0, 1])), t, x, generator=g)
            x = out.prev_sample
            # float16 frames: a float32 step apart may round to neighbouring float16 values (2⁻¹⁰ relative)
            np.testing.assert_allclose(tr.x[k + 1].astype(np.float32), x.numpy(), rtol=2**-10, atol=1e-6)


def test_registry_capabilities_match_what_models_do():
    for kind in standalone_kinds():
        m = tiny_model(kind).eval()
        caps = m.capabilities
        if caps.encoder:  # latent_dim 4 asked; kinds whose latent the data fixes have their own
            y = torch.tensor([0]) if m.conditioning == "class" else None
            assert m.encode(torch.zeros(1, 1, 8, 8), y).shape == (1, m.latent_dim)
        else:
            with pytest.raises(NotImplementedError):
                m.encode(torch.zeros(1, 1, 8, 8))
        assert m.origin().shape == (m.latent_dim,)
