"""Latent Map: loading 10,000 real MNIST images into the map (read, encode, PCA, draw), a pan/zoom redraw
of 70,000 points, and a million points in 10 classes (first draw, pan/zoom, the density picture)."""

from __future__ import annotations

import time

import numpy as np

from bench.common import MNIST, Target, app, part, pct, targets


def _map_of_2d_points():
    """A Latent Map of a 2-D model, shown, for points of our own (set with ``shown.set_latents``)."""
    from latent_explorer.latent_map import LatentMap
    from latent_explorer.models import build_model, make_config
    from latent_explorer.state import LatentState

    m = LatentMap(LatentState())
    m.resize(1000, 700)
    m.show()
    m.shown.set_model(build_model(make_config("vae", (1, 8, 8), 2)))
    return m


def _points(rng, n: int):
    """``n`` 2-D points in 10 classes, each class around its own place on a circle."""
    from latent_explorer.models.analysis.latent import LatentSet

    labels = rng.integers(0, 10, n)
    z = (rng.normal(size=(n, 2)) + np.stack([np.cos(labels), np.sin(labels)], 1) * 3).astype(np.float32)
    return LatentSet(z, labels, [str(i) for i in range(10)], None, "encoded")


def _first_draw_floor(m, points) -> float:
    """What any first draw of these points must do (s): their density picture for the view as drawn, once,
    shown (the ImageItem's conversion of it) and one repaint of the map."""
    from latent_explorer.models.display import density_image

    vb = m.plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    w, h = int(vb.width()), int(vb.height())
    layer = m.points.density
    t = time.perf_counter()
    pic, _ = density_image(points.z, layer.point_rgb, (x0, x1), (y0, y1), w, h)
    layer.image.setImage(pic, autoLevels=False, levels=(0.0, 1.0))
    m.plot.viewport().repaint()
    return time.perf_counter() - t


def _pan_frame_ms(m, vb, i: int) -> float:
    """One pan and zoom of the map and its repaint (ms); even and odd frames go back and forth."""
    t = time.perf_counter()
    vb.translateBy(x=0.05 * (1 if i % 2 else -1))
    vb.scaleBy((0.97, 0.97) if i % 2 else (1 / 0.97, 1 / 0.97))
    m.plot.viewport().repaint()
    return (time.perf_counter() - t) * 1000


@targets(Target("map_10k_s", "<=", 1.0, "encode + PCA + draw 10,000 MNIST images (s)"))
def map_10k(smoke: bool) -> dict:
    """The map widget loading the real MNIST test images for a briefly trained 16-D VAE (needs the MNIST
    split in ``../shared/data/mnist``; skipped without it)."""
    if not MNIST.exists():
        return {}
    from latent_explorer.latent_map import LatentMap
    from latent_explorer.models import TrainConfig, build_model, load_dataset, make_config, train
    from latent_explorer.state import LatentState

    a = app()
    data = load_dataset(str(MNIST))
    if smoke:
        data = data.subset(slice(0, 1000))
    model = build_model(make_config("vae", data.shape, 16))
    for _ in train(model, data, TrainConfig(epochs=1, batch_size=256, max_steps=5, checkpoint_every=0)):
        pass
    model.meta = {"data": {"spec": str(MNIST)}}
    state = LatentState()
    m = LatentMap(state)
    m.resize(1000, 700)
    m.show()
    state.set_model(model)  # warm-up (loads the data, encodes, draws)
    while not m.is_ready():
        a.processEvents()
    times = []
    for _ in range(1 if smoke else 3):
        t = time.perf_counter()
        m.load(str(MNIST))
        while not m.is_ready():
            a.processEvents()
        m.plot.viewport().repaint()
        times.append(time.perf_counter() - t)
    out = {"map_10k_s": float(np.median(times)), "map_10k_points": float(len(m.xy))}
    m.shutdown()
    m.close()
    return out


@targets(Target("map_pan_70k_ms", "<=", 50.0, "one pan/zoom redraw of a 70,000-point map (ms, median)"))
def map_pan_70k(smoke: bool, rng) -> dict:
    """70,000 points: one redraw while panning and zooming."""
    m = _map_of_2d_points()
    m.shown.set_latents(_points(rng, 7000 if smoke else 70000))
    app().processEvents()
    vb = m.plot.getViewBox()
    times = [_pan_frame_ms(m, vb, i) for i in range(3 if smoke else 30)]
    m.close()
    return {"map_pan_70k_ms": pct(times[1:] or times, 50)}


@targets(Target("map_first_draw_1m_s", "<=", 1.0, "first draw of a 1,000,000-point map, 10 classes, until it "
                "rests (s)"),
         Target("map_first_draw_1m_ratio", "<=", 2.5, "the first draw ÷ its floor: one density picture of the "
                "points at the view's size, shown, and one repaint (map_first_draw_floor_1m_s)"),
         Target("map_pan_1m_ms", "<=", 50.0, "one pan/zoom redraw of a 1,000,000-point map (ms, median)"),
         Target("map_density_render_1m_ms", "<=", 200.0, "the 1M-point density picture recomputed when the view "
                "rests (ms, median)"))
def map_1m(smoke: bool, rng) -> dict:
    """A million points (10 classes): the first draw, a pan/zoom frame (the density picture moves with the
    view), and the density picture recomputed once the view rests."""
    a = app()
    points = _points(rng, 250_000 if smoke else 1_000_000)
    m = _map_of_2d_points()
    a.processEvents()
    t = time.perf_counter()
    m.shown.set_latents(points)
    a.processEvents()
    m.plot.viewport().repaint()
    layer = m.points.density
    while layer is not None and layer._timer.isActive():  # until it rests: a settle render is part of it
        a.processEvents()
    out = {"map_first_draw_1m_s": time.perf_counter() - t}
    out["map_first_draw_floor_1m_s"] = _first_draw_floor(m, points)
    out["map_first_draw_1m_ratio"] = out["map_first_draw_1m_s"] / out["map_first_draw_floor_1m_s"]
    vb = m.plot.getViewBox()
    times, renders = [], []
    for i in range(3 if smoke else 30):
        times.append(_pan_frame_ms(m, vb, i))
        if i % 5 == 4 and m.points.density is not None:
            t = time.perf_counter()
            m.points.density.render()
            m.plot.viewport().repaint()
            renders.append((time.perf_counter() - t) * 1000)
    out["map_pan_1m_ms"] = pct(times[1:] or times, 50)
    out["map_density_render_1m_ms"] = pct(renders, 50) if renders else 0.0
    m.shutdown()
    m.close()
    return out


@part("map")
def bench_map(smoke: bool) -> dict:
    app()
    rng = np.random.default_rng(0)  # one generator for both point clouds, drawn in this order
    return {**map_10k(smoke), **map_pan_70k(smoke, rng), **map_1m(smoke, rng)}
