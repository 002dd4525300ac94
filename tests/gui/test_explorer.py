import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from latent_explorer.models.display import to_display

from .conftest import select

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted(p.stem for p in (ROOT / "assets").glob("*.safetensors") if not p.name.endswith(".record.safetensors"))


def test_bundled_models_are_listed_and_each_opens(make_window, qtbot):
    w = make_window()
    names = [e.name for e in w.library.entries]
    assert sorted(names) == sorted(BUNDLED) and len(BUNDLED) >= 6
    real = [n for n in names if n.startswith(("mnist-", "scenes-"))]
    assert names[: len(real)] == real  # the real-size models first, the small examples after
    assert w.library.current.name == "mnist-vae2d"  # the first start opens the MNIST 2-D VAE
    qtbot.waitUntil(lambda: w.map.is_ready() and w.map.xy is not None, timeout=180000)  # shown: its data drawn
    w.show_view("editor")  # every model opens and decodes; the map (hidden now) maps one of each kind in
    for name in BUNDLED:  # tests/gui/test_user_flows.py, and a hidden map waits until it is shown
        entry = select(w, qtbot, name)
        assert w.latent.model is entry.model
        if entry.model.capabilities.decodes_z:  # (a text encoder maps images but draws none)
            assert w.editor.panel.data is not None
        if w.map.model is None:  # latent diffusion: its latent is noise it cannot decode alone; the map says so
            assert "no latent space to map" in w.map.source.text()
        else:
            assert w.map.latents is None and w.map.is_ready()  # nothing encoded while hidden
    w.show_view("map")  # shown: the last model's data is encoded and drawn now
    qtbot.waitUntil(lambda: w.map.is_ready() and w.map.xy is not None, timeout=180000)
    assert len(w.map.xy) == len(w.map.latents.z) > 0
    assert w.last_error is None


def test_moving_a_slider_shows_exactly_decode_z(make_window, qtbot):
    w = make_window()
    entry = select(w, qtbot, "digits-vae16")
    w.show_view("editor")
    with qtbot.waitSignal(w.editor.imageUpdated, timeout=180000):
        w.editor.rows[3].slider.setValue(150)
    z = np.zeros(16, np.float32)
    z[3] = 1.5
    assert np.array_equal(w.latent.z, z)
    expected = to_display(entry.model.decode(torch.from_numpy(z[None]))[0].numpy())
    np.testing.assert_allclose(w.editor.panel.data, expected, rtol=0, atol=1e-6)
    assert np.array_equal(w.editor.panel.item.image, w.editor.panel.data)  # the picture shows that array
    qtbot.waitUntil(lambda: w.editor.rows[3].spin.value() == 1.5, timeout=180000)  # the number box follows
    # typing a value in the spin box goes through the same path
    with qtbot.waitSignal(w.editor.imageUpdated, timeout=180000):
        w.editor.rows[0].spin.setValue(-2.25)
    assert w.latent.z[0] == np.float32(-2.25) and w.editor.rows[0].slider.value() == -225


def test_slider_moves_coalesce_so_the_newest_z_wins(make_window, qtbot):
    """A move is shown at once (no timer in between); a burst of moves from one handler is not queued:
    after the first, only the newest z is decoded."""
    w = make_window()
    select(w, qtbot, "digits-vae16")
    qtbot.wait(20)
    shown = []
    w.editor.imageUpdated.connect(lambda: shown.append(w.latent.z.copy()))
    w.editor.rows[1].slider.setValue(5)
    assert len(shown) == 1 and shown[0][1] == np.float32(0.05)  # decoded and shown within the move
    qtbot.wait(20)
    shown.clear()
    for v in range(10, 110, 10):
        w.editor.rows[1].slider.setValue(v)
    qtbot.waitUntil(lambda: len(shown) >= 2, timeout=180000)
    qtbot.wait(50)
    assert [z[1] for z in shown] == [np.float32(0.1), np.float32(1.0)]  # the first, then only the newest


