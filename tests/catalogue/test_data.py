"""Data: folders, archives, IDX and NPZ files, images, links and devices given as data.
Rows of the README's 'When things go wrong', one test per row (``test_Fnn_…``); tests/catalogue/test_readme.py
keeps the table and the tests in step."""

import os
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latent_explorer.models import CheckpointError, DataError, load, load_dataset, save
from tests.catalogue.helpers import _address_space_limited, _idx, run_cli
from tests.models.helpers import tiny_model


def test_F14_empty_folder(tmp_path):
    with pytest.raises(DataError, match="the folder is empty"):
        load_dataset(str(tmp_path))


def test_F15_folder_of_non_images(tmp_path):
    for i in range(3):
        (tmp_path / f"notes{i}.txt").write_text("hello")
    with pytest.raises(DataError, match="no readable image \\(3 files skipped: 3 not an image file"):
        load_dataset(str(tmp_path))


def test_F16_corrupt_and_zero_byte_images_are_skipped_and_counted(tmp_path):
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    d = load_dataset(str(tmp_path))
    assert len(d) == 1 and len(d.skipped) == 2
    assert all("not a readable image" in why for _, why in d.skipped)


def test_F17_mixed_gray_rgb_rgba_and_sizes_are_converted(tmp_path):
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((16, 12, 3), np.uint8)).save(tmp_path / "b.png")
    Image.fromarray(np.zeros((10, 10, 4), np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(np.zeros((10, 10), np.uint8)).convert("P").save(tmp_path / "d.bmp")
    d = load_dataset(str(tmp_path))
    assert d.images.shape == (4, 3, 10, 10) and d.images.dtype == np.float32


def test_F18_a_10000_by_10000_image_is_skipped(tmp_path):
    Image.new("L", (10000, 10000)).save(tmp_path / "huge.png", compress_level=1)
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "small.png")
    d = load_dataset(str(tmp_path))
    assert len(d) == 1 and d.skipped[0][1] == "too large (10000x10000 pixels)"


def test_F19_npz_with_the_wrong_keys(tmp_path):
    np.savez(tmp_path / "x.npz", pixels=np.zeros((3, 8, 8)))
    with pytest.raises(DataError, match="needs an 'images' array; it has \\['pixels'\\]"):
        load_dataset(str(tmp_path / "x.npz"))


def test_F20_npz_with_the_wrong_shapes(tmp_path):
    np.savez(tmp_path / "x.npz", images=np.zeros((3, 8, 8, 5)))
    with pytest.raises(DataError, match="'images' must be \\(N, H, W\\) or \\(N, H, W, C\\)"):
        load_dataset(str(tmp_path / "x.npz"))
    np.savez(tmp_path / "y.npz", images=np.zeros((3, 8, 8)), labels=np.zeros(4, int))
    with pytest.raises(DataError, match="'labels' must be N=3 integers"):
        load_dataset(str(tmp_path / "y.npz"))


def test_F21_npz_with_a_pickled_object_array_is_not_unpickled(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    arr = np.empty(2, dtype=object)
    arr[0] = Evil()
    np.savez(tmp_path / "evil.npz", images=arr)
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", tmp_path / "evil.npz", "--out",
                          tmp_path / "o.safetensors")
    assert code == 2 and "not a readable .npz" in lines[-1]
    assert not marker.exists()


def test_F22_idx_with_a_wrong_magic_number(tmp_path):
    _idx(tmp_path / "t-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8), magic_type=0x0B)
    with pytest.raises(DataError, match="bad magic number"):
        load_dataset(str(tmp_path))


def test_F23_idx_with_a_wrong_count(tmp_path):
    _idx(tmp_path / "t-images-idx3-ubyte", np.zeros((2, 4, 4), np.uint8), count=60000)
    with pytest.raises(DataError, match="header says \\(60000, 4, 4\\).*holds 32 bytes"):
        load_dataset(str(tmp_path))


def test_F35_a_conditional_model_on_unlabelled_data(tmp_path, capsys):
    for i in range(20):
        Image.fromarray(np.full((8, 8), i * 10, np.uint8)).save(tmp_path / f"{i}.png")
    code, lines = run_cli(capsys, "train", "--model", "cvae", "--data", tmp_path, "--out", tmp_path / "c.safetensors")
    assert code == 2 and "needs labelled data with at least 2 classes" in lines[0]


def test_F36_a_folder_with_a_whole_disk_under_it(tmp_path, monkeypatch):
    import latent_explorer.models.data.folders

    monkeypatch.setattr(latent_explorer.models.data.folders, "MAX_FOLDER_FILES", 20)  # where the folder reader reads it
    for d in ("a", "b/c"):
        (tmp_path / d).mkdir(parents=True)
        for i in range(15):
            (tmp_path / d / f"{i}.png").write_bytes(b"")
    with pytest.raises(DataError, match="more than 20 files in this folder and its subfolders"):
        load_dataset(str(tmp_path))


def test_F50_a_gzip_bomb_as_idx_data(tmp_path, capsys):
    import gzip as gz

    bomb = tmp_path / "bomb-images-idx3-ubyte.gz"
    header = struct.pack(">HBBIII", 0, 8, 3, 2_000_000, 28, 28)
    with gz.open(bomb, "wb", compresslevel=9) as f:  # 1.5 GB of zeros in a few MB
        f.write(header)
        block = bytes(2**24)
        for _ in range(90):
            f.write(block)
    assert bomb.stat().st_size < 5 * 2**20
    code, err = _address_space_limited(
        "from latent_explorer.models import load_dataset, DataError\n"
        f"try:\n    load_dataset({str(bomb)!r})\nexcept DataError as e:\n    print(e, file=sys.stderr)\n")
    assert code == 0 and "decompresses to more than 512 MB; the limit is 512 MB" in err, err


def test_F51_idx_sizes_that_overflow(tmp_path, capsys):
    p = tmp_path / "x-images-idx3-ubyte"
    p.write_bytes(struct.pack(">HBBIII", 0, 8, 3, 2**32 - 1, 2**32 - 1, 2**32 - 1) + bytes(16))
    with pytest.raises(DataError, match="header says .*79228162458924105385300197375 bytes"):
        load_dataset(str(p))


def test_F52_an_npz_whose_arrays_inflate_beyond_memory(tmp_path):
    p = tmp_path / "zeros.npz"
    np.savez_compressed(p, images=np.zeros((60_000, 64, 64, 1), np.uint8))  # tiny file, 983 MB as floats
    assert p.stat().st_size < 2 * 2**20
    code, err = _address_space_limited(
        "from latent_explorer.models import load_dataset, DataError\n"
        f"try:\n    load_dataset({str(p)!r})\nexcept DataError as e:\n    print(e, file=sys.stderr)\n")
    assert code == 0 and "would take 938 MB in memory as floats; the limit is 512 MB" in err, err


def test_F53_a_fifo_or_device_given_as_a_file(tmp_path, capsys):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(str(fifo))  # returns at once: a FIFO is never opened
    ck = tmp_path / "model.safetensors"
    os.mkfifo(ck)
    with pytest.raises(CheckpointError, match="not a regular file"):
        load(ck)
    code, lines = run_cli(capsys, "info", "/dev/zero")
    assert code == 2 and "not a regular file" in lines[0]
    classed = tmp_path / "data" / "a"
    classed.mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 200, np.uint8)).save(classed / "ok.png")
    os.mkfifo(classed / "pipe.png")
    data = load_dataset(str(tmp_path / "data"))
    assert len(data) == 1 and any("not a regular file" in why for _, why in data.skipped)


