"""What every view of the window is: a widget the window asks the same questions (napari's widgets answer
theirs): whether it takes a dropped file, whether it has settled, and to stop its work when the window closes.
The window's table of views is :data:`explorer.view_table.VIEWS`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QWidget


class ModelView(QWidget):
    """A view's defaults; a view overrides what it does. A view that applies to some models only has a
    ``placeholder`` (a hint) and a ``body``, and answers :meth:`applies`; :meth:`gate` shows one or the other."""

    placeholder = None  # QLabel: why this view has nothing to show
    body = None  # QWidget: the view itself

    def applies(self, model) -> str | None:
        """Why this view has nothing to show for ``model`` (None: it applies); ``model`` None: none is picked."""
        return "Pick a model in the list." if model is None else None

    def gate(self, model) -> bool:
        """Show the body, or the placeholder saying why not; True when the view applies to ``model``."""
        why = self.applies(model)
        if self.placeholder is not None:
            if why:
                self.placeholder.setText(why)
            self.placeholder.setVisible(why is not None)
        if self.body is not None:
            self.body.setVisible(why is None)
        return why is None

    def accepts_drop(self, path: Path, current: bool) -> bool:
        """Would this view take a file dropped on the window (``current``: it is the view shown)?"""
        return False

    def drop(self, path: Path) -> None:
        """Take a dropped file that :meth:`accepts_drop` said yes to."""

    def catch_up(self, model) -> None:
        """Built after a model was chosen (a view is built when first shown): take it as ``modelChanged``
        would have given it. A view that follows the model with another handler than :meth:`_on_model`
        overrides this."""
        self._on_model(model)

    def _on_model(self, model) -> None:
        """The model changed (connected to ``LatentState.modelChanged`` by the views that follow it)."""

    def is_ready(self) -> bool:
        """Finished what it started (loading, decoding, checking data): a screenshot may be taken."""
        return True

    def shutdown(self) -> None:
        """Stop this view's work: the window is closing."""
