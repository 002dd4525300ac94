import gzip
import struct

import numpy as np
import pytest
from PIL import Image

from latent_explorer.models.data import DataError, ImageData, load_dataset, make_shapes


def test_digits_are_the_real_sklearn_digits():
    d = load_dataset("digits")
    assert d.images.shape == (1797, 1, 8, 8) and d.images.dtype == np.float32
    assert 0 <= d.images.min() and d.images.max() <= 1
    assert d.labels.shape == (1797,) and set(d.labels.tolist()) == set(range(10))
    assert d.class_names == [str(i) for i in range(10)]


def test_shapes_are_deterministic_with_factors():
    a, b = make_shapes(300, seed=3), make_shapes(300, seed=3)
    assert np.array_equal(a.images, b.images) and not np.array_equal(a.images, make_shapes(300, seed=4).images)
    assert a.images.shape == (300, 1, 32, 32)
    assert a.factors.shape == (300, 5) and a.factor_names == ["shape", "scale", "rotation", "x", "y"]
    assert np.array_equal(a.labels, a.factors[:, 0].astype(int))
    # bigger shapes cover more pixels
    area = a.images.sum((1, 2, 3))
    assert np.corrcoef(area, a.factors[:, 1])[0, 1] > 0.5
    assert load_dataset("shapes:120").images.shape == (120, 1, 32, 32)


def test_split_holds_out_the_last_ten_percent():
    d = load_dataset("digits")
    tr, va = d.split(0.1, "tail")
    assert len(tr) + len(va) == 1797 and len(va) == 180
    assert np.array_equal(va.images, d.images[-180:]) and np.array_equal(va.labels, d.labels[-180:])
    tr, va = d.split(0.1)  # stratified: the last tenth of each class
    assert len(tr) + len(va) == 1797 and len(va) == 179
    for c in range(10):
        of_c = np.flatnonzero(d.labels == c)
        k = int(round(len(of_c) * 0.1))
        assert np.array_equal(va.images[va.labels == c], d.images[of_c[-k:]])


def _png(path, arr, mode=None):
    Image.fromarray(arr, mode).save(path)


