"""Per-job setup shared by the workflow scripts: logging to the rule's log, threads, device."""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def log_to(log_path: str | None) -> None:
    """Send logging and warnings to ``log_path`` (to stderr without one)."""
    handler = logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler(sys.stderr)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[handler], force=True
    )
    logging.captureWarnings(True)


def torch_device(threads: int, device: str = "cpu") -> torch.device:
    """Cap torch's CPU threads at the job's ``threads`` and resolve the configured ``device``."""
    import torch

    from taskdist.models import resolve_device

    torch.set_num_threads(max(1, int(threads)))
    resolved = resolve_device(device)
    logging.getLogger("taskdist").info("device %s, %d threads", resolved, torch.get_num_threads())
    return resolved


def prepend_pythonpath(path: str) -> None:
    """Put ``path`` first on the PYTHONPATH that jobs inherit (conda envs, cluster jobs)."""
    current = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([path, current] if current else [path])
