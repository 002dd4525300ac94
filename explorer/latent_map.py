"""Latent Map: the dataset encoded (or latents sampled) and coloured by label, PCA / dimensions /
t-SNE projections, hover to see an image, click to edit its z, and a decoded-image grid over a plane."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSignalBlocker, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from .state import LatentState
from .widgets import ImagePanel, ProgressLine
from .worker import Worker

PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
           "#9c755f", "#bab0ac", "#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
SAMPLED_POINTS = {"ddpm": 256}  # diffusion decodes are slow: fewer sampled points
DEFAULT_SAMPLED = 2000


class LatentMap(QWidget):
    message = Signal(str)
    ready = Signal()  # points (or the grid) are drawn
    pointClicked = Signal(int)

    def __init__(self, state: LatentState, parent=None):
        super().__init__(parent)
        self.state = state
        self.model = None
        self.meta: dict = {}
        self.latents = None  # models.latent.LatentSet
        self.pca = None
        self.tsne_xy: np.ndarray | None = None
        self.xy: np.ndarray | None = None  # (N, 2) current projection
        self.clicked: int | None = None
        self.data_spec: str | None = None
        self._worker: Worker | None = None
        self._grid_worker: Worker | None = None
        self._scatters: list[pg.ScatterPlotItem] = []
        self._build()
        state.modelChanged.connect(self._on_model)
        state.zChanged.connect(self._on_z)
        state.pathChanged.connect(self._draw_path)

    # -- layout ----------------------------------------------------------------------------------
    def _build(self):
        root = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.source = QLabel("—")
        self.source.setToolTip("The data shown: the model's own dataset (from its checkpoint) or sampled latents")
        self.btn_data = QPushButton("Other data…")
        self.btn_data.setToolTip("Encode another dataset: a folder of images, IDX files or an .npz")
        self.btn_data.clicked.connect(self._pick_data)
        self.proj = QComboBox()
        self.proj.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.proj.setMinimumContentsLength(12)
        self.proj.setToolTip("How latents with more than 2 dimensions are drawn in 2-D")
        self.proj.currentIndexChanged.connect(self._on_projection)
        self.ax_a, self.ax_b = QSpinBox(), QSpinBox()
        for sb, v, tip in ((self.ax_a, 0, "horizontal axis"), (self.ax_b, 1, "vertical axis")):
            sb.setRange(0, 0)
            sb.setValue(v)
            sb.setToolTip(f"Component or dimension on the {tip}")
            sb.valueChanged.connect(self._on_projection)
        self.btn_tsne = QPushButton("Run t-SNE")
        self.btn_tsne.setToolTip("Compute a t-SNE layout of all points (cancellable, with progress)")
        self.btn_tsne.clicked.connect(self.run_tsne)
        for w in (QLabel("Data:"), self.source, self.btn_data, QLabel("Projection:"), self.proj,
                  QLabel("axes"), self.ax_a, self.ax_b, self.btn_tsne):
            bar.addWidget(w)
        bar.addStretch(1)
        root.addLayout(bar)

        bar2 = QHBoxLayout()
        self.mode = QComboBox()
        self.mode.addItems(["Points", "Decoded grid", "Grid + points"])
        self.mode.setToolTip("Draw the points, or images decoded over a grid of the 2-D plane (G)")
        self.mode.currentIndexChanged.connect(self._on_mode)
        self.grid_n = QSpinBox()
        self.grid_n.setRange(2, 40)
        self.grid_n.setValue(15)
        self.grid_n.setToolTip("Images per side of the decoded grid")
        self.grid_n.valueChanged.connect(self._refresh_grid)
        self.extent = QDoubleSpinBox()
        self.extent.setRange(0.1, 100)
        self.extent.setValue(3.0)
        self.extent.setSingleStep(0.5)
        self.extent.setToolTip("The grid spans ± this much along each axis, around its centre")
        self.extent.valueChanged.connect(self._refresh_grid)
        self.n_label = QLabel()
        for w in (QLabel("View:"), self.mode, QLabel("grid"), self.grid_n, QLabel("range ±"), self.extent):
            bar2.addWidget(w)
        bar2.addStretch(1)
        bar2.addWidget(self.n_label)
        root.addLayout(bar2)
        self.progress = ProgressLine()
        self.progress.cancelRequested.connect(self._user_cancel)
        root.addWidget(self.progress)

        body = QHBoxLayout()
        self.plot = pg.PlotWidget(background="#202124")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.plot.setAspectLocked(False)
        self.legend = self.plot.addLegend(offset=(10, 10), labelTextColor="#dddddd")
        self.grid_item = pg.ImageItem(levels=(0.0, 1.0))
        self.grid_item.setZValue(-10)
        self.plot.addItem(self.grid_item)
        self.path_item = pg.PlotDataItem(pen=pg.mkPen("#ffffff", width=2), symbol="o", symbolSize=5,
                                         symbolBrush="#ffffff")
        self.path_item.setZValue(20)
        self.plot.addItem(self.path_item)
        self.marker = pg.ScatterPlotItem(size=18, symbol="star", pen=pg.mkPen("k", width=1.5),
                                         brush=pg.mkBrush("#ff3030"))
        self.marker.setZValue(30)
        self.plot.addItem(self.marker)
        self.plot.scene().sigMouseMoved.connect(self._on_hover)
        body.addWidget(self.plot, 1)
        side = QVBoxLayout()
        self.hover = ImagePanel()
        self.hover.setFixedSize(170, 170)
        self.hover_label = QLabel("Hover a point to see it;\nclick it to edit its z.")
        self.hover_label.setWordWrap(True)
        side.addWidget(self.hover)
        side.addWidget(self.hover_label)
        side.addStretch(1)
        body.addLayout(side)
        root.addLayout(body, 1)
        self._set_enabled(False)

    def _set_enabled(self, on):
        for w in (self.btn_data, self.proj, self.ax_a, self.ax_b, self.btn_tsne, self.mode, self.grid_n,
                  self.extent):
            w.setEnabled(on)

    # -- model and data --------------------------------------------------------------------------
    def _on_model(self, model):
        self.model = model  # first: results of the cancelled job are then recognised as stale
        self.cancel()
        self.meta = getattr(model, "meta", {}) or {}
        self.latents = self.pca = self.tsne_xy = self.xy = None
        self.clicked = None
        self._clear_points()
        self.grid_item.setVisible(False)
        self.hover.clear_image()
        self._set_enabled(False)
        if model is None:
            self.source.setText("—")
            return
        spec = self.meta.get("data", {}).get("spec") if model.has_encoder else None
        self.load(spec)

    def _pick_data(self):
        path = QFileDialog.getExistingDirectory(self, "Dataset folder (images or IDX files)")
        if path:
            self.load(path)

    def load(self, spec: str | None) -> None:
        """Encode the dataset ``spec`` (models with an encoder) or sample latents, in a worker."""
        from models.data import load_dataset
        from models.latent import encode_dataset, sample_latents

        self.cancel()
        model = self.model
        if model is None:
            return
        self.data_spec = spec
        n_sampled = SAMPLED_POINTS.get(model.kind, DEFAULT_SAMPLED)

        def job(should_stop):
            if spec is None or not model.has_encoder:
                return (yield from sample_latents(model, n_sampled, seed=0))
            c, h, _ = model.image_shape
            data = load_dataset(spec).conform(c, h)
            return (yield from encode_dataset(model, data))

        text = f"Encoding {spec}…" if spec and model.has_encoder else f"Sampling {n_sampled} latents…"
        self.source.setText(spec if spec and model.has_encoder else f"{n_sampled} sampled z")
        self._run(job, text, lambda res: self._set_latents(model, res))

    def _run(self, job, text, on_done, grid=False):
        w = Worker(job, "map")
        if grid:
            self._grid_worker = w
        else:
            self._worker = w
        self.progress.start(text)
        w.yielded.connect(lambda s: self.progress.update_fraction(s.fraction))
        w.returned.connect(on_done)
        w.errored.connect(self._failed)
        w.finished.connect(lambda: self._job_done(w))
        w.start()
        return w

    def _job_done(self, w):
        if self._worker is w:
            self._worker = None
        if self._grid_worker is w:
            self._grid_worker = None
        if self._worker is None and self._grid_worker is None:
            self.progress.finish()

    def _failed(self, msg):
        self.message.emit(msg)
        self.source.setText(f"(no data: {msg[:60]})")
        self.btn_data.setEnabled(self.model is not None and self.model.has_encoder)

    def _user_cancel(self):
        self.cancel()
        self.message.emit("cancelled")

    def cancel(self):
        for w in (self._worker, self._grid_worker):
            if w is not None:
                w.stop()

    def busy(self) -> bool:
        return self._worker is not None or self._grid_worker is not None

    def _set_latents(self, model, res):
        from models.latent import PCA

        if model is not self.model:
            return
        self.latents = res
        d = res.z.shape[1]
        self.pca = PCA(res.z, min(d, 20)) if d > 2 else None
        self.tsne_xy = None
        with QSignalBlocker(self.proj):
            self.proj.clear()
            if d == 2:
                self.proj.addItem("Latent (2-D)")
            else:
                self.proj.addItem("PCA")
                self.proj.addItem("Dimensions")
            self.proj.setCurrentIndex(0)
        for sb, v in ((self.ax_a, 0), (self.ax_b, 1)):  # the first two axes of new latents
            with QSignalBlocker(sb):
                sb.setRange(0, max(1, d - 1))
                sb.setValue(v)
        self._set_enabled(True)
        self.btn_data.setEnabled(model.has_encoder)
        self.n_label.setText(f"{len(res.z):,} points")
        self._on_projection()
        self.ready.emit()

    # -- projection ------------------------------------------------------------------------------
    @property
    def projection(self) -> str:
        return self.proj.currentText().split(" ")[0] or "Latent"

    def project(self, z: np.ndarray) -> np.ndarray | None:
        """Map coordinates of latents (N, D) under the current (linear) projection; None for t-SNE."""
        z = np.atleast_2d(np.asarray(z, np.float32))
        a, b = self.ax_a.value(), self.ax_b.value()
        p = self.projection
        if p == "Latent":
            return z[:, :2]
        if p == "PCA":
            return self.pca.transform(z, (a, b))
        if p == "Dimensions":
            return z[:, [a, b]]
        return None

    def _on_projection(self, *_):
        if self.latents is None:
            return
        p = self.projection
        d = self.latents.z.shape[1]
        limit = {"PCA": len(self.pca.components) - 1 if self.pca else 1, "Dimensions": d - 1}.get(p, 1)
        for sb in (self.ax_a, self.ax_b):
            with QSignalBlocker(sb):
                sb.setRange(0, max(0, limit))
            sb.setEnabled(p in ("PCA", "Dimensions"))
        if p == "t-SNE":
            self.xy = self.tsne_xy
        else:
            self.xy = self.project(self.latents.z)
        self.mode.model().item(1).setEnabled(p != "t-SNE")
        self.mode.model().item(2).setEnabled(p != "t-SNE")
        if p == "t-SNE" and self.mode.currentIndex() != 0:
            self.mode.setCurrentIndex(0)
        self._auto_extent()
        self._draw_points()
        self._on_z()
        self._draw_path()
        self._refresh_grid()

    def _auto_extent(self):
        if self.xy is None:
            return
        spread = float(np.percentile(np.abs(self.xy - np.median(self.xy, 0)), 98))
        with QSignalBlocker(self.extent):
            self.extent.setValue(max(0.5, round(spread * 2) / 2))

    # -- drawing ---------------------------------------------------------------------------------
    def _clear_points(self):
        for s in self._scatters:
            self.plot.removeItem(s)
        self._scatters = []
        self.legend.clear()
        self.marker.clear()
        self.path_item.clear()

    def _draw_points(self):
        self._clear_points()
        res = self.latents
        if res is None or self.xy is None:
            return
        show = self.mode.currentIndex() != 1
        labels = res.labels
        groups = ([(np.arange(len(self.xy)), None)] if labels is None else
                  [(np.flatnonzero(labels == k), k) for k in np.unique(labels)])
        size = 4 if len(self.xy) > 30000 else 5 if len(self.xy) > 5000 else 7  # smaller for big maps
        for idx, k in groups:
            colour = PALETTE[int(k) % len(PALETTE)] if k is not None else "#8ab4f8"
            name = (res.class_names[int(k)] if k is not None and int(k) < len(res.class_names) else
                    (str(k) if k is not None else "points"))
            # one item per class with one shared pen and brush: identical symbols render once
            item = pg.ScatterPlotItem(x=self.xy[idx, 0], y=self.xy[idx, 1], data=idx, size=size,
                                      pen=None, brush=pg.mkBrush(colour), name=name, hoverable=False)
            item.sigClicked.connect(self._on_click)
            item.setVisible(show)
            self.plot.addItem(item)
            self._scatters.append(item)
        p = self.projection
        axes = {"Latent": ("z0", "z1"), "PCA": (f"PC{self.ax_a.value() + 1}", f"PC{self.ax_b.value() + 1}"),
                "Dimensions": (f"z{self.ax_a.value()}", f"z{self.ax_b.value()}"), "t-SNE": ("t-SNE 1", "t-SNE 2")}
        self.plot.setLabel("bottom", axes.get(p, ("", ""))[0])
        self.plot.setLabel("left", axes.get(p, ("", ""))[1])
        self.plot.getViewBox().autoRange(padding=0.05)

    def _on_click(self, item, points, ev=None):
        if len(points) == 0 or self.latents is None:
            return
        self.select(int(points[0].data()))

    def select(self, i: int) -> None:
        """Make point ``i`` current: its z goes to the editor (and its class, when conditional)."""
        self.clicked = i
        if self.model is not None and self.model.conditional and self.latents.labels is not None:
            self.state.set_label(int(self.latents.labels[i]))
        self.state.set_z(self.latents.z[i])
        self.pointClicked.emit(i)
        self._show_hover(i)

    def nearest(self, x: float, y: float, max_px: float = 8.0) -> int | None:
        if self.xy is None or len(self.xy) == 0:
            return None
        vb = self.plot.getViewBox()
        px, py = vb.viewPixelSize()
        d = ((self.xy[:, 0] - x) / px) ** 2 + ((self.xy[:, 1] - y) / py) ** 2
        i = int(np.argmin(d))
        return i if d[i] <= max_px**2 else None

    def _on_hover(self, pos):
        if self.xy is None or self.mode.currentIndex() == 1:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        i = self.nearest(p.x(), p.y())
        if i is not None:
            self._show_hover(i)

    def _show_hover(self, i):
        res = self.latents
        if res.images is not None:
            self.hover.show_image(res.images[i])
        lab = ""
        if res.labels is not None:
            k = int(res.labels[i])
            lab = f"label {res.class_names[k] if k < len(res.class_names) else k}\n"
        self.hover_label.setText(f"#{i}\n{lab}({self.xy[i, 0]:.2f}, {self.xy[i, 1]:.2f})")

    def _on_z(self):
        if self.latents is None or self.xy is None or self.model is None:
            return
        pos = self.project(self.state.z)
        if pos is None:  # t-SNE is not a linear map: mark the clicked point if z is still its latent
            i = self.clicked
            ok = i is not None and np.array_equal(self.latents.z[i], self.state.z)
            pos = self.xy[i : i + 1] if ok else None
        if pos is None:
            self.marker.clear()
        else:
            self.marker.setData(pos=pos)
        if self.mode.currentIndex() != 0 and self.projection != "Latent":
            self._refresh_grid()

    def _draw_path(self):
        path = self.state.path
        if path is None or self.latents is None or self.model is None or len(path[0]) != self.latents.z.shape[1]:
            self.path_item.clear()
            return
        xy = self.project(path)
        if xy is None:
            self.path_item.clear()
        else:
            self.path_item.setData(xy[:, 0], xy[:, 1])

    # -- decoded grid ----------------------------------------------------------------------------
    def _on_mode(self, i):
        for s in self._scatters:
            s.setVisible(i != 1)
        if i == 0:
            self.grid_item.setVisible(False)
        self._refresh_grid()

    def grid_plane(self):
        """(center, u, v, map centre) of the plane the grid is decoded over."""
        d = self.latents.z.shape[1]
        z = self.state.z.astype(np.float32)
        p = self.projection
        if p == "Latent":
            center = np.zeros(d, np.float32)
            u, v = np.eye(d, dtype=np.float32)[:2]
            return center, u, v, np.zeros(2, np.float32)
        a, b = self.ax_a.value(), self.ax_b.value()
        if p == "PCA":
            u, v = self.pca.components[a], self.pca.components[b]
        else:
            u, v = np.eye(d, dtype=np.float32)[[a, b]]
        return z, u, v, self.project(z)[0]

    def _refresh_grid(self, *_):
        from models.latent import decode_batched, mosaic, plane_latents

        if self.latents is None or self.mode.currentIndex() == 0 or self.projection == "t-SNE":
            return
        if self._grid_worker is not None:
            self._grid_worker.stop()
        n, e = self.grid_n.value(), self.extent.value()
        center, u, v, mc = self.grid_plane()
        lat, _ = plane_latents(center, u, v, n, e)
        model, label = self.model, self.state.label

        def job(should_stop):
            imgs = yield from decode_batched(model, lat, label)
            return mosaic(imgs, n, gap=max(1, model.image_shape[1] // 8))

        def done(pic):
            if model is not self.model:
                return
            step = 2 * e / (n - 1)
            self.grid_item.setImage(np.ascontiguousarray(pic[::-1]), autoLevels=False, levels=(0.0, 1.0))
            self.grid_item.setVisible(True)
            self.grid_item.setRect(QRectF(mc[0] - e - step / 2, mc[1] - e - step / 2, 2 * e + step, 2 * e + step))
            self.ready.emit()

        self._run(job, f"Decoding a {n}×{n} grid…", done, grid=True)

    # -- t-SNE -----------------------------------------------------------------------------------
    def run_tsne(self):
        from models.latent import tsne

        if self.latents is None:
            return
        z = self.latents.z
        model = self.model

        def job(should_stop):
            return (yield from tsne(z, should_stop=should_stop))

        def done(xy):
            if model is not self.model or xy is None:
                return
            self.tsne_xy = xy
            if self.proj.findText("t-SNE") < 0:
                self.proj.addItem("t-SNE")
            self.proj.setCurrentIndex(self.proj.findText("t-SNE"))
            self.ready.emit()

        self._run(job, f"t-SNE of {len(z):,} points…", done)

    def is_ready(self) -> bool:
        return self.latents is not None and not self.busy()

    def shutdown(self):
        self.cancel()
