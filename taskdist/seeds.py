"""Seeds derived from names: every random draw of the workflow is seeded by what it is about."""

from __future__ import annotations

import hashlib


def _digest(parts: tuple[object, ...]) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()


def stable_seed(*parts: object) -> int:
    """A 31-bit seed derived deterministically from ``parts`` (stable across runs and machines)."""
    return int.from_bytes(_digest(parts)[:4], "little") & 0x7FFFFFFF


def stable_id(*parts: object) -> int:
    """A 63-bit number naming what ``parts`` name, e.g. an image of a folder by its class name, part and file
    name: wide enough that a million names share one with probability about 5e-8."""
    return int.from_bytes(_digest(parts)[:8], "little") & 0x7FFF_FFFF_FFFF_FFFF
