"""A new user's cosmetic defects (issue T, point 11), each as the user met it on the real window at 1280×800:
texts cut off, a count of points that are not there, one colour over the others, a model's error in the
CLI's words, a drawing shown to a model that reads another kind."""

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
