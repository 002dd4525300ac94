"""User flows on the real MainWindow: menus and shortcuts, model switches across every view in many orders,
typing into fields. After every step the current view shows a picture (tests/conftest.py fails any test in
which a Qt slot raised)."""

import random

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QMessageBox

from .flows import BUNDLED, CTRL, ONE_PER_KIND, ROOT, VIEWS, check, settled, shows_a_picture, use_model, use_view


def test_view_menu_and_every_shortcut_reach_their_view(make_window, qtbot):
    w = make_window()
    menu = w.view_menu
    for action, name in zip(menu.actions(), VIEWS):
        w.show_view("map" if name != "map" else "editor")
        action.trigger()  # the menu item
        assert w.current_view() is w.views[name], f"View → {action.text()} landed elsewhere"
    for name in ["training", "diffusion", "editor", "map", "diffusion"]:
        use_view(w, name)  # Ctrl+1…4


def test_file_and_help_menu_actions(make_window, qtbot, tmp_path, monkeypatch):
    import shutil

    from latent_explorer import dialogs

    w = make_window()
    copy = tmp_path / "mine.safetensors"
    shutil.copy(ROOT / "assets" / "digits-vae16.safetensors", copy)
    monkeypatch.setattr(dialogs, "open_files", lambda *a, **k: [str(copy)])
    QTest.keyClick(w, Qt.Key.Key_O, CTRL)  # File → Open…
    assert w.library.current.name == "mine"
    recent = w.recent_menu.actions()
    assert recent and recent[0].text() == "mine.safetensors"
    use_model(w, "digits-vae2d")
    recent[0].trigger()  # File → Open Recent
    assert w.library.current.name == "mine"
    check(w, qtbot)
    out = tmp_path / "img.png"
    monkeypatch.setattr(dialogs, "save_file", lambda *a, **k: str(out))
    QTest.keyClick(w, Qt.Key.Key_E, CTRL)  # File → Export image…
    assert out.exists() and "saved" in w.statusBar().currentMessage()
    shown = []
    monkeypatch.setattr(QMessageBox, "information", lambda *a, **k: shown.append(a[2]))
    QTest.keyClick(w, Qt.Key.Key_F1)  # Help → Keyboard shortcuts
    assert shown and "Ctrl+1" in shown[0]
    QTest.keyClick(w, Qt.Key.Key_Q, CTRL)  # File → Quit
    assert not w.isVisible()


def test_editor_and_diffusion_shortcuts(make_window, qtbot):
    w = make_window()
    use_model(w, "digits-vae16")
    use_view(w, "editor")
    check(w, qtbot)
    before = w.latent.z.copy()
    QTest.keyClick(w.editor, Qt.Key.Key_R)  # randomise
    assert not np.array_equal(w.latent.z, before)
    w.editor.interp.btn_a.click()
    QTest.keyClick(w.editor, Qt.Key.Key_R)
    w.editor.interp.btn_b.click()
    QTest.keyClick(w.editor, Qt.Key.Key_P)  # play the interpolation
    assert w.editor.interp.btn_play.isChecked()
    QTest.keyClick(w.editor, Qt.Key.Key_P)
    assert not w.editor.interp.btn_play.isChecked()
    use_model(w, "digits-ddpm")
    use_view(w, "diffusion")
    d = w.diffusion
    d.sampler.setCurrentText("DDIM")
    d.steps.setValue(5)
    d.n.setValue(2)
    with qtbot.waitSignal(d.ready, timeout=180000):
        QTest.keyClick(d, Qt.Key.Key_R, CTRL)  # Ctrl+R records a trajectory
    QTest.keyClick(d.frame, Qt.Key.Key_Right)
    assert d.frame.value() == 1
    QTest.keyClick(d.frame, Qt.Key.Key_End)
    assert d.frame.value() == d.frame.maximum()


@pytest.mark.slow
@pytest.mark.parametrize("order", ["models-then-views", "views-then-models"])
def test_every_view_with_a_bundled_model_of_every_kind(make_window, qtbot, order):
    w = make_window()
    pairs = ([(m, v) for m in ONE_PER_KIND for v in VIEWS] if order == "models-then-views" else
             [(m, v) for v in VIEWS for m in reversed(ONE_PER_KIND)])
    for model, view in pairs:
        use_model(w, model)
        use_view(w, view)
        check(w, qtbot, f"{model} × {view}")


def test_a_seeded_random_walk_of_40_switches(make_window, qtbot):
    w = make_window()
    rng = random.Random(7)
    for step in range(40):
        if rng.random() < 0.5:
            use_model(w, rng.choice(BUNDLED))
        else:
            use_view(w, rng.choice(VIEWS))
        if rng.random() < 0.3:  # sometimes the user does not wait for the view before moving on
            continue
        check(w, qtbot, f"step {step}")
    check(w, qtbot, "the end")


