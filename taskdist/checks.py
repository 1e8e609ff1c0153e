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


def square_frame(df: object, name: str):
    """``df``, a task x task ``pandas.DataFrame`` (rows = source, columns = target), with its columns in index order.

    Raises
    ------
    TypeError
        If ``df`` is not a DataFrame.
    ValueError
        If it is not square, repeats a task label, or has other task labels on rows than on columns.
    """
    import pandas as pd  # here: the floor stays light for the modules that need no frames

    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame (rows = source, columns = target), got {type(df).__name__}")
    if df.shape[0] != df.shape[1]:
        raise ValueError(f"{name} must be square (rows = source, columns = target), got shape {df.shape}")
    if df.index.has_duplicates or df.columns.has_duplicates:
        raise ValueError(f"{name} has duplicated task labels; expected one row and one column per task")
    if set(df.index) != set(df.columns):
        raise ValueError(
            f"{name} must have the same task labels on rows and columns, got rows {list(df.index)} "
            f"and columns {list(df.columns)}"
        )
    return df.loc[:, df.index]
