"""Exports: points inside a drawn polygon, points saved as .npz / .csv, animations as GIF and MP4."""

import numpy as np
import pytest

from latent_explorer.models import ConfigError
from latent_explorer.models.analysis.projection import points_in_polygon
from latent_explorer.models.io.exports import export_points
from latent_explorer.models.io.images import save_video, video_formats


def test_points_in_a_lasso_and_a_rectangle():
    xy = np.array([[0.5, 0.5], [1.5, 0.5], [0.5, 1.5], [1.5, 1.5], [3, 3]], np.float32)
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]])
    assert points_in_polygon(xy, square).tolist() == [True, True, True, True, False]
    ell = np.array([[0, 0], [2, 0], [2, 1], [1, 1], [1, 2], [0, 2]])  # concave: the top-right cell is out
    assert points_in_polygon(xy, ell).tolist() == [True, True, True, False, False]
    assert not points_in_polygon(xy, square[:2]).any()  # a line encloses nothing


def test_points_export_as_npz_and_csv(tmp_path):
    z = np.arange(12, dtype=np.float32).reshape(4, 3)
    xy = np.arange(8, dtype=np.float32).reshape(4, 2) / 2
    export_points(tmp_path / "p.npz", z, xy, np.array([0, 1, 1, 0]), ["zero", "one, two"], np.array([5, 6, 7, 9]),
                  ("PC1", "PC2"), "pca")
    f = np.load(tmp_path / "p.npz")
    assert np.array_equal(f["z"], z) and np.array_equal(f["xy"], xy) and f["index"].tolist() == [5, 6, 7, 9]
    assert f["labels"].tolist() == [0, 1, 1, 0] and f["class_names"].tolist() == ["zero", "one, two"]
    assert f["axes"].tolist() == ["PC1", "PC2"] and str(f["projection"]) == "pca"
    export_points(tmp_path / "p.csv", z, xy, np.array([0, 1, 1, 0]), ["zero", "one, two"], axes=("PC1", "PC2"))
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "index,label,class,PC1,PC2,z0,z1,z2" and len(lines) == 5
    assert lines[2] == '1,1,"one, two",1,1.5,3,4,5'  # a name with a comma is quoted
    with pytest.raises(ConfigError, match=".npz or .csv"):
        export_points(tmp_path / "p.txt", z, xy)
    with pytest.raises(ConfigError, match="no points"):
        export_points(tmp_path / "e.csv", z[:0], xy[:0])


def test_animations_as_gif_and_mp4(tmp_path):
    frames = [np.full((33, 45, 3), 12 * i, np.uint8) for i in range(12)]
    save_video(tmp_path / "a.gif", frames, 10)
    assert (tmp_path / "a.gif").read_bytes()[:3] == b"GIF"
    if ".mp4" not in video_formats():
        pytest.skip("no video encoder installed (PyAV)")
    import av

    save_video(tmp_path / "a.mp4", frames, 10)
    with av.open(str(tmp_path / "a.mp4")) as box:
        decoded = [f.to_ndarray(format="rgb24") for f in box.decode(video=0)]
    assert len(decoded) == 12 and decoded[0].shape == (34, 46, 3)  # padded to even sides
    assert abs(int(decoded[-1][10, 10, 0]) - 132) < 8  # the last frame's grey, through lossy coding
    assert (tmp_path / "a.mp4").stat().st_mode & 0o777 != 0o600 and not list(tmp_path.glob(".a.*"))
    with pytest.raises(ValueError, match="saved as .gif or .mp4"):
        save_video(tmp_path / "a.avi", frames)


def test_latents_read_back_and_bad_files_refused_with_the_reason(tmp_path):
    import pytest

    from latent_explorer.models.errors import ConfigError
    from latent_explorer.models.io.exports import read_points

    rng = np.random.default_rng(0)
    z, labels = rng.normal(size=(50, 3)).astype(np.float32), rng.integers(0, 4, 50)
    export_points(tmp_path / "p.npz", z, z[:, :2], labels, ["a", "b", "c", "d"])
    back, lab, names = read_points(tmp_path / "p.npz", latent_dim=3)
    assert np.array_equal(back, z) and np.array_equal(lab, labels) and names == ["a", "b", "c", "d"]
    np.savez(tmp_path / "bare.npz", z=np.ones((4, 3)))  # made elsewhere: z alone
    assert read_points(tmp_path / "bare.npz")[1] is None
    bad = {"wrong.csv": None, "noz.npz": {"x": np.ones(3)}, "dims.npz": {"z": np.ones((4, 5))},
           "flat.npz": {"z": np.ones(4)}, "nan.npz": {"z": np.array([[np.nan, 0, 0]])},
           "labels.npz": {"z": np.ones((4, 3)), "labels": np.array([0, 1, -1, 2])},
           "pickle.npz": {"z": np.array([{"code": 1}] * 2, dtype=object)}}
    reasons = {"wrong.csv": ".npz", "noz.npz": "no array named z", "dims.npz": "5 dimensions",
               "flat.npz": "numeric array of shape", "nan.npz": "not finite", "labels.npz": "labels must",
               "pickle.npz": "not a plain numpy file"}
    for name, arrays in bad.items():
        if arrays is None:
            (tmp_path / name).write_text("z\n1\n")
        else:
            np.savez(tmp_path / name, **arrays)
        with pytest.raises(ConfigError, match=reasons[name]):
            read_points(tmp_path / name, latent_dim=3)
