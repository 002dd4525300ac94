"""A kind from a plug-in (an entry point of ``latent_explorer.kinds``) in the window: the Training view lists
it and trains it in its child process, and the run's checkpoint opens (issue P.4)."""

import pytest

from latent_explorer.models import load
from latent_explorer.training_view import RunSpec
from tests.toy_kinds import install_plugins, remove_plugins

from .flows import check, use_view


@pytest.fixture
def plugged(tmp_path, monkeypatch):
    yield install_plugins(tmp_path / "site", monkeypatch)
    remove_plugins()


def test_the_training_view_lists_and_trains_a_plugged_in_kind(plugged, make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    use_view(w, "training")
    form = w.training.form
    i = form.kind.findData("plug-toy")
    assert i >= 0 and "Plugged-in linear generator" in form.kind.itemText(i)
    form.kind.setCurrentIndex(i)
    assert form.latent.value() == 4 and form.epochs.value() == 1
    out = tmp_path / "plugged.safetensors"
    run = w.training.start(RunSpec(kind="plug-toy", data="digits", out=str(out), epochs=1, batch_size=64,
                                   lr=1e-2, latent_dim=4, preview_every=0.01))
    assert run is not None
    qtbot.waitUntil(lambda: run.status in ("finished", "stopped", "failed") and run.worker is None,
                    timeout=300000)
    assert run.status == "finished", run.log[-3:]
    assert load(out).kind == "plug-toy"
    entry = w.library.find(str(out))
    w.library.set_current(entry)
    for view in ("map", "editor"):
        use_view(w, view)
        check(w, qtbot, view)
