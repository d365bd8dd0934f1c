"""Progress reporters: a text bar for humans and JSON lines for the plugin's child processes.

The engine only ever sees a plain callable ``progress(fraction, text)``.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Callable, Optional, TextIO

ProgressFn = Callable[[float, str], None]


def silent(fraction: float, text: str) -> None:  # noqa: ARG001 - the protocol's signature
    """A progress callable that reports nothing."""


class TextBar:
    """A single-line progress bar with an ETA, redrawn in place on a terminal, throttled otherwise."""

    def __init__(self, label: str = "", stream: Optional[TextIO] = None, width: int = 30):
        self.label, self.width = label, width
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self._last_print = 0.0
        self._tty = self.stream.isatty()

    def __call__(self, fraction: float, text: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        if not self._tty and fraction < 1.0 and now - self._last_print < 2.0:
            return
        self._last_print = now
        elapsed = now - self.start
        eta = f" ETA {elapsed * (1 - fraction) / fraction:5.0f}s" if 0.02 < fraction < 1.0 else ""
        filled = int(self.width * fraction)
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}%{eta} {text}"
        if self._tty:
            self.stream.write("\r" + line[:150].ljust(150) + ("\n" if fraction >= 1.0 else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class JsonLines:
    """Writes one JSON object per update: {"progress": f, "text": t, "elapsed": s}."""

    def __init__(self, stream: Optional[TextIO] = None):
        self.stream = stream if stream is not None else sys.stdout  # the current one: callers may redirect it
        self.start = time.monotonic()

    def __call__(self, fraction: float, text: str) -> None:
        self.stream.write(json.dumps({"progress": round(fraction, 4), "text": text,
                                      "elapsed": round(time.monotonic() - self.start, 2)}) + "\n")
        self.stream.flush()


def make_progress(kind: str, label: str = "") -> ProgressFn:
    """'bar' (default), 'json' or 'none'."""
    if kind == "json":
        return JsonLines()
    if kind == "none":
        return silent
    return TextBar(label)
