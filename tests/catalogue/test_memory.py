"""'When things go wrong', memory before refusal (issue U): rows F101 to F108, one test per row, named
``test_Fnnn_...``. Each hostile file claims far more than it holds (sparse on disk, or compressed zeros), and
is read in a child process whose address space may grow by at most 1.5 GB (tests/limits.py): a reader that
allocates before it checks fails there with a MemoryError instead of answering with one line."""

import json
import math
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from latent_explorer.models import CheckpointError, TrainConfig, build_model, load, load_dataset, make_config, train
from tests.limits import address_space_limited

ROOT = Path(__file__).resolve().parents[2]
VAE = ROOT / "assets" / "digits-vae2d.safetensors"
GB = 10**9  # as the issue counts


def _limited(code: str) -> list[str]:
    """Run ``code`` under the 1.5 GB cap; the lines it printed to stderr (it must not fail)."""
    rc, err = address_space_limited(code, limit_gb=1.5)
    assert rc == 0 and "MemoryError" not in err and "Traceback" not in err, err
    return [ln for ln in err.splitlines() if ln.strip()]


def _refusals(calls: str) -> str:
    """Code that runs each ``call`` (a Python expression per line) and prints what it raised, one line each."""
    lines = ["import contextlib, io", "from latent_explorer.models.cli import main as cli",
             "from latent_explorer.models import load",
             "def said(f):", "    buf = io.StringIO()", "    try:", "        with contextlib.redirect_stderr(buf):",
             "            r = f()", "    except Exception as e:", "        print('refused:', e, file=sys.stderr)",
             "        return", "    out = buf.getvalue().strip()",
             "    print(('exit %s: ' % r) + out if out else 'returned: %r' % (r,), file=sys.stderr)"]
    return "\n".join(lines + [f"said(lambda: {c})" for c in calls.strip().splitlines()]) + "\n"


def _forge_safetensors(src: Path, dst: Path, moved: dict, meta=None) -> Path:
    """``src``'s tensors, with those in ``moved`` ({name: (dtype, shape)}: an existing name is re-declared,
    a new one added) laid out last and left sparse: the file claims their bytes without holding them."""
    raw = src.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    body, entries, parts = raw[8 + n :], {}, []
    if meta is not None:
        header["__metadata__"] = meta
    pos = 0
    for name, e in sorted(((k, v) for k, v in header.items() if k != "__metadata__"),
                          key=lambda kv: kv[1]["data_offsets"]):
        if name in moved:
            continue
        b, t = e["data_offsets"]
        entries[name] = {**e, "data_offsets": [pos, pos + t - b]}
        parts.append(body[b:t])
        pos += t - b
    for name, (dtype, shape) in moved.items():
        size = math.prod(shape) * {"F32": 4, "U8": 1, "I64": 8}[dtype]
        entries[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [pos, pos + size]}
        pos += size
    if "__metadata__" in header:
        entries["__metadata__"] = header["__metadata__"]
    text = json.dumps(entries).encode()
    text += b" " * (-len(text) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(parts))
        f.truncate(8 + len(text) + pos)
    return dst


# -- F101 --------------------------------------------------------------------------------------------


def test_F101_a_small_checkpoint_with_one_huge_sparse_tensor(tmp_path):
    """A 355 KB VAE plus one 2.9 GB tensor it does not have (sparse on disk): the body was read
    before the tensors' names were checked. The names, dtypes, shapes and spans from the header are checked
    against the kind's own before any tensor is read."""
    extra = _forge_safetensors(VAE, tmp_path / "extra.safetensors", {"extra": ("F32", (725_000_000,))})
    assert extra.stat().st_size > 2.5 * GB and extra.stat().st_blocks * 512 < 10 * 2**20  # sparse
    state = load(VAE).state_dict()
    big = max(state, key=lambda k: state[k].numel())
    reshaped = _forge_safetensors(VAE, tmp_path / "reshaped.safetensors", {big: ("F32", (50_000, 12_500))})
    lines = _limited(_refusals(f"load({str(extra)!r})\ncli(['info', {str(extra)!r}])\n"
                               f"load({str(reshaped)!r})\ncli(['info', {str(reshaped)!r}])"))
    assert len(lines) == 4, lines
    for ln in lines[:2]:
        assert "extra.safetensors: the tensors do not match the vae config (unexpected 'extra')" in ln, ln
    for ln in lines[2:]:
        assert f"reshaped.safetensors: tensor '{big}' has shape (50000, 12500), the config needs" in ln, ln
    assert lines[1].startswith("exit 2: ") and lines[3].startswith("exit 2: ")
    assert load(VAE).kind == "vae"  # the checkpoints beside them load as before
    for old in sorted((ROOT / "tests" / "fixtures" / "format1").glob("*.safetensors")):
        assert load(old).meta["format_version"] == 1


