"""A StyleGAN in the Latent Editor (issue R): the space switch carries the code from Z to W to W+ (one row of
sliders per layer, grouped coarse / middle / fine), the Layers tab shows a layer's channels as the sliders
move, ψ truncates, and back in Z the editor says it starts from 0."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from latent_explorer.models import save


@pytest.fixture(scope="module")
def stylegan_file(tmp_path_factory):
    from tests.models.helpers import tiny_model

    path = tmp_path_factory.mktemp("sg") / "sg.safetensors"
    save(tiny_model("stylegan", shape=(3, 16, 16), width=8, mapping_layers=2), path)
    return path


def test_z_w_and_w_plus_in_the_editor(make_window, qtbot, stylegan_file):
    w = make_window(load_bundled=False)
    assert w.open_path(str(stylegan_file)), w.last_error
    w.show_view("editor")
    e = w.editor
    qtbot.waitUntil(e.is_ready, timeout=60000)
    model = w.latent.model
    d, n = model.config.latent_dim, model.num_ws
    assert model.space == "w" and e.style.space.currentData() == "w"  # a StyleGAN opens in W
    assert f"W: {d}-D" in w.models.info.text()  # the sidebar names the space edited
    e.style.space.setCurrentIndex(e.style.space.findData("z"))
    qtbot.waitUntil(lambda: e.is_ready() and model.space == "z", timeout=60000)
    assert e.style.isVisible() and len(e.rows) == d
    said = []
    e.message.connect(said.append)
    e.randomise()
    z = w.latent.z.copy()
    before = e.decoder.decode_now(z, w.latent.label)  # the image of this z, as the panel shows it
    e.style.space.setCurrentIndex(e.style.space.findData("w"))
    qtbot.waitUntil(lambda: e.is_ready() and model.space == "w", timeout=60000)
    assert len(e.rows) == d and model.latent_names()[0] == "w0"
    import torch

    np.testing.assert_allclose(w.latent.z, model.to_w(torch.from_numpy(z[None]))[0].numpy(), atol=1e-5)
    # the same image, now drawn from its w
    np.testing.assert_allclose(e.decoder.decode_now(w.latent.z, w.latent.label), before, atol=1e-4)
    qtbot.waitUntil(lambda: e.panel.data is not None, timeout=60000)
    e.style.space.setCurrentIndex(e.style.space.findData("w+"))
    qtbot.waitUntil(lambda: model.space == "w+" and e.is_ready(), timeout=60000)
    assert len(e.rows) == n * d and len(w.latent.z) == n * d and f"W+: {n * d}-D" in w.models.info.text()
    e.dims.valueChanged.emit(n * d - 1, 2.5)  # a fine layer's dimension moved
    assert w.latent.z[-1] == 2.5 and not np.allclose(e.decoder.decode_now(w.latent.z, 0), before, atol=1e-4)
    # the Layers tab: a layer's channels as feature maps, redrawn when a slider moves
    e.tabs.setCurrentWidget(e.layers)
    assert e.tabs.isTabVisible(e.tabs.indexOf(e.layers)) and e.layers.layer.count() == len(model.synthesis.layers)
    e.layers.layer.setCurrentIndex(2)
    qtbot.waitUntil(lambda: e.layers.panel.data is not None, timeout=10000)
    first = e.layers.panel.data.copy()
    assert "channels" in e.layers.note.text()
    e.dims.valueChanged.emit(3, -2.5)  # a coarse layer's dimension: what layer 2 reads
    qtbot.waitUntil(lambda: not np.allclose(e.layers.panel.data, first), timeout=10000)
    # the Mixing tab: the paper's grid, (3 + 1) × (3 + 1) images, a new crossover redraws it
    e.tabs.setCurrentWidget(e.mixing)
    qtbot.waitUntil(lambda: e.mixing.panel.data is not None, timeout=10000)
    grid = e.mixing.panel.data.copy()
    assert grid.shape[:2] == (4 * 17, 4 * 17)  # 16×16 images and a gap each
    cut = e.mixing.cut  # each crossover names the layers each source gives; the tooltip, the groups
    assert cut.itemText(0) == f"layer 1: A's L0, B's L1–{n - 1}" and cut.itemText(n - 2) == f"layer {n - 1}: " \
        f"A's L0–{n - 2}, B's L{n - 1}"
    assert "Coarse: L0" in cut.toolTip() and "fine: L" in cut.toolTip()
    e.mixing.cut.setCurrentIndex(e.mixing.cut.count() - 1)
    qtbot.waitUntil(lambda: not np.allclose(e.mixing.panel.data, grid), timeout=10000)
    # the Noise tab: with every layer's noise at some strength, where it acts; switched off, nowhere
    for layer in model.synthesis.layers:
        layer.noise_strength.data.fill_(0.5)
    e.tabs.setCurrentWidget(e.noise)
    qtbot.waitUntil(lambda: e.noise.panel.data is not None and e.noise.panel.data.max() > 0.99, timeout=10000)
    shown = e.decoder.decode_now(w.latent.z, 0)
    e.noise.btn_resample.click()
    assert not np.allclose(e.decoder.decode_now(w.latent.z, 0), shown, atol=1e-5)  # other details
    for b in e.noise.boxes:
        b.setChecked(False)
    assert np.allclose(model.noise_spread(w.latent.z, 0).numpy(), 0, atol=1e-6)
    for b in e.noise.boxes:
        b.setChecked(True)
    e.tabs.setCurrentWidget(e.dims)
    shown = w.latent.z.copy()  # a W+ code, its last dimension moved
    centre = np.tile(model.w_avg.numpy(), n)
    e.style.psi.setValue(0.5)
    assert model.psi == 0.5
    # ψ truncates the code shown (halfway to w̄ at every layer), never replaces it; back at 1, it is as it was
    np.testing.assert_allclose(w.latent.z, centre + 0.5 * (shown - centre), atol=1e-5)
    e.style.psi.setValue(1.0)
    np.testing.assert_allclose(w.latent.z, shown, atol=1e-4)
    e.style.psi.setValue(0.5)
    half = w.latent.z.copy()
    e.style.towards.setCurrentIndex(e.style.towards.findData("modes"))  # multi-modal truncation
    assert model.towards == "modes" and model.psi == 0.5
    assert not np.allclose(w.latent.z, half, atol=1e-3)  # halfway to each layer's nearest mode instead
    e.style.towards.setCurrentIndex(e.style.towards.findData("mean"))
    assert model.towards == "mean"
    np.testing.assert_allclose(w.latent.z, half, atol=1e-4)
    # ψ above 1 towards the modes and back, and ψ = 0 and back: the code this row drew, kept exactly
    e.style.towards.setCurrentIndex(e.style.towards.findData("modes"))
    for psi in (1.8, 0.0, 1.0):
        e.style.psi.setValue(psi)
    np.testing.assert_allclose(w.latent.z, shown, atol=1e-4)
    e.style.towards.setCurrentIndex(e.style.towards.findData("mean"))
    e.style.psi.setValue(0.5)
    e.style.space.setCurrentIndex(e.style.space.findData("z"))
    qtbot.waitUntil(lambda: model.space == "z" and e.is_ready(), timeout=60000)
    assert np.allclose(w.latent.z, 0) and any("no inverse" in m for m in said)
    QTest.keyClick(e, Qt.Key.Key_R)
    assert w.last_error is None


@pytest.fixture(scope="module")
def trained_stylegan(tmp_path_factory):
    """A StyleGAN that has taken a step on 1,200 scenes: its checkpoint names the data Inspect reads."""
    from latent_explorer.models import build_model, load_dataset, make_config
    from tests.models.helpers import run

    path = tmp_path_factory.mktemp("sgt") / "sg.safetensors"
    data = load_dataset("scenes:1200")
    model = build_model(make_config("stylegan", data.shape, 8, data.class_names, data=data, width=8,
                                    mapping_layers=2))
    run(model, data, out=str(path), batch_size=16, max_steps=1, record_n=0)
    return path


def test_inspect_measures_the_styles_and_the_mixing_tab_says_what_each_crossover_takes(
        make_window, qtbot, trained_stylegan, stylegan_file):
    w = make_window(load_bundled=False)
    assert w.open_path(str(trained_stylegan)), w.last_error
    w.show_view("inspect")
    i = w.inspect
    styles = i.pages.indexOf(i.styles)
    assert i.pages.isTabEnabled(styles)
    i.pages.setCurrentWidget(i.styles)
    i.styles.n.lineEdit().selectAll()
    QTest.keyClicks(i.styles.n, "100")  # typed, as a user sets it
    assert i.styles.n.value() == 100
    qtbot.waitUntil(lambda: i.styles.button.isEnabled(), timeout=60000)
    QTest.keyClick(i, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # the page's shortcut
    qtbot.waitUntil(lambda: w.latent.style_report is not None, timeout=300000)
    report = w.latent.style_report
    assert i.styles.ppl.rowCount() == 2 and i.styles.truncation.rowCount() == 6
    assert i.styles.truncation.columnCount() == 7 and "towards the nearest mode" in i.styles.text.text()
    assert i.styles.mixing.rowCount() == len(report.mixing.cuts) and "PPL in W" in i.styles.text.text()
    assert i.styles.mixing.horizontalHeaderItem(1).text() == "shape"  # the label head, named as the data's factor
    w.show_view("editor")
    mixing = w.editor.mixing
    assert "Measured" in mixing.cut.toolTip() and "layers from A" in mixing.cut.toolTip()
    assert "% A /" in mixing.cut.itemData(0, Qt.ItemDataRole.ToolTipRole)
    # the two points picked on the map as the sources: first a hint, then their grid (A, B and the mix)
    w.editor.tabs.setCurrentWidget(mixing)
    mixing.source.setCurrentIndex(mixing.source.findData("anchors"))
    qtbot.waitUntil(lambda: "Pick A and B" in mixing.note.text(), timeout=10000)
    assert mixing.panel.data is None and not mixing.count.isEnabled()
    rng = np.random.default_rng(0)
    d = w.latent.model.latent_dim
    w.latent.set_anchor("A", rng.standard_normal(d).astype(np.float32))
    w.latent.set_anchor("B", rng.standard_normal(d).astype(np.float32))
    qtbot.waitUntil(lambda: mixing.panel.data is not None, timeout=10000)
    assert mixing.panel.data.shape[:2] == (2 * 33, 2 * 33) and "point A" in mixing.note.text()
    # another model while Inspect shows the page: the tables and the shared report are forgotten
    w.show_view("inspect")
    measured = w.latent.model
    assert w.open_path(str(stylegan_file)), w.last_error
    qtbot.waitUntil(lambda: w.latent.model is not None and w.latent.model is not measured, timeout=60000)
    assert w.latent.style_report is None and i.styles.mixing.rowCount() == 0 and i.styles.text.text() == ""
    assert "Measured" not in mixing.cut.toolTip()
    assert w.last_error is None