def test_F54_16_bit_images_and_exif_orientation(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    deep = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    Image.fromarray(deep).save(folder / "deep.png")
    x = load_dataset(str(folder)).images[0, 0]
    assert x.max() > 0.99 and x.min() < 0.01 and len(np.unique(x)) > 100  # scaled, not clipped at 255
    (folder / "deep.png").unlink()
    im = Image.fromarray(np.tile(np.arange(16, dtype=np.uint8)[None] * 16, (8, 1)))  # 8 high, 16 wide
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to view"
    im.save(folder / "phone.jpg", exif=exif, quality=100)
    data = load_dataset(str(folder))
    assert data.images.shape[2:] == (8, 8)  # square crop of a 16 x 8 (upright) picture
    from latent_explorer.models.data import read_image

    assert read_image(folder / "phone.jpg").shape == (1, 16, 8)


@pytest.mark.parametrize("images, msg, top", [
    (np.full((4, 8, 8), 0.5, np.float32) * 2 - 1.5, "values run from -0.5 to -0.5", None),
    (np.linspace(-1, 1, 256, dtype=np.float32).reshape(4, 8, 8), "values run from -1 to 1", None),
    (np.full((4, 8, 8), 200.0, np.float32), None, 200 / 255),
    (np.full((4, 8, 8), 40000, np.uint16), None, 40000 / 65535),
    (np.full((4, 8, 8), 0.25, np.float64), None, 0.25),
])
def test_F55_npz_values_outside_0_1(tmp_path, images, msg, top):
    p = tmp_path / "d.npz"
    np.savez(p, images=images)
    if msg:
        with pytest.raises(DataError, match=msg):
            load_dataset(str(p))
    else:
        assert load_dataset(str(p)).images.max() == pytest.approx(top, rel=1e-5)


@pytest.mark.parametrize("labels, msg", [
    (np.array([0, 1, 2**63 + 5, 1], np.uint64), "labels must be 0 to 999, found 0 to 9223372036854775813"),
    (np.array([0, 1, 10**9, 1], np.int64), "labels must be 0 to 999, found 0 to 1000000000"),
    (np.array([0, -1, 2, 1], np.int8), "labels must be 0 to 999, found -1 to 2"),
])
def test_F56_labels_beyond_any_class_list(tmp_path, labels, msg):
    p = tmp_path / "d.npz"
    np.savez(p, images=np.zeros((4, 8, 8), np.uint8), labels=labels)
    with pytest.raises(DataError, match=msg):
        load_dataset(str(p))


def test_F57_class_subfolders_and_the_held_out_split(tmp_path, capsys):
    for c, n in (("cat", 20), ("dog", 20), ("owl", 10)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(n):
            Image.fromarray(np.full((8, 8), 10 * i, np.uint8)).save(tmp_path / "d" / c / f"{i}.png")
    data = load_dataset(str(tmp_path / "d"))
    assert data.labels.tolist() == [0] * 20 + [1] * 20 + [2] * 10  # one class after another
    _, val = data.split(0.1)
    assert np.bincount(val.labels).tolist() == [2, 2, 1]  # not the last class held out whole
    out = tmp_path / "m.safetensors"
    code, _ = run_cli(capsys, "train", "--model", "vae", "--data", tmp_path / "d", "--epochs", "1", "--batch-size",
                      "8", "--out", out, "--quiet")
    assert code == 0 and load(out).meta["data"]["split"] == "stratified"


def test_F62_a_folder_of_big_photos_is_read_within_a_memory_budget(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    big = Image.fromarray(np.tile(np.arange(3000, dtype=np.uint16)[None] % 256, (3000, 1)).astype(np.uint8))
    for i in range(40):  # 40 x 9 megapixels: 1.4 GB as full-size float copies, a few MB as we read them
        big.save(folder / f"{i:02d}.png", compress_level=1)
    code, err = _address_space_limited(
        "from latent_explorer.models import load_dataset\n"
        f"d = load_dataset({str(folder)!r})\n"
        "print(len(d), d.shape, file=sys.stderr)\n", limit_gb=1.0)
    assert code == 0 and "40 (1, 64, 64)" in err, err


def test_F63_sample_quality_of_unlabelled_data(tmp_path, capsys):
    from latent_explorer.models.analysis.classifier import classifier_for
    from latent_explorer.models.data import ImageData
    from latent_explorer.models.progress import run_to_end

    data = ImageData(np.random.default_rng(0).random((300, 1, 8, 8), np.float32), spec="mine")
    with pytest.raises(DataError, match="the quality yardstick needs labelled data"):
        run_to_end(classifier_for(data))
    npz = tmp_path / "u.npz"
    np.savez(npz, images=(data.images[:, 0] * 255).astype(np.uint8))
    model = save(tiny_model("vae"), tmp_path / "v.safetensors", data={"spec": str(npz)})
    code, lines = run_cli(capsys, "eval", model, "--n", "100")
    assert code == 2 and len(lines) == 1 and "needs labelled data" in lines[0]


def test_F65_a_conditional_model_whose_classes_are_not_the_datas(tmp_path):
    from latent_explorer.models.analysis.classifier import train_classifier
    from latent_explorer.models.analysis.quality import measure
    from latent_explorer.models.errors import ConfigError
    from latent_explorer.models.progress import run_to_end

    digits = load_dataset("digits")
    net = run_to_end(train_classifier(digits, epochs=1))
    model = tiny_model("cvae", classes=3)  # classes c0, c1, c2
    with pytest.raises(ConfigError, match=r"the model's classes \(c0, c1, c2\) are not the data's \(0, 1, 2"):
        run_to_end(measure(model, digits, net, n=100))


def test_F68_a_link_to_a_device_given_as_data_or_as_a_model(tmp_path, capsys):
    link = tmp_path / "data.npz"
    link.symlink_to("/dev/zero")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(str(link))
    model_link = tmp_path / "m.safetensors"
    model_link.symlink_to("/dev/urandom")
    code, lines = run_cli(capsys, "info", model_link)
    assert code == 2 and "not a regular file" in lines[0]


def test_F69_a_folder_whose_links_loop(tmp_path):
    root = tmp_path / "data"
    (root / "a").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(root / "a" / "x.png")
    (root / "a" / "loop").symlink_to(root, target_is_directory=True)  # data/a/loop -> data
    data = load_dataset(str(root))
    assert len(data) == 1 and data.class_names == ["a"]


def test_F73_file_names_that_are_not_utf8(tmp_path, capsys):
    folder = tmp_path / "d" / "a"
    folder.mkdir(parents=True)
    for i in range(3):
        Image.fromarray(np.full((8, 8), 40 * i, np.uint8)).save(folder / f"{i}.png")
    bad = os.fsdecode(bytes(folder) + b"/\xff\xfe bad.png")
    Path(bad).write_bytes(b"not an image")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(os.fsdecode(bytes(folder) + b"/\xfe good.png"))
    data = load_dataset(str(tmp_path / "d"))
    assert len(data) == 4 and len(data.skipped) == 1
    code, lines = run_cli(capsys, "train", "--model", "vae", "--data", tmp_path / "d", "--batch-size", "2",
                          "--max-steps", "1", "--quiet", "--out", tmp_path / "m.safetensors")
    note = next(ln for ln in lines if ln.startswith("note:"))
    assert code == 0 and "\\xff\\xfe bad.png" in note and "\\udc" not in note


def test_F78_generated_data_asked_beyond_the_memory_budget(tmp_path, capsys):
    """A checkpoint names its data, and a built-in one loads without asking: its size is checked first."""
    for spec, shape in (("scenes:200000", "(200000, 3, 32, 32)"), ("shapes:200000", "(200000, 1, 32, 32)"),
                        ("scenes:100000:objects=2", "(100000, 3, 32, 32)")):
        code, err = _address_space_limited(f"from latent_explorer.models import load_dataset\nload_dataset({spec!r})")
        assert code == 1 and f"{shape} images would take" in err and "the limit is 512 MB" in err, err[-600:]
        assert "MemoryError" not in err
    code, err = _address_space_limited("from latent_explorer.models import load_dataset\n"
                                       "print(len(load_dataset('scenes:40000')))")
    assert code == 0, err[-600:]


def test_F86_paired_folders_that_do_not_pair(tmp_path, capsys):
    def pair(root, a_names, b_names):
        for side, names in (("A", a_names), ("B", b_names)):
            (root / side).mkdir(parents=True)
            for n in names:
                Image.fromarray(np.full((16, 16), 90, np.uint8)).save(root / side / n)
        return root

    for spec, says in ((f"pairs:{tmp_path / 'nowhere'}", "needs two subfolders, A/ (sources) and B/ (targets)"),
                       (f"pairs:{pair(tmp_path / 'apart', ['x.png'], ['y.png'])}",
                        "no name is in both A/ (1 images) and B/ (1 images)")):
        code, lines = run_cli(capsys, "train", "--model", "pix2pix", "--data", spec, "--out",
                              tmp_path / "m.safetensors")
        assert code == 2 and len(lines) == 1 and says in lines[0], lines
    some = pair(tmp_path / "some", ["a.png", "b.png", "c.png", "lone.png"], ["a.png", "b.png", "c.png"])
    code, lines = run_cli(capsys, "train", "--model", "pix2pix", "--data", f"pairs:{some}", "--width", "4", "--epochs",
                          "1", "--batch-size", "2", "--record-n", "0", "--quiet", "--out", tmp_path / "m.safetensors")
    assert code == 0 and any("3 pairs; 1 image(s) of A/ and 0 of B/ have no partner" in ln and "A/lone" in ln
                             for ln in lines)
    from latent_explorer.models import build_model, make_config

    m = build_model(make_config("pix2pix", (3, 16, 16), width=4, source="paired"))
    with pytest.raises(Exception, match="has none \\(use --data pairs:FOLDER"):
        m.condition_of(load_dataset("scenes:4").conform(3, 16))


def test_F87_cyclegan_domains_that_split_nothing(tmp_path, capsys):
    for domains, says in (("background", "domains must look like FACTOR=v1,v2|v3,v4"),
                          ("mood=happy|sad", "scenes:200 has no factor 'mood' to split into domains"),
                          ("colour=red|mauve", "mauve is not a value of colour (its values: red, orange"),
                          ("colour=red|red", "red is in both A and B")):
        code, lines = run_cli(capsys, "train", "--model", "cyclegan", "--data", "scenes:200", "--domains", domains,
                              "--width", "4", "--epochs", "1", "--out", tmp_path / "c.safetensors")
        assert code == 2 and len(lines) == 1 and says in lines[0], lines
    assert not (tmp_path / "c.safetensors").exists()
