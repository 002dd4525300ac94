"""Can Qt open a window here? Checked before Qt is imported, so that a missing system library is one clear
message with the command that installs it, never Qt's abort ("Could not load the Qt platform plugin").

On Linux with X11, Qt's ``xcb`` platform plugin links against a dozen small libxcb libraries that a fresh
machine may lack; Qt's own hint names only the first. ``ldd`` lists every library the plugin (and what it
loads) cannot find; each maps to the Debian/Ubuntu package that ships it.

    python -m latent_explorer.platform_check            # say what is missing (exit 1) or nothing (exit 0)
    python -m latent_explorer.platform_check --install  # install it when we may (root, or sudo), showing the command

This module imports no Qt (it runs before Qt can fail). ``LATENT_EXPLORER_LDD`` and ``LATENT_EXPLORER_APT``
name other programs for ``ldd`` and ``apt-get`` (tests use stand-ins).
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

# soname -> Debian/Ubuntu package: what the xcb plugin of Qt 6 needs beyond a base system
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-image.so.0": "libxcb-image0", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-util.so.1": "libxcb-util1",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0", "libxcb.so.1": "libxcb1", "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6", "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0", "libSM.so.6": "libsm6", "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0", "libfontconfig.so.1": "libfontconfig1", "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3", "libglib-2.0.so.0": "libglib2.0-0", "libgthread-2.0.so.0": "libglib2.0-0",
}
# every package the README lists: what a fresh Debian/Ubuntu desktop most often lacks
README_PACKAGES = ("libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-xinerama0", "libxcb-xkb1",
                   "libxcb-render-util0", "libxcb-image0", "libxkbcommon-x11-0", "libegl1", "libfontconfig1")


def xcb_plugin() -> Path | None:
    """The Qt xcb platform plugin of the PySide6 this Python imports, or None (no PySide6, or not Linux)."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    plugin = Path(list(spec.submodule_search_locations)[0]) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The libraries ``ldd`` cannot find for ``plugin`` (and what it loads), in its order, once each."""
    ldd = os.environ.get("LATENT_EXPLORER_LDD") or shutil.which("ldd")
    if not ldd:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found: dict[str, None] = {}
    for line in out.splitlines():
        name, sep, where = line.strip().partition("=>")
        if sep and where.strip() == "not found":
            found.setdefault(name.strip())
    return list(found)


def packages_for(libraries: list[str]) -> tuple[list[str], list[str]]:
    """(Debian packages that ship ``libraries``, libraries with no known package), each once."""
    pkgs = list(dict.fromkeys(PACKAGES[lib] for lib in libraries if lib in PACKAGES))
    return pkgs, [lib for lib in libraries if lib not in PACKAGES]


def uses_xcb(env=os.environ) -> bool:
    """Will Qt pick its xcb plugin? (X11 asked for or found, and not another platform named.)"""
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].split(";")[0].strip()
    if platform:
        return platform == "xcb"
    return bool(env.get("DISPLAY")) and not env.get("WAYLAND_DISPLAY")


def install_command(pkgs: list[str]) -> list[str]:
    apt = os.environ.get("LATENT_EXPLORER_APT", "apt-get")
    return [apt, "install", "-y", *pkgs]


def update_command() -> list[str]:
    return [os.environ.get("LATENT_EXPLORER_APT", "apt-get"), "update"]


def check(install: bool = False, out=None) -> int:
    """0 when Qt can open a window (or this is not an X11 start), else 1 after saying exactly what to run.
    With ``install``: runs the install when root (or through sudo), showing the command, then checks again."""
    if not sys.platform.startswith("linux"):
        return 0
    out = out or sys.stderr
    env = os.environ
    if not env.get("QT_QPA_PLATFORM") and not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        print("latent-explorer: no screen to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set).\n"
              "  Start it from a desktop session, or over ssh with -X; `make test` needs no screen.", file=out)
        return 1
    plugin = xcb_plugin()
    if plugin is None or not uses_xcb(env):
        return 0
    pkgs, unknown = packages_for(missing_libraries(plugin))
    if not pkgs and not unknown:
        return 0
    cmd = install_command(pkgs)
    if install and pkgs and not unknown:
        sudo = [] if os.geteuid() == 0 else (["sudo"] if shutil.which("sudo") else None)
        if sudo is not None:
            print(f"Qt's window plugin needs {len(pkgs)} system package(s); installing them:\n  "
                  f"{shlex.join(sudo + cmd)}", file=out, flush=True)
            code = subprocess.run(sudo + cmd).returncode
            if code != 0:  # a fresh machine may have no package lists yet
                print(f"  {shlex.join(sudo + update_command())}", file=out, flush=True)
                if subprocess.run(sudo + update_command()).returncode == 0:
                    code = subprocess.run(sudo + cmd).returncode
            if code == 0 and not missing_libraries(plugin):
                return 0
            print(f"latent-explorer: the install did not succeed (exit {code}).", file=out)
    print("latent-explorer: Qt cannot open a window: its xcb plugin misses "
          f"{', '.join(missing_libraries(plugin)) or 'system libraries'}.", file=out)
    if pkgs:
        sudo = "" if os.geteuid() == 0 else "sudo "
        print(f"  Install them with:\n    {sudo}{shlex.join(cmd)}\n  (after `{sudo}{shlex.join(update_command())}` "
              "on a machine that has never updated its package lists)", file=out)
    if unknown:
        print(f"  No package is known here for {', '.join(unknown)}: install what ships them "
              "(e.g. `apt-file search NAME`).", file=out)
    return 1


if __name__ == "__main__":
    sys.exit(check(install="--install" in sys.argv[1:]))
