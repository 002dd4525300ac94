"""'When things go wrong', issue U's inputs that the catalogue missed: rows F109 to F116, one test per row,
named ``test_Fnn_...`` (tests/catalogue/test_readme.py keeps the README's table and the tests in step).
Every hostile input is built here: PNGs whose parameters no control can hold, grids of gigabytes, allocator
refusals, folders named like IDX files, saves killed part-way, image headers that claim 2.5 billion pixels."""

import errno
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from latent_explorer.models.cli import main as cli
from tests.limits import address_space_limited, png_claiming

ROOT = Path(__file__).resolve().parents[2]
LDM = ROOT / "assets" / "scenes-ldm.safetensors"  # its parts (scenes-latent-ae, scenes-clip) lie beside it
VAE = ROOT / "assets" / "digits-vae2d.safetensors"
PROMPT = "a red circle"


def _run(capsys, *args):
    code = cli([str(a) for a in args])
    return code, [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]


def _png(path: Path, settings: str, prompt: str = PROMPT) -> Path:
    """A small PNG carrying the web UIs' "parameters" text, its settings line written by hand."""
    info = PngInfo()
    info.add_itxt("parameters", f"{prompt}\nNegative prompt: a star\n{settings}")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(path, pnginfo=info)
    return path


def _line(steps="7", sampler="Euler a", cfg="6.5", seed="31") -> str:
    return f"Steps: {steps}, Sampler: {sampler}, CFG scale: {cfg}, Seed: {seed}, Size: 32x32, Model: m"


def _txt2img(make_window, qtbot):
    """The window on Text to Image with a latent diffusion model, the form set apart from every PNG below."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    w = make_window(load_bundled=False)
    assert w.open_path(str(LDM)), w.last_error
    QTest.keyClick(w, Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    t = w.txt2img
    assert w.current_view() is t
    qtbot.waitUntil(lambda: t.model is not None and t.is_ready(), timeout=120000)
    t.prompt.setText("a blue square")
    t.negative.setText("")
    t.steps.setValue(12)
    t.guidance.setValue(2.0)
    t.seed.setValue(5)
    said = []
    t.message.connect(said.append)
    return w, t, said


def _form(t):
    return (t.prompt.text(), t.negative.text(), t.sampler.currentData(), t.steps.value(), t.guidance.value(),
            t.seed.value())


def test_F109_a_png_whose_seed_is_the_largest_txt2img_takes(make_window, qtbot, tmp_path, capsys):
    """A seed of 2^32 − 1 is one `txt2img --seed` accepts; the view's box stopped at 2^31 − 1, so a PNG the
    CLI wrote could not be restored. The view and the CLI take their limits from one place."""
    from latent_explorer.models.sampling.samplers import GUIDANCE_MAX, SEED_MAX

    assert SEED_MAX == 2**32 - 1
    code, lines = _run(capsys, "txt2img", LDM, "--prompt", PROMPT, "--seed", 2**32, "--out", tmp_path / "x.png")
    assert code == 2 and len(lines) == 1 and "seed must be between 0 and 4294967295" in lines[0]
    w, t, said = _txt2img(make_window, qtbot)
    assert (t.seed.maximum(), t.guidance.maximum(), t.steps.maximum()) == (SEED_MAX, GUIDANCE_MAX,
                                                                       t.model.config.timesteps)
    big = _png(tmp_path / "big-seed.png", _line(seed=str(2**32 - 1)))
    assert t.restore_from_png(str(big)), said
    assert t.seed.value() == 2**32 - 1 and isinstance(t.seed.value(), int)
    assert _form(t) == (PROMPT, "a star", "euler-a", 7, 6.5, 2**32 - 1) and "restored" in said[-1]
    t.sampler.setCurrentIndex(t.sampler.findData("ddim"))
    t.steps.setValue(2)
    t.n.setValue(1)
    t.generate()  # the seed reaches the sampler as the same whole number
    qtbot.waitUntil(lambda: t.trajectory is not None and t.is_ready(), timeout=120000)
    assert t.trajectory.settings["seed"] == 2**32 - 1
    t.seed.setValue(5)
    before = _form(t)
    for seed in (str(2**32), "-1"):
        assert not t.restore_from_png(str(_png(tmp_path / "past.png", _line(seed=seed))))
        assert f"seed is {seed}; expected a whole number from 0 to 4,294,967,295" in said[-1]
        assert "nothing was restored" in said[-1] and _form(t) == before
    assert w.last_error is None


def test_F110_a_png_whose_steps_no_control_can_hold(make_window, qtbot, tmp_path):
    """Steps: 10^20 (or one more than the model's T, or not a number) left the form half restored: the prompt
    changed, then the steps box refused. Every value is read first; the one that does not fit is named."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    w, t, said = _txt2img(make_window, qtbot)
    before = _form(t)
    T = t.model.config.timesteps
    huge = _png(tmp_path / "huge-steps.png", _line(steps=str(10**20)), prompt="a green triangle")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(huge))])
    w.dropEvent(QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                           Qt.KeyboardModifier.NoModifier))  # dropped on the window, as a user does
    assert said, "the drop was answered"
    assert said[-1] == (f"huge-steps.png: steps is 100000000000000000000; expected a whole number from 1 to {T:,}; "
                        "nothing was restored")
    assert _form(t) == before
    for steps, says in ((str(T + 1), f"steps is {T + 1}; expected a whole number from 1 to {T:,}"),
                        ("0", "steps is 0;"), ("7.5", "Steps: '7.5' is not a int"),
                        ("9" * 5000, "is not a int")):
        assert not t.restore_from_png(str(_png(tmp_path / "s.png", _line(steps=steps))))
        assert says in said[-1] and len(said[-1]) < 300 and _form(t) == before, said[-1]
    assert w.last_error is None


