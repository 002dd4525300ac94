"""``latent-explorer plugins``: the kind plug-ins found (entry points of ``latent_explorer.kinds``), what each
added, and why one did not load."""

from __future__ import annotations

import json


def add_parser(sub) -> None:
    p = sub.add_parser("plugins", help="list the kind plug-ins found, the kinds each adds, and any that failed")
    p.add_argument("--json", action="store_true", help="as JSON (default: one line each)")


def cmd_plugins(a) -> int:
    from latent_explorer.models import registry
    from latent_explorer.models.plugins import GROUP

    found = registry.load_plugins()
    if a.json:
        print(json.dumps([{"name": p.name, "value": p.value, "distribution": p.dist, "kinds": p.kinds,
                           "error": p.error} for p in found], indent=1))
        return 0
    if not found:
        print(f"no plug-ins: a package adds a kind through the entry-point group {GROUP!r}")
        return 0
    for p in found:
        what = f"failed: {p.error}" if p.error else f"kinds: {', '.join(p.kinds) or '(none registered)'}"
        print(f"{p.name}  {p.value}  ({p.dist})  {what}")
    return 0