def test_the_newcomers_editor_sequence_leaves_the_editor_alive(make_window, qtbot):
    """GAN → Latent Editor → PCA directions → DDPM → digits-vae2d used to kill the editor for the session
    (a deleted QSlider touched by a stale row)."""
    w = make_window()
    use_model(w, "digits-gan")
    use_view(w, "editor")
    with qtbot.waitSignal(w.editor.dirs.ready, timeout=180000):
        w.editor.tabs.setCurrentIndex(1)
    assert len(w.editor.dirs.rows) == 10
    use_model(w, "digits-ddpm")
    check(w, qtbot)
    assert w.editor.tabs.currentIndex() == 0  # back on the sliders: DDPM has no directions
    use_model(w, "digits-vae2d")
    check(w, qtbot)
    w.editor.range.setValue(4.0)  # re-ranges every row that exists
    with qtbot.waitSignal(w.editor.imageUpdated, timeout=180000):
        w.editor.rows[1].slider.setValue(120)
    assert w.latent.z[1] == np.float32(1.2)


def test_direction_slider_and_number_box_agree(make_window, qtbot):
    w = make_window()
    use_model(w, "digits-gan")
    use_view(w, "editor")
    with qtbot.waitSignal(w.editor.dirs.ready, timeout=180000):
        w.editor.tabs.setCurrentIndex(1)
    row = w.editor.dirs.rows[0]
    row.spin.lineEdit().selectAll()
    QTest.keyClicks(row.spin.lineEdit(), "2.5")
    QTest.keyClick(row.spin.lineEdit(), Qt.Key.Key_Return)
    assert row.spin.value() == 2.5 and row.slider.value() == 250  # the handle follows a typed value
    row2 = w.editor.dirs.rows[1]
    row2.slider.setValue(-130)  # a drag
    qtbot.waitUntil(lambda: row2.spin.value() == -1.3, timeout=180000)  # the box follows the handle
    assert np.allclose(w.latent.z, w.editor.dirs.base + 2.5 * w.editor.dirs.directions[0]
                       - 1.3 * w.editor.dirs.directions[1], atol=1e-5)


def _fields(view):
    """Every field a user can type into in ``view``: line edits, spin boxes, editable combo boxes."""
    out = []
    for sb in view.findChildren(QAbstractSpinBox):
        out.append(sb)
    for cb in view.findChildren(QComboBox):
        if cb.isEditable():
            out.append(cb)
    for le in view.findChildren(QLineEdit):
        if not isinstance(le.parent(), (QAbstractSpinBox, QComboBox)):
            out.append(le)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("model", ["digits-vae16", "digits-gan", "digits-ddpm", "scenes-ldm", "scenes-controlnet"])
def test_typing_into_every_field_of_every_view(make_window, qtbot, model):
    w = make_window()
    use_model(w, model)
    for view in VIEWS:
        use_view(w, view)
        check(w, qtbot, view)
        typed = 0
        for field in _fields(w.views[view]):
            if not (field.isVisible() and field.isEnabled()):
                continue
            typed += 1
            edit = field.lineEdit() if isinstance(field, (QAbstractSpinBox, QComboBox)) else field
            for text in ("7", "-1x/ 3.5"):
                edit.selectAll()
                QTest.keyClicks(edit, text)
                QTest.keyClick(edit, Qt.Key.Key_Return)
                QApplication.processEvents()
            qtbot.waitUntil(lambda: settled(w), timeout=300000)
        ddpm, caps = model == "digits-ddpm", w.latent.model.capabilities
        least = {"map": 2 if w.map.model is not None else 0, "editor": 3 if caps.decodes_z else 0,
                 "diffusion": 4 if ddpm else 0, "txt2img": 5 if caps.text_to_image else 0,
                 "quality": 3 if ddpm else 1 if caps.prior or caps.diffusion else 0, "training": 8,
                 "pixels": 3 if caps.autoregressive else 0, "inspect": 0,  # Inspect: fields on later pages
                 "compare": 3, "sketch": 5 if caps.controlled else 1 if caps.image_to_image else 0}[view]
        assert typed >= least, f"{view}: only {typed} fields to type into"
        if view == "training":
            w.training.start()  # whatever was typed: a message, or a queued run, never a traceback
            w.training.queue.stop_all(wait=True)
    assert w.isVisible()


def test_the_parts_of_latent_diffusion_in_every_view(make_window, qtbot, tmp_path):
    """The latent autoencoder, the text encoder and the latent diffusion model open in every view: each view
    does what the model can do (a map of the autoencoder's or the text encoder's images; sliders over the
    autoencoder's 256 latents) and says what it cannot, never an exception."""
    from tests.models.helpers import tiny_text_models

    paths = tiny_text_models(tmp_path)
    w = make_window(load_bundled=False)
    for path in paths:
        assert w.open_path(str(path)), w.last_error
    for path in (*paths, *reversed(paths)):
        use_model(w, path.stem)
        for view in VIEWS:
            use_view(w, view)
            qtbot.waitUntil(lambda: settled(w), timeout=300000)
            assert w.last_error is None, (path.stem, view, w.last_error)
            caps = w.latent.model.capabilities
            if (view == "map" and caps.encoder) or (view == "editor" and caps.decodes_z):
                assert shows_a_picture(w), f"{path.stem} × {view}"
    use_model(w, "ae")
    use_view(w, "editor")
    check(w, qtbot, "ae editor")
    assert len(w.editor.rows) == 256
    assert [r.label.text() for r in w.editor.rows[:2]] == ["c0 (0,0)", "c0 (0,1)"]  # channel and place
