"""The temporary files of atomic saves (:func:`models.io.checkpoint.atomic_write`, MP4 animations): each is
written beside its target as ``.NAME.<pid>.<host>.<random>.tmp`` and renamed over it. A save killed part-way
(SIGKILL, a power cut of the process) cannot remove its own; the next save to that folder removes those of
processes of this machine that no longer run, so none is left for ever. The machine's name keeps a save of
another machine or container sharing the folder (whose process ids mean nothing here) from being touched."""

from __future__ import annotations

import os
import re
import socket
import stat
from pathlib import Path

# .NAME.<pid>.<host>.<mkstemp's 8 characters>.tmp, and .tmp.mp4 for a video (its encoder goes by the suffix)
_OURS = re.compile(r"^\..+\.(\d{1,10})\.([a-z0-9-]{1,24})\.[a-z0-9_]{8}\.tmp(\.[a-z0-9]{1,8})?$")


def _host() -> str:
    return re.sub(r"[^a-z0-9-]", "-", socket.gethostname().split(".")[0].lower())[:24] or "host"


def temp_beside(path: str | os.PathLike, suffix: str = ".tmp") -> dict:
    """The arguments of ``tempfile.mkstemp`` for an atomic save of ``path``: a temp file in the same folder,
    named as this process's; the stale ones of processes that have ended are removed first."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    remove_stale(folder)
    return {"prefix": f".{path.name}.{os.getpid()}.{_host()}.", "suffix": suffix, "dir": folder}


def _running(pid: int) -> bool:
    if pid == os.getpid() or pid <= 1:
        return True
    try:
        os.kill(pid, 0)  # signal 0: nothing is sent, only whether the process exists
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):  # another user's process (EPERM), or no pid at all: not ours to judge
        return True
    return True


def remove_stale(folder: str | os.PathLike) -> list[str]:
    """Remove the temp files of atomic saves in ``folder`` whose process, on this machine, no longer runs
    (regular files of ours only, never another user's or another machine's); the names removed. Best effort:
    a folder that cannot be listed is left as it is."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return []
    removed, host = [], _host()
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        m = _OURS.match(entry.name)
        if m is None or m.group(2) != host or _running(int(m.group(1))):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                os.unlink(entry.path)
                removed.append(entry.name)
        except OSError:
            pass
    return removed
