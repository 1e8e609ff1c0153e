"""Argument checks shared by the numeric functions: a ``TypeError`` or ``ValueError`` naming the bad value."""

from __future__ import annotations

import math

import numpy as np


def check_int(name: str, value: object, *, minimum: int | None) -> None:
    """``value`` must be an int (not a bool), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    """``value`` must be a finite number, > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value}")
