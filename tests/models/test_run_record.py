"""A training run's record per epoch (models/training/run_record.py): encodings of a fixed held-out subset (the map's
training movie) and the class histogram of samples (mode collapse as it happens)."""

import numpy as np
import pytest

from latent_explorer.models import CheckpointError, ImageData, load, load_dataset
from latent_explorer.models.analysis.quality import class_coverage
from latent_explorer.models.training.run_record import RECORD_N, load_record, record_of, record_path, save_record

from .helpers import run, tiny_data, tiny_model


def test_an_encoder_run_keeps_its_subset_encoded_after_every_epoch(tmp_path):
    data = tiny_data(120)
    model = tiny_model("vae")
    out = tmp_path / "v.safetensors"
    run(model, data, out=str(out), epochs=3, record_n=7)
    meta = load(out).meta
    assert meta["training"]["record"] == "v.record.safetensors"
    rec = record_of(load(out))
    assert rec.epochs == [1, 2, 3] and rec.has_movie
    assert all(z.shape == (7, 4) for z in rec.z)
    assert not np.allclose(rec.z[0], rec.z[-1])  # the encoder learnt between epochs
    _, val = data.split(0.1, "stratified")
    assert rec.labels.tolist() == val.labels[:7].tolist()
    # the last epoch's encodings are what the trained model says of those images
    z = load(out).encode(__import__("torch").from_numpy(val.images[:7])).detach().numpy()
    np.testing.assert_allclose(rec.z[-1], z, atol=1e-5)


def test_a_gan_run_records_the_class_histogram_of_its_samples_each_epoch(tmp_path):
    full = load_dataset("mnist")  # the bundled mnist classifier sorts the samples
    data = ImageData(full.images[:600], full.labels[:600], full.class_names, "mnist")
    model = tiny_model("gan", shape=(1, 28, 28), classes=10)
    out = tmp_path / "g.safetensors"
    run(model, data, out=str(out), epochs=2, batch_size=64, record_n=200)
    history = load(out).meta["training"]["history"]
    rec = load_record(record_path(out))
    assert rec.epochs == [1, 2] and not rec.has_movie and len(rec.samples) == 2
    assert rec.samples[0].shape == (16, 1, 28, 28)
    for h, hist, cov in zip(history, rec.histograms, rec.coverage):
        assert h["class_histogram"] == hist and sum(hist.values()) == 200 and h["class_coverage"] == cov
    _, val = data.split(0.1, "stratified")
    shares = rec.shares()
    assert shares.shape == (2, 10) and np.allclose(shares.sum(1), 1)
    assert 0 <= rec.coverage[-1] <= 1
    counts = np.array(list(rec.histograms[-1].values()))
    assert rec.coverage[-1] == pytest.approx(class_coverage(counts, np.full(10, 0.1)), abs=0.11)


def test_without_a_classifier_at_hand_the_record_says_why(tmp_path):
    model = tiny_model("gan")
    out = tmp_path / "g.safetensors"
    run(model, tiny_data(80), out=str(out), epochs=1)
    rec = load_record(record_path(out))
    assert not rec.has_classes and "Quality view" in rec.why_no_classes
    assert "class_histogram" not in load(out).meta["training"]["history"][0]


def test_no_record_when_asked_for_none_or_no_file(tmp_path):
    out = tmp_path / "v.safetensors"
    run(tiny_model("vae"), tiny_data(80), out=str(out), epochs=1, record_n=0)
    assert not record_path(out).exists() and "record" not in load(out).meta["training"]
    assert record_of(load(out)) is None
    assert RECORD_N == 500


def test_a_damaged_or_foreign_record_is_refused_with_a_reason(tmp_path):
    out = tmp_path / "v.safetensors"
    run(tiny_model("vae"), tiny_data(80), out=str(out), epochs=2, record_n=5)
    rec = load_record(record_path(out))
    rec.z[1] = rec.z[1][:3]  # epochs that disagree
    save_record(rec, tmp_path / "bad.record.safetensors")
    with pytest.raises(CheckpointError, match="differ in shape"):
        load_record(tmp_path / "bad.record.safetensors")
    with pytest.raises(CheckpointError, match="not a training run's record"):
        load_record(out)  # a checkpoint is not a record
    with pytest.raises(CheckpointError):
        load(record_path(out))  # nor a record a model
