"""Datasets: one spec string selects the data everywhere (``--data SPEC``).

:data:`DATASETS` is the one table of the built-in datasets (name, the spec's form, a line of help, the loader and
the factors kept for each image); the CLI's help, the Training view's hint and every list of datasets come from
it. Besides those, a spec names files (:data:`OTHER_SOURCES`):

a folder              images (PNG/JPEG/BMP), flat or one subfolder per class; or MNIST IDX files.
an IDX file           ``*-images-idx3-ubyte[.gz]`` (labels read from the matching idx1 file).
an ``.npz`` file      ``images`` (N,H,W[,C]) and optional ``labels`` (N,) and ``class_names``.
``pairs:FOLDER``      A/ and B/ holding images of the same names (pix2pix's paired data).

Every loader returns :class:`ImageData` with images as float32 (N, C, H, W) in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from latent_explorer.models.data.builtin import SHAPE_FACTORS, load_digits, load_mnist, load_scenes, make_shapes
from latent_explorer.models.data.core import (
    IMAGE_EXTS,
    MAX_CLASSES,
    MAX_DATA_BYTES,
    SPLITS,
    DataError,
    ImageData,
    check_budget,
    check_regular,
    checked_labels,
    conform_images,
)
from latent_explorer.models.data.folders import MAX_FOLDER_FILES, load_folder, load_pairs, read_image
from latent_explorer.models.data.formats import load_idx, load_npz, read_idx
from latent_explorer.models.data.scenes import FACTORS as SCENE_FACTORS

__all__ = [
    "BUILTIN_DATASETS", "DATASETS", "IMAGE_EXTS", "MAX_CLASSES", "MAX_DATA_BYTES", "MAX_FOLDER_FILES", "OTHER_SOURCES",
    "SPLITS", "DataError", "Dataset", "ImageData", "check_regular", "checked_labels", "conform_images", "data_hint",
    "is_builtin", "load_dataset", "load_folder", "load_idx", "load_npz", "load_pairs", "make_shapes", "read_idx",
    "read_image",
]


@dataclass(frozen=True)
class Dataset:
    """One built-in dataset."""
    name: str
    usage: str  # the spec's form, e.g. "shapes[:N]"
    help: str  # one line: what the images are
    load: Callable[[str], ImageData]  # spec -> data
    factors: tuple[str, ...] = ()  # the generative factors kept for each image
    takes_args: bool = False  # "name:..." specs are this dataset's (else only the bare name is)


def load_shapes(spec: str) -> ImageData:
    """``shapes[:N]``."""
    arg = spec.partition(":")[2]
    try:
        n = int(arg) if arg else 6000
    except ValueError:
        raise DataError(f"shapes: expected 'shapes:N' with N a number, got {spec!r}") from None
    if not 1 <= n <= 200_000:
        raise DataError(f"shapes: N must be between 1 and 200000, got {n}")
    check_budget((n, 1, 32, 32), "shapes")
    return make_shapes(n)


DATASETS: dict[str, Dataset] = {d.name: d for d in (
    Dataset("digits", "digits", "scikit-learn's 1,797 real 8x8 handwritten digits, labelled 0-9",
            lambda spec: load_digits()),
    Dataset("mnist", "mnist", "the 10,000 real 28x28 MNIST test images, labelled 0-9 (shipped in assets/data/mnist)",
            lambda spec: load_mnist()),
    Dataset("shapes", "shapes[:N]", "N (default 6000) dSprites-like 32x32 images, deterministic: square / ellipse / "
            "triangle x scale x rotation x position; the shape is the label", load_shapes, SHAPE_FACTORS, True),
    Dataset("scenes", "scenes[:N]", "N (default 20,000) generated 32x32 RGB scenes of one object (two with "
            "scenes:N:objects=2; another draw with :seed=S) with captions; the shape is the label", load_scenes,
            tuple(SCENE_FACTORS), True),
)}
BUILTIN_DATASETS = tuple(DATASETS)
OTHER_SOURCES = ("a folder of images, IDX files or an .npz, or pairs:FOLDER (A/ and B/ holding images of the same "
                 "names, for pix2pix)")


def data_hint() -> str:
    """Every form a spec takes, in one line (the CLI's help, the Training view's hint)."""
    forms = ", ".join(d.usage for d in DATASETS.values())
    return f"{forms}, {OTHER_SOURCES}"


def is_builtin(spec: str | None) -> bool:
    """A built-in dataset (made or shipped here, or handed over from this process's Python), as opposed to a
    path that a file or a user names."""
    from latent_explorer.models.data.memory import kept

    if spec and kept(str(spec)) is not None:
        return True
    return bool(spec) and str(spec).split(":")[0] in BUILTIN_DATASETS and os.sep not in str(spec)


def load_dataset(spec: str, size: int | None = None, channels: int | None = None) -> ImageData:
    """Load the data named by ``spec``; with ``size``/``channels`` convert to the model's shape."""
    spec = (spec or "").strip()
    if not spec:
        raise DataError(f"no dataset given: use {data_hint()}")
    name = spec.split(":")[0]
    from latent_explorer.models.data.memory import PREFIX, kept

    if spec.startswith(PREFIX):  # handed over from this process's Python (latent_explorer.show)
        data = kept(spec)
        if data is None:
            raise DataError(f"{spec}: data handed over from Python lives only in the process that gave it")
    elif name in DATASETS and (spec == name or DATASETS[name].takes_args):
        data = DATASETS[name].load(spec)
    elif spec.startswith("pairs:"):
        data = load_pairs(spec, size, channels)
    else:
        try:
            data = _load_path(spec, size, channels)
        except OSError as e:  # a folder we may not read, a file that vanished
            raise DataError(f"{spec}: cannot read ({e.strerror or e})") from None
    if len(data) == 0:
        raise DataError(f"{spec}: no images")
    if size is not None or channels is not None:
        data = data.conform(channels or data.shape[0], size or data.shape[1])
    return data


def _load_path(spec: str, size: int | None, channels: int | None) -> ImageData:
    """A dataset from a path: a folder (images, class subfolders or IDX files), an IDX file or an .npz."""
    path = Path(os.path.expanduser(spec))
    if not path.exists():
        raise DataError(f"{spec}: no such file or folder (built-in datasets: {', '.join(BUILTIN_DATASETS)})")
    if path.is_dir():
        idx = sorted(p for p in path.iterdir() if "idx3" in p.name)
        return load_idx(idx[0], spec) if idx else load_folder(path, spec, size, channels)
    check_regular(path)
    if path.suffix.lower() == ".npz":
        return load_npz(path, spec)
    if "idx" in path.name or path.suffix == ".gz":
        return load_idx(path, spec)
    if path.suffix.lower() in IMAGE_EXTS:
        raise DataError(f"{spec}: a single image is not a dataset; give the folder that holds it")
    raise DataError(f"{spec}: unknown data format (use a folder of images, IDX files or an .npz)")
