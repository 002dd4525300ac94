"""A new user's cosmetic defects (issue T, point 11), each as the user met it on the real window at 1280×800:
texts cut off, a count of points that are not there, one colour over the others, a model's error in the
CLI's words, a drawing shown to a model that reads another kind."""

import numpy as np

from .test_user_flows import check, use_model, use_view


def _window(make_window, **kw):
    w = make_window(**kw)
    w.resize(1280, 800)
    return w


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
