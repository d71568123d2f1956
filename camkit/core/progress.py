"""Progress for long work (a zoo training run, a perturbation method over many channels).

:func:`progress_bar` is tqdm on standard error: a live bar in a terminal, elsewhere (a log, CI, a
notebook's stored output) a plain line at most every 30 s.  ``delay`` keeps short work silent.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm


class _LineStream:
    """A file for tqdm outside a terminal: each refresh becomes a line of its own instead of a
    carriage-return overwrite that a log shows as one endless line."""

    def __init__(self, stream) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def progress_bar(iterable: Iterable, desc: str, enabled: bool = True, total: int | None = None, delay: float = 0.0,
                 position: int = 0) -> tqdm:
    """tqdm on standard error (see the module docstring); nothing is shown before ``delay`` seconds.
    ``position`` is the terminal line of the bar, for bars of several processes at once."""
    if sys.stderr.isatty():
        return tqdm(iterable, desc=desc, total=total, file=sys.stderr, disable=not enabled, mininterval=2, delay=delay,
                    position=position)
    # maxinterval=inf: tqdm's monitor thread reprints a bar that has not printed for maxinterval
    # (10 s) with a stale count (an iterable's bar updates its count only when it prints itself):
    # with mininterval=30 every other line of a log would repeat the one before with a later time.
    return tqdm(iterable, desc=desc, total=total, file=_LineStream(sys.stderr), disable=not enabled, mininterval=30,
                maxinterval=float("inf"), ncols=90, delay=delay)
