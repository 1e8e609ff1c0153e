"""Progress of a long loop in a job's log: done / total and the rate, at a steady interval and at the end.

A job's log (``logs/{rule}/...log``) is the only place a running job speaks; a loop of minutes logs through
this helper so that ``tail -f`` shows it moving::

    progress = Progress("fisher", total=len(images), unit="samples", logger=log)
    for batch in batches:
        ...                              # the work
        progress.advance(len(batch))     # a time.monotonic() check; logs when `every` seconds have passed
    progress.end()                       # the last line: done, total, time and rate

gives lines such as ``fisher: 384/500 samples, 41.2 samples/s, about 3 s left`` at most every
:data:`EVERY` seconds and ``fisher: 500/500 samples in 12.1 s, 41.3 samples/s`` at the end. It only logs:
it changes nothing the loop computes, and a step costs one clock read and a comparison. It is in the floor
(no torch, no other taskdist module), so every layer can use it.
"""

from __future__ import annotations

import logging
import math
import time

__all__ = ["EVERY", "Progress"]

EVERY = 10.0
"""Default seconds between two progress lines of a loop (read when a :class:`Progress` is made)."""

_log = logging.getLogger("taskdist.progress")


class Progress:
    """Counts a loop's work and logs ``name: done/total unit, rate unit/s`` at most every ``every`` seconds.

    Parameters
    ----------
    name
        What the loop does, first word of each line (``fisher``, ``mnist_low train``, ...).
    total
        Units of work in the whole loop, ``>= 0``; None when not known in advance (e.g. training with early
        stopping: its lines then give done and the rate only).
    unit
        Name of one unit of work (``samples``, ``sources``, ``epochs``, ...).
    logger
        Where the lines go (the calling module's logger); ``taskdist.progress`` without one.
    every
        Seconds between two lines, ``>= 0`` (0: a line at every :meth:`advance`); default :data:`EVERY`.
    quiet
        Log the last line only if the loop logged one before, i.e. took longer than ``every`` (for an inner
        loop called many times, e.g. a network's features, that is mostly short).

    Raises
    ------
    TypeError, ValueError
        For a ``total`` that is not an int ``>= 0`` (or None), or an ``every`` that is not a finite number
        ``>= 0``.
    """

    __slots__ = ("name", "total", "unit", "done", "every", "quiet", "_logger", "_start", "_last", "_logged")

    def __init__(self, name: str, total: int | None, unit: str = "steps", *, logger: logging.Logger | None = None,
                 every: float | None = None, quiet: bool = False) -> None:
        every = EVERY if every is None else every
        if total is not None and (isinstance(total, bool) or not isinstance(total, int)):
            raise TypeError(f"total must be an int or None, got {type(total).__name__}")
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0, got {total}")
        if isinstance(every, bool) or not isinstance(every, (int, float)):
            raise TypeError(f"every must be a number of seconds, got {type(every).__name__}")
        if not math.isfinite(every) or every < 0:
            raise ValueError(f"every must be >= 0 seconds and finite, got {every}")
        self.name, self.total, self.unit, self.done, self.every = name, total, unit, 0, float(every)
        self.quiet, self._logger, self._logged = quiet, logger or _log, False
        self._start = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        """Count ``n`` more units done; log a line when ``every`` seconds have passed since the last one."""
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last, self._logged = now, True
            self._logger.info("%s", self._line(now, final=False))

    def end(self) -> None:
        """Log the last line: units done (of the total), the whole loop's time and its rate (with ``quiet``, only
        after a line of :meth:`advance`)."""
        if not self.quiet or self._logged:
            self._logger.info("%s", self._line(time.monotonic(), final=True))

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind, value, tb) -> None:
        if kind is None:  # a loop that raised says so in its traceback, not in a last progress line
            self.end()

    def _line(self, now: float, *, final: bool) -> str:
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else math.inf
        done = f"{self.done}/{self.total}" if self.total is not None else f"{self.done}"
        if final:
            return f"{self.name}: {done} {self.unit} in {elapsed:.1f} s, {rate:.1f} {self.unit}/s"
        line = f"{self.name}: {done} {self.unit}, {rate:.1f} {self.unit}/s"
        if self.total is not None and 0 < rate < math.inf and self.done < self.total:
            line += f", about {(self.total - self.done) / rate:.0f} s left"
        return line
