"""The model list beside the views: the bundled models, then whatever the user opened or trained, filtered by
what the user types; the current model's facts below it. It shows the library (explorer.library) and chooses in
it; it holds no list of its own."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QLineEdit, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget

from .library import ModelLibrary


class ModelList(QWidget):
    """The model browser: the bundled models, then whatever the user opened."""

    def __init__(self, library: ModelLibrary, parent=None):
        super().__init__(parent)
        self.library = library
        lay = QVBoxLayout(self)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter models…")
        self.filter.setClearButtonEnabled(True)
        self.filter.setToolTip("Show only the models whose name or description holds this text (Ctrl+F)")
        self.filter.textChanged.connect(self._apply_filter)
        lay.addWidget(self.filter)
        self.list = QListWidget()
        self.list.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # two runs' names differ at their ends
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # elide, never scroll
        self.list.setMinimumWidth(120)  # names stay readable whatever a view asks of the width (a 1024 px window fits)
        self.list.setToolTip("Models: click to explore; drop checkpoint files here to add them")
        self.list.currentRowChanged.connect(self._on_row)
        lay.addWidget(self.list, 1)
        self.btn_open = QPushButton("Open…")
        self.btn_open.setToolTip("Open a checkpoint (.safetensors) or a TorchScript generator (Ctrl+O)")
        lay.addWidget(self.btn_open)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.info.setStyleSheet("color: #888")
        lay.addWidget(self.info)
        library.entriesChanged.connect(self._refill)
        library.currentChanged.connect(self._on_current)

    def _refill(self):
        self.list.blockSignals(True)
        self.list.clear()
        for e in self.library.entries:
            item = QListWidgetItem(("⚠ " if e.broken else "") + e.name + ("  (bundled)" if e.bundled else ""))
            item.setToolTip(f"{e.path}\n{e.describe()}")
            if e.broken:  # listed, marked, and its reason a hover away; choosing it says it again
                item.setForeground(Qt.GlobalColor.gray)
            self.list.addItem(item)
        cur = self.library.current
        if cur in self.library.entries:
            self.list.setCurrentRow(self.library.entries.index(cur))
        self.list.blockSignals(False)
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str):
        words = text.lower().split()
        for i, e in enumerate(self.library.entries[: self.list.count()]):
            hay = f"{e.name} {e.describe()}".lower()
            self.list.item(i).setHidden(not all(w in hay for w in words))

    def _on_row(self, row):
        if 0 <= row < len(self.library.entries):
            self.library.set_current(self.library.entries[row])
            loading = self.library.loading
            if self.library.current is not self.library.entries[row] and not (
                    loading is not None and loading[0] is self.library.entries[row]):
                self._on_current(self.library.current)  # refused (a broken file): the row goes back

    def _on_current(self, entry):
        if entry is not None and entry in self.library.entries:
            self.list.blockSignals(True)
            self.list.setCurrentRow(self.library.entries.index(entry))
            self.list.blockSignals(False)
        self.info.setText(entry.describe() if entry else "")
