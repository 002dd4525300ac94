"""Sketch view (issue K): a stroke until the pix2pix answer is shown, against the bare translate call in the
same run. Speed does not depend on the weights: an untrained model of the default size."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import Target, app, part, pct


@part("sketch", Target("sketch_stroke_ms_p95", "<=", 50.0, "Sketch view, pix2pix of the default size (width 32, "
                       "32×32): a stroke's mouse move → answer shown (ms, p95)", floor="bare_translate_ms_p95"))
def bench_sketch(smoke: bool) -> dict:
    """Each press changes the drawing; the event loop runs until the new answer is shown and the view is
    ready. The floor is ``model.translate`` on the same ink."""
    import torch
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from latent_explorer.models import build_model, load, load_dataset, make_config, save
    from latent_explorer.sketch_view import SketchView
    from latent_explorer.state import LatentState

    a = app()
    data = load_dataset("scenes:256")
    with tempfile.TemporaryDirectory() as d:
        torch.manual_seed(0)
        save(build_model(make_config("pix2pix", data.shape, data=data)), Path(d) / "p.safetensors")
        model = load(Path(d) / "p.safetensors")
    state = LatentState()
    view = SketchView(state)
    view.resize(900, 500)
    view.show()
    state.set_model(model)
    a.processEvents()
    pad = view.pad
    left, top, side = pad._square()
    side /= pad.ink.shape[0]
    reps = 5 if smoke else 200
    times = []
    pad.push_undo()
    for i in range(reps + 10):
        r, c = 4 + (i * 7) % 24, 4 + (i * 11) % 24
        p = QPointF(left + (c + 0.5) * side, top + (r + 0.5) * side)
        pad.canvas[r, c] = pad.paper  # this press changes the drawing (a cell drawn before would not)
        before = view.output
        t = time.perf_counter()
        QApplication.sendEvent(pad, QMouseEvent(QMouseEvent.Type.MouseButtonPress, p, pad.mapToGlobal(p),
                                                Qt.MouseButton.LeftButton, Qt.MouseButton.LeftButton,
                                                Qt.KeyboardModifier.NoModifier))
        while view.output is before or not view.is_ready():  # as in the app: the event loop delivers it
            a.processEvents()
        if i >= 10:
            times.append((time.perf_counter() - t) * 1000)
        QApplication.sendEvent(pad, QMouseEvent(QMouseEvent.Type.MouseButtonRelease, p, pad.mapToGlobal(p),
                                                Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton,
                                                Qt.KeyboardModifier.NoModifier))
    view.shutdown()
    view.close()
    bare = []
    ink = torch.from_numpy(pad.ink[None, None].copy())
    for i in range(reps + 10):
        t = time.perf_counter()
        model.translate(ink)
        if i >= 10:
            bare.append((time.perf_counter() - t) * 1000)
    return {"sketch_stroke_ms_p95": pct(times, 95), "sketch_stroke_ms_p50": pct(times, 50),
            "bare_translate_ms_p95": pct(bare, 95)}
