"""Folders of images (flat or one subfolder per class) and paired folders (``pairs:FOLDER``: A/ and B/ of the same
names), each image bounded by its header before it is decoded."""

from __future__ import annotations

import os
import stat
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from latent_explorer.models.data.core import (
    IMAGE_EXTS,
    MAX_SIZE,
    MIN_SIZE,
    DataError,
    ImageData,
    check_budget,
    conform_images,
)
from latent_explorer.models.io.images import (
    MAX_IMAGE_PIXELS,  # larger image files are skipped (one definition, with PIL's limit)
)
from latent_explorer.models.lazy import lazy_import


def read_image(path: Path, max_side: int | None = None) -> np.ndarray:
    """One image file -> (C, H, W) float32 in [0, 1]; raises ValueError with a reason. With ``max_side``, a
    bigger picture is reduced (aspect kept) while it is decoded, before any float copy: a 8000 x 8000 photo
    for a 28 x 28 model costs a few MB, not a float copy of 64 million pixels."""
    from latent_explorer.models.io.images import pil_image

    Image, ImageOps = pil_image(), lazy_import("PIL.ImageOps")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning: we check the size ourselves
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ValueError("not a regular file (a pipe, a device or a socket)")
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(f"too large ({w}x{h} pixels)")
                if max_side is not None and max(w, h) > 2 * max_side:
                    im.draft(im.mode, (2 * max_side, 2 * max_side))  # JPEG: decode at a reduced scale
                    im.thumbnail((2 * max_side, 2 * max_side), Image.Resampling.BOX)
                im = ImageOps.exif_transpose(im)  # as a camera or a phone meant it to be seen
                if im.mode.startswith("I") or im.mode == "F":  # 16- or 32-bit grey: scaled, never clipped
                    arr = np.asarray(im, np.float32)
                    top = 1.0 if im.mode == "F" and arr.max() <= 1 else 255.0 if arr.max() <= 255 else 65535.0
                    arr = (arr / top).clip(0, 1)[None]
                elif im.mode in ("1", "L", "LA", "P") and not _palette_has_colour(im):
                    arr = np.asarray(im.convert("L"), np.float32)[None] / 255.0
                else:
                    arr = np.asarray(im.convert("RGB"), np.float32).transpose(2, 0, 1) / 255.0
        except ValueError:
            raise
        except Image.DecompressionBombError:
            raise ValueError(f"too large (its header claims over {MAX_IMAGE_PIXELS:,} pixels)") from None
        except Exception as e:  # PIL raises many kinds for broken files
            raise ValueError(f"not a readable image ({type(e).__name__})") from None
    return arr


def _palette_has_colour(im) -> bool:
    """A palette image with any non-grey entry (read from the palette, without decoding the pixels)."""
    if im.mode != "P":
        return False
    pal = np.asarray(im.getpalette() or [], np.int32).reshape(-1, 3)
    return bool(len(pal)) and not (np.array_equal(pal[:, 0], pal[:, 1]) and np.array_equal(pal[:, 1], pal[:, 2]))


def _image_header(path: Path) -> tuple[int, int, int]:
    """(channels, height, width) of an image file from its header, nothing decoded; ValueError if unusable."""
    from latent_explorer.models.io.images import pil_image

    Image = pil_image()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise ValueError("not a regular file (a pipe, a device or a socket)")
            with Image.open(path) as im:
                w, h = im.size
                orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
                if w * h > MAX_IMAGE_PIXELS:
                    raise ValueError(f"too large ({w}x{h} pixels)")
                grey = im.mode in ("1", "L", "LA", "F") or im.mode.startswith("I") or (
                    im.mode == "P" and not _palette_has_colour(im))
        except ValueError:
            raise
        except Image.DecompressionBombError:
            raise ValueError(f"too large (its header claims over {MAX_IMAGE_PIXELS:,} pixels)") from None
        except Exception as e:  # PIL raises many kinds for broken files
            raise ValueError(f"not a readable image ({type(e).__name__})") from None
    if orientation in (5, 6, 7, 8):  # shown turned by 90 degrees
        w, h = h, w
    return (1 if grey else 3), h, w


MAX_FOLDER_FILES = 100_000  # a dataset folder holding more files (a home folder, "/") is refused at once


