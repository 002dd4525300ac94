"""The Text-to-Image view as a user drives it: type a prompt, see its tokens, generate with Ctrl+Return,
scrub the steps, pick a sample, see where each word looks and the sample's path on the latent map, make the
CFG strip, cancel, and drop a PNG to restore its parameters."""

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest

from latent_explorer.models.cli import main as cli

from .conftest import choose

CTRL = Qt.KeyboardModifier.ControlModifier
PROMPT = "a small red circle at the top left on a navy background"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tests.models.helpers import tiny_text_models

    return tiny_text_models(tmp_path_factory.mktemp("t2i-gui"))


def _open(make_window, qtbot, path):
    w = make_window(load_bundled=False)
    assert w.open_path(str(path)), w.last_error
    QTest.keyClick(w, Qt.Key.Key_4, CTRL)
    t = w.txt2img
    assert w.current_view() is t and t.body.isVisible() and not t.placeholder.isVisible()
    qtbot.waitUntil(t.is_ready, timeout=120000)
    assert any(s.isVisible() for s in t.atlas_plot.points.items)  # the autoencoder's latent map
    legend = t.atlas_plot.points.legend  # named above the small plot, not over its points
    assert t.atlas_plot.plot.plotItem.legend is None and legend.isVisible()
    a = t.atlas_plot
    classes = len(np.unique(a.atlas.factors[a.factor.currentText()]))
    assert legend.text().count("&#9679;") == classes > 1  # a coloured dot per class
    return w, t


def _type(qtbot, field, text):
    field.clear()
    QTest.keyClicks(field, text)
    qtbot.waitUntil(lambda: not field.parent().window().txt2img._check_timer.isActive(), timeout=5000)


def test_generate_scrub_attention_trajectory_and_cfg_strip(make_window, qtbot, tiny, tmp_path):
    w, t = _open(make_window, qtbot, tiny[2])
    _type(qtbot, t.prompt, PROMPT)
    assert all(word in t.chips.text() for word in PROMPT.split()) and "unknown" not in t.chips.text()
    t.steps.setValue(6)
    t.n.setValue(4)
    t.guidance.setValue(3.0)
    t.seed.setValue(9)
    t.prompt.setFocus()
    QTest.keyClick(t.prompt, Qt.Key.Key_Return, CTRL)
    qtbot.waitUntil(lambda: t.trajectory is not None and t.is_ready(), timeout=120000)
    tr = t.trajectory
    assert len(tr) == 7 and tr.x.shape[1] == 4 and t.frame.value() == 6
    want = t.model.txt2img([PROMPT] * 4, "", "ddim", 6, 3.0, 9).numpy()  # the CLI's images, the same settings
    np.testing.assert_allclose(tr.x[-1].astype(np.float32), want, atol=2e-3)
    assert t.grid.data is not None and "final" in t.frame_label.text()
    # scrub: each step shows its decoded z_t, ẑ_0 and noise, and the words' heat maps
    t.frame.setFocus()
    QTest.keyClick(t.frame, Qt.Key.Key_Home)
    assert t.frame.value() == 0 and f"t = {tr.timesteps[0]}" in t.frame_label.text()
    first = t.x_t.data.copy()
    QTest.keyClick(t.frame, Qt.Key.Key_Right)
    assert t.frame.value() == 1 and not np.array_equal(first, t.x_t.data)
    words = [p for p in t.attention.panels if p.isVisible()]
    assert len(words) == len(PROMPT.split()) and all(p.data is not None for p in words)
    # the heat maps wrap to the room they have (scrolling down) and never ask the window to widen
    grid = t.attention.grid
    assert t.attention.minimumSizeHint().width() <= t.attention.TILE.width()
    scroll = t.attention.parentWidget().parentWidget()  # the scroll area around them (and its viewport)
    scroll.resize(2 * t.attention.TILE.width() + 40, 300)
    assert max(grid.getItemPosition(grid.indexOf(p))[1] for p in words) == 1  # two columns
    scroll.resize(8 * t.attention.TILE.width() + 60, 300)
    assert max(grid.getItemPosition(grid.indexOf(p))[1] for p in words) == min(7, len(words) - 1)
    # the path on the map: one point per frame, the marker at the current one
    assert len(t.atlas_plot.path.xData) == len(tr)
    np.testing.assert_allclose(t.atlas_plot.marker.getData()[0], [t.atlas_plot.xy[1, 0]], rtol=1e-5)
    # the same path on a t-SNE map of the latents (fitted now), placed by the fitted map's transform
    a = t.atlas_plot
    a.method.setCurrentIndex(a.method.findData("tsne"))
    qtbot.waitUntil(lambda: a.is_ready() and "tsne" in t.atlas.maps and a.xy is not None, timeout=180000)
    assert a.xy.shape == (len(tr), 2) and np.isfinite(a.xy).all() and len(a.path.xData) == len(tr)
    assert "t-SNE" in a.plot.getAxis("bottom").labelText
    np.testing.assert_allclose(a.xy, t.atlas.maps["tsne"].place(tr.z[:, 0]), atol=1e-3)
    # another sample: its own images and path
    t.select_sample(2)
    assert "3 of 4" in t.grid.title.text
    np.testing.assert_allclose(t.x_t.data, np.transpose(tr.x[1, 2].astype(np.float32), (1, 2, 0)))
    # the CFG strip: sample 3 at guidance 1, 3, 5, 7, 9; at 3 it is the grid's own image
    qtbot.mouseClick(t.btn_strip, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: t.is_ready() and t.strip_panels[-1].data is not None, timeout=120000)
    np.testing.assert_allclose(t.strip_panels[1].data, np.transpose(want[2], (1, 2, 0)), atol=2e-3)
    # saved with its parameters, the grid restores the form (PNG Info); the sample's path as an animation
    t.save_png(str(tmp_path / "grid.png"))
    t.seed.setValue(0)
    t.guidance.setValue(1.0)
    assert t.restore_from_png(str(tmp_path / "grid.png"))
    assert (t.seed.value(), t.guidance.value(), t.steps.value(), t.prompt.text()) == (9, 3.0, 6, PROMPT)
    from latent_explorer.models.io.images import video_formats

    for fmt in video_formats():
        t.export_animation(str(tmp_path / f"path{fmt}"))
        assert (tmp_path / f"path{fmt}").stat().st_size > 0
    assert w.last_error is None


