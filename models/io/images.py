"""Image grids and files (numpy + Pillow)."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np


def to_uint8(images: np.ndarray) -> np.ndarray:
    """(N, C, H, W) or (C, H, W) floats in [0, 1] -> uint8 in the same layout."""
    return (np.clip(np.asarray(images, np.float32), 0, 1) * 255 + 0.5).astype(np.uint8)


def make_grid(images: np.ndarray, nrow: int | None = None, pad: int = 1, scale: int = 1,
              pad_value: float = 0.5) -> np.ndarray:
    """(N, C, H, W) in [0, 1] -> one (H', W', 3) uint8 picture, ``nrow`` images per row."""
    x = np.asarray(images, np.float32)
    n, c, h, w = x.shape
    if c == 1:
        x = np.repeat(x, 3, axis=1)
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    H, W = grid_size(n, h, w, nrow, pad)
    out = np.full((3, H, W), pad_value, np.float32)
    for i in range(n):
        r, k = divmod(i, nrow)
        out[:, pad + r * (h + pad) : pad + r * (h + pad) + h, pad + k * (w + pad) : pad + k * (w + pad) + w] = x[i]
    out = to_uint8(out).transpose(1, 2, 0)
    if scale > 1:
        out = out.repeat(scale, 0).repeat(scale, 1)
    return np.ascontiguousarray(out)


def grid_size(n: int, h: int, w: int, nrow: int | None = None, pad: int = 1, scale: int = 1) -> tuple[int, int]:
    """The (height, width) in pixels of :func:`make_grid`'s picture of ``n`` images of h×w, worked out before
    anything is drawn (a command refuses a grid it could not open again)."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    return (rows * (h + pad) + pad) * scale, (nrow * (w + pad) + pad) * scale


def save_png(path: str | Path, picture: np.ndarray, text: dict[str, str] | None = None) -> Path:
    """Save an (H, W, 3) or (H, W) uint8 picture atomically as PNG, with ``text`` chunks (e.g. the
    generation ``parameters`` the image-generation web UIs write and read)."""
    import io

    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from latent_explorer.models.io.checkpoint import atomic_write

    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_itxt(k, v)
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG", pnginfo=info)
    return atomic_write(path, buf.getvalue())


MAX_PNG_TEXT = 64 * 1024
MAX_IMAGE_PIXELS = 64_000_000  # no image file larger than this is decoded (a 10k x 10k image: ~300 MB RGB)
MAX_DRAWING_PIXELS = 4096 * 4096  # a drawing or control image, decoded with its transparency


def pil_image():
    """PIL.Image with its decompression-bomb limit set to ours, for the whole process. It is only ever set
    here and never lifted (a reader that may see larger images checks their size from the header itself)."""
    from PIL import Image

    if Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS > MAX_IMAGE_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    return Image


def png_text(path: str | Path) -> dict[str, str]:
    """The text chunks of a PNG (its generation parameters), read without decoding its pixels; each at most
    64 KB (a larger one is cut). Raises ValueError for a file that is not a PNG."""
    from latent_explorer.models.errors import check_regular

    check_regular(Path(path), ValueError)
    Image = pil_image()
    try:
        with open(path, "rb") as f:  # the header's size, before PIL reads it (PIL warns on stderr past the limit)
            head = f.read(24)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            if w * h > MAX_IMAGE_PIXELS:
                raise ValueError(f"{Path(path).name}: its header claims {w:,}×{h:,} pixels, more than the "
                                 f"{MAX_IMAGE_PIXELS:,} an image here may have")
        with Image.open(path) as im:
            if im.format != "PNG":
                raise ValueError(f"{Path(path).name}: not a PNG file")
            return {str(k)[:200]: str(v)[:MAX_PNG_TEXT] for k, v in getattr(im, "text", {}).items()}
    except Image.DecompressionBombError:
        raise ValueError(f"{Path(path).name}: its header claims too many pixels (over {MAX_IMAGE_PIXELS:,})"
                         ) from None
    except OSError as e:
        from latent_explorer.models.errors import reason

        raise ValueError(f"{Path(path).name}: not a readable image ({reason(e)})") from None


def generation_parameters(prompt: str, negative: str, steps: int, sampler: str, cfg: float, seed: int,
                          size: tuple[int, int], model: str, strength: float | None = None,
                          control: str | None = None) -> str:
    """The web UIs' "parameters" text: the prompt, then "Negative prompt: …", then the settings line
    (``control``: the ControlNet's control image, as the web UIs' "ControlNet" entry)."""
    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    settings = [f"Steps: {steps}", f"Sampler: {sampler}", f"CFG scale: {cfg:g}", f"Seed: {seed}",
                f"Size: {size[1]}x{size[0]}", f"Model: {model}"]
    if strength is not None:
        settings.append(f"Denoising strength: {strength:g}")
    if control is not None:
        settings.append(f"ControlNet: {control}")
    lines.append(", ".join(settings))
    return "\n".join(lines)


