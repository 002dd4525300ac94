"""Latent Explorer's entry point: ``latent-explorer [MODEL]`` (or ``python main.py``, ``python -m
latent_explorer``) opens the window; ``latent-explorer COMMAND ...`` runs one of the command line's commands
(``models.cli.COMMANDS``; ``latent-explorer --help`` lists each). ``--debug`` first: tracebacks of the errors
answered with a message are printed too."""

from __future__ import annotations

import signal
import sys


def _interrupt_once(signum, frame):
    """Ctrl+C raises KeyboardInterrupt once; more Ctrl+Cs while it is answered are ignored, so the answer
    (one line saying what is on disk) is never cut short by a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = argv[1:2] if argv[:1] == ["--debug"] else argv[:1]  # --debug COMMAND ...: the command's word
    cli = bool(first) and not first[0].startswith("-")
    asked: list[int] = []
    if cli and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        # PyTorch's import is not cut in the middle (a half-initialised extension can hang the exit): a
        # Ctrl+C meanwhile is answered right after it
        signal.signal(signal.SIGINT, lambda signum, frame: asked.append(signum))
    try:
        from latent_explorer.models.cli import COMMANDS

        if asked:
            raise KeyboardInterrupt
        if cli and signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _interrupt_once)

        if argv[:1] == ["--debug"] and argv[1:2] and argv[1] in COMMANDS:
            from latent_explorer.models.errors import start_debugging

            start_debugging()
            argv = argv[1:]
        if argv and argv[0] in COMMANDS:
            from latent_explorer.models.cli import main as cli_main

            return cli_main(argv)
    except KeyboardInterrupt:  # while starting up, or a second Ctrl+C while the first was being answered
        print("\ninterrupted: nothing was saved", file=sys.stderr)
        return 130
    from latent_explorer.app import main as gui_main

    return gui_main(argv)


def run() -> None:
    """The process's entry point (``python main.py``, ``python -m latent_explorer``, the ``latent-explorer``
    script)."""
    code = main()
    if "PySide6.QtWidgets" in sys.modules:  # the window ran: see explorer.qt_compat.exit_process
        from latent_explorer.qt_compat import exit_process

        exit_process(code)
    sys.exit(code)
