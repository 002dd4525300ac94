"""The main window: a model list (bundled models, Open…, drag and drop, recent files) beside the views."""

from __future__ import annotations

import os
from itertools import chain
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QMainWindow,
    QMessageBox,
)

from . import dialogs
from .model_list import ModelList
from .procjob import PROJECTION_NICE, discard_pools, prestart_pool
from .quit_signals import say
from .state import (
    MODEL_SUFFIXES,
    LatentState,
    ModelEntry,
    ModelLibrary,
    Opening,
    make_settings,
    remember,
    setting_bytes,
    setting_int,
    setting_path,
    setting_strings,
)
from .view_table import VIEW_NAMES, VIEWS, key_of, make_view, shortcut_lines
from .view_tabs import ViewTabs
from .widgets import fit_to_screen
from .worker import shutdown_all

WARM_PROJECTION_MS = 3000  # after the window shows: the projection process starts while the user looks

OPEN_FILTER = ("Models (*.safetensors *.onnx *.pt *.ts *.torchscript config.json model_index.json);;"
               "diffusers folders (config.json model_index.json);;All files (*)")
MAX_RECENT = 10
FIRST_MODEL = "mnist-vae2d"


class MainWindow(QMainWindow):
    errorShown = Signal(str)

    def __init__(self, load_bundled: bool = True):
        super().__init__()
        self._warming = False  # the projection process is started (once, after the window first shows)
        self.setWindowTitle("Latent Explorer")
        self.resize(1280, 800)
        self.settings = make_settings()
        self.library = ModelLibrary(self)
        self.library.confirm_code = self.confirm_code
        self.latent = LatentState(self)
        self.last_error: str | None = None
        self._message_box: QMessageBox | None = None
        self._unasked = False  # closing on a signal: no question about a training run (close_unasked)

        self.tabs = ViewTabs(self.view)
        self.views = self.tabs.views  # the views built so far: each when first shown or asked for (self.view)
        for spec in VIEWS:  # the tabs, the View menu and --view, from the one table
            self.tabs.add_page(spec.name, spec.title)
        self.setCentralWidget(self.tabs)

        self.models = ModelList(self.library)
        dock = QDockWidget("Models", self)
        dock.setObjectName("models-dock")
        dock.setWidget(self.models)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.models.btn_open.clicked.connect(self.open_dialog)
        self.latent.modelChanged.connect(lambda _m: self.models._on_current(self.library.current))  # W, W+ …

        self.library.error.connect(self.show_error)
        self.library.currentChanged.connect(self._on_model)
        self._build_menus()
        self.setAcceptDrops(True)
        self.statusBar().showMessage("Ready")
        if load_bundled:
            self.library.add_bundled()
        self._restore()
        self.tabs.start()  # the view shown is built now; the others when first shown

    # -- views -----------------------------------------------------------------------------------
    def view(self, name: str):
        """The view called ``name``, built now if it was not yet: put in its tab, its signals joined, and told
        the model chosen before it existed."""
        view = self.views.get(name)
        if view is not None:
            return view
        view = make_view(next(spec for spec in VIEWS if spec.name == name), self)
        setattr(self, name, view)
        self.tabs.place(name, view)  # and listed in self.views
        view.message.connect(self.status)
        if name == "training":
            view.queue.failed.connect(self.show_error)
            view.checkpointSaved.connect(self._remember)  # trained models join Open Recent
        elif name == "map":
            view.pointClicked.connect(lambda i: self.status(f"point #{i}: its z is in the editor"))
        if self.latent.model is not None:
            view.catch_up(self.latent.model)
        return view

    def __getattr__(self, name):  # window.editor and the like: the view, built when first asked for
        if name in VIEW_NAMES and "views" in self.__dict__:
            return self.view(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- menus -----------------------------------------------------------------------------------
    def _build_menus(self):
        m = self.menuBar().addMenu("&File")
        self._action(m, "&Open…", QKeySequence.StandardKey.Open, self.open_dialog)
        self._action(m, "Open &folder…", "Ctrl+Shift+O", self.open_folder_dialog)
        self.recent_menu = m.addMenu("Open &Recent")
        self._refresh_recent()
        self._action(m, "&Export image…", "Ctrl+E", lambda: self.editor._export_png())
        m.addSeparator()
        self._action(m, "&Quit", "Ctrl+Q", self.close)  # StandardKey.Quit is empty on some platforms
        v = self.view_menu = self.menuBar().addMenu("&View")
        for i, spec in enumerate(VIEWS):
            # triggered(bool) would land in a default argument: take the view from the closure instead
            self._action(v, spec.title, key_of(i), lambda _checked=False, name=spec.name: self.show_view(name))
        v.addSeparator()
        self._action(v, "&Filter models", "Ctrl+F", self._focus_filter)
        h = self.menuBar().addMenu("&Help")
        self._action(h, "&Keyboard shortcuts", "F1", self._shortcuts)

    def _focus_filter(self):
        self.models.filter.setFocus()
        self.models.filter.selectAll()

    def _action(self, menu, text, shortcut, slot):
        a = QAction(text, self)
        a.setShortcut(shortcut)
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _shortcuts(self):
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join([
            "Ctrl+O  open a model", "Ctrl+Shift+O  open a folder: every model in it, or a diffusers model",
            "Ctrl+F  filter the model list",
            "Ctrl+E  export the editor's image", *shortcut_lines()]))

    # -- models ----------------------------------------------------------------------------------
    def open_dialog(self):
        for p in dialogs.open_files(self, "models", "Open a model", OPEN_FILTER):
            self.open_path(p)

    def open_folder_dialog(self):
        """A folder of models (each listed from its header), or a model saved by diffusers (a folder with
        config.json and safetensors weights)."""
        folder = dialogs.open_folder(self, "models", "Open a folder of models, or a diffusers model")
        if folder:
            self.open_path(folder)

    def open_path(self, path: str) -> bool:
        """Open a model (the menu, a drop, Open Recent): True once it is listed, or while a generator from
        elsewhere has its first decode tried in a child process (it is listed, or refused, when that ends).
        A folder that is not a diffusers model: every checkpoint in it is listed."""
        from latent_explorer.models.io.diffusers_models import is_diffusers_folder

        if Path(path).is_dir() and not is_diffusers_folder(Path(path)):
            added = self.library.open_folder(path)
            if added:
                self._remember(path)
                broken = sum(1 for e in added if e.broken)
                self.status(f"{Path(path).name}: {len(added)} models listed" +
                            (f", {broken} marked as broken (hover for why)" if broken else ""))
            return bool(added)
        entry = self.library.add(path, select=True, then=lambda _: self._opened(path))
        if entry is None:
            return False
        if isinstance(entry, Opening):
            self.status(f"opening {Path(path).name}: one decode is tried first, in a separate process")
            return True
        self._opened(path)
        return True

    def _opened(self, path):
        self._remember(path)
        self.status(f"opened {Path(path).name}")

    def _remember(self, path):
        remember(self.settings, "recent", str(Path(path).resolve()), MAX_RECENT)
        self._refresh_recent()

    def _recent(self) -> list[str]:
        return setting_strings(self.settings, "recent", MAX_RECENT)

    def _refresh_recent(self):
        self.recent_menu.clear()
        for p in self._recent():
            self.recent_menu.addAction(Path(p).name, lambda p=p: self.open_path(p)).setToolTip(p)
        self.recent_menu.setEnabled(bool(self._recent()))

    def _on_model(self, entry):
        model = entry.model if entry else None
        self.latent.set_model(model)
        if entry:
            self.setWindowTitle(f"Latent Explorer — {entry.name}")
            self.status(f"{entry.name}: {entry.describe()}")

    # -- messages --------------------------------------------------------------------------------
    def status(self, text: str):
        from latent_explorer.models.errors import printable

        self.statusBar().showMessage(printable(text), 8000)

    def show_error(self, text: str):
        """Every error reaches the user as a message; nothing is lost or crashed. Control characters a file
        put in it are shown as escapes (models.errors.printable)."""
        from latent_explorer.models.errors import printable

        text = printable(text)
        self.last_error = text
        self.statusBar().showMessage(text, 15000)
        if self._message_box is not None:
            self._message_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, "Latent Explorer", text, QMessageBox.StandardButton.Ok, self)
        box.setWindowModality(Qt.WindowModality.NonModal)
        box.show()
        self._message_box = box
        self.errorShown.emit(text)

    # -- drag and drop ---------------------------------------------------------------------------
    def dragEnterEvent(self, e):
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e):
        opened = False
        for url in e.mimeData().urls():
            p = url.toLocalFile()
            if Path(p).suffix.lower() in MODEL_SUFFIXES or Path(p).is_dir():  # a folder: a diffusers model
                opened |= self.open_path(p)
                continue
            # the view shown first (Text to Image: a PNG's parameters), then any view that takes it (the editor)
            current = self.current_view()
            views = chain([current], (self.view(spec.name) for spec in VIEWS))  # built only as far as asked
            taker = next((v for v in views if v.accepts_drop(Path(p), current=v is current)), None)
            if taker is not None:
                self.tabs.setCurrentWidget(taker)
                taker.drop(Path(p))
        e.acceptProposedAction()

    # -- session ---------------------------------------------------------------------------------
    def _restore(self):
        geo = setting_bytes(self.settings, "geometry")
        if geo is not None:
            self.restoreGeometry(geo)  # False (and nothing changed) for bytes that are not a geometry
            self.fit_to_screen()
        st = setting_bytes(self.settings, "windowState")
        if st is not None:
            self.restoreState(st)
        last = setting_path(self.settings, "lastModel")
        if last and Path(last).exists():
            # forgotten while it opens: a file that fails (or takes the process down) is not reopened next time
            self.settings.remove("lastModel")
            self.settings.sync()

            def keep(_=None):
                self.settings.setValue("lastModel", str(last))

            listed = self.library.find(last)
            if listed is not None and not listed.loaded:  # a bundled model: read now, shown from the first paint
                if self._choose_now(listed):
                    keep()
            # a generator from elsewhere is tried in a child process first: remembered once it has passed
            elif isinstance(self.library.add(str(last), bundled=Path(str(last)).parent.name == "assets",
                                             select=True, then=keep), ModelEntry):
                keep()
        if self.library.current is None and self.library.entries:
            # first start: the MNIST 2-D VAE, whose map needs no projection, is the friendliest first look
            first = next((e for e in self.library.entries if e.name == FIRST_MODEL), self.library.entries[0])
            self._choose_now(first)
        # opened or trained before: listed again, read when chosen (after the first choice: never read at start)
        kept = [p for p in self._recent() if p.endswith(".safetensors") and Path(p).is_file()]
        self.library.list_files(kept, python_too=True)
        tab = setting_int(self.settings, "tab")
        if tab is not None and 0 <= tab < self.tabs.count():
            self.tabs.setCurrentIndex(tab)

    def _choose_now(self, entry) -> bool:
        """The model shown at start: read now (one file), not in a worker after an empty first paint."""
        from latent_explorer.models import CheckpointError

        try:
            entry.load()
        except CheckpointError as e:
            self.show_error(str(e))
            self.models._refill()
            return False
        self.library.set_current(entry)
        return True

    def fit_to_screen(self) -> None:
        fit_to_screen(self)

    def show_view(self, name: str):
        self.tabs.setCurrentIndex(VIEW_NAMES.index(name))  # built as it is shown

    def current_view(self):
        return self.tabs.currentWidget()

    def showEvent(self, ev):  # noqa: N802 - Qt's name
        super().showEvent(ev)
        if not self._warming and os.environ.get("LATENT_EXPLORER_WARM_PROJECTION", "1") != "0":
            self._warming = True  # once the first paint is done and the user looks: UMAP's imports and compilation
            QTimer.singleShot(WARM_PROJECTION_MS, lambda: prestart_pool("projection", PROJECTION_NICE))

    def confirm_code(self, path: str, message: str) -> bool:
        """A file holds code (TorchScript) or names code to import (a model saved from Python): run it only on
        the user's explicit yes (remembered per content)."""
        answer = QMessageBox.warning(
            self, "This file runs code", message + "\n\nRun that code?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def ask_stop_runs(self) -> bool:
        """Closing mid-run: ask whether to stop (the last weights are saved) or keep the window."""
        answer = QMessageBox.question(
            self, "Training in progress",
            "A training run is in progress. Stop it, save its last weights, and quit?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def close_unasked(self) -> None:
        """The close button's close, unasked (a signal: explorer.quit_signals), a question or dialog dismissed."""
        self._unasked = True
        for _ in range(8):  # (a question over a dialog: each in turn; bounded, should one refuse to close)
            modal = QApplication.activeModalWidget()
            if modal is None or modal is self or not modal.close():
                break
        self.close()  # (asked already, Qt is inside closeEvent: that close goes on, _unasked read again)

    def closeEvent(self, event):
        run = self.training.queue.active if "training" in self.views else None
        if run is not None and not self._unasked and not self.ask_stop_runs() and not self._unasked:
            event.ignore()
            return
        self.fit_to_screen()  # never saves a window larger than the screen for the next start
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.setValue("tab", self.tabs.currentIndex())
        if self.library.current is not None:
            self.settings.setValue("lastModel", str(Path(self.library.current.path).resolve()))
        self.settings.sync()
        for v in self.views.values():
            v.shutdown()
        shutdown_all()
        discard_pools()
        if self._message_box is not None:
            self._message_box.close()
        if run is not None and self._unasked:  # closed by a signal: the terminal hears what became of the run
            say(run.kept())
        super().closeEvent(event)


def wait_until_ready(window: MainWindow, callback, timeout_s: float = 120.0):
    """Call ``callback(ok)`` once the current view has finished loading (polling, no busy wait)."""
    import time

    t0 = time.monotonic()
    timer = QTimer(window)

    def poll():
        view = window.current_view()
        ready = view.is_ready()
        if ready or time.monotonic() - t0 > timeout_s:
            timer.stop()
            QTimer.singleShot(300, lambda: callback(bool(ready)))

    timer.timeout.connect(poll)
    timer.start(50)