def test_clicking_a_scatter_point_sends_its_z_to_the_editor(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    w.show_view("map")
    qtbot.wait(100)
    m = w.map
    i = 123
    vb = m.plot.getViewBox()
    scene_pt = vb.mapViewToScene(QPointF(float(m.xy[i, 0]), float(m.xy[i, 1])))
    pos = m.plot.mapFromScene(scene_pt)
    with qtbot.waitSignal(m.pointClicked, timeout=180000) as sig:
        qtbot.mouseClick(m.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    j = sig.args[0]
    assert np.allclose(m.xy[j], m.xy[i], atol=0.05)  # the clicked point (or one drawn on top of it)
    assert np.array_equal(w.latent.z, m.latents.z[j])
    assert m.marker.data["x"][0] == pytest.approx(m.xy[j, 0])


@pytest.mark.slow
def test_pca_and_tsne_complete_and_tsne_cancels(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae16")
    m = w.map
    pca = m.projection.pca
    assert m.projection.method == "pca" and pca is not None
    assert np.allclose(m.xy, pca.transform(m.latents.z, (0, 1)), atol=1e-5)
    m.ax_b.setValue(3)  # PC3: the boxes count as the axes are named
    assert m.projection.axes == (0, 2) and m.plot.getAxis("left").labelText == "PC3"
    assert np.allclose(m.xy[:, 1], pca.transform(m.latents.z, (2,))[:, 0], atol=1e-5)
    # cancel a t-SNE: the view stays usable
    m.run_tsne()
    qtbot.waitUntil(lambda: m.progress.bar.value() > 0, timeout=180000)
    m._user_cancel()
    qtbot.waitUntil(lambda: not m.busy(), timeout=180000)
    assert m.projection.embedding is None and m.projection.method == "pca"
    # and a full run completes
    with qtbot.waitSignal(m.ready, timeout=300000):
        m.run_tsne()
    assert m.projection.method == "tsne" and m.xy.shape == (len(m.latents.z), 2) and np.isfinite(m.xy).all()
    # t-SNE separates the classes better than chance: nearest neighbours mostly share a label
    d = ((m.xy[:300, None] - m.xy[None]) ** 2).sum(-1)
    d[np.arange(300), np.arange(300)] = np.inf
    agree = (m.latents.labels[d.argmin(1)] == m.latents.labels[:300]).mean()
    assert agree > 0.5


def test_decoded_grid_over_the_plane(make_window, qtbot):
    w = make_window()
    entry = select(w, qtbot, "digits-vae2d")
    m = w.map
    m.grid_n.setValue(5)
    with qtbot.waitSignal(m.ready, timeout=180000):
        m.mode.setCurrentIndex(1)
    qtbot.waitUntil(lambda: not m.busy(), timeout=180000)
    img = m.grid_item.image
    gap = 1
    assert img.shape == (5 * (8 + gap), 5 * (8 + gap))
    # the top-left cell (drawn at the bottom-left of the flipped image) is decode of (-e, +e)
    e = m.extent.value()
    want = entry.model.decode(torch.tensor([[-e, e]], dtype=torch.float32))[0, 0].numpy()
    cell = img[::-1][:8, :8]
    assert np.allclose(cell, want, atol=1e-6)


def test_interpolation_endpoints_equal_the_anchors(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-vae16")
    ed = w.editor.interp
    a, b = np.linspace(-1, 1, 16).astype(np.float32), np.linspace(2, 0, 16).astype(np.float32)
    w.latent.set_z(a)
    ed.btn_a.click()
    w.latent.set_z(b)
    ed.btn_b.click()
    for mode in ("lerp", "slerp"):
        ed.mode.setCurrentText(mode)
        ed.step.setValue(ed.step.maximum())
        assert np.allclose(w.latent.z, b, atol=1e-6)
        ed.step.setValue(0)
        assert np.allclose(w.latent.z, a, atol=1e-6)
    assert w.latent.path.shape == (16, 16)
    ed.step.setValue(7)
    mid = w.latent.z.copy()
    assert not np.allclose(mid, a) and not np.allclose(mid, b)


def test_randomise_is_seeded_and_reset_returns_to_zero(make_window, qtbot):
    w = make_window()
    entry = select(w, qtbot, "digits-vae16")
    w.editor.seed_box.setValue(42)
    w.editor.randomise()
    expected = entry.model.prior(1, torch.Generator().manual_seed(42))[0].numpy()
    assert np.allclose(w.latent.z, expected) and w.editor.seed_box.value() == 43
    w.editor.reset()
    assert not w.latent.z.any()


def test_encode_an_image_file(make_window, qtbot, tmp_path):
    from latent_explorer.models.data import load_dataset

    w = make_window()
    entry = select(w, qtbot, "digits-vae2d")
    x = load_dataset("digits").images[5]
    Image.fromarray((x[0] * 255).round().astype(np.uint8)).save(tmp_path / "d.png")
    assert w.editor.encode_file(str(tmp_path / "d.png"))
    with torch.no_grad():
        want = entry.model.encode(torch.from_numpy(np.round(x * 255)[None] / 255).float())[0].numpy()
    assert np.allclose(w.latent.z, want, atol=1e-5)
    (tmp_path / "bad.png").write_bytes(b"nope")
    msgs = []
    w.editor.message.connect(msgs.append)
    assert not w.editor.encode_file(str(tmp_path / "bad.png")) and "readable" in msgs[-1]


def test_gan_map_of_sampled_latents_and_pca_directions(make_window, qtbot):
    w = make_window()
    select(w, qtbot, "digits-gan")
    assert w.map.latents.source == "sampled" and w.map.projection.method == "pca"
    assert not w.editor.btn_encode.isEnabled()
    with qtbot.waitSignal(w.editor.dirs.ready, timeout=180000):
        w.editor.tabs.setCurrentIndex(1)
    assert len(w.editor.dirs.rows) == 10
    base = w.latent.z.copy()
    w.editor.dirs.rows[0].slider.setValue(200)
    assert np.allclose(w.latent.z, base + 2.0 * w.editor.dirs.directions[0], atol=1e-5)


def test_exports(make_window, qtbot, tmp_path):
    w = make_window()
    select(w, qtbot, "digits-vae2d")
    w.editor.export_png(str(tmp_path / "a.png"))
    assert Image.open(tmp_path / "a.png").size == (256, 256)
    w.editor.interp.steps.setValue(6)  # a traversal of as many frames as the Steps box says
    w.editor.export_gif(str(tmp_path / "t.gif"))
    assert Image.open(tmp_path / "t.gif").n_frames == 10  # there and back


def test_bad_files_show_a_message_and_change_nothing(make_window, qtbot, tmp_path):
    w = make_window()
    before = list(w.library.entries)
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 100)
    torch.save({"a": 1}, tmp_path / "m.pth")
    for name, msg in (("junk.safetensors", "header"), ("m.pth", "refused"), ("nothing.safetensors", "no such")):
        with qtbot.waitSignal(w.errorShown, timeout=180000) as sig:
            assert not w.open_path(str(tmp_path / name))
        assert msg in sig.args[0]
    assert w.library.entries == before


def test_layout_recent_files_and_last_model_are_restored(make_window, qtbot, tmp_path):
    import shutil

    w = make_window()
    copy = tmp_path / "mine.safetensors"
    shutil.copy(ROOT / "assets" / "digits-vae16.safetensors", copy)
    assert w.open_path(str(copy))
    w.show_view("editor")
    w.close()
    w2 = make_window()
    assert w2.library.current is not None and w2.library.current.name == "mine"
    assert w2.current_view() is w2.editor
    assert w2._recent()[0] == str(copy.resolve())


def test_models_opened_or_trained_before_are_listed_again_after_a_restart(make_window, qtbot, tmp_path):
    """Open Recent's checkpoints join the list at start, from their headers (nothing read until one is chosen);
    one deleted since is left out, the last model is still the one chosen."""
    import shutil

    w = make_window(load_bundled=False)
    files = [tmp_path / f"{name}.safetensors" for name in ("first", "gone", "last")]
    for f in files:
        shutil.copy(ROOT / "assets" / "digits-vae2d.safetensors", f)
        assert w.open_path(str(f)), w.last_error
    w._remember(str(tmp_path))  # a folder in Open Recent: not a model to list
    w.close()
    files[1].unlink()
    w2 = make_window(load_bundled=False)
    assert sorted(e.name for e in w2.library.entries) == ["first", "last"]
    assert w2.library.current.name == "last"
    first = w2.library.find(str(files[0]))
    assert first is not None and not first.loaded and not first.broken  # listed from its header
    assert [a.text() for a in w2.recent_menu.actions()][:2] == [tmp_path.name, "last.safetensors"]


def test_screenshot_command(tmp_path):
    out = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "LATENT_EXPLORER_SETTINGS": str(tmp_path / "s.ini"),
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--open", str(ROOT / "assets/digits-vae2d.safetensors"),
                        "--view", "map", "--screenshot", str(out), "--size", "1024x700"], env=env,
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    im = Image.open(out)
    assert im.size == (1024, 700)
    colours = {tuple(c) for c in np.asarray(im.convert("RGB"))[::4, ::4].reshape(-1, 3)}
    assert len(colours) > 12  # points in several class colours, not a blank window


def test_a_model_named_on_the_command_line_opens(tmp_path):
    """``latent-explorer MODEL`` opens it (as --open); a mistyped command is said so, not opened as a file."""
    out = tmp_path / "shot.png"
    env = {"QT_QPA_PLATFORM": "offscreen", "LATENT_EXPLORER_SETTINGS": str(tmp_path / "s.ini"),
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), str(ROOT / "assets/digits-vae2d.safetensors"),
                        "--no-bundled", "--screenshot", str(out)], env=env, capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0 and out.exists(), r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "trian", "--epochs", "3"], env=env,
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "no command or file 'trian' (commands: train," in r.stderr
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), str(tmp_path / "gone.safetensors"), "--screenshot",
                        str(out)], env=env, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and "no such file" in r.stderr


