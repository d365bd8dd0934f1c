"""Progress reporters: a text bar for humans and JSON lines for the plugin's child processes; the
time left from measured rates (Eta); and watched_call, which keeps a long call (one network pass)
reporting and cancellable.

The engine only ever sees a plain callable ``progress(fraction, text)``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Callable, Optional, TextIO, TypeVar

ProgressFn = Callable[[float, str], None]
T = TypeVar("T")

WATCH_S = 0.1  # how often a watched call polls its watcher (progress and cancel)


def silent(fraction: float, text: str) -> None:  # noqa: ARG001 - the protocol's signature
    """A progress callable that reports nothing."""


class Eta:
    """Seconds left from the measured rate of progress, smoothed.

    The rate is measured from the first update at which the progress has moved (so start-up — model
    loading, the fit — does not count as work done), over the progress made since; the estimate is
    blended with the previous one counted down (exponential smoothing, ``smoothing`` the new share).
    ``None`` until the progress has moved by ``min_progress`` over ``min_seconds``."""

    def __init__(self, smoothing: float = 0.3, min_progress: float = 0.01, min_seconds: float = 1.0):
        self.smoothing, self.min_progress, self.min_seconds = smoothing, min_progress, min_seconds
        self._origin: Optional[tuple[float, float]] = None  # (time, fraction) where the progress first moved
        self._first: Optional[float] = None  # the first fraction seen
        self._last: Optional[tuple[float, float]] = None  # (time, seconds left) of the last estimate

    def update(self, fraction: float, now: Optional[float] = None) -> Optional[float]:
        """The seconds left after this update (``now``: time.monotonic())."""
        now = time.monotonic() if now is None else now
        if self._first is None:
            self._first = fraction
        if self._origin is None:
            if fraction <= self._first:
                return None
            self._origin = (now, fraction)
            return None
        t0, f0 = self._origin
        if fraction >= 1.0:
            return 0.0
        if fraction - f0 < self.min_progress or now - t0 < self.min_seconds:
            return self._counted_down(now)
        raw = (now - t0) / (fraction - f0) * (1.0 - fraction)
        previous = self._counted_down(now)
        left = raw if previous is None else self.smoothing * raw + (1.0 - self.smoothing) * previous
        self._last = (now, left)
        return left

    def _counted_down(self, now: float) -> Optional[float]:
        if self._last is None:
            return None
        return max(self._last[1] - (now - self._last[0]), 0.0)


class TextBar:
    """A single-line progress bar with the time left (Eta), redrawn in place on a terminal, every
    ``every`` seconds otherwise."""

    def __init__(self, label: str = "", stream: Optional[TextIO] = None, width: int = 30, every: float = 2.0):
        self.label, self.width, self.every = label, width, every
        self.stream = stream if stream is not None else sys.stderr
        self.eta = Eta()
        self._last_print = 0.0
        self._tty = self.stream.isatty()

    def __call__(self, fraction: float, text: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        now = time.monotonic()
        left = self.eta.update(fraction, now)
        if not self._tty and fraction < 1.0 and now - self._last_print < self.every:
            return
        self._last_print = now
        eta = f" ETA {left:5.0f}s" if left is not None and fraction < 1.0 else ""
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


def expected_share(elapsed: float, expected: float) -> float:
    """The share of a call done after ``elapsed`` seconds when it is expected to take ``expected``:
    linear up to 80 %, then approaching 100 % hyperbolically (never reaching it; the same slope at
    the joint), so the progress of a call slower than expected still moves."""
    if expected <= 0:
        return 0.0
    if elapsed <= 0.8 * expected:
        return elapsed / expected
    return 1.0 - 0.2 / (1.0 + (elapsed - 0.8 * expected) / (0.2 * expected))


def watched_call(call: Callable[[], T], watch: Callable[[float], None], abort: Optional[Callable[[], None]] = None,
                 every: float = WATCH_S) -> T:
    """``call()`` in a helper thread while this thread calls ``watch(seconds since the start)`` every
    ``every`` seconds: the watcher reports progress, and raises (e.g. Cancelled) to stop. Then
    ``abort()`` stops the call (ONNX Runtime: RunOptions.terminate; without it the call runs to its
    end), the helper is joined and the watcher's exception propagates. Callbacks stay on this thread."""
    outcome: dict = {}
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc
        finally:
            done.set()

    start = time.monotonic()
    threading.Thread(target=target, name="padm-watched-call", daemon=True).start()
    try:
        while not done.wait(every):
            watch(time.monotonic() - start)
    except BaseException:
        if abort is not None:
            abort()
        done.wait()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
