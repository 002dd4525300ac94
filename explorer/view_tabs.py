"""The views' tabs, each view built the first time it is shown or asked for (issue S.1: the first paint
waits for one view, not ten).

Every tab holds a page from the start, so the tab bar, the View menu and their keys are all there at once;
a view is made into its page when its tab first becomes current (or when the window asks for it, as a drop
or a test does). ``currentWidget``, ``setCurrentWidget`` and ``indexOf`` speak of views, as a QTabWidget of
the views themselves would."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QTabWidget, QVBoxLayout, QWidget


class ViewTabs(QTabWidget):
    def __init__(self, build: Callable[[str], QWidget], parent=None):
        """``build(name)``: the view of that name, made (the window's :meth:`view`, which calls :meth:`place`)."""
        super().__init__(parent)
        self._build = build
        self._names: list[str] = []
        self.views: dict[str, QWidget] = {}  # the views built so far (the window's ``views``), by name
        self._lazy = False  # until the window is set up, a tab made current builds nothing
        self.currentChanged.connect(self._shown)

    def add_page(self, name: str, title: str) -> None:
        page = QWidget()
        page.setObjectName(f"page-{name}")
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        self._names.append(name)
        self.addTab(page, title)

    def place(self, name: str, view: QWidget) -> None:
        """Put a newly made view into its page."""
        self.views[name] = view
        self.widget(self._names.index(name)).layout().addWidget(view)
        view.show()  # now, not at the layout's next pass: its tab may be the one shown

    def start(self) -> None:
        """From now on a tab made current has its view built; the current one is built now."""
        self._lazy = True
        self._shown(self.currentIndex())

    def name_at(self, index: int) -> str | None:
        return self._names[index] if 0 <= index < len(self._names) else None

    def _shown(self, index: int) -> None:
        name = self.name_at(index)
        if self._lazy and name is not None and name not in self.views:
            self._build(name)

    # -- views, not pages ----------------------------------------------------------------------
    def currentWidget(self):  # noqa: N802 - Qt's name
        name = self.name_at(self.currentIndex())
        if name is None:
            return None
        view = self.views.get(name)
        return view if view is not None else self._build(name)

    def setCurrentWidget(self, widget) -> None:  # noqa: N802 - Qt's name
        self.setCurrentIndex(self.indexOf(widget))

    def indexOf(self, widget) -> int:  # noqa: N802 - Qt's name
        for name, view in self.views.items():
            if view is widget:
                return self._names.index(name)
        return super().indexOf(widget)