# -- F102 --------------------------------------------------------------------------------------------

_LOCAL = struct.Struct("<4s5H3L2H")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")


def _zip_listing(entries: int, declared: int, zip64_declared: int | None = None) -> bytes:
    """A zip of ``entries`` one-letter names whose end record declares ``declared`` of them (and, with
    ``zip64_declared``, a ZIP64 end record declaring that many): what zipfile lists is the directory."""
    local = _LOCAL.pack(b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    cd = (_CENTRAL.pack(b"PK\x01\x02", 45, 3, 20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) + b"a") * entries
    if zip64_declared is None:
        return local + cd + _END.pack(b"PK\x05\x06", 0, 0, declared, declared, len(cd), len(local), 0)
    end64 = struct.pack("<4sqhhllqqqq", b"PK\x06\x06", 44, 45, 45, 0, 0, zip64_declared, zip64_declared, len(cd),
                        len(local))
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + len(cd), 1)
    return (local + cd + end64 + locator
            + _END.pack(b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))


def test_F102_a_torchscript_zip_listing_millions_of_entries(tmp_path):
    """`info` of a TorchScript zip whose directory lists 2.5 million entries (zipfile builds one object per
    entry whatever the end record declares: 1.8 GB), or whose ZIP64 end record declares 2^40: the listing is
    measured from the end records and counted by walking its headers before zipfile reads it."""
    files = {"many.pt": _zip_listing(2_500_000, 3),  # the end record lies: 3 entries
             "zip64.pt": _zip_listing(1, 0xFFFF, zip64_declared=2**40),
             "walked.pt": _zip_listing(100_000, 0xFFFF, zip64_declared=3)}  # small enough to be walked
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    calls = "\n".join(f"cli(['info', {str(tmp_path / n)!r}])" for n in files)
    lines = _limited(_refusals(calls + f"\nload({str(tmp_path / 'walked.pt')!r})"))
    assert len(lines) == 4 and all(ln.startswith(("exit 2: ", "refused: ")) for ln in lines), lines
    assert "many.pt: not a TorchScript generator: its listing is 117,500,000 bytes long" in lines[0]
    assert "zip64.pt: not a TorchScript generator: its listing declares 1,099,511,627,776 entries" in lines[1]
    assert "walked.pt: not a TorchScript generator: its listing holds more than 65,534 entries (it declares 3)" \
        in lines[2] and "walked.pt" in lines[3]
    from latent_explorer.models.io.external import _entry_count

    script = tmp_path / "ok.pt"  # a real TorchScript archive is counted as zipfile lists it
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(script))
    assert _entry_count(script.read_bytes()) == len(zipfile.ZipFile(script).namelist())


# -- F103 to F105: run records -----------------------------------------------------------------------


@pytest.fixture
def vae_run(tmp_path):
    """A 2-D VAE of digits trained one epoch, with its run record beside it."""
    data = load_dataset("digits")
    torch.manual_seed(0)
    model = build_model(make_config("vae", data.shape, 2, data.class_names, data=data, hidden=(16,)))
    out = tmp_path / "run" / "v.safetensors"
    out.parent.mkdir()
    for _ in train(model, data, TrainConfig(epochs=1, batch_size=64, record_n=50), out=str(out)):
        pass
    return out


