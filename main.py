"""Latent Explorer: ``latent-explorer`` opens the window; ``latent-explorer train|sample|info|eval``
runs the command line (see README)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from models.cli import COMMANDS

    if argv and argv[0] in COMMANDS:
        from models.cli import main as cli_main

        return cli_main(argv)
    from explorer.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
