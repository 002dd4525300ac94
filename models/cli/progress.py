"""Progress on stderr for the command line, terminal or not.

On a terminal: one line with a bar and ETA, redrawn at most 10 times a second. Otherwise (stderr redirected
to a file, a pipe, CI's log): plain lines, one when a new stage starts and at most one every
:data:`PLAIN_EVERY_S` seconds between, so a long job is never silent and a log never fills with carriage
returns.
"""

from __future__ import annotations

import re
import sys
import time

PLAIN_EVERY_S = 5.0
_WIDTH = 99


def fmt_time(s: float) -> str:
    s = max(0, int(s))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _stage(message: str) -> str:
    """What a step is doing, without its counts ("sampling 200/2,000" and "sampling 400/2,000" are one)."""
    return re.sub(r"[\d,.]+", "#", message)


class _Plain:
    """The rate of plain lines: one at a new stage, else one every PLAIN_EVERY_S seconds."""

    def __init__(self):
        self.last, self.stage = -float("inf"), None

    def due(self, stage: str, now: float) -> bool:
        if stage != self.stage or now - self.last >= PLAIN_EVERY_S:
            self.stage, self.last = stage, now
            return True
        return False


class ProgressBar:
    """Training's progress: on a terminal a one-line bar with ETA redrawn at most 10 times a second; to a
    file or a pipe, a plain line at most every PLAIN_EVERY_S seconds (each epoch has its own line)."""

    def __init__(self, stream=None, enabled=True):
        self.stream, self.enabled, self.last = stream or sys.stderr, enabled, 0.0
        self.tty = self.stream.isatty()
        self.plain = _Plain()

    def update(self, p, force=False):
        now = time.monotonic()
        if not self.enabled:
            return
        if not self.tty:  # an epoch's end (force) is told by its own line
            if not force and self.plain.due("step", now):
                self.stream.write(self._text(p, bar=False) + "\n")
                self.stream.flush()
            return
        if not force and now - self.last < 0.1:
            return
        self.last = now
        self.stream.write(("\r" + self._text(p))[:150].ljust(150))
        self.stream.flush()

    @staticmethod
    def _text(p, bar=True) -> str:
        width = 24
        done = int(width * p.fraction)
        losses = " ".join(f"{k}={v:.4g}" for k, v in list(p.losses.items())[:4])
        shown = f" [{'#' * done}{'.' * (width - done)}]" if bar else f" {100 * p.fraction:.0f}%"
        return (f"epoch {p.epoch}/{p.epochs}{shown} {p.step}/{p.total_steps} {p.samples_per_s:,.0f} img/s "
                f"ETA {fmt_time(p.eta_s)} {losses}")

    def line(self, text):
        if self.enabled and self.tty:
            self.stream.write("\r" + " " * 150 + "\r")
        print(text, file=sys.stderr, flush=True)


def run_steps(gen, label: str, stream=None):
    """Drive a progress generator of :class:`models.progress.Step` to its end and return its value, showing
    ``label: message [percent] ETA`` on stderr: a redrawn line on a terminal, plain lines otherwise. The
    ETA is the current stage's pace (a job's stages, such as training a classifier and then sampling, go
    at different speeds)."""
    stream = stream or sys.stderr
    tty = stream.isatty()
    plain = _Plain()
    t0 = last = time.monotonic()
    said, stage, since, base = False, None, t0, 0.0
    while True:
        try:
            s = next(gen)
        except StopIteration as e:
            if tty:
                stream.write("\r" + " " * (_WIDTH + 1) + "\r")
            elif said:
                stream.write(f"{label}: done ({fmt_time(time.monotonic() - t0)})\n")
            stream.flush()
            return e.value
        now = time.monotonic()
        if _stage(s.message) != stage:  # a new stage: its pace from here
            stage, since, base = _stage(s.message), now, s.fraction
        done = s.fraction - base
        eta = fmt_time((now - since) * (1 - s.fraction) / done) if done > 0 else "?"
        text = f"{label}: {s.message} [{100 * s.fraction:3.0f}%] ETA {eta}"
        if tty and now - last >= 0.1:
            last = now
            stream.write(f"\r{text}"[:_WIDTH + 1].ljust(_WIDTH + 1))
            stream.flush()
        elif not tty and plain.due(stage, now):
            said = True
            stream.write(text + "\n")
            stream.flush()
