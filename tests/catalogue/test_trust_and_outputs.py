"""'When things go wrong': trust for bytes, outputs that would replace a model, a record or an input, and
readers of drawings, names and system files (rows F89 to F96, one test per row, ``test_Fnn_...``;
tests/catalogue/test_readme.py keeps the README's table and the tests in step)."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from latent_explorer.models import CheckpointError, load
from latent_explorer.models.io.external import UntrustedCode


class _Gen(torch.nn.Module):
    def __init__(self, value: float):
        super().__init__()
        self.w = torch.nn.Parameter(torch.full((6, 64), value))

    def forward(self, z):
        return torch.tanh(z @ self.w).view(-1, 1, 8, 8)


def _script(module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    (path.parent / (path.name + ".json")).write_text(json.dumps({"latent_dim": 6, "image_shape": [1, 8, 8]}))
    return path


@pytest.fixture
def jit_loads(monkeypatch):
    """Every call of torch.jit.load, with the bytes it was handed."""
    seen = []
    real = torch.jit.load

    def spy(f, *a, **kw):
        data = f.getvalue() if hasattr(f, "getvalue") else Path(f).read_bytes()
        seen.append(hashlib.sha256(data).hexdigest())
        return real(f, *a, **kw)

    monkeypatch.setattr(torch.jit, "load", spy)
    return seen


def test_F89_a_torchscript_file_swapped_while_the_trust_question_is_open(tmp_path, jit_loads, make_window,
                                                                          monkeypatch, qtbot):
    monkeypatch.setenv("LATENT_EXPLORER_SETTINGS", str(tmp_path / "s.ini"))
    g = _script(_Gen(0.1), tmp_path / "g.pt")
    _script(_Gen(0.9), tmp_path / "other.pt")
    asked = hashlib.sha256(g.read_bytes()).hexdigest()
    with pytest.raises(UntrustedCode) as e:
        load(g)
    assert e.value.digest == asked and jit_loads == []
    # the CLI's --trust-code and the window's yes load the bytes whose digest was asked about
    assert load(g, trust_code=asked) is not None and jit_loads == [asked]
    # the window: the file is replaced while "Run the code in this file?" is open, then the user says yes
    w = make_window(load_bundled=False)

    def swap_then_yes(path, message):
        Path(path).write_bytes((tmp_path / "other.pt").read_bytes())
        return True

    w.library.confirm_code = swap_then_yes
    errors = []
    w.library.error.connect(errors.append)
    assert not w.open_path(str(g))
    assert len(jit_loads) == 1, "nothing of the replacement ran"
    assert errors and "changed after you were asked" in errors[-1] and "nothing of it ran" in errors[-1]
    with pytest.raises(CheckpointError, match="changed after you were asked"):
        load(g, trust_code=asked)
    # asked again about the new content, the yes is for it
    w.library.confirm_code = lambda path, message: True
    assert w.open_path(str(g))
    qtbot.waitUntil(lambda: len(jit_loads) == 2, timeout=120_000)  # loaded by a worker once the child passed
    assert jit_loads[-1] == hashlib.sha256(g.read_bytes()).hexdigest()


def test_F90_huge_image_headers_after_any_image_was_read(tmp_path):
    """A data reader once lifted PIL's decompression-bomb limit for the whole process: every later image read
    (a drawing, a PNG's parameters, an init image) was unprotected. The limit is set once and never lifted,
    and each reader checks the header's size before it decodes a pixel."""
    import numpy as np
    from PIL import Image

    from latent_explorer.models.data import read_image
    from tests.limits import address_space_limited, png_claiming

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "small.png")
    read_image(tmp_path / "small.png")
    assert Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS <= 64_000_000
    png_claiming(tmp_path / "huge.png", 50_000, 50_000)
    png_claiming(tmp_path / "drawing.png", 9_000, 9_000)
    code, err = address_space_limited(
        "import numpy as np\nfrom PIL import Image\n"
        "from latent_explorer.models.data import read_image\nfrom latent_explorer.models.io.images import png_text\n"
        "from latent_explorer.models.io.sketches import read_sketch\n"
        f"Image.fromarray(np.zeros((8, 8), np.uint8)).save({str(tmp_path / 'ok.png')!r})\n"
        f"read_image({str(tmp_path / 'ok.png')!r})\n"
        f"for f in (read_image, lambda p: read_sketch(p, 32)):\n"
        f"    for name in ('huge.png', 'drawing.png'):\n"
        f"        try:\n            f({str(tmp_path)!r} + '/' + name)\n"
        "        except ValueError as e:\n            print('refused:', e, file=sys.stderr)\n"
        "for name in ('huge.png', 'drawing.png'):\n"
        f"    try:\n        print('text:', png_text({str(tmp_path)!r} + '/' + name), file=sys.stderr)\n"
        "    except ValueError as e:\n        print('refused:', e, file=sys.stderr)\n", limit_gb=1.5)
    assert code == 0, err
    assert err.count("refused:") == 6 and "MemoryError" not in err
    assert err.count("too large") >= 4  # the size named from the header, before a pixel is decoded