def test_F111_a_png_whose_cfg_or_sampler_the_view_cannot_hold(make_window, qtbot, tmp_path):
    """CFG 45 was restored as 30 (the box's maximum) and NaN silently too, while the view said "restored".
    The box now holds txt2img's own range (0 to 50): 45 is restored as 45; 55, NaN, infinity, a value finer
    than the box and a sampler the view lacks are named, and nothing is changed."""
    w, t, said = _txt2img(make_window, qtbot)
    assert t.restore_from_png(str(_png(tmp_path / "cfg45.png", _line(cfg="45"))))
    assert t.guidance.value() == 45.0 and "restored the parameters of cfg45.png" in said[-1]
    t.prompt.setText("a blue square")
    t.guidance.setValue(2.0)
    before = _form(t)
    for line, says in ((_line(cfg="55"), "cfg is 55.0; expected a finite number from 0 to 50"),
                       (_line(cfg="nan"), "cfg is NaN; expected a finite number"),
                       (_line(cfg="-inf"), "cfg is -Infinity; expected a finite number"),
                       (_line(cfg="6.125"), "cfg 6.125 has more decimals than this view's 2"),
                       (_line(sampler="DPM++ 2M Karras"), "sampler is \"DPM++ 2M Karras\"; expected one of 'DDPM'")):
        assert not t.restore_from_png(str(_png(tmp_path / "c.png", line)))
        assert says in said[-1] and "nothing was restored" in said[-1] and _form(t) == before, said[-1]
    assert w.last_error is None


