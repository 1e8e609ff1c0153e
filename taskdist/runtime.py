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


def stage_version(module: str) -> int:
    """The ``VERSION`` constant of a taskdist module, read from its source without importing it.

    Every stage's module owns the version of what it computes; the workflow
    puts it in the params of the rules that run it, so raising it reruns
    exactly those jobs and what depends on them. Reading the literal keeps
    planning free of the modules' heavy imports (torch).
    """
    import ast
    import importlib.util

    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"no module {module!r}")
    tree = ast.parse(open(spec.origin, encoding="utf-8").read(), spec.origin)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "VERSION" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    raise ValueError(f"module {module!r} ({spec.origin}) has no integer VERSION constant")