def test_bad_prompts_and_cancel_keep_what_was_there(make_window, qtbot, tiny):
    w, t = _open(make_window, qtbot, tiny[2])
    said = []
    t.message.connect(said.append)
    _type(qtbot, t.prompt, "a golden circle")
    assert "<s>golden</s>" in t.chips.text() and "unknown word 'golden'" in t.chips.text()
    t.generate()
    assert not t.busy() and t.trajectory is None and "unknown word 'golden'" in said[-1]  # nothing runs
    _type(qtbot, t.prompt, "")
    assert "unconditional" in t.chips.text()
    t.steps.setValue(3)
    t.n.setValue(2)
    t.generate()
    assert "an empty prompt: unconditional samples" in said[-1]
    qtbot.waitUntil(lambda: t.trajectory is not None and t.is_ready(), timeout=120000)
    kept = t.trajectory
    _type(qtbot, t.prompt, " ".join(["a red circle"] * 12))
    assert "longer than the text encoder's" in t.chips.text()
    t.sampler.setCurrentIndex(t.sampler.findData("ddpm"))  # all T = 50 steps: time to cancel
    assert not t.steps.isEnabled()
    t.generate()
    assert t.busy() and "longer than the text encoder's" in said[-1]
    QTest.keyClick(t.prompt, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not t.busy(), timeout=60000)
    assert t.trajectory is kept  # the previous images stay
    assert w.last_error is None


def test_dropping_a_png_restores_its_parameters(make_window, qtbot, tiny, tmp_path):
    out = tmp_path / "grid.png"
    assert cli(["txt2img", str(tiny[2]), "--prompt", PROMPT, "--negative-prompt", "a star", "--sampler",
                "euler-a", "--steps", "7", "--cfg", "6.5", "--seed", "31", "--n", "1", "--out", str(out)]) == 0
    w, t = _open(make_window, qtbot, tiny[2])
    said = []
    t.message.connect(said.append)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(out))])
    drop = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                      Qt.KeyboardModifier.NoModifier)
    w.dropEvent(drop)  # onto the window while the view is shown
    assert t.prompt.text() == PROMPT and t.negative.text() == "a star"
    assert t.sampler.currentData() == "euler-a" and t.steps.value() == 7 and t.guidance.value() == 6.5
    assert t.seed.value() == 31 and "restored the parameters of grid.png (made with ldm)" in said[-1]
    assert w.current_view() is t
    # a PNG without parameters, and a file that is not a PNG: a message each, the form unchanged
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "plain.png")
    (tmp_path / "fake.png").write_bytes(b"not a png at all")
    for name, says in (("plain.png", "carries no generation parameters"), ("fake.png", "not a readable image")):
        assert not t.restore_from_png(str(tmp_path / name))
        assert says in said[-1] and t.prompt.text() == PROMPT
    assert w.last_error is None


def test_the_view_says_what_it_is_for_with_other_models(make_window, qtbot):
    w = make_window()
    choose(w, qtbot, next(e for e in w.library.entries if e.name == "digits-vae2d"))
    QTest.keyClick(w, Qt.Key.Key_4, CTRL)
    t = w.txt2img
    assert t.placeholder.isVisible() and not t.body.isVisible() and "latent diffusion" in t.placeholder.text()


def test_a_data_path_the_checkpoint_names_is_read_only_when_asked(make_window, qtbot, tiny, tmp_path):
    """As F75: the latent map's data is read from a path a checkpoint names only when the user presses."""
    from latent_explorer.models import load

    w = make_window(load_bundled=False)
    model = load(tiny[2])
    model.meta["data"]["spec"] = str(tmp_path / "elsewhere")
    w.latent.set_model(model)
    t = w.txt2img
    w.show_view("txt2img")
    assert t.atlas_plot.btn_load.isVisible() and not t.atlas_job.busy and t.atlas is None
    said = []
    t.message.connect(said.append)
    t.atlas_plot.btn_load.click()
    qtbot.waitUntil(lambda: not t.atlas_job.busy, timeout=60000)
    assert t.atlas is None and "elsewhere" in said[-1]  # the path does not exist: said, nothing else
