"""Models saved by diffusers open from their folder: a UNet2DModel samples as diffusers' own DDIM pipeline
does, an AutoencoderKL encodes and decodes as diffusers does; what cannot be honoured is refused, one
message each."""

import json
import shutil

import numpy as np
import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from latent_explorer.models import CheckpointError, load  # noqa: E402
from latent_explorer.models.progress import run_to_end  # noqa: E402
from tests.models.diffusers_nets import _unet, _vae  # noqa: E402


@pytest.fixture(scope="module")
def unet_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unet")
    unet, sched = _unet(), diffusers.DDIMScheduler(num_train_timesteps=100)
    unet.save_pretrained(folder)
    sched.save_pretrained(folder)
    return folder, unet, sched


def test_a_unet_samples_as_diffusers_ddim_pipeline_does(unet_folder):
    folder, unet, sched = unet_folder
    model = load(folder)
    assert model.kind == "diffusers-unet" and model.image_shape == (1, 8, 8) and model.config.timesteps == 100
    assert model.capabilities.diffusion and not model.spec.trainable
    pipe = diffusers.DDIMPipeline(unet=unet, scheduler=sched)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(batch_size=3, generator=torch.Generator().manual_seed(4), num_inference_steps=10, eta=0.0,
               output_type="np").images  # (N, H, W, C) in [0, 1]
    x_T = torch.randn((3, 1, 8, 8), generator=torch.Generator().manual_seed(4))  # the pipeline's first draw
    ours = model.denoise(x_T, sampler="ddim", steps=10).permute(0, 2, 3, 1).numpy()
    assert np.abs(ours - ref).max() <= 1e-4
    # a pipeline folder (model_index.json, unet/, scheduler/) and its config.json open the same model
    pipe_dir = folder.parent / "pipe"
    pipe.save_pretrained(pipe_dir)
    for path in (pipe_dir, pipe_dir / "model_index.json", pipe_dir / "unet"):
        again = load(path)
        assert torch.allclose(again.denoise(x_T, sampler="ddim", steps=10), model.denoise(x_T, sampler="ddim",
                                                                                          steps=10))


def test_the_diffusion_recording_runs_on_it(unet_folder):
    from latent_explorer.models.sampling.trajectory import record_reverse

    tr = run_to_end(record_reverse(load(unet_folder[0]), n=2, sampler="ddim", steps=5))
    assert tr.x.shape == (6, 2, 1, 8, 8) and np.isfinite(tr.x.astype(np.float32)).all()


def test_an_autoencoder_kl_encodes_and_decodes_as_diffusers_does(tmp_path):
    vae = _vae()
    vae.save_pretrained(tmp_path)
    model = load(tmp_path)
    assert model.kind == "diffusers-vae" and model.image_shape == (3, 16, 16) and model.latent_dim == 4 * 8 * 8
    assert model.capabilities.encoder and model.capabilities.decodes_z
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want_z = vae.encode(x * 2 - 1).latent_dist.mean * vae.config.scaling_factor
        want_x = ((vae.decode(want_z / vae.config.scaling_factor).sample + 1) / 2).clamp(0, 1)
    z = model.encode(x)
    assert z.shape == (2, 256) and (z - want_z.flatten(1)).abs().max() <= 1e-4
    assert (model.decode(z) - want_x).abs().max() <= 1e-4
    assert model.latent_names()[:2] == ["c0 (0,0)", "c0 (0,1)"]


def test_what_cannot_be_opened_is_refused_with_the_reason(tmp_path, unet_folder):
    def folder_like(name, *drop):
        d = tmp_path / name
        shutil.copytree(unet_folder[0], d)
        for f in drop:
            (d / f).unlink()
        return d

    def config(d, **change):
        cfg = json.loads((d / "config.json").read_text())
        cfg.update(change)
        (d / "config.json").write_text(json.dumps(cfg))

    cases = []
    d = folder_like("no-config", "config.json")
    (d / "notes.txt").write_text("x")
    cases.append((d, "no config.json or model_index.json"))
    d = folder_like("broken")
    (d / "config.json").write_text("{ not json")
    cases.append((d, "config.json: not valid JSON"))
    d = folder_like("cond")
    config(d, _class_name="UNet2DConditionModel")
    cases.append((d, "a UNet2DConditionModel; only UNet2DModel and AutoencoderKL can be opened"))
    d = folder_like("pickle", "diffusion_pytorch_model.safetensors")
    (d / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    cases.append((d, "only pickle weights (diffusion_pytorch_model.bin), which can run code"))
    d = folder_like("shapes")
    config(d, block_out_channels=[12, 16], norm_num_groups=4)
    cases.append((d, "cannot load the UNet2DModel"))
    d = folder_like("no-scheduler", "scheduler_config.json")
    cases.append((d, "no scheduler_config.json"))
    d = folder_like("v-pred")
    s = json.loads((d / "scheduler_config.json").read_text())
    (d / "scheduler_config.json").write_text(json.dumps({**s, "prediction_type": "v_prediction"}))
    cases.append((d, "prediction_type 'v_prediction'"))
    for path, says in cases:
        with pytest.raises(CheckpointError) as e:
            load(path)
        assert says in str(e.value) and "\n" not in str(e.value), (path.name, str(e.value))
