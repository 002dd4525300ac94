"""Helpers for tests of hostile input: run code in a child process whose address space is capped, so that a
regression that allocates fails there instead of taking the machine down; craft image headers that claim
more pixels than they carry."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def address_space_limited(code: str, limit_gb: float = 1.5) -> tuple[int, str]:
    """Run ``code`` in a child whose address space may grow by at most ``limit_gb`` once our modules are
    imported (PyTorch alone maps more than that). Returns (exit code, stderr)."""
    script = (f"import resource, sys\nsys.path.insert(0, {str(ROOT)!r})\nimport models\n"
              "vm = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1]) * 1024\n"
              f"cap = vm + {int(limit_gb * 2**30)}\n"
              "resource.setrlimit(resource.RLIMIT_AS, (cap, cap))\n" + code)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, cwd=ROOT)
    return r.returncode, r.stderr


def png_claiming(path: Path, width: int, height: int, colour_type: int = 6) -> Path:
    """A small PNG file whose header claims ``width`` x ``height`` pixels (RGBA by default): a few bytes of
    data, so only a reader that trusts the header before decoding is hurt by it."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path
