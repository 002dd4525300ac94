"""Mode collapse on purpose (README, "Mode collapse on purpose"): a DCGAN whose generator has no BatchNorm
(Radford et al. 2016, sec. 3: BatchNorm "prevent[s] the generator from collapsing all samples to a single
point") collapses, and the run's record shows it; the same run with BatchNorm keeps its samples apart. The
bundled WGAN-GP covers every class."""

import numpy as np
import pytest
import torch

from latent_explorer.models import ImageData, TrainConfig, build_model, load, load_dataset, make_config, train
from latent_explorer.models.analysis.quality import quality_job
from latent_explorer.models.progress import run_to_end
from latent_explorer.models.training.run_record import load_record, record_path


def _run(tmp_path, norm):
    full = load_dataset("mnist")
    data = ImageData(full.images[:1000], full.labels[:1000], full.class_names, "mnist")
    torch.manual_seed(0)
    m = build_model(make_config("gan", data.shape, 32, data.class_names, width=8, g_norm=norm, data=data))
    out = tmp_path / f"{norm}.safetensors"
    for _ in train(m, data, TrainConfig(epochs=2, batch_size=64, record_n=300), out=str(out)):
        pass
    return load_record(record_path(out))


def test_a_generator_without_batchnorm_collapses_to_one_point_and_the_record_shows_it(tmp_path):
    collapsed, healthy = _run(tmp_path, "none"), _run(tmp_path, "batch")
    assert collapsed.coverage[-1] < 0.5
    assert max(collapsed.histograms[-1].values()) >= 0.9 * 300  # one class takes (nearly) every sample
    spread = [float(np.std(r.samples[-1], axis=0).mean()) for r in (collapsed, healthy)]
    assert spread[0] < 0.02 < 0.05 < spread[1]  # (nearly) one image, against samples that differ


@pytest.mark.parametrize("name", ["mnist-wgan"])
def test_the_bundled_wgan_gp_covers_every_class(name):
    report = run_to_end(quality_job(load(f"assets/{name}.safetensors"), n=1000))
    assert report.figures["class_coverage"] >= 0.9
