"""The built-in datasets of issue I: real MNIST shipped in the project, and the generated ``scenes``."""

import numpy as np
import pytest

from latent_explorer.models.data import DataError, load_dataset, scenes


def test_mnist_is_built_in_and_offline(mnist_dir):
    d = load_dataset("mnist")
    assert d.images.shape == (10000, 1, 28, 28) and d.images.dtype == np.float32
    assert d.class_names == [str(i) for i in range(10)] and np.bincount(d.labels).min() > 800
    shared = load_dataset(str(mnist_dir))  # the same images as the shared copy
    assert np.array_equal(d.images, shared.images) and np.array_equal(d.labels, shared.labels)


def test_mnist_ships_with_its_attribution():
    from latent_explorer.models.data.builtin import MNIST_DIR

    text = (MNIST_DIR / "README.md").read_text()
    assert "LeCun" in text and "Cortes" in text and "Burges" in text and "CC BY-SA 3.0" in text


def test_scenes_are_deterministic_and_every_factor_is_kept():
    a, b = load_dataset("scenes:200:seed=3"), load_dataset("scenes:200:seed=3")
    assert np.array_equal(a.images, b.images) and a.captions == b.captions
    assert not np.array_equal(a.images, load_dataset("scenes:200:seed=4").images)
    assert a.images.shape == (200, 3, 32, 32) and 0 <= a.images.min() and a.images.max() <= 1
    assert a.factor_names == ["shape", "colour", "size", "position", "background"]
    assert a.factors.shape == (200, 5) and np.array_equal(a.labels, a.factors[:, 0])
    assert a.class_names == scenes.SHAPES and a.factor_classes["position"][4] == "center"
    assert len(load_dataset("scenes").images) == 20000


def test_a_caption_says_what_is_drawn():
    d = load_dataset("scenes:300:seed=1")
    bg = np.array(list(scenes.BACKGROUNDS.values()), np.float32) / 255
    col = np.array(list(scenes.COLOURS.values()), np.float32) / 255
    cell = 32 / 3
    for i in range(300):
        shape, colour, size, position, background = d.factors[i]
        words = [d.factor_classes[n][v] for n, v in zip(d.factor_names, d.factors[i])]
        assert d.captions[i] == (f"a {words[2]} {words[1]} {words[0]} at the {words[3]} on a {words[4]} background")
        img = d.images[i]
        assert np.allclose(img[:, 0, 0] if position != 0 else img[:, -1, -1], bg[background], atol=1e-6)
        cy, cx = int((position // 3 + 0.5) * cell), int((position % 3 + 0.5) * cell)
        assert np.allclose(img[:, cy, cx], col[colour], atol=0.02)  # the object's centre has its colour


def test_large_objects_cover_more_pixels_and_the_object_sits_in_its_cell():
    d = load_dataset("scenes:600:seed=2")
    bg = np.array(list(scenes.BACKGROUNDS.values()), np.float32)[d.factors[:, 4]] / 255
    covered = np.abs(d.images - bg[:, :, None, None]).sum(1) > 0.05  # (N, H, W)
    area = covered.sum((1, 2))
    small, large = area[d.factors[:, 2] == 0], area[d.factors[:, 2] == 1]
    assert large.mean() > 1.8 * small.mean()
    rows, cols = covered.any(2), covered.any(1)
    for i in range(600):
        pos = d.factors[i, 3]
        ys, xs = np.flatnonzero(rows[i]), np.flatnonzero(cols[i])
        assert ys.min() >= (pos // 3) * 32 // 3 - 1 and ys.max() <= (pos // 3 + 1) * 32 // 3 + 1
        assert xs.min() >= (pos % 3) * 32 // 3 - 1 and xs.max() <= (pos % 3 + 1) * 32 // 3 + 1


def test_two_object_scenes():
    d = load_dataset("scenes:100:objects=2")
    assert d.factor_names == ["shape1", "colour1", "size1", "position1", "shape2", "colour2", "size2", "position2",
                              "background"]
    assert (d.factors[:, 3] != d.factors[:, 7]).all()  # two different cells
    assert all(" and a " in c for c in d.captions)


@pytest.mark.parametrize("spec, msg", [("scenes:x", "expected scenes"), ("scenes:0", "between 1 and 200000"),
                                       ("scenes:10:objects=3", "objects must be 1 or 2"),
                                       ("scenes:10:colour=red", "expected scenes")])
def test_bad_scene_specs(spec, msg):
    with pytest.raises(DataError, match=msg):
        load_dataset(spec)


def test_a_subset_keeps_the_captions():
    d = load_dataset("scenes:50")
    s = d.subset(np.array([3, 7]))
    assert s.captions == [d.captions[3], d.captions[7]] and np.array_equal(s.factors, d.factors[[3, 7]])
    train, val = d.split(0.1, "tail")
    assert len(train.captions) == 45 and val.captions == d.captions[45:]
    _, held = d.split_indices(0.1)
    assert d.split(0.1)[1].captions == [d.captions[i] for i in held]


def test_two_threads_first_importing_scikit_learn_at_once_both_finish():
    """Two jobs reading `digits` at once (the map and the Inspect view on a model switch) each import
    scikit-learn for the first time; unguarded, Python's import locks could deadlock them
    (models/lazy.py)."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import threading, sys\n"
            "from latent_explorer.models.data import load_dataset\n"
            "from latent_explorer.models.analysis.diagnostics import anomaly_job\n"
            "from latent_explorer.models.lazy import lazy_import\n"
            "done = []\n"
            "def a(): load_dataset('digits'); done.append('a')\n"
            "def b(): lazy_import('sklearn.metrics'); load_dataset('digits'); done.append('b')\n"
            "ts = [threading.Thread(target=f, daemon=True) for f in (a, b)]\n"
            "[t.start() for t in ts]; [t.join(120) for t in ts]\n"
            "print(sorted(done)); sys.exit(0 if sorted(done) == ['a', 'b'] else 1)\n")
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
