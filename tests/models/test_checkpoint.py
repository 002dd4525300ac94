import json
import struct

import pytest
import torch

from latent_explorer.models import CheckpointError, load, save
from latent_explorer.models.io.checkpoint import FORMAT_VERSION, atomic_write

from .helpers import tiny_model


@pytest.fixture
def ckpt(tmp_path):
    m = tiny_model("vae")
    return save(m, tmp_path / "vae.safetensors", data={"spec": "digits"}), m


def _rewrite(path, header_edit=None, tensors_edit=None, meta_edit=None):
    """Re-serialise a checkpoint with edited tensors/metadata (a valid safetensors file)."""
    from safetensors.torch import save as st_save

    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__")
    m = load(path)
    tensors = dict(m.state_dict())
    if tensors_edit:
        tensors_edit(tensors)
    if meta_edit:
        meta_edit(meta)
    path.write_bytes(st_save({k: v.contiguous() for k, v in tensors.items()}, metadata=meta))
    return path


def test_roundtrip_keeps_metadata(ckpt):
    path, m = ckpt
    loaded = load(path)
    assert loaded.meta["kind"] == "vae" and loaded.meta["format_version"] == FORMAT_VERSION
    assert loaded.meta["data"]["spec"] == "digits"
    for k, v in m.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_pickled_torch_file_is_refused_and_never_unpickled(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    for name in ("evil.pth", "evil.ckpt", "evil.pt", "evil.safetensors"):
        torch.save({"x": Evil()}, tmp_path / name)
        with pytest.raises(CheckpointError, match="pickle"):
            load(tmp_path / name)
    import pickle

    (tmp_path / "raw.pkl").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="pickle"):
        load(tmp_path / "raw.pkl")
    assert not marker.exists()


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "an empty file, not a model"),
    (lambda p: p.write_bytes(bytes(range(256)) * 40), "header length|not JSON|truncated"),
    (lambda p: p.write_bytes(struct.pack("<Q", 2**40) + b"{}"), "header length"),
    (lambda p: p.write_bytes(struct.pack("<Q", 5_000_000) + b"{}"), "truncated"),
    (lambda p: p.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{}"), "not JSON"),
    (lambda p: p.write_bytes(struct.pack("<Q", 2) + b"[]"), "not an object"),
])
def test_garbage_files(tmp_path, make, message):
    p = tmp_path / "x.safetensors"
    make(p)
    with pytest.raises(CheckpointError, match=message):
        load(p)


