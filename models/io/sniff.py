"""What a file that is not a checkpoint seems to be, from its first bytes (a bounded prefix, never the whole file):
"a PNG image", "a text file", "a ZIP archive"... so that opening the wrong file says what it is, not that a
safetensors header length of 727905341920923785 is invalid."""

from __future__ import annotations

import struct

PREFIX = 512  # enough for every signature below (a tar's "ustar" lies at 257)

# (signature, offset, what the file is): checked in order, first match wins
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", 0, "a PNG image"),
    (b"\xff\xd8\xff", 0, "a JPEG image"),
    (b"GIF87a", 0, "a GIF image"),
    (b"GIF89a", 0, "a GIF image"),
    (b"BM", 0, None),  # a BMP only with a plausible header size too (in what_file)
    (b"II*\x00", 0, "a TIFF image"),
    (b"MM\x00*", 0, "a TIFF image"),
    (b"%PDF-", 0, "a PDF document"),
    (b"\x1f\x8b", 0, "a gzip archive"),
    (b"BZh", 0, "a bzip2 archive"),
    (b"\xfd7zXZ\x00", 0, "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", 0, "a 7-Zip archive"),
    (b"\x28\xb5\x2f\xfd", 0, "a Zstandard archive"),
    (b"ustar", 257, "a tar archive"),
    (b"\x93NUMPY", 0, "a NumPy array (.npy)"),
    (b"\x89HDF\r\n\x1a\n", 0, "an HDF5 file"),
    (b"GGUF", 0, "a GGUF file (llama.cpp weights)"),
    (b"\x7fELF", 0, "a program (ELF executable)"),
    (b"MZ", 0, "a Windows program or DLL"),
)


def _zip(head: bytes) -> str:
    """A ZIP archive; its first member's name (in the local header at offset 30) tells PyTorch's apart."""
    name = ""
    if len(head) >= 30:
        n = struct.unpack("<H", head[26:28])[0]
        name = head[30:30 + n].decode("utf-8", "replace")
    if "/" in name and (name.endswith(".pkl") or "/data/" in name or name.endswith(("/version", "/byteorder"))):
        return "a ZIP archive of pickles (torch.save or TorchScript)"
    if name.startswith("word/") or name == "[Content_Types].xml":
        return "an Office document (a ZIP archive)"
    return f"a ZIP archive (its first file: {name[:60]!r})" if name and name.isprintable() else "a ZIP archive"


def _text(head: bytes) -> str | None:
    """A text file (and which kind), or None: UTF-8 without control characters other than white space."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "a text file (UTF-16)"
    for cut in range(4):  # the prefix may end inside a multi-byte character
        try:
            text = head[:len(head) - cut].decode("utf-8")
            break
        except UnicodeDecodeError:
            continue
    else:
        return None
    text = text.removeprefix("\ufeff")
    if not text or any(c < " " and c not in "\t\n\r\f" for c in text) or "\x7f" in text:
        return None
    start = text.lstrip()[:200].lower()
    if start.startswith("version https://git-lfs"):
        return "a Git LFS pointer"
    if start.startswith(("<!doctype html", "<html")) or "<html" in start:
        return "an HTML page"
    if start.startswith("<?xml") or start.startswith("<svg"):
        return "an SVG image" if "<svg" in start else "an XML file"
    if start.startswith(("{", "[")):
        return "a JSON file"
    return "a text file"


def what_file(head: bytes) -> str | None:
    """What the file whose first bytes are ``head`` seems to be, in words ("a PNG image"), or None when its
    kind cannot be told (a safetensors file, ONNX's protobuf, random bytes)."""
    if not head:
        return "an empty file"
    if head.startswith(b"PK\x03\x04"):
        return _zip(head)
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "a Python pickle"
    for magic, at, what in _MAGIC:
        if head[at:at + len(magic)] == magic:
            if magic == b"BM":
                if len(head) >= 18 and struct.unpack("<I", head[14:18])[0] in (12, 40, 56, 108, 124):
                    return "a BMP image"
                continue
            return what
    if head[8:12] == b"WEBP" and head.startswith(b"RIFF"):
        return "a WebP image"
    return _text(head)


# what to do about it, where there is something to do
HINTS = {
    "a Git LFS pointer": "the model itself was never fetched: run git lfs pull",
    "an HTML page": "a download that saved the web page instead of the file?",
    "an HDF5 file": "Keras weights? convert them to .safetensors",
    "a Python pickle": "torch.save's old format? convert the weights to .safetensors",
    **{f"{a} archive": "unpack it first" for a in ("a gzip", "a bzip2", "an xz", "a 7-Zip", "a Zstandard", "a tar")},
}


def not_a_model(name: str, head: bytes) -> str | None:
    """The message for a file named ``name`` whose first bytes are ``head`` when they say what it is."""
    what = what_file(head)
    if what is None:
        return None
    hint = HINTS.get(what)
    return f"{name}: {what}, not a model" + (f" ({hint})" if hint else "")


def is_zip_of_pickles(head: bytes) -> bool:
    return head.startswith(b"PK\x03\x04") and _zip(head).startswith("a ZIP archive of pickles")

