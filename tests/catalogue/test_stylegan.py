"""Faults of StyleGAN's spaces (issue R): a truncation ψ out of range (or asked of a model without a mapping
network), a W+ code of another layer count, style mixing between models of different sizes — one line each,
nothing written."""

import pytest
import torch

from latent_explorer.models import ConfigError, build_model, make_config, save

from .helpers import run_cli


def _stylegan(width=8, shape=(3, 16, 16)):
    torch.manual_seed(0)
    return build_model(make_config("stylegan", shape, 8, [], width=width, mapping_layers=2)).eval()


@pytest.fixture(scope="module")
def sg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("sg") / "sg.safetensors"
    save(_stylegan(), path)
    return path


def test_F147_a_truncation_psi_out_of_range_or_for_a_model_without_a_mapping_network(sg_file, tmp_path, capsys):
    out = tmp_path / "grid.png"
    code, lines = run_cli(capsys, "sample", sg_file, "--n", "4", "--psi", "3", "--out", out)
    assert code == 2 and len(lines) == 1 and "the truncation ψ must be a number from 0 to 2, got 3" in lines[0]
    assert not out.exists()
    from tests.catalogue.helpers import VAE2D

    code, lines = run_cli(capsys, "sample", VAE2D, "--n", "4", "--psi", "0.7", "--out", out)
    assert code == 2 and len(lines) == 1 and "without a mapping network to truncate" in lines[0]
    assert not out.exists()
    code, lines = run_cli(capsys, "sample", sg_file, "--n", "4", "--psi", "0.5", "--out", out)
    assert code == 0 and out.exists()  # in range: the grid, truncated
    out.unlink()
    code, lines = run_cli(capsys, "sample", sg_file, "--n", "4", "--towards", "modes", "--out", out)
    assert code == 2 and lines == ["error: --towards says what --psi truncates towards: give --psi too"], lines
    assert not out.exists()
    code, lines = run_cli(capsys, "sample", sg_file, "--n", "4", "--psi", "0.5", "--towards", "modes", "--out", out)
    assert code == 0 and out.exists()  # towards the nearest of W's modes


def test_F148_a_w_plus_code_of_another_layer_count():
    sg = _stylegan()
    sg.set_style(space="w+")
    d = sg.config.latent_dim
    with pytest.raises(ConfigError, match=rf"a W\+ code of this model is {sg.num_ws} × {d} numbers"):
        sg.decode(torch.zeros(1, (sg.num_ws - 1) * d))
    with pytest.raises(ConfigError, match="the space must be one of"):
        sg.set_style(space="s")


def test_F149_style_mixing_between_models_of_different_sizes():
    from latent_explorer.models.kinds.stylegan import mix

    small, large = _stylegan(), _stylegan(shape=(3, 32, 32))
    wa = small.broadcast(small.to_w(torch.randn(1, 8)))
    wb = large.broadcast(large.to_w(torch.randn(1, 8)))
    with pytest.raises(ConfigError, match="codes of models of different sizes do not mix"):
        mix(small, wa, wb, 1)