def _record(path: Path, tensors: dict, **meta) -> Path:
    """A run record holding ``tensors`` and the metadata fields given (JSON text, as a run writes them)."""
    from safetensors.torch import save

    fields = {"format": "latent-explorer-run-record", "version": "1", "epochs": "[1]", "class_names": "[]",
              "histograms": "[{}]", "coverage": "[null]", "why_no_classes": ""}
    fields.update(meta)
    path.write_bytes(save({k: v.contiguous() for k, v in tensors.items()}, metadata=fields))
    return path


def _sparse_record(path: Path, shape) -> Path:
    """A run record whose one epoch of encodings claims ``shape`` float32 numbers, sparse on disk."""
    meta = {"format": "latent-explorer-run-record", "version": "1", "epochs": "[1]", "class_names": "[]",
            "histograms": "[{}]", "coverage": "[null]"}
    text = json.dumps({"__metadata__": meta, "z.00001": {"dtype": "F32", "shape": list(shape),
                                                         "data_offsets": [0, 4 * math.prod(shape)]}}).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        f.truncate(8 + len(text) + 4 * math.prod(shape))
    return path


def test_F103_a_huge_sparse_run_record_beside_a_model(vae_run, monkeypatch):
    """A 2.2 GB sparse run record beside a model (two background reads of it at once ran out of memory): its
    size is checked from `stat` before it is opened, and a smaller one's tensors from its header before any
    is read."""
    from latent_explorer.models.training import run_record
    from latent_explorer.models.training.run_record import load_record, record_path

    rec = record_path(vae_run)
    kept = rec.with_name("kept.bin")
    rec.rename(kept)
    _sparse_record(rec, (500, 1_100_000))
    assert rec.stat().st_size > 2.2 * GB
    _sparse_record(rec.with_name("wide.record.safetensors"), (500, 100_000))  # 200 MB: within the size
    lines = _limited(_refusals(
        f"__import__('latent_explorer.models.training.run_record').models.training.run_record.record_of(load({str(vae_run)!r}))\n"
        f"__import__('latent_explorer.models.training.run_record').models.training.run_record.load_record({str(rec.with_name('wide.record.safetensors'))!r},"
        " 2)"))
    assert len(lines) == 2, lines
    assert "v.record.safetensors: 2,200,000," in lines[0] and "refused before it is read" in lines[0]
    assert ("wide.record.safetensors: tensor 'z.00001' is F32 of shape (500, 100000); expected float32 of shape "
            "(images, 2)") in lines[1]
    # a run never writes a record that no reader would open again: it stops the record at the limit
    kept.rename(rec)
    from latent_explorer.models.io.safetensors_header import read_header

    one_epoch = read_header(rec).body_len  # its encodings, samples and labels: room for one epoch, not two
    monkeypatch.setattr(run_record, "MAX_RECORD_BYTES", one_epoch + one_epoch // 2)
    data = load_dataset("digits")
    model = build_model(make_config("vae", data.shape, 2, data.class_names, data=data, hidden=(16,)))
    out = vae_run.with_name("w.safetensors")
    for _ in train(model, data, TrainConfig(epochs=3, batch_size=64, record_n=50), out=str(out)):
        pass
    back = load_record(record_path(out), 2)
    assert back.epochs == [1] and "reached its limit" in back.why_no_classes


def test_F104_the_window_reads_one_record_at_a_time_off_its_thread(make_window, qtbot, vae_run, monkeypatch):
    """The Latent Map and the Inspect view both read a model's record when it is opened: the two reads ran at
    once, on a 2.2 GB record, and the window froze. One read at a time, in a worker; a record too large is one
    line on the status line, and the window goes on."""
    from latent_explorer.models.training import run_record

    _sparse_record(run_record.record_path(vae_run), (500, 1_100_000))
    reads = []
    real = run_record.load_record

    def counted(path, latent_dim=None):
        reads.append(threading.current_thread() is threading.main_thread())
        return real(path, latent_dim)

    monkeypatch.setattr(run_record, "load_record", counted)
    w = make_window(load_bundled=False)
    said = []
    w.statusBar().messageChanged.connect(said.append)
    assert w.open_path(str(vae_run))
    qtbot.waitUntil(lambda: "could not be read" in w.inspect.record_text.text() and not w.map.movie_job.busy,
                    timeout=120000)
    qtbot.waitUntil(lambda: any("refused before it is read" in s for s in said), timeout=60000)
    assert reads == [False], "one read, in a worker"
    assert "v.record.safetensors: 2,200,000," in w.inspect.record_text.text()
    assert not w.map.btn_movie.isVisible() and w.last_error is None
    qtbot.waitUntil(lambda: w.map.is_ready() and w.map.latents is not None, timeout=120000)  # the map goes on


@pytest.mark.parametrize("case", ["histogram count as text", "coverage abc", "1-D encodings"])
def test_F105_a_run_records_fields_of_the_wrong_type(make_window, qtbot, vae_run, case):
    """A record whose histogram count is text, whose coverage is "abc", or whose encodings have one number
    for a 2-D model: each was an exception in a Qt slot. The record's metadata is read typed (models.io.schema)
    and its tensors checked against the model: one line naming the file and the field."""
    from latent_explorer.models.training.run_record import load_record, record_of, record_path

    rec = record_path(vae_run)
    z = torch.zeros(50, 1 if case == "1-D encodings" else 2)
    meta = {"histogram count as text": {"histograms": '[{"0": "7"}]', "coverage": "[0.5]"},
            "coverage abc": {"histograms": '[{"0": 7}]', "coverage": '["abc"]'},
            "1-D encodings": {}}[case]
    _record(rec, {"z.00001": z, "labels": torch.zeros(50, dtype=torch.int64)}, **meta)
    says = {"histogram count as text": "v.record.safetensors: histograms.'0' is \"7\"; expected a whole number",
            "coverage abc": "v.record.safetensors: coverage is [\"abc\"]; expected a list",
            "1-D encodings": "v.record.safetensors: tensor 'z.00001' is F32 of shape (50, 1); expected float32 of "
                             "shape (images, 2)"}[case]
    with pytest.raises(CheckpointError) as e:
        record_of(load(vae_run))
    assert says in str(e.value) and "\n" not in str(e.value)
    if case != "1-D encodings":
        with pytest.raises(CheckpointError, match="v.record.safetensors"):
            load_record(rec)
    w = make_window(load_bundled=False)  # any exception in a slot fails the test (tests/conftest.py)
    assert w.open_path(str(vae_run))
    qtbot.waitUntil(lambda: "could not be read" in w.inspect.record_text.text() and not w.map.movie_job.busy,
                    timeout=120000)
    assert says in w.inspect.record_text.text() and not w.map.btn_movie.isVisible()
    qtbot.waitUntil(lambda: w.map.is_ready() and w.map.latents is not None, timeout=120000)


# -- F106 to F108: Open latents ----------------------------------------------------------------------


def _npz_claiming(path: Path, arrays: dict) -> Path:
    """An .npz whose arrays ({name: numpy array, or (dtype, shape) for zeros}) are compressed: zeros of any
    shape take a thousandth of their size, written a block at a time."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for key, spec in arrays.items():
            with zf.open(key + ".npy", "w", force_zip64=True) as fp:
                if isinstance(spec, np.ndarray):
                    np.lib.format.write_array(fp, spec, allow_pickle=False)
                    continue
                dtype, shape = np.dtype(spec[0]), spec[1]
                np.lib.format.write_array_header_1_0(fp, {"descr": dtype.str, "fortran_order": False,
                                                          "shape": shape})
                left, block = math.prod(shape) * dtype.itemsize, memoryview(bytes(1 << 24))
                while left:
                    fp.write(block[: min(left, len(block))])
                    left -= min(left, len(block))
    return path


def _read_points_limited(*files) -> list[str]:
    """What read_points answers for each file (or (file, latent_dim); 2 by default), under the cap."""
    files = [f if isinstance(f, tuple) else (f, 2) for f in files]
    calls = "\n".join(f"__import__('latent_explorer.models.io.exports').models.io.exports.read_points({str(f)!r}, {d})"
                      for f, d in files)
    return _limited(_refusals(calls))


def test_F106_latents_whose_labels_reach_two_to_the_forty(tmp_path, make_window, qtbot):
    """Open latents with a label of 2^40: the class-name list was built up to the largest label (2.6 GB).
    Labels are class numbers below the checkpoint reader's own limit (models.registry.MAX_SAVED_CLASSES)."""
    labels = np.zeros(1000, np.int64)
    labels[-1] = 2**40
    bad = _npz_claiming(tmp_path / "labels.npz", {"z": np.zeros((1000, 2), np.float32), "labels": labels})
    (line,) = _read_points_limited(bad)
    assert "labels.npz: labels must be 1,000 class numbers from 0 to 999, one per point" in line
    from latent_explorer.models.io.exports import read_points

    ok = _npz_claiming(tmp_path / "ok.npz", {"z": np.zeros((4, 2), np.float32), "labels": np.array([0, 1, 2, 999])})
    assert read_points(ok, 2)[1].max() == 999
    # the window: the map keeps what it showed, for this file and for files like F107's and F108's (their
    # memory is tested there)
    wide = _npz_claiming(tmp_path / "wide.npz", {"z": ("<f8", (10, 200_000))})
    names = _npz_claiming(tmp_path / "names.npz", {"z": np.zeros((10, 2), np.float32),
                                                  "class_names": ("<U4", (5_000_000,))})
    from tests.gui.conftest import select

    w = make_window()
    select(w, qtbot, "digits-vae2d")
    m = w.map
    shown = m.latents
    for f, says in ((bad, "labels must be"), (wide, "200,000 dimensions"), (names, "5,000,000 class names")):
        m.open_points(str(f))
        qtbot.waitUntil(lambda: not m.busy(), timeout=60000)
        assert says in m.failed and m.latents is shown
    m.open_points(str(ok))
    qtbot.waitUntil(lambda: not m.busy() and m.latents is not shown, timeout=60000)
    assert len(m.latents.class_names) == 1000  # names up to the largest label: bounded by the limit


def test_F107_latents_of_a_huge_shape_in_a_small_file(tmp_path):
    """Open latents with z of shape (1000, 200000) in a 1.5 MB file (compressed zeros): 2.3 GB were allocated
    before the shape was checked. Each array's shape and dtype are read from its header first."""
    wide = _npz_claiming(tmp_path / "wide.npz", {"z": ("<f8", (1000, 200_000))})
    assert wide.stat().st_size < 2 * 2**20
    many = _npz_claiming(tmp_path / "many.npz", {f"a{i}": np.zeros(1) for i in range(100)})
    lines = _read_points_limited(wide, (wide, None), many)
    assert "wide.npz: its latents have 200,000 dimensions, the model's have 2" in lines[0]
    assert "wide.npz: z of shape (1000, 200000) takes 1,526 MB; at most 512 MB of latents are shown" in lines[1]
    assert "many.npz: not a file of latents: its listing declares 100 entries (at most 64)" in lines[2]


def test_F108_latents_with_five_million_class_names(tmp_path):
    """Open latents with 5,000,000 class names (2.0 GB, and accepted): class names are bounded as a
    checkpoint's are (at most 1,000 of 100 printable characters), from the array's header."""
    names = _npz_claiming(tmp_path / "names.npz", {"z": np.zeros((10, 2), np.float32),
                                                  "class_names": ("<U32", (5_000_000,))})
    (line,) = _read_points_limited(names)
    assert "names.npz: 5,000,000 class names; at most 1,000 (as a checkpoint holds)" in line
    from latent_explorer.models.errors import ConfigError
    from latent_explorer.models.io.exports import read_points

    z = np.zeros((2, 2), np.float32)
    with pytest.raises(ConfigError, match="class_names is .*expected a list of 0 to 1,000 items, each a printable"):
        read_points(_npz_claiming(tmp_path / "c.npz", {"z": z, "class_names": np.array(["a\x1b[2J", "b"])}), 2)
    with pytest.raises(ConfigError, match="at most 100 characters each"):
        read_points(_npz_claiming(tmp_path / "l.npz", {"z": z, "class_names": np.array(["x" * 150])}), 2)
    assert read_points(_npz_claiming(tmp_path / "k.npz", {"z": z, "class_names": np.array(
        [f"c{i}" for i in range(1000)])}), 2)[2][-1] == "c999"
