"""Kind plug-ins (issue P.4): a package adds a kind through the entry-point group ``latent_explorer.kinds``;
it trains from the CLI; a plug-in that fails to load is one line in the log and stops nothing."""

import logging

import pytest

from latent_explorer.models import load, registry
from latent_explorer.models.cli import build_parser
from latent_explorer.models.cli import main as cli
from tests.toy_kinds import install_plugins, remove_plugins


@pytest.fixture
def plugged(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="latent_explorer")
    found = install_plugins(tmp_path / "site", monkeypatch)
    yield found
    remove_plugins()


def test_a_plugged_in_kind_registers_and_a_broken_one_is_one_line(plugged, caplog):
    by_name = {p.name: p for p in plugged}
    assert by_name["plug-toy"].kinds == ["plug-toy"] and by_name["plug-toy"].error is None
    assert by_name["plug-toy"].dist == "toyplug 0.1"
    broken = by_name["broken"]
    assert broken.kinds == [] and broken.error.startswith("ModuleNotFoundError: No module named")
    lines = [r.getMessage() for r in caplog.get_records("setup") if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and "'broken'" in lines[0] and "toyplug 0.1" in lines[0] and "\n" not in lines[0]
    assert registry.load_plugins() == plugged  # loaded once: looking again adds nothing, logs nothing
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert "plug-toy" in registry.kinds(trainable=True)
    assert registry.kinds(trainable=True)[-1] == "plug-toy"  # after the built-in kinds


def test_the_cli_trains_the_plugged_in_kind_and_lists_the_plugins(plugged, tmp_path, capsys):
    train = next(a for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions
                 if a.dest == "model")
    assert "plug-toy" in train.choices
    out = tmp_path / "p.safetensors"
    assert cli(["train", "--model", "plug-toy", "--data", "digits", "--max-steps", "3", "--quiet",
                "--out", str(out)]) == 0
    model = load(out)
    assert model.kind == "plug-toy" and model.latent_dim == 4
    capsys.readouterr()
    assert cli(["plugins"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("broken  toyplug_broken  (toyplug 0.1)  failed: ModuleNotFoundError")
    assert lines[1] == "plug-toy  toyplug_kind  (toyplug 0.1)  kinds: plug-toy"


def test_without_plugins_the_command_says_how_to_add_one(capsys):
    assert cli(["plugins"]) == 0
    assert "latent_explorer.kinds" in capsys.readouterr().out