def test_truncated_checkpoint(ckpt):
    path, _ = ckpt
    raw = path.read_bytes()
    for cut in (len(raw) - 1, len(raw) // 2, 9):
        path.write_bytes(raw[:cut])
        with pytest.raises(CheckpointError, match="truncated|outside|header"):
            load(path)


def test_wrong_shape_dtype_name_nan_version_kind(ckpt):
    path, _ = ckpt
    key = "decoder.0.weight"
    cases = [
        (dict(tensors_edit=lambda t: t.__setitem__(key, torch.zeros(3, 3))), "shape"),
        (dict(tensors_edit=lambda t: t.__setitem__(key, t[key].double())), "float64"),
        (dict(tensors_edit=lambda t: t.__setitem__("extra", torch.zeros(1))), "unexpected 'extra'"),
        (dict(tensors_edit=lambda t: t.pop(key)), "missing 'decoder.0.weight'"),
        (dict(tensors_edit=lambda t: t[key].__setitem__((0, 0), float("nan"))), "NaN"),
        (dict(tensors_edit=lambda t: t[key].__setitem__((0, 0), float("inf"))), "NaN or infinite"),
        (dict(meta_edit=lambda m: m.__setitem__("format_version", "99")), "newer"),
        (dict(meta_edit=lambda m: m.__setitem__("kind", "flow")), "unknown model kind"),
        (dict(meta_edit=lambda m: m.pop("format")), "not a Latent Explorer"),
        (dict(meta_edit=lambda m: m.__setitem__("config", "{not json")), "not valid JSON"),
        (dict(meta_edit=lambda m: m.__setitem__("config", json.dumps({"kind": "vae", "latent_dim": 0}))),
         "invalid model config"),
    ]
    good = path.read_bytes()
    for kwargs, message in cases:
        path.write_bytes(good)
        _rewrite(path, **kwargs)
        with pytest.raises(CheckpointError, match=message):
            load(path)


def test_atomic_save_keeps_the_old_file_on_failure(ckpt, tmp_path, monkeypatch):
    path, m = ckpt
    before = path.read_bytes()

    def broken_replace(a, b):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("latent_explorer.models.io.checkpoint.os.replace", broken_replace)
    with pytest.raises(CheckpointError, match="disk is full.*unchanged"):
        save(m, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["vae.safetensors"]  # no temp file left


def test_save_to_missing_or_readonly_folder(tmp_path):
    m = tiny_model("ae")
    with pytest.raises(CheckpointError, match="does not exist"):
        save(m, tmp_path / "nope" / "a.safetensors")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        import os

        if os.access(ro, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(CheckpointError, match="read-only"):
            save(m, ro / "a.safetensors")
    finally:
        ro.chmod(0o700)


def test_atomic_write_replaces_in_one_step(tmp_path):
    p = tmp_path / "f.bin"
    atomic_write(p, b"one")
    atomic_write(p, b"two")
    assert p.read_bytes() == b"two" and len(list(tmp_path.iterdir())) == 1


class _Gen(torch.nn.Module):
    def __init__(self, d=6):
        super().__init__()
        self.fc = torch.nn.Linear(d, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.fc(z)).view(-1, 3, 8, 8)


def test_torchscript_generator_with_sidecar(tmp_path):
    g = torch.jit.script(_Gen())
    p = tmp_path / "gen.pt"
    g.save(str(p))
    with pytest.raises(CheckpointError, match="sidecar"):
        load(p)
    side = tmp_path / "gen.pt.json"
    side.write_text(json.dumps({"latent_dim": 5, "image_shape": [3, 8, 8]}))
    with pytest.raises(CheckpointError, match="contains code"):
        load(p)  # TorchScript is code: it runs only when the user trusts it
    with pytest.raises(CheckpointError, match="fails on z of size 5"):
        load(p, trust_code=True)
    side.write_text(json.dumps({"latent_dim": 6, "image_shape": [1, 8, 8]}))
    with pytest.raises(CheckpointError, match="shape"):
        load(p, trust_code=True)
    side.write_text(json.dumps({"latent_dim": 6, "image_shape": [3, 8, 8]}))
    ext = load(p, trust_code=True)
    z = torch.randn(2, 6)
    assert ext.kind == "torchscript" and not ext.has_encoder
    assert torch.allclose(ext.decode(z), (g(z) + 1) / 2, atol=1e-6)
    side.write_text("{broken")
    with pytest.raises(CheckpointError, match="invalid sidecar"):
        load(p)


def _png(p):
    from PIL import Image

    Image.new("RGB", (4, 4)).save(p, format="PNG")


@pytest.mark.parametrize("name, make, says", [
    ("picture.safetensors", _png, "picture.safetensors: a PNG image, not a model"),
    ("photo.jpg", lambda p: p.write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), "a JPEG image, not a model"),
    ("notes.txt", lambda p: p.write_text("my notes about the model\n"), "notes.txt: a text file, not a model"),
    ("m.safetensors", lambda p: p.write_text('{"kind": "vae"}'), "a JSON file, not a model"),
    ("m.safetensors", lambda p: p.write_text("<!DOCTYPE html><html>Sign in</html>"), "an HTML page, not a model"),
    ("m.safetensors", lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\n"),
     "a Git LFS pointer, not a model (the model itself was never fetched: run git lfs pull)"),
    ("m.safetensors", lambda p: p.write_bytes(b"%PDF-1.7\n"), "a PDF document, not a model"),
    ("m.safetensors.gz", lambda p: p.write_bytes(__import__("gzip").compress(b"x")), "a gzip archive, not a model"),
    ("empty.safetensors", lambda p: p.write_bytes(b""), "empty.safetensors: an empty file, not a model"),
])
def test_a_file_that_is_not_a_checkpoint_says_what_it_seems_to_be(tmp_path, name, make, says):
    p = tmp_path / name
    make(p)
    with pytest.raises(CheckpointError) as e:
        load(p)
    assert says in str(e.value) and "header length" not in str(e.value)


def test_a_zip_says_which_zip_and_a_zip_of_pickles_is_still_refused(tmp_path):
    import zipfile

    with zipfile.ZipFile(tmp_path / "photos.safetensors", "w") as z:
        z.writestr("cat.jpg", b"\xff\xd8\xff")
    with pytest.raises(CheckpointError, match=r"a ZIP archive \(its first file: 'cat.jpg'\), not a model"):
        load(tmp_path / "photos.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "weights.safetensors")  # a ZIP of pickles
    with pytest.raises(CheckpointError, match="refused: .*pickle.*TorchScript opens as .pt"):
        load(tmp_path / "weights.safetensors")


def test_only_a_bounded_prefix_is_read_to_say_what_a_file_is(tmp_path):
    from latent_explorer.models.io.sniff import PREFIX, what_file

    big = tmp_path / "big.safetensors"
    with open(big, "wb") as f:  # 1 GB (sparse): text at the start, then nothing but zeros
        f.write(b"a" * PREFIX)
        f.seek(2**30)
        f.write(b"\n")
    with pytest.raises(CheckpointError, match="a text file, not a model"):
        load(big)
    assert what_file(b"a" * PREFIX + b"\x00") is None  # zeros in the prefix: not text
    assert what_file(struct.pack("<Q", 2) + b"{}") is None  # a safetensors file: nothing to say
    assert what_file("é".encode()[:1]) is None and what_file("aé".encode()[:2]) == "a text file"  # cut in a char
