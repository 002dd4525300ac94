"""Command-line interface: the commands of :data:`COMMANDS` (``latent-explorer --help`` lists each with its
line of help, from the parser below). No Qt here.

Every bad input ends with exit code 2 and one clear line on stderr, never a traceback (but under ``--debug``,
see :func:`models.errors.debugging`). Long steps show progress with an ETA on stderr (:mod:`models.cli.progress`).
Run as ``latent-explorer train ...`` or ``python -m latent_explorer.models.cli train ...`` (also under torchrun).
"""

from __future__ import annotations

import importlib
import os
import sys

from latent_explorer.models.cli.args import UsageError
from latent_explorer.models.cli.memory import out_of_memory_message, subject_of
from latent_explorer.models.cli.parser import COMMANDS, build_parser, command_lines
from latent_explorer.models.data import DataError
from latent_explorer.models.errors import (
    CheckpointError,
    ConfigError,
    failure,
    out_of_memory,
    print_traceback_if_debugging,
    printable,
    reason,
)
from latent_explorer.models.training.train import TrainingError

__all__ = ["COMMANDS", "HANDLERS", "UsageError", "build_parser", "command_lines", "main"]

# what runs each command of COMMANDS: "module:function", imported when the command runs
HANDLERS = {
    "train": "latent_explorer.models.cli.train:cmd_train",
    "sample": "latent_explorer.models.cli.generate:cmd_sample",
    "txt2img": "latent_explorer.models.cli.generate:cmd_txt2img",
    "translate": "latent_explorer.models.cli.translate:cmd_translate",
    "info": "latent_explorer.models.cli.info:cmd_info",
    "eval": "latent_explorer.models.cli.evaluate:cmd_eval",
    "inpaint-eval": "latent_explorer.models.cli.inpaint:cmd_inpaint_eval",
    "classifier": "latent_explorer.models.cli.evaluate:cmd_classifier",
    "likelihood": "latent_explorer.models.cli.diagnostics:cmd_likelihood",
    "anomaly": "latent_explorer.models.cli.diagnostics:cmd_anomaly",
    "plugins": "latent_explorer.models.cli.plugins:cmd_plugins",
}


def handler(command: str):
    module, name = HANDLERS[command].split(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None, world=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    a = None
    try:
        a = parser.parse_args(argv)
        if a.command is None:
            parser.print_help(sys.stderr)
            return 2
        if a.command == "train":
            from latent_explorer.models.training.distributed import World

            world = world or World.from_env()  # under torchrun: one process of a distributed run
            code = None
            try:
                code = handler("train")(a, world)
                return code
            finally:
                if world is not None:  # a run that ended well leaves together; a failed one at once
                    world.close(together=code == 0)
                    if code == 0:  # saved and closed: skip C++'s static destructors, which now and then aborted
                        # a rank at exit with a thread still joinable ("terminate called without an active
                        # exception", no Python frame left), failing a finished run
                        sys.stdout.flush()
                        sys.stderr.flush()
                        os._exit(0)
        return handler(a.command)(a)
    except (UsageError, DataError, ConfigError, CheckpointError) as e:
        print_traceback_if_debugging()
        print(f"error: {printable(e)}", file=sys.stderr)  # a file's control characters as escapes
        return 2
    except TrainingError as e:
        print_traceback_if_debugging()
        print(f"error: {printable(e)}", file=sys.stderr)
        return 1
    except (MemoryError, RuntimeError) as e:
        if not out_of_memory(e):  # a RuntimeError of a bug: its traceback
            raise
        print_traceback_if_debugging()
        print(f"error: {out_of_memory_message(a, e)}", file=sys.stderr)  # the options that set the size
        return 1
    except KeyboardInterrupt:  # before training started, or in another command: nothing half-written
        print("\ninterrupted: nothing was saved", file=sys.stderr)
        return 130
    except OSError as e:
        print_traceback_if_debugging()
        subject = e.filename or subject_of(a)  # the file, in words ("Invalid argument" alone named none)
        print(f"error: {failure(subject, e) if subject else reason(e)}", file=sys.stderr)
        return 2
