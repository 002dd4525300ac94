"""Issue T.1: the two commands on a fresh machine. Before Qt starts, ``make run`` finds the system libraries
Qt's xcb plugin lacks (``ldd``) and installs them where it may, or stops with the exact command — never
Qt's abort. Stand-ins for ``ldd`` and ``apt-get`` make "a library is missing" happen on any machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from latent_explorer import platform_check as pc

ROOT = Path(__file__).resolve().parents[1]
LDD_OUT = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /x/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibweird-thing.so.9 => not found
"""


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """An ``ldd`` that reports icccm and keysyms missing until the stand-in ``apt-get`` has 'installed'
    them (it writes a marker and logs its arguments)."""
    marker, log = tmp_path / "installed", tmp_path / "apt.log"
    missing = "\\tlibxcb-icccm.so.4 => not found\\n\\tlibxcb-keysyms.so.1 => not found\\n"
    ldd = _script(tmp_path / "ldd", f'[ -e "{marker}" ] || printf "{missing}"\n')
    apt = _script(tmp_path / "apt", f'echo "$@" >> "{log}"\n[ "$1" = install ] && touch "{marker}"\nexit 0\n')
    monkeypatch.setenv("LATENT_EXPLORER_LDD", ldd)
    monkeypatch.setenv("LATENT_EXPLORER_APT", apt)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("QT_QPA_PLATFORM", "")
    return marker, log


def test_ldd_output_becomes_packages_each_once(tmp_path, monkeypatch):
    ldd = _script(tmp_path / "ldd", f"cat <<'X'\n{LDD_OUT}X\n")
    monkeypatch.setenv("LATENT_EXPLORER_LDD", ldd)
    libs = pc.missing_libraries(tmp_path / "libqxcb.so")
    assert libs == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libweird-thing.so.9"]
    assert pc.packages_for(libs) == (["libxcb-icccm4", "libxcb-keysyms1"], ["libweird-thing.so.9"])


def test_this_machines_plugin_is_checked_and_every_missing_library_has_a_package():
    """The real plugin of the installed PySide6, read by the real ldd: whatever it lacks here is named."""
    if not sys.platform.startswith("linux") or shutil.which("ldd") is None:
        pytest.skip("ldd checks are for Linux")
    plugin = pc.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    libs = pc.missing_libraries(plugin)
    assert pc.packages_for(libs)[1] == [], f"no package known for {libs}"
    assert set(pc.README_PACKAGES) <= set(pc.PACKAGES.values())
    readme = (ROOT / "README.md").read_text()
    assert all(p in readme for p in pc.README_PACKAGES), "the README lists the system packages"


def test_missing_library_is_the_exact_command_not_an_abort(stand_ins, monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no sudo: nothing may be installed
    assert pc.check(install=True) == 1
    err = capsys.readouterr().err
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in err
    assert f"sudo {os.environ['LATENT_EXPLORER_APT']} install -y libxcb-icccm4 libxcb-keysyms1" in err
    assert not stand_ins[1].exists(), "nothing was run without root or sudo"


def test_as_root_it_installs_showing_the_command_then_starts(stand_ins, monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert pc.check(install=True) == 0
    assert "install -y libxcb-icccm4 libxcb-keysyms1" in capsys.readouterr().err
    assert stand_ins[1].read_text().split() == ["install", "-y", "libxcb-icccm4", "libxcb-keysyms1"]


def test_no_screen_and_other_platforms(monkeypatch, capsys):
    for var in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(var, raising=False)
    assert pc.check() == 1 and "no screen" in capsys.readouterr().err
    assert not pc.uses_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})
    assert not pc.uses_xcb({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"})
    assert pc.uses_xcb({"QT_QPA_PLATFORM": "xcb"}) and pc.uses_xcb({"DISPLAY": ":1"})
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert pc.check() == 0  # `make test`: no screen needed


def test_make_run_stops_with_the_command_before_qt_starts(stand_ins, tmp_path):
    """The Makefile's `run`: a library still missing after the install was refused stops it with the
    command, exit status non-zero, and Qt is never started (no abort, no core)."""
    if shutil.which("make") is None:
        pytest.skip("no make")
    ldd = _script(tmp_path / "ldd-always", 'printf "\\tlibxcb-cursor.so.0 => not found\\n"\n')
    env = dict(os.environ, LATENT_EXPLORER_LDD=ldd, LATENT_EXPLORER_APT="/bin/false", DISPLAY=":0",
               LATENT_EXPLORER_SETTINGS=str(tmp_path / "s.ini"))
    r = subprocess.run(["make", "-s", "-o", ".venv/.installed", f"VPY={sys.executable}", "run"], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "Install them with" in out and "install -y libxcb-cursor0" in out
    assert "Could not load the Qt platform plugin" not in out and "main.py" not in out.split("misses")[-1]