def test_folder_of_class_subfolders_mixed_modes_and_sizes(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "cats").mkdir()
    (tmp_path / "dogs").mkdir()
    _png(tmp_path / "cats" / "a.png", rng.integers(0, 255, (20, 20), dtype=np.uint8))
    _png(tmp_path / "cats" / "b.png", rng.integers(0, 255, (20, 20, 3), dtype=np.uint8))
    _png(tmp_path / "dogs" / "c.png", rng.integers(0, 255, (30, 24, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(tmp_path / "dogs" / "d.jpg")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(tmp_path / "dogs" / "e.bmp")
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "dogs" / "empty.png").write_bytes(b"")
    d = load_dataset(str(tmp_path))
    assert d.images.shape == (5, 3, 20, 20)  # RGB present -> 3 channels; most common size 20
    assert d.class_names == ["cats", "dogs"] and d.labels.tolist() == [0, 0, 1, 1, 1]
    assert len(d.skipped) == 2 and all("readable" in r for _, r in d.skipped)
    g = load_dataset(str(tmp_path), size=16, channels=1)
    assert g.images.shape == (5, 1, 16, 16) and 0 <= g.images.min() and g.images.max() <= 1


def test_flat_folder_has_no_labels(tmp_path):
    for i in range(3):
        _png(tmp_path / f"{i}.png", np.full((10, 10), i * 100, np.uint8))
    d = load_dataset(str(tmp_path))
    assert d.labels is None and d.images.shape == (3, 1, 10, 10)
    assert d.images[2].max() == pytest.approx(200 / 255)


def test_huge_image_is_skipped_not_loaded(tmp_path, monkeypatch):
    import latent_explorer.models.data.folders as md  # the image reader's module

    monkeypatch.setattr(md, "MAX_IMAGE_PIXELS", 1000)
    _png(tmp_path / "big.png", np.zeros((100, 100), np.uint8))
    _png(tmp_path / "ok.png", np.zeros((10, 10), np.uint8))
    d = load_dataset(str(tmp_path))
    assert len(d) == 1 and "too large" in d.skipped[0][1]


def _idx(path, arr, magic_type=0x08, gz=True, count=None):
    dims = arr.shape if count is None else (count, *arr.shape[1:])
    raw = struct.pack(">HBB", 0, magic_type, arr.ndim) + struct.pack(f">{arr.ndim}I", *dims) + arr.tobytes()
    (gzip.open(path, "wb") if gz else open(path, "wb")).write(raw)


def test_idx_files_gz_and_raw(tmp_path):
    imgs = np.arange(5 * 6 * 6, dtype=np.uint8).reshape(5, 6, 6)
    _idx(tmp_path / "x-images-idx3-ubyte.gz", imgs)
    _idx(tmp_path / "x-labels-idx1-ubyte.gz", np.array([0, 1, 2, 1, 0], np.uint8))
    d = load_dataset(str(tmp_path))
    assert d.images.shape == (5, 1, 6, 6) and d.labels.tolist() == [0, 1, 2, 1, 0]
    assert d.images[0, 0, 0, 1] == pytest.approx(1 / 255)
    raw = tmp_path / "raw"
    raw.mkdir()
    _idx(raw / "r-images-idx3-ubyte", imgs, gz=False)
    assert load_dataset(str(raw / "r-images-idx3-ubyte")).labels is None


def test_real_mnist_idx(mnist_dir):
    d = load_dataset(str(mnist_dir))
    assert d.images.shape == (10000, 1, 28, 28) and len(d.class_names) == 10
    tr, va = d.split()
    assert (len(tr), len(va)) == (9000, 1000)


def test_npz_with_and_without_labels(tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "a.npz", images=rng.integers(0, 255, (7, 12, 12, 3), dtype=np.uint8),
             labels=np.array([0, 1, 0, 1, 2, 2, 0]))
    d = load_dataset(str(tmp_path / "a.npz"))
    assert d.images.shape == (7, 3, 12, 12) and d.class_names == ["0", "1", "2"]
    np.savez(tmp_path / "b.npz", images=rng.random((4, 9, 9)).astype(np.float32))
    assert load_dataset(str(tmp_path / "b.npz")).images.shape == (4, 1, 9, 9)


@pytest.mark.parametrize("setup, message", [
    (lambda p: p / "missing", "no such file"),
    (lambda p: (p / "empty").mkdir() or p / "empty", "empty"),
    (lambda p: [(p / "t").mkdir(), (p / "t" / "a.txt").write_text("hi")] and p / "t", "no readable image"),
    (lambda p: [(p / "c").mkdir(), (p / "c" / "z.png").write_bytes(b"")] and p / "c", "no readable image"),
    (lambda p: (p / "f.csv").write_text("1,2") and p / "f.csv", "unknown data format"),
    (lambda p: np.savez(p / "k.npz", pictures=np.zeros((2, 4, 4))) or p / "k.npz", "needs an 'images'"),
    (lambda p: np.savez(p / "s.npz", images=np.zeros((2, 4))) or p / "s.npz", r"must be \(N, H, W\)"),
    (lambda p: np.savez(p / "l.npz", images=np.zeros((2, 4, 4)), labels=np.zeros(3, int)) or p / "l.npz",
     "labels"),
    (lambda p: (p / "bad.npz").write_bytes(b"junk") and p / "bad.npz", "not a readable .npz"),
    (lambda p: _idx(p / "m-images-idx3-ubyte.gz", np.zeros((2, 4, 4), np.uint8), magic_type=0x0D)
     or p / "m-images-idx3-ubyte.gz", "bad magic"),
    (lambda p: _idx(p / "n-images-idx3-ubyte.gz", np.zeros((2, 4, 4), np.uint8), count=5)
     or p / "n-images-idx3-ubyte.gz", "header says"),
])
def test_bad_data_gets_a_clear_message(tmp_path, setup, message):
    spec = setup(tmp_path)
    with pytest.raises(DataError, match=message):
        load_dataset(str(spec))


def test_bad_builtin_specs():
    for spec, msg in [("", "no dataset"), ("shapes:x", "shapes:N"), ("shapes:0", "between")]:
        with pytest.raises(DataError, match=msg):
            load_dataset(spec)


def test_the_held_out_split_takes_a_share_of_every_class():
    """A folder of class subfolders lists its classes one after another: the tail would be one class."""
    labels = np.repeat(np.arange(4), [30, 30, 30, 5])
    d = ImageData(np.zeros((95, 1, 8, 8), np.float32), labels, ["a", "b", "c", "d"], "t")
    train, val = d.split(0.1)
    assert np.bincount(val.labels, minlength=4).tolist() == [3, 3, 3, 1]
    assert len(train) + len(val) == 95 and set(train.labels) == {0, 1, 2, 3}
    tail_train, tail_val = d.split(0.1, "tail")  # checkpoints made before: the data's tail
    assert set(tail_train.labels) == {0, 1, 2} and len(tail_val) == 10  # class d never trained on
    unlabelled = ImageData(np.zeros((20, 1, 8, 8), np.float32))
    assert len(unlabelled.split(0.1)[1]) == 2