def test_drag_and_drop_checkpoints_and_images(make_window, qtbot, tmp_path):
    import shutil

    from PySide6.QtCore import QMimeData, QPointF, QUrl
    from PySide6.QtGui import QDropEvent

    from latent_explorer.models.data import load_dataset

    w = make_window(load_bundled=False)
    ck = tmp_path / "dropped.safetensors"
    shutil.copy(ROOT / "assets" / "digits-vae2d.safetensors", ck)
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    img = tmp_path / "digit.png"
    Image.fromarray((load_dataset("digits").images[7, 0] * 255).astype(np.uint8)).save(img)

    def drop(*paths):
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
        ev = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                        Qt.KeyboardModifier.NoModifier)
        w.dropEvent(ev)

    drop(ck, tmp_path / "bad.safetensors")
    assert [e.name for e in w.library.entries] == ["dropped"] and w.library.current.name == "dropped"
    assert "a text file, not a model" in w.last_error  # the bad file got its message; the good one opened
    qtbot.waitUntil(lambda: w.editor.is_ready(), timeout=180000)
    before = w.latent.z.copy()
    drop(img)  # an image goes to the editor and is encoded
    assert w.current_view() is w.editor and not np.array_equal(w.latent.z, before)


def test_progress_bar_redraws_at_most_10_hz_and_always_ends_on_the_newest_value(qtbot):
    from latent_explorer.widgets import ProgressLine

    line = ProgressLine(hide_when_idle=False)
    qtbot.addWidget(line)
    line.start("job")
    line.update_fraction(0.10)
    assert line.bar.value() == 100  # the first value at once
    for f, eta in ((0.11, 9.0), (0.12, 8.0), (0.13, 7.0)):  # sooner than the interval: held back
        line.update_fraction(f, eta=eta)
    assert line.bar.value() == 100
    qtbot.waitUntil(lambda: line.bar.value() == 130, timeout=180000)  # the newest, once the interval is up
    assert "ETA 0:07" in line.bar.format()
    line.update_fraction(1.0)  # the end is never held back
    assert line.bar.value() == 1000


