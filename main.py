"""Latent Explorer from a checkout: ``python main.py [MODEL | COMMAND ...]``, as the installed
``latent-explorer`` command (:mod:`explorer.launch`). The checkout's folders are installed as one package,
``latent_explorer`` (``models/`` is ``latent_explorer.models``): ``make run`` installs it into ``.venv``."""

import sys

try:
    from latent_explorer.launch import run
except ModuleNotFoundError as e:  # not installed in this Python: say how, in one line
    if e.name not in ("latent_explorer", "torch", "PySide6"):
        raise
    sys.exit(f"{e.name} is not installed in {sys.executable}: run `make run` once (it installs Latent Explorer "
             "into .venv), then `.venv/bin/python main.py` or `.venv/bin/latent-explorer`.")

if __name__ == "__main__":
    run()
