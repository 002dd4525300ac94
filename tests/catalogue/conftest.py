"""Fixtures of the catalogue's tests: a checkpoint to damage, no child process outliving its test."""

import pytest

from tests.catalogue.helpers import _CHILDREN, VAE2D


@pytest.fixture
def ckpt(tmp_path):
    p = tmp_path / "m.safetensors"
    p.write_bytes(VAE2D.read_bytes())
    return p


@pytest.fixture(autouse=True)
def _no_orphans():
    yield
    while _CHILDREN:
        proc = _CHILDREN.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(60)


