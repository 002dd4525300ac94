"""File dialogs that start where the user last was, per purpose (models, images, data, exports), and
remember it across sessions; the first time they start in the user's documents, never the working folder."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QStandardPaths
from PySide6.QtWidgets import QFileDialog

from .state import make_settings, setting_path


def start_folder(key: str) -> str:
    last = setting_path(make_settings(), f"folders/{key}")
    if last and Path(last).is_dir():
        return last
    docs = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    return docs if docs and Path(docs).is_dir() else str(Path.home())


def remember(key: str, path: str) -> None:
    if path:
        p = Path(path)
        make_settings().setValue(f"folders/{key}", str(p if p.is_dir() else p.parent))


def open_files(parent, key: str, title: str, file_filter: str) -> list[str]:
    paths, _ = QFileDialog.getOpenFileNames(parent, title, start_folder(key), file_filter)
    if paths:
        remember(key, paths[0])
    return paths


def open_file(parent, key: str, title: str, file_filter: str) -> str:
    path, _ = QFileDialog.getOpenFileName(parent, title, start_folder(key), file_filter)
    remember(key, path)
    return path


def open_folder(parent, key: str, title: str) -> str:
    path = QFileDialog.getExistingDirectory(parent, title, start_folder(key))
    remember(key, path)
    return path


def save_file(parent, key: str, title: str, default_name: str, file_filter: str) -> str:
    """``default_name`` may be a bare name (placed in the remembered folder) or a full path."""
    start = default_name if Path(default_name).is_absolute() else str(Path(start_folder(key)) / default_name)
    path, _ = QFileDialog.getSaveFileName(parent, title, start, file_filter)
    remember(key, path)
    return path


def animation_filter() -> str:
    """GIF, and MP4 where a video encoder is installed."""
    from latent_explorer.models.io.images import video_formats

    return ";;".join({".gif": "GIF (*.gif)", ".mp4": "MP4 video (*.mp4)"}[f] for f in video_formats())


def save_as(parent, title: str, default_name: str, file_filter: str, save, report, key: str = "exports") -> None:
    """Ask where to save, call ``save(path)``, and report "saved PATH" or the error, never raising."""
    path = save_file(parent, key, title, default_name, file_filter)
    if not path:
        return
    try:
        save(path)
        report(f"saved {path}")
    except Exception as e:  # noqa: BLE001 - every error reaches the user as a message
        report(str(e))
