"""Kind plug-ins: a Python package adds a kind by naming a module in the entry-point group
``latent_explorer.kinds`` of its distribution (as napari's npe2 finds plugins), e.g. in its pyproject.toml::

    [project.entry-points."latent_explorer.kinds"]
    my-kind = "my_package.my_kind"            # importing the module registers its KindSpec
    other = "my_package.kinds:register_all"   # or a function, called once with no arguments

The registry loads them once, after the built-in kinds (:func:`models.registry.load_builtins`), so a plug-in's
kind opens, trains from the CLI and the Training view, and appears in every view that applies, like ours. A
plug-in that fails to load is named in one line of the log and never stops the start; ``latent-explorer
plugins`` lists what was found."""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from dataclasses import dataclass, field

GROUP = "latent_explorer.kinds"
log = logging.getLogger("latent_explorer")


@dataclass
class Plugin:
    name: str  # the entry point's name
    value: str  # "module" or "module:function"
    dist: str  # the distribution that declares it ("name version")
    kinds: list[str] = field(default_factory=list)  # the kinds it registered
    error: str | None = None  # why it did not load (one line), or None


_found: list[Plugin] = []


def found() -> list[Plugin]:
    """The plug-ins loaded so far, in the order they were found."""
    return list(_found)


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    eps = importlib.metadata.entry_points(group=GROUP)
    return sorted(eps, key=lambda ep: ep.name)


def load_plugins(registered) -> list[Plugin]:
    """Load every plug-in of :data:`GROUP` not loaded yet; ``registered()`` lists the kinds known (to say
    which kinds each plug-in added). Errors are caught, logged in one line each, and kept on the plug-in."""
    done = {(p.name, p.value) for p in _found}
    for ep in _entry_points():
        if (ep.name, ep.value) in done:
            continue
        dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "?"
        plugin = Plugin(ep.name, ep.value, dist)
        before = set(registered())
        try:
            loaded = ep.load()
            if ep.attr and callable(loaded):
                loaded()
        except Exception as e:  # a plug-in's bug is its own: the window and the CLI go on without it
            first = (str(e).strip().splitlines() or [""])[0][:200]
            plugin.error = f"{type(e).__name__}: {first}" if first else type(e).__name__
            log.warning("plug-in %r (%s, from %s) did not load: %s", ep.name, ep.value, dist, plugin.error)
        plugin.kinds = [k for k in registered() if k not in before]
        _found.append(plugin)
    return found()


def forget() -> None:
    """Forget what was loaded (tests that add and remove plug-ins); the kinds they registered stay registered."""
    _found.clear()
