"""Compare: two or more open models side by side (:mod:`models.analysis.compare`): samples from the same seed (the same
z where latent sizes match), maps of the same held-out images whose points are linked (point ``i`` is the same
image in every map: hover or click one and it lights up in all), reconstructions of the same images, and one
table of figures. Computed in a worker with progress and cancel."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from latent_explorer.models.analysis.compare import HEADERS, MAX_MODELS, check_comparable, compare_job
from latent_explorer.models.display import mosaic

from .inspect_panels import FigureTable, plot
from .jobs import ModelJob
from .map_points import PALETTE
from .model_view import ModelView
from .widgets import ImagePanel, ProgressLine, SeedBox, hint

SHOW = 8  # samples and reconstructions per model
LIST_ROWS = 6  # models the tick list shows at once


class CompareView(ModelView):
    message = Signal(str)

    def __init__(self, state, library, parent=None):
        super().__init__(parent)
        self.state, self.library = state, library
        self.model = None  # the comparison in flight (the job guard's key), not the current model
        self.result = None
        self.columns: list[dict] = []
        self._build()
        self.job = ModelJob(self, "compare", self.progress)
        self.job.finished.append(self._enable)
        library.entriesChanged.connect(self._fill_models)
        state.modelChanged.connect(lambda _m: self._fill_models())
        self._fill_models()

    def _build(self):
        root = QVBoxLayout(self)
        top = QHBoxLayout()
        self.models = QListWidget()
        self.models.setUniformItemSizes(True)  # whole rows, see _fit_rows
        self.models.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # a long row elides
        self.models.setToolTip(f"Tick two to {MAX_MODELS} open models that make images of one size")
        self.models.itemChanged.connect(self._on_tick)
        self._ticked: list[str] | None = None  # what the user ticked (None: the current model, following it)
        self.seed = SeedBox()  # every seed a command takes (models.sampling.samplers.SEED_MAX)
        self.seed.setToolTip("The seed of the samples: every model gets the same one (and the same z where "
                             "latent sizes match)")
        self.n_points = QSpinBox()
        self.n_points.setRange(50, 10000)
        self.n_points.setValue(1000)
        self.n_points.setToolTip("Held-out images every encoder maps (the same ones in every map)")
        self.n_quality = QSpinBox()
        self.n_quality.setRange(100, 10000)
        self.n_quality.setValue(500)
        self.n_quality.setToolTip("Samples per model for FD, precision, recall and coverage")
        self.btn = QPushButton("Compare")
        self.btn.setToolTip("Compare the ticked models (Ctrl+Return; Esc cancels)")
        self.btn.clicked.connect(self.compare)
        form = QGridLayout()
        for r, (label, w) in enumerate((("Seed:", self.seed), ("Images:", self.n_points),
                                        ("Samples:", self.n_quality))):
            form.addWidget(QLabel(label), r, 0)
            form.addWidget(w, r, 1)
        top.addWidget(QLabel("Models:"))
        top.addWidget(self.models, 1)
        top.addLayout(form)
        top.addWidget(self.btn, 0, Qt.AlignmentFlag.AlignBottom)
        root.addLayout(top)
        self.notes = QLabel()
        self.notes.setWordWrap(True)
        root.addWidget(self.notes)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self.cancel)
        root.addWidget(self.progress)
        self.placeholder = hint("Tick two or more models above and press Compare: the same seed, the same "
                                "z where latent sizes match, the same held-out images, one table.")
        root.addWidget(self.placeholder, 1)
        self.grid = QGridLayout()
        root.addLayout(self.grid, 3)
        self.hover = QLabel()
        self.hover.setStyleSheet("color: #aaa")
        root.addWidget(self.hover)
        self.table = FigureTable(HEADERS)
        self.table.setMaximumHeight(120)
        root.addWidget(self.table)
        QShortcut(QKeySequence("Ctrl+Return"), self, self.compare)
        QShortcut(QKeySequence(Qt.Key.Key_Escape), self, self.cancel)

    # -- which models ----------------------------------------------------------------------------
    def _on_tick(self, _item):
        self._ticked = self.chosen_names()
        self._enable()

    def catch_up(self, model) -> None:
        self._fill_models()

    def _fill_models(self):
        ticked = set(self._ticked or ())
        entries = self.library.entries
        current = self.library.current
        self.models.blockSignals(True)
        self.models.clear()
        shape = tuple(current.image_shape) if current is not None else None
        for e in entries:
            if not e.known:  # a broken file (marked in the model list), or one not opened yet
                continue
            z = f"z {e.latent_dim}" if e.latent_dim else "no z"  # from its header until it is chosen
            item = QListWidgetItem(f"{e.name}  ({e.spec.title}, {z}, "
                                   f"{'×'.join(map(str, e.image_shape))})")
            item.setData(Qt.ItemDataRole.UserRole, e.name)
            item.setToolTip(item.text())
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            on = e.name in ticked if self._ticked is not None else (e is current)
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
            if shape is not None and tuple(e.image_shape) != shape:
                item.setForeground(Qt.GlobalColor.gray)
                item.setToolTip("another image size than the current model's")
            self.models.addItem(item)
            if e is current:
                self.models.scrollToItem(item)
        self.models.blockSignals(False)
        self._fit_rows()
        self._enable()

    def _fit_rows(self):
        """The list as tall as a whole number of rows: at 96 px it showed 6.7, the last one cut in half."""
        row = self.models.sizeHintForRow(0)
        if row > 0:
            self.models.setFixedHeight(LIST_ROWS * row + 2 * self.models.frameWidth())

    def chosen_names(self) -> list[str]:
        return [self.models.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.models.count())
                if self.models.item(i).checkState() == Qt.CheckState.Checked]

    def choose(self, names: list[str]) -> None:
        """Tick these models (as the user's ticks: they stay through model switches)."""
        self.models.blockSignals(True)
        for i in range(self.models.count()):
            item = self.models.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in names
            item.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
        self.models.blockSignals(False)
        self._on_tick(None)

    def _enable(self):
        self.btn.setEnabled(not self.job.busy and len(self.chosen_names()) >= 2)

    # -- the comparison --------------------------------------------------------------------------
    def compare(self):
        if self.job.busy:
            return
        by_name = {e.name: e for e in self.library.entries}
        names = self.chosen_names()
        cur = self.library.current
        if cur is not None and cur.name in names:  # the current model first: its data is the comparison's
            names.insert(0, names.pop(names.index(cur.name)))
        try:  # the ticked models listed from their headers are read now (the few the user ticked)
            models = {n: by_name[n].model for n in names if n in by_name}
            check_comparable(models)
        except Exception as e:  # noqa: BLE001 - a ConfigError: said, nothing started
            self.notes.setText(str(e))
            self.message.emit(f"Compare: {e}")
            return
        seed, n_points, n_quality = self.seed.value(), self.n_points.value(), self.n_quality.value()
        self.model = token = object()
        self.job.start(token, lambda stop: compare_job(models, n_points, n_quality, seed, SHOW), self._show,
                       f"Comparing {len(models)} models…", on_error=self._failed,
                       on_cancel=lambda: self.message.emit("comparison cancelled"))
        self._enable()

    def _failed(self, msg):
        self.notes.setText(f"Could not compare: {msg}")
        self.message.emit(f"Compare: {msg}")

    def cancel(self):
        self.job.cancel()

    def _show(self, c):
        self.result = c
        self.placeholder.hide()
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.columns = []
        for col, side in enumerate(c.sides):
            title = QLabel(f"<b>{side.name}</b><br>{side.title}, z {side.latent_dim}" +
                           (" · same z" if side.z_synced else ""))
            title.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(title, 0, col)
            if side.samples is not None:
                samples = ImagePanel(title="samples (same seed)")
                samples.show_image(mosaic(side.samples, cols=SHOW // 2, gap=1))
            else:
                samples = hint("draws no samples")
            self.grid.addWidget(samples, 1, col)
            column = {"plot": None, "marker": None, "side": side}
            if side.xy is not None:
                view = plot("the same held-out images", side.axes[1], side.axes[0])
                view.setMinimumSize(160, 140)
                column["plot"] = view
                self._draw_map(column, c)
            else:
                view = hint("no encoder: no map of the images")
            self.grid.addWidget(view, 2, col)
            if side.recon is not None:
                recon = ImagePanel(title="held-out images, reconstructed")
                recon.show_image(mosaic(np.concatenate([c.images[:SHOW], side.recon]), cols=SHOW, gap=1))
            else:
                recon = hint("no reconstructions")
            self.grid.addWidget(recon, 3, col)
            self.columns.append(column)
        for r, stretch in enumerate((0, 3, 4, 2)):
            self.grid.setRowStretch(r, stretch)
        self.table.set_rows(c.table())
        self.table.setFixedHeight(min(240, self.table.horizontalHeader().height() + 6 +
                                      sum(self.table.rowHeight(r) for r in range(self.table.rowCount()))))
        self.notes.setText(f"On {len(c.images):,} held-out images of {c.data}, seed {c.seed}. " + " ".join(c.notes))
        self.message.emit(f"compared {len(c.sides)} models")

    def _draw_map(self, column, c):
        side, view = column["side"], column["plot"]
        labels = c.labels if c.labels is not None else np.zeros(len(side.xy), np.int64)
        brushes = [pg.mkBrush(PALETTE[int(k) % len(PALETTE)]) for k in labels]
        scatter = pg.ScatterPlotItem(pos=side.xy, size=5, pen=None, brush=brushes)
        view.addItem(scatter)
        view.scene().sigMouseMoved.connect(lambda pos, v=view, xy=side.xy: self._hover(v, xy, pos))
        marker = pg.ScatterPlotItem(size=16, symbol="star", pen=pg.mkPen("k", width=1.2),
                                    brush=pg.mkBrush("#ff3030"))
        marker.setZValue(10)
        view.addItem(marker)
        column["marker"] = marker

    def _hover(self, view, xy, pos) -> None:
        """The point under the mouse (within 8 pixels), found as the map finds it, lights up everywhere."""
        from latent_explorer.models.analysis.projection import nearest_point

        vb = view.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        i = nearest_point(xy, p.x(), p.y(), vb.viewPixelSize(), 8.0)
        if i is not None:
            self.link(int(i))

    def link(self, i: int) -> None:
        """Light up held-out image ``i`` in every map (the maps are of the same images)."""
        c = self.result
        if c is None or not 0 <= i < len(c.images):
            return
        for column in self.columns:
            if column["marker"] is not None:
                column["marker"].setData(pos=column["side"].xy[i : i + 1])
        label = ""
        if c.labels is not None and int(c.labels[i]) < len(c.class_names):
            label = f", label {c.class_names[int(c.labels[i])]}"
        self.hover.setText(f"held-out image #{i}{label}: starred in every map")

    # -- view protocol ---------------------------------------------------------------------------
    def is_ready(self) -> bool:
        return not self.job.busy

    def shutdown(self):
        self.cancel()
