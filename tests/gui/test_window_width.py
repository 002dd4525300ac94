"""Issue T.4, T.5, T.7: what a user types or a run writes never widens the window; trained models get names
that stay apart and join Open Recent; images from another prompt say so, and the CFG strip reads the box."""

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from latent_explorer.training_view import RunSpec

CTRL = Qt.KeyboardModifier.ControlModifier
WORDS = ("a small red circle at the top left on a navy background and a large blue star at the center on "
         "a white background").split()
LONG_PROMPT = " ".join((WORDS * 4)[:60])  # 60 words, all known to the text encoder
PROMPT = "a small red circle at the top left on a navy background"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.models.helpers import tiny_text_models

    return tiny_text_models(tmp_path_factory.mktemp("t2i-width"))


def _widths(w):
    return w.width(), w.minimumSizeHint().width(), w.models.width()


def _settle(qtbot, w):
    qtbot.waitUntil(lambda: not w.txt2img._check_timer.isActive(), timeout=5000)
    QTest.qWait(0)  # layouts run on the next turn of the event loop


def test_a_60_word_prompt_leaves_the_window_as_wide_as_it_was(make_window, qtbot, tiny):
    w = make_window(load_bundled=False)
    assert w.open_path(str(tiny[2])), w.last_error
    QTest.keyClick(w, Qt.Key.Key_4, CTRL)
    t = w.txt2img
    qtbot.waitUntil(t.is_ready, timeout=120000)
    before = _widths(w)
    QTest.keyClicks(t.prompt, LONG_PROMPT)
    QTest.keyClicks(t.negative, LONG_PROMPT)
    _settle(qtbot, w)
    assert t.prompt.text() == LONG_PROMPT
    assert "more words" in t.chips.text() and t.chips.toolTip()  # the rest counted, all of it in the tooltip
    assert _widths(w) == before
    assert t.chips.height() < 4 * t.chips.fontMetrics().height()  # one line of chips and one of notes
    t.prompt.clear()
    _settle(qtbot, w)
    assert _widths(w) == before


def test_stale_images_say_which_prompt_made_them_and_the_strip_reads_the_box(make_window, qtbot, tiny):
    w = make_window(load_bundled=False)
    assert w.open_path(str(tiny[2])), w.last_error
    w.show_view("txt2img")
    t = w.txt2img
    qtbot.waitUntil(t.is_ready, timeout=120000)
    QTest.keyClicks(t.prompt, PROMPT)
    t.steps.setValue(3)
    t.n.setValue(2)
    t.prompt.setFocus()
    QTest.keyClick(t.prompt, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: t.trajectory is not None and t.is_ready(), timeout=120000)
    assert "navy" in t.grid.title.text and "not the prompt" not in t.grid.title.text
    # a refused prompt (an unknown word): the images stay, titled with the prompt that made them
    t.prompt.clear()
    QTest.keyClicks(t.prompt, "a purple zebra")
    _settle(qtbot, w)
    QTest.keyClick(t.prompt, Qt.Key.Key_Return, CTRL)
    assert not t.busy()
    assert "not the prompt in the box" in t.grid.title.text and "navy" in t.grid.title.text
    # the CFG strip answers the box: refused for unknown words, made for the new text when it is known
    t.make_strip()
    assert not t.busy() and t.strip_panels[0].data is None
    other = "a large blue star at the center on a white background"
    t.prompt.clear()
    QTest.keyClicks(t.prompt, other)
    _settle(qtbot, w)
    t.make_strip()
    qtbot.waitUntil(lambda: t.is_ready() and t.strip_panels[-1].data is not None, timeout=120000)
    assert "white background" in t.strip_label.text() and "navy" not in t.strip_label.text()
    # Esc cancels a new generation: the old images stay, and say they are from the other prompt
    t.steps.setValue(200)
    QTest.keyClick(t.prompt, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(t.busy, timeout=10000)
    QTest.keyClick(t.prompt, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not t.busy(), timeout=120000)
    assert "navy" in t.grid.title.text and "not the prompt in the box" in t.grid.title.text
    # the same text again: the title drops the warning
    t.prompt.setText(PROMPT)
    _settle(qtbot, w)
    assert "not the prompt" not in t.grid.title.text


def test_a_stopped_run_with_a_long_path_keeps_the_width_and_names_apart(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    w.show_view("training")
    v = w.training
    QTest.qWait(0)
    before = _widths(w)
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    names = [("vae-digits-20261204-" + "x" * 70)[: 200 - len(str(deep)) - 20] + s for s in ("-first", "-second")]
    runs = []
    for name in names:
        out = deep / f"{name}.safetensors"
        assert len(str(out)) >= 200
        runs.append(v.start(RunSpec(kind="vae", data="digits", out=str(out), epochs=1, batch_size=64, lr=1e-3,
                                    latent_dim=2, preview_every=0.01)))
    for run in runs:
        qtbot.waitUntil(lambda run=run: run.status == "finished" and run.worker is None, timeout=300000)
    QTest.qWait(0)
    v.runs.setCurrentRow(0)
    assert "saved" in v.stats.text() and str(deep) in v.stats.text() and v.stats.toolTip() == v.stats.text()
    assert _widths(w) == before
    # two trained models: both in the list under their whole names, elided in the middle so they differ
    items = [w.models.list.item(i) for i in range(w.models.list.count())]
    assert [it.text() for it in items] == names
    assert w.models.list.textElideMode() == Qt.TextElideMode.ElideMiddle
    assert all(str(deep) in it.toolTip() for it in items)
    # and they join Open Recent, newest first
    recent = [a.toolTip() for a in w.recent_menu.actions()]
    assert recent[:2] == [str((deep / f"{n}.safetensors").resolve()) for n in reversed(names)]


def test_a_saved_geometry_larger_than_the_screen_is_cut_to_it(make_window, qtbot):
    w = make_window(load_bundled=False)
    room = w.screen().availableGeometry()
    # the offscreen screen may be narrower than the window's smallest width: then that smallest width
    fits = max(room.width(), w.minimumSizeHint().width()), max(room.height(), w.minimumSizeHint().height())
    w.resize(room.width() + 1500, room.height() + 300)
    assert w.width() > fits[0]
    w.fit_to_screen()
    assert w.width() <= fits[0] and w.height() <= fits[1]
    w.resize(room.width() + 1500, room.height() + 300)
    w.close()  # saves its geometry, cut to the screen
    from latent_explorer.main_window import MainWindow

    w2 = MainWindow(load_bundled=False)  # the next start restores what was saved
    qtbot.addWidget(w2)
    assert w2.width() <= fits[0] and w2.height() <= fits[1]
