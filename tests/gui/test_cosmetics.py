"""A new user's cosmetic defects (issue T, point 11), each as the user met it on the real window at 1280×800:
texts cut off, a count of points that are not there, one colour over the others, a model's error in the
CLI's words, a drawing shown to a model that reads another kind."""

import numpy as np
import pyqtgraph as pg
from PySide6.QtGui import QImage, QPainter

from .flows import VIEWS, check, use_model, use_view


def _window(make_window, **kw):
    w = make_window(**kw)
    w.resize(1280, 800)
    return w


def _text_rect(item):
    """Where a QGraphicsTextItem's text lies in the scene: its bounding rectangle less the document's margin."""
    m = item.document().documentMargin()
    return item.mapRectToScene(item.boundingRect().adjusted(m, m, -m, -m))


def cut_texts(plot: pg.PlotWidget) -> list[tuple[str, str]]:
    """The texts of a plot (title, axis labels, tick labels) that reach past what the widget shows."""
    shown = plot.mapToScene(plot.viewport().rect()).boundingRect().adjusted(-0.5, -0.5, 0.5, 0.5)
    item, cut = plot.getPlotItem(), []
    if item.titleLabel.isVisible() and item.titleLabel.text and not shown.contains(_text_rect(item.titleLabel.item)):
        cut.append(("title", item.titleLabel.text))
    for side in ("left", "bottom"):
        ax = item.getAxis(side)
        if ax.label.isVisible() and ax.label.toPlainText().strip() and not shown.contains(_text_rect(ax.label)):
            cut.append((f"{side} label", ax.label.toPlainText()))
        image = QImage(8, 8, QImage.Format.Format_ARGB32)
        painter = QPainter(image)
        try:
            specs = ax.generateDrawSpecs(painter)  # what the axis paints: (rect, flags, text) of each tick label
        finally:
            painter.end()
        drawn = ax.mapRectToScene(ax.boundingRect())  # the axis clips its painting to this
        for rect, _flags, text in specs[2] if specs else []:
            r = ax.mapRectToScene(rect) & drawn
            if not r.isEmpty() and not shown.contains(r):
                cut.append((f"{side} tick", text))
    return cut


def test_a_map_with_no_latent_space_claims_no_points(make_window, qtbot):
    w = _window(make_window)
    use_model(w, "digits-vae16")
    use_view(w, "map")
    check(w, qtbot)
    assert w.map.n_label.text() == f"{len(w.map.xy):,} points"
    use_model(w, "scenes-controlnet")  # a ControlNet: no latent space of its own to map
    check(w, qtbot)
    assert "no latent space to map" in w.map.source.text()
    assert "points" not in w.map.n_label.text()  # not the last model's "1,797 points" over empty axes


