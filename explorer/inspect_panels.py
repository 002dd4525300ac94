"""The plots of the Inspect view: KL per latent dimension, score histograms with a ROC curve, and a table of
likelihoods. They draw what :mod:`models.analysis.diagnostics` computed; no maths here."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QTableWidget, QTableWidgetItem

from .widgets import set_axis_label

ACTIVE, INACTIVE, IN_COLOUR, OUT_COLOUR = "#4e79a7", "#5f6368", "#4e79a7", "#f28e2b"


def plot(title: str, left: str, bottom: str) -> pg.PlotWidget:
    w = pg.PlotWidget(background="#202124")
    w.setTitle(title, color="#cccccc", size="9pt")
    w.setLabel("left", left)
    w.setLabel("bottom", bottom)
    for ax in ("left", "bottom"):
        w.getAxis(ax).enableAutoSIPrefix(False)
    w.setMinimumSize(220, 180)
    w.hideButtons()
    return w


class KLBars(pg.PlotWidget):
    """KL(q(z_d|x) ‖ N(0, 1)) per dimension as bars: active ones blue, collapsed ones grey, the threshold
    a dashed line."""

    def __init__(self):
        super().__init__(background="#202124")
        self.setTitle("KL per latent dimension (nats, mean over held-out images)", color="#cccccc", size="9pt")
        self.setLabel("left", "KL (nats)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setMinimumHeight(200)

    def show_kl(self, kl: np.ndarray, names: list[str], threshold: float, active: np.ndarray) -> None:
        self.clear()
        x = np.arange(len(kl))
        on = np.zeros(len(kl), bool)
        on[active] = True
        for mask, colour in ((on, ACTIVE), (~on, INACTIVE)):
            if mask.any():
                self.addItem(pg.BarGraphItem(x=x[mask], height=kl[mask], width=0.7, brush=colour))
        self.addItem(pg.InfiniteLine(threshold, angle=0, pen=pg.mkPen("#f28e2b", style=pg.QtCore.Qt.PenStyle.DashLine)))
        step = max(1, len(kl) // 24)  # at most ~24 tick labels
        self.getAxis("bottom").setTicks([[(i, names[i]) for i in range(0, len(kl), step)]])
        self.setXRange(-0.6, len(kl) - 0.4, padding=0)
        self.setYRange(0, max(float(kl.max()) * 1.1, threshold * 3), padding=0)


class ScorePlots:
    """Two plots of an anomaly report: the scores of both sets as histograms, and the ROC curve."""

    def __init__(self):
        # short: a PlotItem is never narrower than its title, and a long one cut the plot off at 1280×800
        self.hist = plot(f"Scores: <span style='color:{IN_COLOUR}'>own held-out</span>, "
                         f"<span style='color:{OUT_COLOUR}'>other data</span>", "images", "score")
        self.hist.setToolTip("The scores of the model's own held-out images (blue) and of the other data's (orange)")
        self.hist.setMouseEnabled(False, False)
        self.roc = plot("ROC curve", "true positive rate", "false positive rate")
        self.roc.setMouseEnabled(False, False)
        self.roc.setXRange(0, 1)
        self.roc.setYRange(0, 1)

    def clear(self) -> None:
        self.hist.clear()
        self.roc.clear()
        self.roc.setTitle("ROC curve", color="#cccccc", size="9pt")

    def show_report(self, report, score_label: str) -> None:
        self.clear()
        both = np.r_[report.inside, report.outside]
        lo, hi = np.percentile(both, [0.5, 99.5])  # a few extreme images would squash the rest
        if not hi > lo:
            lo, hi = float(both.min()) - 0.5, float(both.max()) + 0.5
        edges = np.linspace(lo, hi, 41)
        for values, colour in ((report.inside, IN_COLOUR), (report.outside, OUT_COLOUR)):
            counts, _ = np.histogram(np.clip(values, lo, hi), edges)
            self.hist.plot(edges, counts, stepMode="center", fillLevel=0, pen=pg.mkPen(colour, width=2),
                           brush=pg.mkBrush(colour + "55"))
        set_axis_label(self.hist, "bottom", score_label)
        self.roc.plot([0, 1], [0, 1], pen=pg.mkPen("#666", style=pg.QtCore.Qt.PenStyle.DashLine))
        self.roc.plot(report.fpr, report.tpr, pen=pg.mkPen(OUT_COLOUR, width=2))
        self.roc.setTitle(f"ROC curve: AUROC {report.auroc:.3f}", color="#cccccc", size="9pt")


class FigureTable(QTableWidget):
    """A read-only table of rows of text, columns sized to their contents."""

    def __init__(self, headers: list[str]):
        super().__init__(0, len(headers))
        self.setHorizontalHeaderLabels(headers)
        self.verticalHeader().setVisible(False)
        self.horizontalHeader().setStretchLastSection(True)
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

    def set_rows(self, rows: list[list[str]], tips: list[str] | None = None) -> None:
        self.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row):
                item = QTableWidgetItem(text)
                if tips:
                    item.setToolTip(tips[i])
                self.setItem(i, j, item)
        self.resizeColumnsToContents()


def likelihood_rows_text(rows) -> list[list[str]]:
    """LikelihoodRows -> table cells: model, kind, −ELBO, −IW bound (k), exact, bits/dim, gap."""
    def n(v):
        return "—" if v is None else f"{v:.2f}"

    out = []
    for r in rows:
        f = r.figures
        bpd = f.get("exact_bpd", f.get("iw_bound_bpd", f.get("elbo_bpd")))
        iw = f.get("neg_iw_bound")
        out.append([r.name, r.kind, n(f.get("neg_elbo")), n(iw) + (f" (k={r.k})" if iw is not None else ""),
                    n(f.get("exact_nll")), f"{bpd:.4f}", n(f.get("variational_gap"))])
    return out


class ModePlots:
    """A generator's modes: the class histogram of its samples against the share each class would get at the
    real data's frequencies, and, from the run's record, each epoch's class shares (a heat map, epochs
    across) with the coverage beneath."""

    def __init__(self):
        # short titles: a PlotItem is never narrower than its title, and a long one cuts the plot off
        self.hist = plot("Samples per class", "samples", "class")
        self.hist.setToolTip("Bars: the samples the classifier puts in each class. Orange line: what each class "
                             "would get at the real data's frequencies.")
        self.hist.setMouseEnabled(False, False)
        self.shares = plot("Class shares per epoch", "class", "epoch")
        self.shares.setToolTip("From the run's record: the share of each epoch's samples in each class (brighter: "
                               "more). A collapsing GAN turns into one or two bright rows.")
        self.shares.setMouseEnabled(False, False)
        self.heat = pg.ImageItem()
        self.heat.setColorMap(pg.colormap.get("viridis"))
        self.shares.addItem(self.heat)
        self.coverage = plot("Coverage per epoch", "coverage", "epoch")
        self.coverage.setToolTip("The share of classes that get at least a fifth of their share of the samples; "
                                 "dashed: 0.5")
        self.coverage.setMouseEnabled(False, False)
        self.coverage.setYRange(0, 1.05, padding=0)

    def clear(self) -> None:
        self.hist.clear()
        self.heat.clear()
        self.coverage.clear()

    def show_histogram(self, counts: np.ndarray, expected: np.ndarray, names: list[str]) -> None:
        self.hist.clear()
        x = np.arange(len(counts))
        self.hist.addItem(pg.BarGraphItem(x=x, height=counts, width=0.7, brush=ACTIVE))
        self.hist.plot(x, expected, pen=pg.mkPen(OUT_COLOUR, width=2), symbol="o", symbolSize=5,
                       symbolBrush=OUT_COLOUR)
        self.hist.getAxis("bottom").setTicks([[(i, str(n)[:8]) for i, n in enumerate(names)]])
        self.hist.setXRange(-0.6, len(counts) - 0.4, padding=0)
        self.hist.setYRange(0, max(float(counts.max()), float(expected.max())) * 1.1 + 1, padding=0)

    def show_record(self, epochs: list[int], shares: np.ndarray, coverage: list, names: list[str]) -> None:
        """``shares``: (epochs, classes), each row summing to 1 where measured."""
        self.heat.setImage(shares.astype(np.float32), levels=(0.0, max(0.3, float(shares.max()))),
                           autoLevels=False)
        self.heat.setRect(0.5, -0.5, len(epochs), len(names))
        self.shares.getAxis("left").setTicks([[(i, str(n)[:8]) for i, n in enumerate(names)]])
        self.shares.getAxis("bottom").setTicks([[(i + 1, str(e)) for i, e in enumerate(epochs)
                                                 if len(epochs) <= 20 or i % (len(epochs) // 10) == 0]])
        self.shares.setXRange(0.5, len(epochs) + 0.5, padding=0)
        self.shares.setYRange(-0.5, len(names) - 0.5, padding=0)
        self.coverage.clear()
        pts = [(e, c) for e, c in zip(epochs, coverage) if c is not None]
        if pts:
            e, c = np.array(pts, np.float64).T
            self.coverage.plot(e, c, pen=pg.mkPen(ACTIVE, width=2), symbol="o", symbolSize=5, symbolBrush=ACTIVE)
            dashed = pg.mkPen("#666", style=pg.QtCore.Qt.PenStyle.DashLine)
            self.coverage.addItem(pg.InfiniteLine(0.5, angle=0, pen=dashed))
            self.coverage.setXRange(min(epochs) - 0.5, max(epochs) + 0.5, padding=0)