def save_gif(path: str | Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Save (H, W, 3) uint8 frames as a looping GIF, atomically."""
    import io

    from PIL import Image

    from latent_explorer.models.io.checkpoint import atomic_write

    if not frames:
        raise ValueError("no frames to save")
    buf = io.BytesIO()
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(buf, format="GIF", save_all=True, append_images=ims[1:], duration=int(1000 / max(fps, 0.1)),
                loop=0)
    return atomic_write(path, buf.getvalue())


def video_formats() -> list[str]:
    """The animation formats we can write: GIF always, MP4 where a video encoder is installed (PyAV)."""
    try:
        import av  # noqa: F401
    except ImportError:
        return [".gif"]
    return [".gif", ".mp4"]


def save_video(path: str | Path, frames: list[np.ndarray], fps: float = 10.0) -> Path:
    """Save (H, W, 3) uint8 frames as a GIF or, for ``.mp4``, an H.264 video (PyAV), atomically."""
    path = Path(path)
    if path.suffix.lower() == ".gif":
        return save_gif(path, frames, fps)
    if path.suffix.lower() != ".mp4" or ".mp4" not in video_formats():
        raise ValueError(f"{path.name}: animations are saved as " + " or ".join(video_formats()))
    if not frames:
        raise ValueError("no frames to save")
    import os
    import tempfile

    import av

    frames = [np.repeat(f[..., None], 3, 2) if f.ndim == 2 else f for f in frames]  # grey -> RGB
    h, w = frames[0].shape[:2]
    h2, w2 = h + h % 2, w + w % 2  # H.264 in yuv420p needs even sides
    from latent_explorer.models.io.checkpoint import _UMASK
    from latent_explorer.models.io.temp_files import temp_beside

    fd, tmp = tempfile.mkstemp(**temp_beside(path, ".tmp.mp4"))  # a killed save's is removed by the next save
    os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_UMASK)  # not mkstemp's 0600
    os.close(fd)
    try:
        with av.open(tmp, mode="w") as box:
            stream = box.add_stream("libx264", rate=max(1, round(fps)))
            stream.width, stream.height, stream.pix_fmt = w2, h2, "yuv420p"
            for f in frames:
                pic = np.zeros((h2, w2, 3), np.uint8)
                pic[:h, :w] = f
                for packet in stream.encode(av.VideoFrame.from_ndarray(pic, format="rgb24")):
                    box.mux(packet)
            for packet in stream.encode():
                box.mux(packet)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def read_image_for(image_shape, path: str | Path) -> np.ndarray:
    """An image file as a model of ``image_shape`` (C, H, W) sees it: (C, H, W) float32 in [0, 1],
    converted to its channels and resized to its size. Raises ValueError with a reason a user can read."""
    from latent_explorer.models.data import conform_images, read_image

    c, h, _ = image_shape
    img = read_image(Path(path), max_side=h)
    return conform_images(img[None], c, h)[0]


def read_mask(path: str | Path, image_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
    """An inpainting mask: a picture of the init image's size (``image_size`` (H, W)), white where to paint
    and black where the image is kept, nothing between -> (1, H', W') float32 of 0 and 1 at ``out_size``
    (nearest: still binary). Raises ValueError with the reason."""
    from latent_explorer.models.data import read_image

    m = read_image(Path(path))  # (C, H, W) in [0, 1], bounded by read_image
    if tuple(m.shape[1:]) != tuple(image_size):
        raise ValueError(f"the mask is {m.shape[2]}x{m.shape[1]}, the init image {image_size[1]}x{image_size[0]}: "
                         "paint the mask at the image's size")
    m = m.max(0)
    if not np.isin(m, (0.0, 1.0)).all():
        raise ValueError("the mask is not binary: every pixel must be black (keep) or white (paint); "
                         f"{int(((m > 0) & (m < 1)).sum()):,} pixels are grey")
    if not m.any():
        raise ValueError("the mask is all black: nothing to paint")
    if tuple(m.shape) != tuple(out_size):
        import torch
        import torch.nn.functional as F

        m = F.interpolate(torch.from_numpy(m)[None, None], size=tuple(out_size), mode="nearest")[0, 0].numpy()
    return m[None].astype(np.float32)