def test_F112_a_grid_of_gigabytes_is_refused_before_it_is_drawn(tmp_path, capsys, monkeypatch):
    """`sample --n 1024 --scale 64` (both in range) ran out of memory and said "try a smaller batch size".
    The grid's size is worked out first: the message names --n and --scale and what they would cost; an
    allocator that refuses later is answered with the command's own options, never its internals."""
    out = tmp_path / "grid.png"
    code, err = address_space_limited(
        "from latent_explorer.models.cli import main\n"
        f"sys.exit(main(['sample', {str(VAE)!r}, '--n', '1024', '--scale', '64', '--out', {str(out)!r}]))\n")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: --n 1024 images at --scale 64 make a 18,496×18,496 picture that needs about")
    assert "GB" in lines[0] and lines[0].endswith("lower --n or --scale") and not out.exists()
    code, lines = _run(capsys, "sample", VAE, "--n", 1024, "--out", out)  # its default scale fits
    assert code == 0 and out.exists()
    out.unlink()
    import latent_explorer.models.io.checkpoint

    real = latent_explorer.models.io.checkpoint.load

    def refusing(*a, **kw):  # the allocator refuses while sampling, as PyTorch words it
        model = real(*a, **kw)

        def sample(*a, **kw):
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate "
                               "memory: you tried to allocate 9999999999 bytes. Error code 12 (Cannot allocate memory)")

        model.sample = sample
        return model

    monkeypatch.setattr(latent_explorer.models.io.checkpoint, "load", refusing)
    code, lines = _run(capsys, "sample", VAE, "--n", 512, "--scale", 2, "--out", out)
    assert code == 1 and lines == ["error: out of memory with --n 512 at --scale 2 (9.3 GB was asked for): lower --n "
                                   "or --scale"] and not out.exists()
    import latent_explorer.models.data

    def no_memory(*a, **kw):
        raise MemoryError

    monkeypatch.setattr(latent_explorer.models.data, "load_dataset", no_memory)
    code, lines = _run(capsys, "train", "--model", "vae", "--data", "digits", "--batch-size", 4096, "--quiet",
                       "--out", tmp_path / "m.safetensors")
    assert code == 1 and lines == ["error: out of memory with --batch-size 4096: lower --batch-size or --size"]


def test_F113_a_refusal_in_plain_words_that_names_the_file(tmp_path, capsys, monkeypatch, make_window):
    """Refusals showed an allocator's internals ("DefaultCPUAllocator: can't allocate memory …") or "Invalid
    argument" with no file named. One function (models.errors.failure) says what went wrong, with the file."""
    from latent_explorer.models.errors import failure, reason

    code, err = address_space_limited(  # PyTorch's real refusal, as this version words it
        "import torch\nfrom latent_explorer.models.errors import failure\n"
        "try:\n    torch.empty(2**33, dtype=torch.uint8)\n"
        "except RuntimeError as e:\n    print(failure('/data/big.safetensors', e), file=sys.stderr)\n")
    assert code == 0 and err.strip() == "big.safetensors: not enough memory for 8.0 GB", err
    assert failure("/x/a\x1bb.png", OSError(errno.EINVAL, "Invalid argument")) == \
        r"a\x1bb.png: the system refused it (invalid argument: a special file, or a damaged one?)"
    assert failure("/x/d.png", ValueError("/x/d.png: cannot read (it is gone)")) == "d.png: cannot read (it is gone)"
    assert reason(OSError(errno.EACCES, "Permission denied", "/x/y")) == "permission denied"
    # the CLI: an OSError that names no file is said with the command's file
    model = tmp_path / "m.safetensors"
    model.write_bytes(VAE.read_bytes())
    import latent_explorer.models.io.checkpoint

    def einval(*a, **kw):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(latent_explorer.models.io.checkpoint, "load", einval)
    code, lines = _run(capsys, "info", model)
    assert code == 2 and lines == ["error: m.safetensors: the system refused it (invalid argument: a special file, "
                                   "or a damaged one?)"]
    # the window: opening a model whose weights the allocator refuses
    import latent_explorer.models as models

    def refused(*a, **kw):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: you "
                           "tried to allocate 12884901888 bytes.")

    monkeypatch.setattr(models, "load", refused)
    w = make_window(load_bundled=False)
    errors = []
    w.library.error.connect(errors.append)
    assert not w.open_path(str(model))
    assert errors == ["m.safetensors: cannot open (not enough memory for 12.0 GB)"]
    assert "Allocator" not in w.last_error and "enforce" not in w.last_error


def test_F114_a_folder_named_like_an_idx_file(tmp_path, capsys):
    """A folder called train-images-idx3-ubyte in the data folder was "a pipe, a device or a socket". It is
    called a folder, and the message says what was expected there."""
    from latent_explorer.models import DataError, load_dataset

    data = tmp_path / "data"
    (data / "train-images-idx3-ubyte").mkdir(parents=True)
    with pytest.raises(DataError) as e:
        load_dataset(str(data))
    assert "train-images-idx3-ubyte: a folder, where an IDX file of images" in str(e.value)
    assert "pipe" not in str(e.value)
    code, lines = _run(capsys, "train", "--model", "vae", "--data", data, "--quiet", "--out",
                       tmp_path / "m.safetensors")
    assert code == 2 and len(lines) == 1 and "a folder, where an IDX file of images" in lines[0]
    # a real images file beside a folder named as its labels
    images = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    images.parent.mkdir()
    images.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 4]) + bytes(32))
    (images.parent / "t10k-labels-idx1-ubyte").mkdir()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: a folder, where an IDX file of labels"):
        load_dataset(str(images))


