"""Latent Editor: a slider moved until the decoded image is painted, against a bare decode-and-paint floor
(the same model, shown in the same image panel class at the editor's panel's size, and a repaint) in the same
run."""

from __future__ import annotations

import sys
import time

from bench.common import ROOT, Target, app, part, pct


def _reps(smoke: bool) -> int:
    return 5 if smoke else 300


def slider_to_pixels(reps: int, name: str = "digits-vae2d", space: str | None = None, pace_ms: float = 0.0,
                     samples: dict | None = None) -> dict:
    """The real editor offscreen: set a slider, run the event loop until the image panel has painted the new
    image; then the floor, decode + setImage + repaint without our widgets. ``space``: a StyleGAN's Z, W or W+
    (the sliders and the floor's code both of it). ``pace_ms``: the moves come no faster than this apart, the
    window idle in between, as a drag's mouse moves do (0: back to back, the window never idle). ``samples``:
    filled with the times themselves (ms), "slider" and "bare", for a caller pooling several runs."""
    import torch
    from PySide6.QtCore import QEvent, QObject

    from latent_explorer.editor import LatentEditor
    from latent_explorer.models import load
    from latent_explorer.state import LatentState
    from latent_explorer.widgets import ImagePanel

    a = app()
    model = load(ROOT / "assets" / f"{name}.safetensors")
    if space is not None:
        model.set_style(space=space)
    state = LatentState()
    ed = LatentEditor(state)
    ed.resize(900, 600)
    ed.show()
    state.set_model(model)
    a.processEvents()

    class PaintProbe(QObject):  # the first paint of the image panel after the new image is set
        painted = False

        def eventFilter(self, obj, ev):
            if ev.type() == QEvent.Type.Paint and done:
                self.painted = True
            return False

    slider = ed.rows[0].slider
    done = []
    ed.imageUpdated.connect(lambda: done.append(1))
    probe = PaintProbe()
    ed.panel.viewport().installEventFilter(probe)
    times = []
    last = time.perf_counter()
    for i in range(reps + 20):
        if pace_ms:  # between two moves of a drag the window waits for the next, asleep, as the app's loop does
            time.sleep(max(0.0, last + pace_ms / 1000 - time.perf_counter()))
            last = time.perf_counter()
        done.clear()
        probe.painted = False
        t = time.perf_counter()
        slider.setValue((i * 37) % 600 - 300)
        while not (done and probe.painted):  # as in the app: the event loop paints what changed
            a.processEvents()
        if i >= 20:
            times.append((time.perf_counter() - t) * 1000)
    ed.panel.viewport().removeEventFilter(probe)
    painted = ed.panel.size()  # the floor paints the same area (a larger one made it no floor: 0.78× at 600²)
    ed.shutdown()
    ed.close()
    # the floor: decode + show in the same image panel class, of the same size, + repaint: none of the
    # editor's machinery (sliders, state, the live decoder). A bare pyqtgraph widget of another size and
    # margins was no floor (the DCGAN's editor ran at 0.78-0.91x of it).
    w = ImagePanel()
    w.resize(painted)
    w.show()
    a.processEvents()
    bare = []
    last = time.perf_counter()
    for i in range(reps + 20):
        if pace_ms:  # paced as the moves were: the floor sleeps between frames too
            time.sleep(max(0.0, last + pace_ms / 1000 - time.perf_counter()))
            last = time.perf_counter()
        t = time.perf_counter()
        z = model.origin()[None].clone()
        z[0, 0] = ((i * 37) % 600 - 300) / 100
        with torch.no_grad():
            img = model.decode(z)[0].numpy()
        w.show_image(img)
        w.viewport().repaint()
        if i >= 20:
            bare.append((time.perf_counter() - t) * 1000)
    w.hide()  # not close(): pyqtgraph's GraphicsView.close on a parentless panel crashes PySide6 6.12
    w.deleteLater()
    if samples is not None:
        samples["slider"], samples["bare"] = times, bare
    return {"slider_to_pixels_ms_p50": pct(times, 50), "slider_to_pixels_ms_p95": pct(times, 95),
            "bare_decode_show_ms_p95": pct(bare, 95), "bare_decode_show_ms_p50": pct(bare, 50)}


@part("slider", Target("slider_to_pixels_ms_p95", "<=", 3.0, "slider → decode → image repainted (ms, p95)",
                       floor="bare_decode_show_ms_p95"))
def bench_slider(smoke: bool) -> dict:
    """The bundled 2-D digits VAE."""
    return slider_to_pixels(_reps(smoke))


@part("slider_mnist",
      Target("slider_mnist_vae2d_ratio", "<=", 1.2,
             "MNIST VAE (bundled): slider → pixels p95 ÷ its bare decode-and-paint p95"),
      Target("slider_mnist_dcgan_ratio", "<=", 1.2,
             "MNIST DCGAN (bundled): slider → pixels p95 ÷ its bare decode-and-paint p95"))
def bench_slider_mnist(smoke: bool) -> dict:
    """Issue I: slider → pixels of the bundled real-size MNIST models against their own bare floors."""
    out = {}
    for name in ("mnist-vae2d", "mnist-dcgan"):
        r = slider_to_pixels(_reps(smoke), name)
        key = name.replace("-", "_")
        out[f"slider_{key}_ms_p95"] = r["slider_to_pixels_ms_p95"]
        out[f"bare_{key}_ms_p95"] = r["bare_decode_show_ms_p95"]
        out[f"slider_{key}_ratio"] = r["slider_to_pixels_ms_p95"] / r["bare_decode_show_ms_p95"]
    return out


@part("slider_stylegan",
      Target("slider_stylegan_z_ratio", "<=", 1.2,
             "StyleGAN (bundled, scenes): slider → pixels p95 in Z ÷ its bare decode-and-paint p95"),
      Target("slider_stylegan_wplus_ratio", "<=", 1.2,
             "StyleGAN (bundled, scenes): slider → pixels p95 in W+ ÷ its bare decode-and-paint p95"))
def bench_slider_stylegan(smoke: bool) -> dict:
    """Issue R: the editor's sliders of the bundled StyleGAN, in Z and in W+ (a row of sliders per layer)."""
    name = "scenes-stylegan" if (ROOT / "assets" / "scenes-stylegan.safetensors").is_file() else "mnist-stylegan"
    print(f"slider_stylegan: {name}", file=sys.stderr)
    out = {}
    for space, key in (("z", "z"), ("w+", "wplus")):
        r = slider_to_pixels(_reps(smoke), name, space)
        out[f"slider_stylegan_{key}_ms_p95"] = r["slider_to_pixels_ms_p95"]
        out[f"bare_stylegan_{key}_ms_p95"] = r["bare_decode_show_ms_p95"]
        out[f"slider_stylegan_{key}_ratio"] = r["slider_to_pixels_ms_p95"] / r["bare_decode_show_ms_p95"]
    return out
