"""Argument checks shared by the numeric functions: a ``TypeError`` or ``ValueError`` naming the bad value."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def is_int(value: object) -> bool:
    """Whether ``value`` is an int (Python or numpy), not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(name: str, value: object, *, minimum: int | None, allow_none: bool = False) -> None:
    """``value`` must be an int (not a bool), at least ``minimum`` when given; or None with ``allow_none``."""
    if allow_none and value is None:
        return
    if not is_int(value):
        raise TypeError(f"{name} must be an int{' or None' if allow_none else ''}, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    """``value`` must be a finite number, > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")


def check_fraction(name: str, value: object) -> None:
    """``value`` must be a number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a fraction in (0, 1), got {type(value).__name__} {value!r}")
    if not 0 < value < 1:
        raise ValueError(f"{name} must be a fraction in (0, 1), got {value!r}")


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """``value`` must be one of ``choices`` (``ValueError`` otherwise, whatever its type)."""
    if isinstance(value, bool) or value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
