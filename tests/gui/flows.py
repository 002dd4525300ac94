"""How the GUI tests drive the real MainWindow as a user does (not a test module): the views and their
Ctrl+N keys, clicking a model in the list, and what "this view shows a picture" means for each view."""

from pathlib import Path

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from latent_explorer.view_table import VIEW_NAMES

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(p.stem for p in (ROOT / "assets").glob("*.safetensors"))


def _one_per_kind() -> list[str]:
    """The smallest bundled model of each kind: every view meets every kind (and every capability) without
    encoding 20,000 images for each of 20 models."""
    import json
    import struct

    seen: dict[str, str] = {}
    models = [p for p in (ROOT / "assets").glob("*.safetensors") if not p.name.endswith(".record.safetensors")]
    for p in sorted(models, key=lambda p: p.stat().st_size):
        with open(p, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            kind = json.loads(f.read(n))["__metadata__"]["kind"]
        seen.setdefault(kind, p.stem)
    return sorted(seen.values())


ONE_PER_KIND = _one_per_kind()
VIEWS = list(VIEW_NAMES)  # the window's one table of views, in tab order
KEYS = {name: getattr(Qt.Key, f"Key_{(i + 1) % 10}") for i, name in enumerate(VIEWS)}
CTRL = Qt.KeyboardModifier.ControlModifier


def current_name(w) -> str:
    """The name of the view shown (asking ``w.map`` and the like would build views not yet shown)."""
    v = w.current_view()
    return next(k for k, view in w.views.items() if view is v)


def settled(w) -> bool:
    """The current view has finished what it started (loading, decoding, checking data)."""
    v, name = w.current_view(), current_name(w)
    if name == "diffusion":  # its reverse process runs only when asked: settled once nothing runs
        return not v.busy()
    if name == "training":  # the data preview read
        return not v.form.busy()
    return v.is_ready()


def shows_a_picture(w) -> bool:
    """What a user would call a non-empty view for the current model."""
    model, name = w.latent.model, current_name(w)
    if name == "map":
        m = w.map
        if m.model is None:  # a model with no latent space to map (latent diffusion): the map says so
            return model is None or "no latent space to map" in m.source.text()
        points = m.xy is not None and len(m.xy) > 0 and any(s.isVisible() for s in m.points.items)
        return points or (m.grid_item.isVisible() and m.grid_item.image is not None)
    if name == "editor":
        if model is not None and not model.capabilities.decodes_z:  # a text encoder: the reason, in words
            return not w.editor.dims.rows and "nothing to edit" in w.editor.dims.widget().text()
        data = w.editor.panel.data
        return data is not None and np.isfinite(data).all() and w.editor.panel.item.isVisible()
    if name == "diffusion":
        if model is not None and model.capabilities.diffusion:
            fwd = w.diffusion.forward
            return fwd.fwd_x0.data is not None and fwd.fwd_xt.data is not None and fwd.fwd_eps.data is not None
        return w.diffusion.placeholder.isVisible()
    if name == "txt2img":  # the prompt and the autoencoder's latent map (or the reason there is nothing to draw)
        t = w.txt2img
        if model is not None and model.capabilities.text_to_image:
            return t.body.isVisible() and any(s.isVisible() for s in t.atlas_plot.points.items)
        return t.placeholder.isVisible()
    if name == "quality":  # the controls to measure with (or the reason there is nothing to measure)
        q = w.quality
        return q.placeholder.isVisible() or (q.body.isVisible() and q.btn.isEnabled())
    if name == "pixels":  # the controls to sample with (or the reason: not an autoregressive model)
        p = w.pixels
        return p.placeholder.isVisible() or (p.body.isVisible() and p.btn_run.isEnabled())
    if name == "inspect":  # the pages that apply (a VAE: its KL per dimension drawn), or the reason
        i = w.inspect
        if i.placeholder.isVisible():
            return bool(i.placeholder.text())
        if i.pages.isTabEnabled(0):  # a VAE: its KL per dimension drawn
            return i.kl is not None
        return any(b.isEnabled() for b in (i.btn_anom, i.btn_pca, i.btn_modes)) or i.modes is not None
    if name == "compare":  # the open models to tick, the current one ticked, and what Compare will do
        c = w.compare
        return (c.models.count() == len(w.library.entries) and w.library.current.name in c.chosen_names()
                and (c.placeholder.isVisible() or c.result is not None))
    if name == "sketch":  # the pad and the answer (an image-to-image model or a ControlNet), or the reason
        s = w.sketch
        if model is not None and (model.capabilities.image_to_image or model.capabilities.controlled):
            return s.body.isVisible() and s.pad.isVisible()
        if model is not None and model.capabilities.diffusion and model.capabilities.inpaints:
            return s.inpainter.isVisible() and s.inpainter.box.pad.image is not None  # an image to paint over
        return s.placeholder.isVisible() and bool(s.placeholder.text())
    return w.training.form.data_preview.data is not None


def use_model(w, name, timeout_s: float = 180.0):
    """Click the model's row in the model list, as a user does; a model listed from its header becomes the
    current one once its weights are read (in a worker): waited for here, with the event loop running."""
    import time

    from PySide6.QtWidgets import QApplication

    w.models.list.setCurrentRow([e.name for e in w.library.entries].index(name))
    deadline = time.monotonic() + timeout_s
    while w.library.current is None or w.library.current.name != name:
        assert time.monotonic() < deadline, f"{name} did not open: {w.last_error}"
        QApplication.processEvents()
        time.sleep(0.002)


def use_view(w, name):
    QTest.keyClick(w, KEYS[name], CTRL)
    assert w.current_view() is w.views[name], f"Ctrl+{VIEWS.index(name) + 1} did not reach the {name} view"


def check(w, qtbot, where=""):
    qtbot.waitUntil(lambda: settled(w), timeout=300000)
    assert shows_a_picture(w), f"{where}: the {current_name(w)} view is empty with {w.library.current.name}"
    assert w.last_error is None, w.last_error


def stroke(pad, cells, button=Qt.MouseButton.LeftButton):
    """Press at the first model pixel, move through the others with the button held, release."""
    left, top, side = pad._square()
    cell = side / pad.ink.shape[0]
    pts = [QPointF(left + (c + 0.5) * cell, top + (r + 0.5) * cell) for r, c in cells]

    def send(kind, p, buttons):
        ev = QMouseEvent(kind, p, pad.mapToGlobal(p), button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(pad, ev)

    send(QMouseEvent.Type.MouseButtonPress, pts[0], button)
    for p in pts[1:]:
        send(QMouseEvent.Type.MouseMove, p, button)
    send(QMouseEvent.Type.MouseButtonRelease, pts[-1], Qt.MouseButton.NoButton)