def test_the_text_to_image_map_draws_no_class_over_the_others(make_window, qtbot):
    w = _window(make_window)
    use_model(w, "scenes-ldm")
    use_view(w, "txt2img")
    check(w, qtbot)
    a = w.txt2img.atlas_plot
    qtbot.waitUntil(lambda: a.atlas is not None and bool(a.points.items), timeout=120000)
    a.factor.setCurrentText("shape")
    labels = a.atlas.factors["shape"]
    painted = np.concatenate([s.data["data"].astype(np.int64) for s in a.points.items])  # first painted first
    assert sorted(painted) == list(range(len(labels)))
    top = labels[painted[-len(labels) // 5:]]  # the fifth painted last: what lies on top where points overlap
    for k in np.unique(labels):
        share = (labels == k).mean()
        assert (top == k).mean() > share / 2, f"{a.atlas.classes['shape'][k]} hides under the others"


def test_the_compare_tick_list_shows_whole_rows(make_window, qtbot):
    w = _window(make_window)
    use_model(w, "digits-vae16")
    use_view(w, "compare")
    check(w, qtbot)
    ticks = w.compare.models
    bar, view = ticks.verticalScrollBar(), ticks.viewport().rect()
    assert ticks.count() > 6 and bar.maximum() > 0  # more models than rows: it scrolls
    for value in range(bar.maximum() + 1):
        bar.setValue(value)
        shown = [ticks.visualItemRect(ticks.item(i)) for i in range(ticks.count())]
        shown = [r for r in shown if r.intersects(view)]
        assert shown and all(view.contains(r) for r in shown), f"a row cut in half at scroll {value}"


def test_the_anomaly_histogram_shows_its_whole_title_and_score_name(make_window, qtbot):
    w = _window(make_window)
    use_model(w, "digits-vae16")
    use_view(w, "inspect")
    check(w, qtbot)
    i = w.inspect
    i.pages.setCurrentWidget(i.anom_page)
    i.other.setCurrentText("scenes")
    i.n_anom.setValue(300)
    i.score.setCurrentIndex(i.score.findData("corrected"))  # the longest name: −log₂ p(x) − PNG bits (Serrà …)
    qtbot.waitUntil(lambda: i.btn_anom.isEnabled(), timeout=60000)
    i.btn_anom.click()
    qtbot.waitUntil(lambda: i.anomaly is not None and i.is_ready(), timeout=180000)
    hist = i.score_plots.hist
    assert "Serrà" in hist.getAxis("bottom").label.toPlainText()
    for plot in (hist, i.score_plots.roc):
        assert cut_texts(plot) == []


def test_no_text_of_an_empty_plot_is_cut(make_window, qtbot):
    """Every view with no model: the plots it shows empty (the Training view's loss plot: its top "1.0")."""
    w = _window(make_window, load_bundled=False)
    seen = 0
    for name in VIEWS:
        use_view(w, name)
        qtbot.waitUntil(lambda: w.current_view().isVisible(), timeout=60000)
        for plot in w.current_view().findChildren(pg.PlotWidget):
            if plot.isVisible():
                seen += 1
                assert cut_texts(plot) == [], f"the {name} view"
    assert seen


def test_a_form_error_names_the_forms_row_and_the_cli_keeps_its_flag(make_window, qtbot):
    import pytest

    from latent_explorer.models import ConfigError, registry

    w = _window(make_window, load_bundled=False)
    use_view(w, "training")
    form, msgs = w.training.form, []
    w.training.message.connect(msgs.append)
    form.kind.setCurrentIndex(form.kind.findData("ae"))
    field = next(f for f in form.fields if f.param.name == "hidden")
    for typed, said in (("0", "must be between 1 and 8192"), ("512,x", "must be comma-separated whole numbers")):
        field.widget.setText(typed)
        assert w.training.start() is None  # refused, with the reason
        assert msgs[-1].startswith(f"{field.param.label} {said}") and "--hidden" not in msgs[-1], msgs[-1]
    with pytest.raises(ConfigError, match="^--hidden must be between"):  # the command line's own words
        registry.get("ae").param("hidden").parse("0")


def test_the_sketch_pad_shows_a_model_only_the_kind_of_drawing_it_reads(make_window, qtbot, tmp_path):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from latent_explorer.models import build_model, load_dataset, make_config
    from latent_explorer.models.io.checkpoint import save

    from .flows import stroke

    data = load_dataset("scenes:64")
    save(build_model(make_config("pix2pix", data.shape, width=4, source="edges", data=data)),
         tmp_path / "edges-p2p.safetensors", data={"spec": "scenes:64"})
    w = _window(make_window)
    use_model(w, "scenes-pix2pix")  # a colour outline
    use_view(w, "sketch")
    s = w.sketch
    stroke(s.pad, [(5, c) for c in range(5, 20)])
    outline = s.pad.canvas.copy()
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)
    s.control.steps.setValue(2)  # a ControlNet's drawing generates an image: a short one
    use_model(w, "scenes-controlnet")  # edges, in ink: the outline is no drawing of edges
    assert not s.pad.ink.any() and s.output is None and "outline drawn for the model before" in s.info.text()
    QTest.keyClick(s, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo does not bring it back either
    assert not s.pad.ink.any()
    stroke(s.pad, [(r, 16) for r in range(4, 28)])
    edges = s.pad.canvas.copy()
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=120000)
    assert w.open_path(str(tmp_path / "edges-p2p.safetensors"))  # edges too: the same drawing, kept
    assert np.array_equal(s.pad.canvas, edges) and "put aside" not in s.info.text()
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)
    use_model(w, "scenes-pix2pix")  # the outline comes back, in its colours on its paper
    assert np.array_equal(s.pad.canvas, outline) and "edges drawn for the model before" in s.info.text()
    qtbot.waitUntil(lambda: s.is_ready() and s.output is not None, timeout=60000)
