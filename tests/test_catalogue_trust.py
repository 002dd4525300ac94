"""'When things go wrong', continued (issue U): rows F89 on, one test per row, named ``test_Fnn_...`` (the
README cross-check in tests/test_catalogue.py reads every tests/test_catalogue*.py)."""

import hashlib
import json
from pathlib import Path

import pytest
import torch

from models import CheckpointError, load
from models.external import UntrustedCode


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
                                                                          monkeypatch):
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
    assert w.open_path(str(g)) and len(jit_loads) == 2
    assert jit_loads[-1] == hashlib.sha256(g.read_bytes()).hexdigest()
