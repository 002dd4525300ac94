"""Inspect's *Styles* page, for a generator with a mapping network (StyleGAN): the perceptual path lengths in
Z and in W (Karras et al. 2019, sec. 4.2), FD and precision/recall against the truncation ψ, and the
style-mixing table — what each crossover layer takes from source A and from B, as the yardstick classifier
reads it (:mod:`models.analysis.style_figures`). The maths is there; this page shows its report and hands it
to the shared state (the editor's Mixing tab puts the table in its tooltips)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QSplitter, QVBoxLayout, QWidget

from latent_explorer.models.analysis.style_figures import SPLIT

from .inspect_panels import FigureTable
from .widgets import hint


class StylesPage(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        self.n = QSpinBox(minimum=100, maximum=5000, value=1000, singleStep=100)
        self.n.setToolTip("Pairs per path length and samples per ψ (seeded; at most 500 pairs per crossover)")
        self.button = QPushButton("Measure")
        self.button.setToolTip("Path lengths in Z and W, FD and precision/recall against ψ, and what each "
                               "crossover layer takes from each source (Ctrl+Return)")
        self.text = QLabel()
        self.text.setWordWrap(True)
        top = QHBoxLayout()
        for w in (QLabel("Samples:"), self.n, self.button):
            top.addWidget(w)
        top.addWidget(self.text, 1)
        lay.addLayout(top)
        self.ppl = FigureTable(["Space", "Perceptual path length"])
        self.ppl.setToolTip("Mean squared change of the classifier's features along a step of 1e-4 of a random "
                            "interpolation, ÷ 1e-8, the 1% at each end dropped (shorter: smoother, less "
                            "entangled). The paper measures VGG16 features; these are the yardstick classifier's.")
        self.truncation = FigureTable(["ψ", *(f"{f}\ntowards {c}" for c in ("w̄", "modes")
                                              for f in ("FD", "Precision", "Recall"))])
        self.truncation.setToolTip("Samples drawn nearer the mean w̄ (w' = w̄ + ψ (w − w̄)): precision (share of "
                                   "samples inside the real images' k-NN balls) rises, recall (the reverse) falls. "
                                   "To modes: drawn nearer each w's nearest mode of W instead (multi-modal "
                                   "truncation, Mokady et al. 2022), for data whose kinds w̄ lies between")
        self.mixing = FigureTable(["Layers from A"])
        self.note = hint("")
        split = QSplitter()
        split.addWidget(self.ppl)
        split.addWidget(self.truncation)
        split.setStretchFactor(1, 2)
        lay.addWidget(split, 1)
        lay.addWidget(QLabel("Style mixing: the share of mixed images whose factor the classifier reads as A's / "
                             "as B's, over the pairs whose sources differ in it"))
        lay.addWidget(self.mixing, 1)
        lay.addWidget(self.note)

    def job(self, seed: int = 0):
        """The job the view runs: a generator function of the model."""
        from latent_explorer.models.analysis.style_figures import style_report

        n = self.n.value()

        def make(model):
            return (yield from style_report(model, n=n, seed=seed))

        return make

    def clear(self) -> None:
        for t in (self.ppl, self.truncation, self.mixing):
            t.setRowCount(0)
        self.text.setText("")
        self.note.setText("")

    def show_report(self, report) -> None:
        z, w = report.ppl["z"], report.ppl["w"]
        self.ppl.set_rows([["Z", f"{z:.1f}"], ["W", f"{w:.1f}"]])
        self.truncation.set_rows([[f"{r['psi']:.1f}", *_cells(r), *_cells(m)]
                                  for r, m in zip(report.truncation, report.truncation_modes)])
        t = report.mixing
        self.mixing.setColumnCount(1 + len(t.factors))
        self.mixing.setHorizontalHeaderLabels(["Layers from A", *t.factors])
        self.mixing.set_rows([[f"before {cut}", *(f"{a:.2f} / {b:.2f}" for a, b in zip(t.from_a[i], t.from_b[i]))]
                              for i, cut in enumerate(t.cuts)])
        shorter = "W's paths are the shorter: the mapping untangles" if w < z else "Z's paths are the shorter here"
        rows, modes = report.truncation, report.truncation_modes
        self.text.setText(f"PPL in W {w:.1f}, in Z {z:.1f}: {shorter}. ψ {rows[0]['psi']:g} → {rows[-1]['psi']:g}: "
                          f"precision {rows[0]['precision']:.2f} → {rows[-1]['precision']:.2f}, recall "
                          f"{rows[0]['recall']:.2f} → {rows[-1]['recall']:.2f} (towards w̄); precision "
                          f"{modes[0]['precision']:.2f} → {modes[-1]['precision']:.2f}, recall "
                          f"{modes[0]['recall']:.2f} → {modes[-1]['recall']:.2f} (towards the nearest mode).")
        splits = t.splits()
        first = splits[0] if splits else None
        acc = dict(zip(t.factors, report.classifier.get("held_out_accuracy", {}).values()))  # "label": its factor
        self.note.setText(
            (f"A split at layer {first[0]}: {first[1]} ≥ {SPLIT:.0%} from A, {first[2]} ≥ {SPLIT:.0%} from B. "
             if first else f"No crossover splits the factors (one ≥ {SPLIT:.0%} from A, another from B). ")
            + "Classifier: " + ", ".join(f"{k} {v:.0%}" for k, v in acc.items()) + " right on held-out images.")


def _cells(row: dict) -> list[str]:
    return [f"{row['frechet_distance']:.2f}", f"{row['precision']:.3f}", f"{row['recall']:.3f}"]