def test_F91_a_fifo_named_like_a_drawing(tmp_path):
    """translate --input, txt2img --control and the Sketch view's Load read drawings: a FIFO named
    drawing.png is refused by stat before anything opens it (opening a FIFO waits for a writer for ever)."""
    import os

    from latent_explorer.models.cli import main as cli
    from latent_explorer.models.io.sketches import read_sketch

    fifo = tmp_path / "drawing.png"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="not a regular file"):
        read_sketch(fifo, 32)
    code = cli(["translate", str(Path(__file__).resolve().parents[2] / "assets" / "scenes-pix2pix.safetensors"),
                "--input", str(fifo), "--out", str(tmp_path / "out.png")])
    assert code == 2 and not (tmp_path / "out.png").exists()


def test_F92_a_model_is_never_replaced_by_a_run_record(tmp_path, capsys):
    """`train --out foo.record.safetensors` was accepted, and a later `train --out foo.safetensors` wrote its
    run record over that model. A record's name is refused as a model's --out; a model is never replaced by a
    record nor a record by a model, even with --force."""
    from latent_explorer.models.cli import main as cli
    from latent_explorer.models.io.checkpoint import check_output
    from latent_explorer.models.training.run_record import save_record

    base = ["train", "--model", "vae", "--data", "digits", "--latent-dim", "2", "--max-steps", "2", "--quiet"]
    assert cli(base + ["--out", str(tmp_path / "foo.record.safetensors")]) == 2
    assert "run's record" in capsys.readouterr().err and not (tmp_path / "foo.record.safetensors").exists()
    # a model someone named like a record (renamed by hand): the next run's record never replaces it
    assert cli(base + ["--out", str(tmp_path / "m.safetensors")]) == 0
    (tmp_path / "m.safetensors").rename(tmp_path / "foo.record.safetensors")
    kept = (tmp_path / "foo.record.safetensors").read_bytes()
    assert cli(base + ["--out", str(tmp_path / "foo.safetensors")]) == 2
    assert "not a run record" in capsys.readouterr().err
    assert (tmp_path / "foo.record.safetensors").read_bytes() == kept and not (tmp_path / "foo.safetensors").exists()
    # nor with --force; and the record writer itself refuses to write over what is not a record
    with pytest.raises(CheckpointError, match="not a run record"):
        check_output(tmp_path / "foo.safetensors", force=True)
    from latent_explorer.models.training.run_record import RunRecord

    with pytest.raises(CheckpointError, match="not a run record"):
        save_record(RunRecord(epochs=[], labels=None, class_names=[]), tmp_path / "foo.record.safetensors")
    assert (tmp_path / "foo.record.safetensors").read_bytes() == kept
    # a record is never replaced by a model, even with --force
    save_record(RunRecord(epochs=[], labels=None, class_names=[]), tmp_path / "r.record.safetensors")
    (tmp_path / "r.record.safetensors").rename(tmp_path / "r.safetensors")
    with pytest.raises(CheckpointError, match="a run's record, not a model"):
        check_output(tmp_path / "r.safetensors", force=True)


def test_F93_an_output_that_is_the_commands_own_input(tmp_path):
    """`translate --input x.png --out x.png` replaced the drawing it read; a model's --out that is its own
    --resume file likewise. An output is never one of the command's inputs."""
    from latent_explorer.models.io.checkpoint import check_output, refuse_inputs

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"x")
    with pytest.raises(CheckpointError, match="an input of this command"):
        check_output(model, force=True, inputs=[str(model)])
    (tmp_path / "link.safetensors").symlink_to(model)
    with pytest.raises(CheckpointError, match="an input of this command"):
        refuse_inputs(tmp_path / "link.safetensors", [model])
    refuse_inputs(tmp_path / "other.png", [model, None])  # anything else passes


