import numpy as np
import pytest
import torch

from latent_explorer.models import load
from latent_explorer.training_view import RunSpec
from latent_explorer.worker import live_workers


def _spec(tmp_path, **kw):
    d = dict(kind="vae", data="digits", out=str(tmp_path / "run.safetensors"), epochs=2, batch_size=64, lr=1e-3,
             latent_dim=2, preview_every=0.01)
    d.update(kw)
    return RunSpec(**d)


def _wait_done(qtbot, run, timeout=300000):
    qtbot.waitUntil(lambda: run.status in ("finished", "stopped", "failed") and run.worker is None, timeout=timeout)


def test_a_tiny_run_finishes_and_its_checkpoint_is_listed(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    w.show_view("training")
    v = w.training
    run = v.start(_spec(tmp_path))
    assert run is not None
    _wait_done(qtbot, run)
    assert run.status == "finished" and run.checkpoint == str(tmp_path / "run.safetensors")
    assert set(run.losses) == {"loss", "recon", "kl"} and len(run.steps) > 0
    assert run.preview is not None and run.preview.shape[1:] == (1, 8, 8)
    assert sum("epoch" in line and "held-out" in line for line in run.log) == 2
    model = load(run.checkpoint)
    assert model.meta["training"]["status"] == "finished"
    entry = w.library.find(run.checkpoint)
    assert entry is not None
    w.library.set_current(entry)
    qtbot.waitUntil(lambda: w.map.is_ready() and w.editor.is_ready(), timeout=180000)  # ready to explore
    assert np.isfinite(w.editor.panel.data).all()


def test_runs_queue_and_keep_their_own_curves(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    v = w.training
    a = v.start(_spec(tmp_path, out=str(tmp_path / "a.safetensors"), epochs=1))
    b = v.start(_spec(tmp_path, kind="ae", out=str(tmp_path / "b.safetensors"), epochs=1))
    assert b.status == "queued" and a.status == "running"
    _wait_done(qtbot, a)
    _wait_done(qtbot, b)
    assert a.status == b.status == "finished"
    assert set(a.losses) == {"loss", "recon", "kl"} and set(b.losses) == {"recon"}
    v.runs.setCurrentRow(0)
    assert set(v._curves) == {"loss", "recon", "kl"}
    v.runs.setCurrentRow(1)
    assert set(v._curves) == {"recon"}


def test_stop_mid_run_leaves_a_loadable_checkpoint(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    v = w.training
    run = v.start(_spec(tmp_path, kind="gan", epochs=500, batch_size=32))
    qtbot.waitUntil(lambda: len(run.steps) > 5, timeout=180000)
    v.queue.stop(run)
    _wait_done(qtbot, run)
    assert run.status == "stopped"
    model = load(run.checkpoint)
    assert model.meta["training"]["status"] == "stopped"
    assert w.library.find(run.checkpoint) is not None


def test_pause_and_resume(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    v = w.training
    run = v.start(_spec(tmp_path, epochs=300))
    qtbot.waitUntil(lambda: len(run.steps) > 2, timeout=180000)
    v.btn_pause.setChecked(True)
    assert run.status == "paused"
    qtbot.wait(300)
    n = len(run.steps)
    qtbot.wait(500)
    assert len(run.steps) <= n + 1  # at most the record in flight
    v.btn_pause.setChecked(False)
    assert run.status == "running"
    qtbot.waitUntil(lambda: len(run.steps) > n + 3, timeout=180000)
    v.queue.stop(run)
    _wait_done(qtbot, run)


def test_a_diverging_run_shows_an_error_and_keeps_the_last_good_weights(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    v = w.training
    with qtbot.waitSignal(w.errorShown, timeout=300000) as sig:
        run = v.start(_spec(tmp_path, kind="ae", lr=1e5, epochs=50))
        _wait_done(qtbot, run)
    assert run.status == "failed" and "diverged" in run.error
    assert "diverged" in sig.args[0]
    kept = load(run.checkpoint)  # loads: no NaN/Inf weights
    assert kept.meta["training"]["status"] == "diverged"
    assert all(torch.isfinite(t).all() for t in kept.state_dict().values() if t.is_floating_point())


def test_bad_output_folder_is_refused_with_a_message(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    msgs = []
    w.training.message.connect(msgs.append)
    assert w.training.start(_spec(tmp_path, out=str(tmp_path / "x.txt"))) is None
    assert "safetensors" in msgs[-1]


def test_closing_the_window_mid_run_stops_and_saves(make_window, qtbot, tmp_path):
    w = make_window(load_bundled=False)
    run = w.training.start(_spec(tmp_path, epochs=1000))
    qtbot.waitUntil(lambda: len(run.steps) > 3, timeout=180000)
    w.ask_stop_runs = lambda: False  # the user says "keep training"
    w.close()
    assert w.isVisible() and run.status == "running"
    w.ask_stop_runs = lambda: True
    w.close()
    assert not w.isVisible()
    assert live_workers() == []
    assert load(tmp_path / "run.safetensors").meta["training"]["status"] == "stopped"


@pytest.mark.parametrize("spec, msg", [("/no/such/folder", "no such file"), ("shapes:x", "shapes:N")])
def test_data_preview_reports_bad_data(make_window, qtbot, spec, msg):
    from PySide6.QtCore import Qt

    w = make_window(load_bundled=False)
    w.show_view("training")  # the preview is made once the view is shown
    form = w.training.form
    qtbot.waitUntil(lambda: "1,797 images" in form.data_info.text(), timeout=180000)
    form.data.lineEdit().selectAll()
    qtbot.keyClicks(form.data.lineEdit(), spec)
    assert form.data_info.text() == "Press Enter to check this data" and not form.busy()  # typing loads nothing
    qtbot.keyClick(form.data.lineEdit(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: msg in form.data_info.text(), timeout=180000)
    form.data.lineEdit().selectAll()
    qtbot.keyClicks(form.data.lineEdit(), "digits")
    qtbot.keyClick(form.data.lineEdit(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "1,797 images, 8×8, grayscale, 10 classes" in form.data_info.text(), timeout=180000)


def test_typing_a_path_never_loads_it_and_a_huge_tree_is_refused(make_window, qtbot, tmp_path, monkeypatch):
    """The newcomer's freeze: "/" typed into Data walked the whole disk on the UI thread, per keystroke."""
    from PySide6.QtCore import Qt

    import latent_explorer.models.data
    import latent_explorer.models.data.folders

    calls = []
    real = latent_explorer.models.data.load_dataset
    monkeypatch.setattr(latent_explorer.models.data, "load_dataset",
                        lambda spec, *a, **k: calls.append(spec) or real(spec, *a, **k))
    monkeypatch.setattr(latent_explorer.models.data.folders, "MAX_FOLDER_FILES", 50)
    for i in range(3):
        (tmp_path / f"c{i}").mkdir()
        for j in range(30):
            (tmp_path / f"c{i}" / f"{j}.png").write_bytes(b"x")
    w = make_window(load_bundled=False)
    w.show_view("training")
    form = w.training.form
    qtbot.waitUntil(lambda: not form.busy(), timeout=180000)
    calls.clear()
    form.data.lineEdit().selectAll()
    qtbot.keyClicks(form.data.lineEdit(), str(tmp_path))
    assert calls == []  # one keystroke at a time, nothing was read
    qtbot.keyClick(form.data.lineEdit(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "more than 50 files" in form.data_info.text(), timeout=180000)
    assert calls == [str(tmp_path)] and form.data_info.text().startswith("⚠")


def test_latent_diffusion_parts_are_chosen_as_files(make_window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtTest import QTest

    from latent_explorer import dialogs

    w = make_window(load_bundled=False)
    w.show_view("training")
    form = w.training.form
    form.kind.setCurrentIndex(form.kind.findData("ldm"))
    field = next(f for f in form.fields if f.param.name == "autoencoder")
    assert field.widget.isVisible() and field.widget.button.isVisible()
    chosen = str(tmp_path / "ae.safetensors")
    monkeypatch.setattr(dialogs, "open_file", lambda *a, **k: chosen)
    field.widget.button.click()
    assert field.value() == chosen
    te = next(f for f in form.fields if f.param.name == "text_encoder")
    QTest.keyClicks(te.widget.edit, str(tmp_path / "te.safetensors"))
    assert te.value() == str(tmp_path / "te.safetensors")


def test_the_form_resumes_a_checkpoint_and_says_why_another_cannot_be(make_window, qtbot, tmp_path, monkeypatch):
    """As `train --resume`: a checkpoint chosen in the form sets the kind and the run's settings (those it fixes
    are disabled), the run goes on with its optimizer state, and a file that cannot be resumed says why."""
    from latent_explorer import dialogs
    from latent_explorer.models.cli import main as cli

    first = tmp_path / "first.safetensors"
    assert cli(["train", "--model", "ae", "--data", "digits", "--latent-dim", "2", "--epochs", "1",
                "--batch-size", "32", "--lr", "0.002", "--seed", "7", "--record-n", "0", "--quiet",
                "--out", str(first)]) == 0
    w = make_window(load_bundled=False)
    w.show_view("training")
    form = w.training.form
    assert form.kind.currentData() == "vae" and form.record_n.value() == 500 and form.channels.currentData() is None
    monkeypatch.setattr(dialogs, "open_file", lambda *a, **k: str(first))
    form.resume.button.click()
    assert form.kind.currentData() == "ae" and not form.kind.isEnabled() and not form.latent.isEnabled()
    assert not form.binarise.isEnabled()  # a resumed run goes on with the images it was trained on
    assert (form.batch.value(), form.lr.value(), form.seed.value()) == (32, 0.002, 7)
    assert "1 epoch (" in form.resume_text.text() and "optimizer state" in form.resume_text.text()
    form.out.setText(str(tmp_path / "more.safetensors"))
    form.record_n.setValue(0)
    spec = form.spec()
    assert spec.resume == str(first) and spec.params == {} and spec.latent_dim is None and spec.record_n == 0
    run = w.training.start()
    assert run is not None
    _wait_done(qtbot, run)
    assert run.status == "finished", run.log
    assert any("going on from first.safetensors" in line for line in run.log)
    resumed = load(run.checkpoint).meta["training"]["resumed_from"]
    assert resumed["file"] == "first.safetensors" and resumed["optimizer_state"] == "kept"
    # a file that is not a checkpoint trained here: why, and the form is as the kind has it again
    (tmp_path / "notes.safetensors").write_text("not a model")
    form.resume.setText(str(tmp_path / "notes.safetensors"))
    form.check_resume()
    assert form.resume_text.text().startswith("⚠") and "only a checkpoint trained here" in form.resume_text.text()
    assert form.kind.isEnabled() and form.latent.isEnabled()
    msgs = []
    w.training.message.connect(msgs.append)
    assert w.training.start() is None and "only a checkpoint trained here" in msgs[-1]
    form.resume.setText("")
    assert form.resume_text.text() == "" and form.spec().resume is None
    assert form.binarise.isEnabled() and form.spec().binarise is None
    form.binarise.setChecked(True)  # black and white drawn afresh each step (train --binarise stochastic)
    assert form.spec().binarise == "stochastic"
    form.kind.setCurrentIndex(form.kind.findData("gan"))
    form.resume.setText(str(first))  # typed, Enter not pressed: Start reads it all the same
    assert form.spec().kind == "ae" and form.spec().size == 8 and not form.kind.isEnabled()
