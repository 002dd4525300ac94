"""The model list from headers (issue S.1): the bundled models and a folder of models are listed without
reading their weights; a model's weights are read and checked when it is chosen, in a worker; a broken file in
a folder is marked with its reason, choosing it says so, and the others work; the list filters as you type."""

import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from latent_explorer.state import ASSETS

from .conftest import choose

NAMES = ("digits-vae2d", "digits-gan", "digits-ddpm", "shapes-vae")


@pytest.fixture
def folder(tmp_path):
    out = tmp_path / "my models"
    out.mkdir()
    for name in NAMES:
        shutil.copy(ASSETS / f"{name}.safetensors", out / f"{name}.safetensors")
    blob = (ASSETS / "digits-ae.safetensors").read_bytes()
    (out / "cut-short.safetensors").write_bytes(blob[: len(blob) // 2])  # a copy that stopped half-way
    (out / "notes.safetensors").write_text("not a model")
    return out


def test_the_bundled_models_are_listed_and_only_the_first_is_read(make_window):
    w = make_window()
    assert len(w.library.entries) >= 20
    loaded = [e.name for e in w.library.entries if e.loaded]
    assert loaded == [w.library.current.name]  # the one shown; the others' weights wait until chosen
    for e in w.library.entries:
        assert e.describe() and "parameters" in e.describe() or e.loaded


def test_a_folder_lists_every_model_marks_the_broken_and_the_others_work(make_window, qtbot, folder):
    w = make_window()
    before = len(w.library.entries)
    assert w.open_path(str(folder))
    added = w.library.entries[before:]
    assert sorted(e.name for e in added) == sorted([*NAMES, "cut-short", "notes"])
    assert not any(e.loaded for e in added)
    broken = {e.name: e.broken for e in added if e.broken}
    assert set(broken) == {"cut-short", "notes"}
    assert "cut-short.safetensors" in broken["cut-short"] and "notes.safetensors" in broken["notes"]
    rows = {w.models.list.item(i).text(): i for i in range(w.models.list.count())}
    assert "⚠ cut-short" in rows and "digits-gan" in rows
    assert broken["cut-short"] in w.models.list.item(rows["⚠ cut-short"]).toolTip()
    current = w.library.current
    w.models.list.setCurrentRow(rows["⚠ cut-short"])  # choosing it says why, and nothing else changes
    assert w.last_error == broken["cut-short"] and w.library.current is current
    assert w.models.list.currentRow() == w.library.entries.index(current)
    gan = next(e for e in added if e.name == "digits-gan")
    w.models.list.setCurrentRow(rows["digits-gan"])
    qtbot.waitUntil(lambda: w.library.current is gan, timeout=120000)
    assert gan.loaded and w.latent.model is gan.model
    w.show_view("editor")
    qtbot.waitUntil(w.editor.is_ready, timeout=120000)
    assert w.editor.panel.data is not None


def test_a_model_that_fails_when_chosen_is_marked_and_said(make_window, qtbot, folder):
    """A header that reads but weights that do not (a NaN weight): found when chosen, in the worker."""
    import torch
    from safetensors.torch import load_file, save_file

    from latent_explorer.models.io.safetensors_header import read_header

    path = folder / "digits-vae2d.safetensors"
    meta, tensors = read_header(path).meta, load_file(path)
    key = next(k for k, t in tensors.items() if t.is_floating_point())
    tensors[key] = torch.full_like(tensors[key], float("nan"))
    save_file(tensors, path, metadata=meta)
    w = make_window(load_bundled=False)
    w.open_path(str(folder))
    entry = w.library.find(path)
    assert entry.broken is None  # its header is fine
    with qtbot.waitSignal(w.errorShown, timeout=120000) as sig:
        w.library.set_current(entry)
    assert "NaN" in sig.args[0] and entry.broken == sig.args[0]
    assert w.library.current is not entry
    qtbot.waitUntil(lambda: w.models.list.item(w.library.entries.index(entry)).text().startswith("⚠"),
                    timeout=10000)


def test_the_list_filters_as_you_type(make_window, qtbot):
    w = make_window()
    QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert w.models.filter.hasFocus()
    QTest.keyClicks(w.models.filter, "ddpm")
    shown = [w.models.list.item(i).text() for i in range(w.models.list.count())
             if not w.models.list.item(i).isHidden()]
    assert shown and all("ddpm" in s for s in shown)
    w.models.filter.clear()
    QTest.keyClicks(w.models.filter, "diffusion 8x8")  # words of the description, in any order
    shown = [w.models.list.item(i).text() for i in range(w.models.list.count())
             if not w.models.list.item(i).isHidden()]
    assert shown == ["digits-ddpm  (bundled)"]
    size = w.size()
    QTest.keyClicks(w.models.filter, " " + "x" * 300)  # long text: nothing matches, the window keeps its size
    assert all(w.models.list.item(i).isHidden() for i in range(w.models.list.count()))
    assert w.size() == size


def test_the_last_choice_wins_while_a_model_is_still_being_read(make_window, qtbot, folder):
    w = make_window(load_bundled=False)
    w.open_path(str(folder))
    first = next(e for e in w.library.entries if e.name == "digits-vae2d")
    choose(w, qtbot, first)
    gan = next(e for e in w.library.entries if e.name == "digits-gan")
    w.library.set_current(gan)  # read in a worker...
    worker = w.library.loading[1]
    w.library.set_current(first)  # ...while the user goes back to the one shown
    assert w.library.loading is None
    qtbot.waitUntil(lambda: not worker.isRunning(), timeout=60000)
    qtbot.wait(200)  # the worker's last signals delivered: none of them is taken
    assert w.library.current is first
