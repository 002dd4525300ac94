"""Views are built the first time they are shown or asked for (issue S.1: the first paint waits for one view,
not ten); a view built late takes the model chosen before it existed, and opens no window of its own."""

from PySide6.QtWidgets import QApplication

from latent_explorer.view_table import VIEW_NAMES

from .flows import use_model


def test_the_window_starts_with_the_view_shown_and_builds_the_others_as_they_are_shown(make_window, qtbot):
    w = make_window()
    assert list(w.views) == [VIEW_NAMES[w.tabs.currentIndex()]]  # the one shown, nothing else yet
    use_model(w, "digits-vae2d")
    for name in VIEW_NAMES:
        w.show_view(name)
        assert name in w.views and w.current_view() is w.views[name] is getattr(w, name)
        assert w.tabs.indexOf(w.views[name]) == VIEW_NAMES.index(name)
        # built after the window showed: nothing in it was shown as a window of its own (that takes the
        # keyboard from the main window, and Ctrl+1 … would stop working)
        assert QApplication.activeWindow() is w, f"building the {name} view took the focus from the window"
        assert [t for t in QApplication.topLevelWidgets() if t.isVisible()] == [w]
    assert w.editor.model is w.latent.model and w.diffusion.model is None  # caught up: a VAE, no diffusion


def test_a_view_asked_for_before_it_is_shown_is_built_in_its_tab_with_the_model(make_window, qtbot):
    w = make_window()
    use_model(w, "digits-vae16")
    assert "inspect" not in w.views
    inspect = w.inspect  # as a drop or a menu asks for it, with another tab shown
    assert w.views["inspect"] is inspect and inspect.model is w.latent.model
    assert w.current_view() is not inspect
    w.tabs.setCurrentWidget(inspect)
    assert w.current_view() is inspect and inspect.isVisible()