@pytest.mark.slow
def test_umap_cancels_at_once_then_fits_and_places_new_latents(make_window, qtbot):
    """UMAP runs in a child process (Cancel ends it at once); once fitted, the current z and a path are
    placed on it by its transform, in workers."""
    from latent_explorer.models.analysis.embedding import knn_label_accuracy

    w = make_window()
    select(w, qtbot, "digits-vae16")
    m = w.map
    m.run_umap()
    assert m.busy()
    m._user_cancel()
    qtbot.waitUntil(lambda: not m.busy(), timeout=60000)
    assert "umap" not in m.projection.maps and m.projection.method == "pca"
    with qtbot.waitSignal(m.ready, timeout=300000):
        m.run_umap()
    assert m.projection.method == "umap" and m.proj.currentData() == "umap"
    assert m.xy.shape == (len(m.latents.z), 2) and m.plot.getAxis("bottom").labelText == "UMAP 1"
    assert knn_label_accuracy(m.xy, m.latents.labels) > 0.5
    assert not m.grid_n.isEnabled()  # no plane of latents to decode over
    # the clicked point is marked where it is drawn; another z is placed by the fitted map's transform
    m.select(3)
    assert np.allclose(m.marker.data["x"][0], m.xy[3, 0])
    z = m.latents.z[10] + 0.01
    w.latent.set_z(z)
    qtbot.waitUntil(lambda: not m.busy(), timeout=120000)
    want = m.projection.maps["umap"].place(z)[0]
    assert np.allclose([m.marker.data["x"][0], m.marker.data["y"][0]], want, atol=1e-3)
    w.latent.set_path(m.latents.z[:4])
    qtbot.waitUntil(lambda: not m.busy() and m.path_item.xData is not None, timeout=120000)
    assert len(m.path_item.xData) == 4
    # t-SNE beside it: both are offered, each with its own points
    with qtbot.waitSignal(m.ready, timeout=300000):
        m.run_tsne()
    assert [m.proj.itemData(i) for i in range(m.proj.count())] == ["pca", "dims", "tsne", "umap"]
    m.proj.setCurrentIndex(m.proj.findData("umap"))
    assert np.array_equal(m.xy, m.projection.maps["umap"].xy) and w.last_error is None
