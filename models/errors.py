"""The errors ``models`` raises for the user: each message is meant to be shown as it is."""

import re


class ConfigError(ValueError):
    """A model or training setting that cannot work; the message is meant for the user."""


class DivergedError(ArithmeticError):
    """A loss or gradient became NaN/Inf; the step that caused it was not applied."""


class CheckpointError(ValueError):
    """A file that cannot be loaded or saved as a checkpoint; the message is meant for the user."""


def shown(text, limit: int = 60) -> str:
    """Text from a file, safe to put in a message: quoted with every control or invisible character escaped
    (no terminal escape sequences, no forged lines), and at most ``limit`` characters before an ellipsis."""
    text = str(text)
    short = text[:limit]
    # a file name's bytes that are not UTF-8 (Python keeps them as lone surrogates) are shown as \xNN
    out = re.sub(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])", r"\1\\x\2", repr(short))
    return out + ("…" if len(text) > limit else "")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text) -> str:
    """A message safe for a terminal or a dialog, whatever a file put in it: every control character (an
    escape sequence that retitles or clears a terminal, a carriage return that forges a line, a bidi override)
    is written as an escape such as \\x1b; newlines and tabs are kept. The one function every message passes
    through on its way out (the CLI's error lines, the window's status line and dialogs)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                        else f"\\u{ord(m.group()):04x}", str(text))


def check_regular(path, error: type[Exception]) -> None:
    """Refuse a FIFO, a device, a socket, anything but a regular file, without opening it (reading a FIFO
    waits forever; a device can be endless): raises ``error`` with the reason."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    if not stat.S_ISREG(mode):
        raise error(f"{path}: not a regular file (a pipe, a device or a socket); nothing was read from it")


DEBUG_ENV = "LATENT_EXPLORER_DEBUG"


def debugging() -> bool:
    """The one switch for tracebacks of errors that were already answered with a message (the window's, the
    command line's one line): ``LATENT_EXPLORER_DEBUG=1`` in the environment. ``--debug`` sets it, so the
    processes a run starts inherit it."""
    import os

    return os.environ.get(DEBUG_ENV) == "1"


def start_debugging() -> None:
    """What ``--debug`` does (the window's option, or the first word before a command)."""
    import os

    os.environ[DEBUG_ENV] = "1"


def print_traceback_if_debugging() -> None:
    """The traceback of the exception being handled, on stderr, under :func:`debugging`; else nothing."""
    if debugging():
        import sys
        import traceback

        traceback.print_exc(file=sys.stderr)
