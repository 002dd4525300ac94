"""What every view of the window is: a widget the window asks the same questions (napari's widgets answer
theirs): whether it takes a dropped file, whether it has settled, and to stop its work when the window closes.
The window's table of views is :data:`explorer.view_table.VIEWS`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget


class ModelView(QWidget):
    """A view's defaults; a view overrides what it does."""

    def accepts_drop(self, path: Path, current: bool) -> bool:
        """Would this view take a file dropped on the window (``current``: it is the view shown)?"""
        return False

    def drop(self, path: Path) -> None:
        """Take a dropped file that :meth:`accepts_drop` said yes to."""

    def is_ready(self) -> bool:
        """Finished what it started (loading, decoding, checking data): a screenshot may be taken."""
        return True

    def shutdown(self) -> None:
        """Stop this view's work: the window is closing."""
