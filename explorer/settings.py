"""User settings and where the bundled models are: read as the types they must have."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
MODEL_SUFFIXES = (".safetensors", ".pt", ".ts", ".torchscript", ".onnx", ".pth", ".ckpt", ".pkl", ".bin")


def make_settings() -> QSettings:
    """User settings; ``LATENT_EXPLORER_SETTINGS`` (an .ini path) keeps tests away from the real ones."""
    path = os.environ.get("LATENT_EXPLORER_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("LatentExplorer", "Latent Explorer")


# A settings file may be damaged, hand-edited or written by another version: every value is read as the
# type it must have, and anything else counts as absent (the window starts with its defaults, never crashes).
def setting_strings(settings: QSettings, key: str, limit: int = 1000) -> list[str]:
    v = settings.value(key, [])
    v = [v] if isinstance(v, str) else v if isinstance(v, (list, tuple)) else []
    return [s for s in v if isinstance(s, str) and s and len(s) <= 4096][:limit]


def setting_int(settings: QSettings, key: str) -> int | None:
    v = settings.value(key)
    try:
        return int(v) if isinstance(v, (int, str)) and not isinstance(v, bool) else None
    except ValueError:
        return None


def setting_bytes(settings: QSettings, key: str) -> QByteArray | None:
    v = settings.value(key)
    return v if isinstance(v, QByteArray) else QByteArray(v) if isinstance(v, bytes) else None


def setting_path(settings: QSettings, key: str) -> str | None:
    v = settings.value(key)
    return v if isinstance(v, str) and v and "\0" not in v and len(v) <= 4096 else None


def remember(settings: QSettings, key: str, value: str, limit: int) -> None:
    """``value`` first in the list ``key`` (once), which keeps at most ``limit``."""
    kept = [v for v in setting_strings(settings, key, limit) if v != value]
    settings.setValue(key, [value, *kept][:limit])
