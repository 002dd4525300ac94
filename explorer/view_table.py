"""The one table of views: it makes the tabs, the View menu and its Ctrl+N keys, ``--view`` and the F1 list.

No Qt is imported here (``--help`` and ``--view``'s choices stay quick): each view's class is named as
"module:Class" and made by :func:`make_view` from the window's state objects its constructor takes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class ViewSpec:
    name: str  # --view NAME, and the window's attribute
    title: str  # the tab and the View menu
    cls: str  # "module:Class", a ModelView
    needs: tuple[str, ...] = ("latent",)  # the window's state objects its constructor takes, in order
    keys: str = ""  # its own shortcuts, in words (the F1 list)


VIEWS: tuple[ViewSpec, ...] = (
    ViewSpec("map", "Latent Map", "latent_explorer.latent_map:LatentMap"),
    ViewSpec("editor", "Latent Editor", "latent_explorer.editor:LatentEditor",
             keys="R randomise z, P play / pause the interpolation"),
    ViewSpec("diffusion", "Diffusion", "latent_explorer.diffusion_view:DiffusionView",
             keys="Ctrl+R run, ←/→ one step, Shift+←/→ ten, Home/End, Space play/pause"),
    ViewSpec("txt2img", "Text to Image", "latent_explorer.text_to_image:TextToImageView",
             keys="Ctrl+Return generate, Esc cancel, ←/→ one step, Home/End"),
    ViewSpec("pixels", "Pixels", "latent_explorer.pixels_view:PixelsView",
             keys="Ctrl+Return sample or complete, Esc cancel, ←/→ one pixel, PgUp/PgDn one row"),
    ViewSpec("quality", "Quality", "latent_explorer.quality_view:QualityView", keys="Ctrl+Return measure, Esc cancel"),
    ViewSpec("inspect", "Inspect", "latent_explorer.inspect_view:InspectView", ("latent", "library"),
             keys="Ctrl+Return compute the page shown, Esc cancel"),
    ViewSpec("compare", "Compare", "latent_explorer.compare_view:CompareView", ("latent", "library"),
             keys="Ctrl+Return compare the ticked models, Esc cancel"),
    ViewSpec("sketch", "Sketch", "latent_explorer.sketch_view:SketchView",
             keys="left button draws, right button erases, Ctrl+Z undo, Delete clear, [ ] pen, E eraser"),
    ViewSpec("training", "Training", "latent_explorer.training_view:TrainingView", ("library",)),
)
VIEW_NAMES = tuple(v.name for v in VIEWS)


def key_of(i: int) -> str:
    """The View menu's shortcut of the i-th view: Ctrl+1 … Ctrl+9, then Ctrl+0."""
    return f"Ctrl+{(i + 1) % 10}"


def make_view(spec: ViewSpec, window):
    module, name = spec.cls.split(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(*(getattr(window, need) for need in spec.needs))


def shortcut_lines() -> list[str]:
    """The views' keys for the F1 list: Ctrl+N to reach each, then each view's own."""
    first, last = key_of(0), key_of(len(VIEWS) - 1).removeprefix("Ctrl+")
    reach = f"{first}…{key_of(min(8, len(VIEWS) - 1)).removeprefix('Ctrl+')}" + (f", {last}" if len(VIEWS) > 9 else "")
    return [f"{reach}  {', '.join(v.title for v in VIEWS)}"] + [f"{v.title}: {v.keys}" for v in VIEWS if v.keys]