_BLOCKED_SAVE = """
import os, sys
sys.path.insert(0, {root!r})
import numpy as np
from latent_explorer.models.io.images import save_png

def stuck(fd):  # the save has written its temp file: say so, then wait until killed (no timing involved)
    print(os.getpid(), flush=True)
    sys.stdin.readline()

os.fsync = stuck
save_png(sys.argv[1], np.zeros((4, 4, 3), np.uint8))
"""


def _blocked_save(target: Path) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", _BLOCKED_SAVE.format(root=str(ROOT)), str(target)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == str(p.pid)  # it is in the middle of the save (EOF if it crashed)
    return p


def _temps(folder: Path) -> list[str]:
    return sorted(f.name for f in folder.iterdir() if ".tmp" in f.name)


def test_F115_a_save_killed_part_way_leaves_no_temp_file_for_ever(tmp_path):
    """A kill during a save left NAME.tmp beside the file for ever. Each temp file is named as its process's
    (.NAME.<pid>.<random>.tmp); the next save to the folder removes those of processes that have ended, and
    never a running save's."""
    from latent_explorer.models.io.images import save_png
    from latent_explorer.models.io.temp_files import remove_stale

    killed = _blocked_save(tmp_path / "grid.png")
    (stray,) = _temps(tmp_path)
    assert stray.startswith(f".grid.png.{killed.pid}.") and stray.endswith(".tmp")  # .NAME.<pid>.<host>.<rand>.tmp
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    killed.stdin.close()
    killed.stdout.close()
    assert _temps(tmp_path) == [stray] and not (tmp_path / "grid.png").exists()  # a kill cannot clean up
    running = _blocked_save(tmp_path / "other.png")  # another save, still going on in the same folder
    (kept,) = [n for n in _temps(tmp_path) if n != stray]
    foreign = tmp_path / ".notes.txt.77.abcdefgh.bak"  # not an atomic save's name: never touched
    foreign.write_text("x")
    elsewhere = tmp_path / f".x.png.{killed.pid}.another-machine.abcdefgh.tmp"  # a save of another machine
    elsewhere.write_text("x")  # (a shared folder, another container): its process id means nothing here
    save_png(tmp_path / "next.png", np.zeros((2, 2, 3), np.uint8))  # the next save to the folder
    assert _temps(tmp_path) == sorted([kept, elsewhere.name]) and (tmp_path / "next.png").exists()
    assert foreign.exists()
    elsewhere.unlink()
    running.send_signal(signal.SIGKILL)
    running.wait()
    running.stdin.close()
    running.stdout.close()
    assert remove_stale(tmp_path) == [kept] and _temps(tmp_path) == []


def test_F116_info_of_a_png_whose_header_claims_50000_by_50000(tmp_path, capsys):
    """`info huge.png` of a header claiming 50000×50000 pixels is one line (no traceback, no warning of PIL's
    on stderr), answered from the header before PIL reads it, within the memory cap; a header PIL only warns
    about (10000×10000) is refused the same way."""
    for name, w, h, says in (("huge.png", 50000, 50000, "50,000×50,000"), ("wide.png", 10000, 10000, "10,000×10,000")):
        png = png_claiming(tmp_path / name, w, h)
        code, err = address_space_limited("from latent_explorer.models.cli import main\n"
                                          f"sys.exit(main(['info', {str(png)!r}]))\n")
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and lines == [f"error: {name}: its header claims {says} pixels, more than the 64,000,000 "
                                       "an image here may have"], err
    code, lines = _run(capsys, "info", tmp_path / "huge.png")
    assert code == 2 and len(lines) == 1 and "50,000×50,000" in lines[0]
    assert os.path.getsize(tmp_path / "huge.png") < 200