def test_F93_the_cli_never_writes_over_its_own_input(tmp_path, capsys):
    import shutil

    import numpy as np
    from PIL import Image

    from latent_explorer.models.cli import main as cli

    root = Path(__file__).resolve().parents[2]
    drawing = tmp_path / "x.png"
    Image.fromarray(np.full((32, 32, 3), 255, np.uint8)).save(drawing)
    kept = drawing.read_bytes()
    assert cli(["translate", str(root / "assets" / "scenes-pix2pix.safetensors"), "--input", str(drawing),
                "--out", str(drawing)]) == 2
    assert "an input of this command" in capsys.readouterr().err and drawing.read_bytes() == kept
    assert cli(["txt2img", str(root / "assets" / "scenes-controlnet.safetensors"), "--control", str(drawing),
                "--prompt", "a blue star", "--out", str(drawing)]) == 2
    assert "an input of this command" in capsys.readouterr().err and drawing.read_bytes() == kept
    model = tmp_path / "m.safetensors"
    shutil.copy(root / "assets" / "digits-vae2d.safetensors", model)
    before = model.read_bytes()
    assert cli(["train", "--model", "vae", "--data", "digits", "--resume", str(model), "--max-steps", "1",
                "--quiet", "--force", "--out", str(model)]) == 2
    assert "an input of this command" in capsys.readouterr().err and model.read_bytes() == before


def test_F94_control_characters_from_a_file_reach_no_terminal_raw(tmp_path, capsys):
    """A data spec or a file name holding terminal escape sequences (retitle, clear the screen) or a carriage
    return that forges a line: every message leaves through one function (models.errors.printable)."""
    from latent_explorer.models.cli import main as cli
    from latent_explorer.models.errors import printable

    name = tmp_path / "evil\x1b]0;pwned\x07\x1b[2J\r.safetensors"
    name.write_bytes(b"\x00" * 16)
    assert cli(["info", str(name)]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\r" not in err and "\x07" not in err and "\\x1b" in err
    assert printable("ok\ttab\nnew line") == "ok\ttab\nnew line"
    assert printable("\u202eevil") == "\\u202eevil"


def test_F95_a_part_linked_to_an_endless_system_file(tmp_path):
    """A latent-diffusion part symlinked to /proc/self/pagemap passes is_file(), and its SHA-256 read never
    ended: a part is read only as a regular file outside /proc, /sys and /dev, no further than its size."""
    import os
    import shutil
    import time

    from latent_explorer.models.io.digest import file_digest

    root = Path(__file__).resolve().parents[2] / "assets"
    shutil.copy(root / "scenes-ldm.safetensors", tmp_path)
    shutil.copy(root / "scenes-latent-ae.safetensors", tmp_path)
    if not os.path.exists("/proc/self/pagemap"):
        pytest.skip("no /proc here")
    os.symlink("/proc/self/pagemap", tmp_path / "scenes-clip.safetensors")
    t0 = time.monotonic()
    with pytest.raises(CheckpointError, match="a system file"):
        load(tmp_path / "scenes-ldm.safetensors")
    assert time.monotonic() - t0 < 60  # answered, not hung (the old read never ended)
    with pytest.raises(CheckpointError, match="a system file"):
        file_digest(Path("/proc/self/pagemap"))
    assert len(file_digest(root / "scenes-clip.safetensors")) == 64


@pytest.mark.parametrize("case", ["1001 classes", "150 characters", "control character"])
def test_F96_a_run_never_saves_what_it_cannot_open_again(tmp_path, capsys, case):
    """Training on 1,001 class folders, or on folders named with 150 characters or a control character,
    said "saved", and the file was refused on open. The class names are checked before training starts."""
    import numpy as np
    from PIL import Image

    from latent_explorer.models.cli import main as cli

    data = tmp_path / "d"
    names = {"1001 classes": [f"c{i:04d}" for i in range(1001)], "150 characters": ["a" * 150, "b"],
             "control character": ["bad\x1bname", "good"]}[case]
    for name in names:
        (data / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(data / name / "0.png")
    code = cli(["train", "--model", "vae", "--data", str(data), "--max-steps", "1", "--quiet", "--batch-size", "2",
                "--out", str(tmp_path / "m.safetensors")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "m.safetensors").exists(), err
    assert ("at most 1,000" in err) if case == "1001 classes" else ("at most 100 printable characters" in err)
    assert "\x1b" not in err