def _files_under(root: Path, folder: Path, budget: list[int]) -> list[Path]:
    """Every file under ``folder`` (hidden folders skipped, unreadable ones passed over), counting each
    against ``budget``: past it the walk stops with a message instead of walking a whole disk."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            budget[0] -= 1
            if budget[0] < 0:
                raise DataError(f"{root}: more than {MAX_FOLDER_FILES:,} files in this folder and its subfolders; "
                                "choose the folder that holds your images")
            out.append(Path(dirpath) / f)
    return out


def _no_readable_image(root: Path, skipped: list[tuple[str, str]]) -> DataError:
    reasons = Counter(r for _, r in skipped).most_common(2)
    return DataError(f"{root}: no readable image ({len(skipped)} files skipped: "
                     + "; ".join(f"{n} {r}" for r, n in reasons) + ")")


def load_folder(root: Path, spec: str, size: int | None = None, channels: int | None = None) -> ImageData:
    budget = [MAX_FOLDER_FILES]
    try:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        classed = [(d, _files_under(root, d, budget)) for d in subdirs]
        classed = [(d, fs) for d, fs in classed if any(f.suffix.lower() in IMAGE_EXTS for f in fs)]
        if classed:
            entries = [(f, i) for i, (_, fs) in enumerate(classed) for f in fs]
            class_names = [d.name for d, _ in classed]
        else:
            entries = [(f, -1) for f in sorted(p for p in root.iterdir() if p.is_file())]
            class_names = []
    except OSError as e:
        raise DataError(f"{root}: cannot read the folder ({e.strerror or e})") from None
    if not entries:
        raise DataError(f"{root}: the folder is empty")
    # pass 1: headers only (sizes and channels), so that memory never holds more than the final array
    found, skipped = [], []
    for f, lab in entries:
        if f.name.startswith("."):
            continue
        if f.suffix.lower() not in IMAGE_EXTS:
            skipped.append((str(f), "not an image file (PNG/JPEG/BMP)"))
            continue
        try:
            found.append((f, lab, *_image_header(f)))
        except ValueError as e:
            skipped.append((str(f), str(e)))
    if not found:
        raise _no_readable_image(root, skipped)
    if channels is None:
        channels = 3 if any(c == 3 for _, _, c, _, _ in found) else 1
    if size is None:
        (h, w), _ = Counter((h, w) for _, _, _, h, w in found).most_common(1)[0]
        size = int(min(MAX_SIZE, max(MIN_SIZE, min(h, w))))
    check_budget((len(found), channels, size, size), root)
    # pass 2: decode each (reduced while decoding when big) straight into its place in the final array
    out = np.empty((len(found), channels, size, size), np.float32)
    labels = []
    for f, lab, *_ in found:
        try:
            im = read_image(f, max_side=size)
        except ValueError as e:
            skipped.append((str(f), str(e)))
            continue
        out[len(labels)] = conform_images(im[None], channels, size)[0]
        labels.append(lab)
    if not labels:
        raise _no_readable_image(root, skipped)
    out = out[: len(labels)]
    lab = np.asarray(labels, np.int64) if class_names else None
    return ImageData(out, lab, class_names, spec, skipped=skipped)


def load_pairs(spec: str, size: int | None = None, channels: int | None = None) -> ImageData:
    """``pairs:FOLDER``: paired data for image-to-image models, FOLDER/A/x.png beside FOLDER/B/x.png (the same
    name, any image extension). The images of B/ are the data, those of A/ its ``sources``, both in B's shape
    unless told. Names found on one side only are counted in :attr:`ImageData.note` and left out."""
    root = Path(os.path.expanduser(spec.partition(":")[2].strip()))
    if not spec.partition(":")[2].strip():
        raise DataError("pairs: give the folder that holds A/ and B/, e.g. pairs:~/facades")
    sides = {}
    for side in ("A", "B"):
        folder = root / side
        if not folder.is_dir():
            raise DataError(f"{spec}: paired data needs two subfolders, A/ (sources) and B/ (targets), holding "
                            f"images of the same names; {folder} is not a folder")
        try:
            files = _files_under(root, folder, [MAX_FOLDER_FILES])
        except OSError as e:
            raise DataError(f"{folder}: cannot read the folder ({e.strerror or e})") from None
        by_name = {}
        for f in files:
            if f.suffix.lower() in IMAGE_EXTS and not f.name.startswith("."):
                by_name.setdefault(str(f.relative_to(folder).with_suffix("")), f)
        sides[side] = by_name
    a, b = sides["A"], sides["B"]
    common = sorted(set(a) & set(b))
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if not common:
        raise DataError(f"{spec}: no name is in both A/ ({len(a)} images) and B/ ({len(b)} images); pairs are "
                        "matched by file name (A/x.png with B/x.jpg)")
    skipped = [(str(a[n]), "no image of the same name in B/") for n in only_a]
    skipped += [(str(b[n]), "no image of the same name in A/") for n in only_b]
    heads = {}
    for n in common:
        try:
            heads[n] = (_image_header(a[n]), _image_header(b[n]))
        except ValueError as e:
            skipped.append((f"{a[n]} / {b[n]}", str(e)))
    if not heads:
        raise _no_readable_image(root, skipped)
    if channels is None:
        channels = 3 if any(hb[0] == 3 for _, hb in heads.values()) else 1
    if size is None:
        (h, w), _ = Counter(hb[1:] for _, hb in heads.values()).most_common(1)[0]
        size = int(min(MAX_SIZE, max(MIN_SIZE, min(h, w))))
    check_budget((2 * len(heads), channels, size, size), root)
    imgs = np.empty((len(heads), channels, size, size), np.float32)
    srcs = np.empty_like(imgs)
    k = 0
    for n in heads:
        try:
            ia, ib = read_image(a[n], max_side=size), read_image(b[n], max_side=size)
        except ValueError as e:
            skipped.append((f"{a[n]} / {b[n]}", str(e)))
            continue
        srcs[k], imgs[k] = conform_images(ia[None], channels, size)[0], conform_images(ib[None], channels, size)[0]
        k += 1
    if not k:
        raise _no_readable_image(root, skipped)
    note = ""
    if only_a or only_b:
        first = (f"A/{only_a[0]}" if only_a else f"B/{only_b[0]}")
        note = (f"{k} pairs; {len(only_a)} image(s) of A/ and {len(only_b)} of B/ have no partner of the same "
                f"name and are left out (first: {first})")
    return ImageData(imgs[:k], None, [], spec, skipped=skipped, sources=srcs[:k], note=note)
