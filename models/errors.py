"""The errors ``models`` raises for the user: each message is meant to be shown as it is."""

import errno
import os
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


_OUT_OF_MEMORY = re.compile(r"can't allocate memory|cannot allocate memory|not enough memory|out of memory|"
                            r"DefaultCPUAllocator", re.I)
_ASKED = re.compile(r"allocate (\d+) bytes")
_ERRNO_WORDS = {
    errno.ENOENT: "there is no such file", errno.EISDIR: "it is a folder, not a file",
    errno.ENOTDIR: "a part of its path is not a folder", errno.EACCES: "permission denied",
    errno.EPERM: "permission denied", errno.EIO: "the disk could not read it (input/output error)",
    errno.EINVAL: "the system refused it (invalid argument: a special file, or a damaged one?)",
    errno.ENOSPC: "the disk is full", errno.EROFS: "the disk is read-only", errno.ENAMETOOLONG: "its name is too long",
    errno.ELOOP: "its symbolic links go round in a loop", errno.ENXIO: "there is no such device",
    errno.ENOMEM: "not enough memory", errno.EFBIG: "it is too large", errno.ESPIPE: "it cannot be read as a file "
    "(a pipe or a device)",
}


def out_of_memory(e: BaseException) -> bool:
    """A MemoryError, or PyTorch's allocator refusing (a RuntimeError from DefaultCPUAllocator, or CUDA's)."""
    if isinstance(e, OSError):
        return e.errno == errno.ENOMEM
    return isinstance(e, MemoryError) or (isinstance(e, RuntimeError) and bool(_OUT_OF_MEMORY.search(str(e))))


def memory_asked(e: BaseException) -> str:
    """How much an allocator that refused asked for, in words ("9.3 GB"), when its message says; else ""."""
    asked = _ASKED.search(str(e)) if isinstance(e, RuntimeError) else None
    return f"{int(asked.group(1)) / 2**30:.1f} GB" if asked else ""


def reason(e: BaseException) -> str:
    """What went wrong, said plainly on one line, for any exception from reading or writing a file: an
    allocator's refusal as "not enough memory for 9.3 GB", never its internals; an OSError
    by its reason in words ("permission denied"), never "[Errno 13] …"; a message of ours (a ValueError) as it
    is; anything else by its type and first line. Control characters are escaped (:func:`printable`)."""
    if out_of_memory(e):
        return "not enough memory" + (f" for {memory_asked(e)}" if memory_asked(e) else "")
    if isinstance(e, OSError) and e.errno is not None:
        text = _ERRNO_WORDS.get(e.errno) or (e.strerror or os.strerror(e.errno)).lower()
    elif isinstance(e, ValueError) and str(e).strip():
        text = str(e).strip()
    elif isinstance(e, OSError) and str(e).strip():  # an OSError of a library's own words (PIL, gzip)
        text = str(e).strip().split("\n", 1)[0]
    else:
        first = str(e).strip().split("\n", 1)[0]
        text = f"{type(e).__name__}: {first}" if first else type(e).__name__
    text = printable(text)
    return text if len(text) <= 400 else text[:400] + "…"


def failure(path, e: BaseException) -> str:
    """One line naming the file ``path`` (by its name) and what went wrong with it (:func:`reason`):
    "drawing.png: permission denied". A message that already starts with the file's path or name says it once."""
    full = printable(str(path))
    name = os.path.basename(full.rstrip("/")) or full
    why = reason(e)
    if why.startswith((full + ":", full + " ")) and full != name:
        why = name + why[len(full):]
    return why if why.startswith((name + ":", name + " ")) else f"{name}: {why}"


SPECIAL_ROOTS = ("/proc", "/sys", "/dev")  # files there pass stat's regular-file test but never end or change


def check_regular(path, error: type[Exception], expected: str = "a file") -> None:
    """Refuse a folder, a FIFO, a device, a socket, anything but a regular file, without opening it (reading a
    FIFO waits forever; a device can be endless): raises ``error`` with the reason (a folder is called one,
    and ``expected`` says what was wanted instead)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(mode):
        raise error(f"{path}: a folder, where {expected} was expected; nothing was read from it")
    if not stat.S_ISREG(mode):
        raise error(f"{path}: not a regular file (a pipe, a device or a socket); nothing was read from it")
    real = os.path.realpath(path)  # /proc/self/pagemap passes as a regular file, and its read never ends
    if any(real == r or real.startswith(r + os.sep) for r in SPECIAL_ROOTS):
        raise error(f"{path}: a system file ({real}), not a file of yours; nothing was read from it")


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
