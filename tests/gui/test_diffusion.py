import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from latent_explorer.models import TrainConfig, save, train
from latent_explorer.models.display import signed_to_unit, to_display
from latent_explorer.models.sampling.trajectory import FRAME_DTYPE
from tests.models.helpers import tiny_data, tiny_model

from .conftest import choose


@pytest.fixture
def ddpm_file(tmp_path):
    model = tiny_model("ddpm", timesteps=30)
    for _ in train(model, tiny_data(), TrainConfig(epochs=1, batch_size=16, max_steps=2)):
        pass
    return save(model, tmp_path / "tiny-ddpm.safetensors", data={"spec": "digits"}), model


@pytest.fixture
def view(make_window, qtbot, ddpm_file):
    w = make_window(load_bundled=False)
    assert w.open_path(str(ddpm_file[0]))
    w.show_view("diffusion")
    return w.diffusion


def _run(view, qtbot, sampler="DDPM", steps=None, n=4, seed=3):
    view.sampler.setCurrentText(sampler)
    if steps:
        view.steps.setValue(steps)
    view.n.setValue(n)
    view.seed.setValue(seed)
    with qtbot.waitSignal(view.ready, timeout=180000):
        view.run_reverse()
    qtbot.waitUntil(lambda: not view.busy(), timeout=180000)
    return view.trajectory


def test_forward_frame_is_add_noise(view, qtbot):
    model, fwd = view.model, view.forward
    img = np.random.default_rng(0).random(model.image_shape).astype(np.float32)
    fwd.set_image(img, noise_seed=5)
    fwd.t_slider.setValue(17)
    x0 = torch.from_numpy(img[None]) * 2 - 1
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(5))
    scale = view.value_scale
    want = to_display(signed_to_unit(view.scheduler.add_noise(x0, eps, 17)[0].numpy(), scale))
    np.testing.assert_allclose(fwd.fwd_xt.data, want, rtol=0, atol=1e-6)
    fwd.t_slider.setValue(-1)
    assert np.allclose(fwd.fwd_xt.data, to_display(signed_to_unit(img * 2 - 1, scale)), atol=1e-6)


def _same_frame(frame, x):
    """A recorded float16 frame is ``x``: values a float32 step apart may round to neighbouring float16 values
    (2⁻¹⁰ relative)."""
    assert frame.dtype == FRAME_DTYPE
    np.testing.assert_allclose(frame.astype(np.float32), x.numpy(), rtol=2**-10, atol=1e-6)


def test_reverse_trajectory_equals_the_hand_written_step_loop(view, qtbot):
    tr = _run(view, qtbot, "DDPM", n=3, seed=7)
    model = view.model
    assert len(tr) == 31 and tr.x.dtype == FRAME_DTYPE
    sched = model.scheduler.__class__(model.config.timesteps, model.config.schedule)
    sched.set_timesteps(None, "ddpm")
    g = torch.Generator().manual_seed(7)
    y = torch.arange(3) % model.num_classes  # "mixed" classes
    x = torch.randn(3, *model.image_shape, generator=g)
    _same_frame(tr.x[0], x)
    with torch.no_grad():
        for k, t in enumerate(range(29, -1, -1)):
            eps = model.ema(x, torch.full((3,), t), y)
            out = sched.step(eps, t, x, generator=g)
            x = out.prev_sample
            _same_frame(tr.x[k + 1], x)
            _same_frame(tr.x0[k], out.pred_original_sample)


def test_ddim_with_k_steps_records_k_plus_one_frames(view, qtbot):
    tr = _run(view, qtbot, "DDIM", steps=6)
    assert len(tr) == 7 and tr.timesteps.tolist() == [25, 20, 15, 10, 5, 0, -1]
    assert view.frame.maximum() == 6


def test_scrubbing_and_keys_move_the_frame(view, qtbot):
    _run(view, qtbot, "DDPM")
    shown = []
    view.frameShown.connect(shown.append)
    view.frame.setFocus()
    qtbot.keyClick(view.frame, Qt.Key.Key_Right)
    assert view.frame.value() == 1
    qtbot.keyClick(view.frame, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert view.frame.value() == 11
    qtbot.keyClick(view.frame, Qt.Key.Key_Left)
    assert view.frame.value() == 10
    qtbot.keyClick(view.frame, Qt.Key.Key_End)
    assert view.frame.value() == 30
    qtbot.keyClick(view.frame, Qt.Key.Key_Home)
    assert view.frame.value() == 0
    view.frame.setValue(12)
    assert shown[-1] == 12
    x_grid = view.frame_images(12)[0]
    assert np.array_equal(view.rev_x.data, x_grid)
    qtbot.keyClick(view.frame, Qt.Key.Key_Space)
    assert view.btn_play.isChecked()
    qtbot.waitUntil(lambda: not view.btn_play.isChecked(), timeout=180000)  # plays to the end, then stops
    assert view.frame.value() == 30


def test_cancel_leaves_the_view_usable(make_window, qtbot):
    w = make_window()
    if not any(e.name == "digits-ddpm" for e in w.library.entries):
        pytest.skip("bundled DDPM missing")
    choose(w, qtbot, next(e for e in w.library.entries if e.name == "digits-ddpm"))
    w.show_view("diffusion")
    v = w.diffusion
    v.sampler.setCurrentText("DDPM")
    v.run_reverse()
    qtbot.waitUntil(lambda: v.progress.bar.value() > 0, timeout=180000)
    v.cancel()
    qtbot.waitUntil(lambda: not v.busy(), timeout=180000)
    assert v.trajectory is None and v.btn_run.isEnabled()
    tr = _run(v, qtbot, "DDIM", steps=5)
    assert len(tr) == 6


def test_exports(view, qtbot, tmp_path):
    from PIL import Image

    _run(view, qtbot, "DDIM", steps=10)
    view.export_gif(str(tmp_path / "a.gif"))
    view.export_strip(str(tmp_path / "a.png"))
    assert Image.open(tmp_path / "a.gif").n_frames >= 11
    assert Image.open(tmp_path / "a.png").size[0] > Image.open(tmp_path / "a.png").size[1]
    from latent_explorer.models.io.images import video_formats

    if ".mp4" in video_formats():  # the same frames as a video
        import av

        view.export_gif(str(tmp_path / "a.mp4"))
        with av.open(str(tmp_path / "a.mp4")) as box:
            assert sum(1 for _ in box.decode(video=0)) == Image.open(tmp_path / "a.gif").n_frames + 10


def test_non_diffusion_models_show_a_hint(make_window, qtbot):
    w = make_window()
    w.show_view("diffusion")
    assert w.diffusion.model is None and not w.diffusion.body.isVisible()
