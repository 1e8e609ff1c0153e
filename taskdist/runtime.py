"""What every workflow job shares: logging to the rule's log, threads and device at the start, a fast exit at the end.

A job script reads::

    device = start(snakemake, torch=True)   # or start(snakemake) for a job without torch
    ...                                       # read inputs, call the stage, write outputs
    finish()

Every job is its own process, and in a workflow of many short jobs their fixed cost is much of the run:
``finish`` skips the interpreter's teardown, which with torch loaded takes most of a second
(``benchmarks/job_startup.py``). A job that raises never reaches it and exits the ordinary way.
``finish`` also logs what the job used (CPU and wall seconds from the process's start, peak memory),
which ``benchmarks/method_costs.py`` sums per method: the job measures itself exactly, where
Snakemake's ``benchmark:`` directive samples it from the scheduler's process (reading a torch
process's memory map costs the scheduler ~17 ms per sample, two samples a second).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def log_to(log_path: str | None) -> None:
    """Send logging and warnings to ``log_path`` (to stderr without one); with a log, an error that ends the job
    is written to it too (its traceback), so that the log Snakemake points to holds the error."""
    handler = logging.FileHandler(log_path, mode="w") if log_path else logging.StreamHandler(sys.stderr)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", handlers=[handler], force=True
    )
    logging.captureWarnings(True)
    if log_path:
        sys.excepthook = _log_then(sys.excepthook)


def _log_then(hook):
    """An excepthook that logs the uncaught error (with its traceback) before ``hook`` prints it to the console."""

    def excepthook(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            logging.getLogger("taskdist.job").error("%s %s: %s", FAILED, kind.__name__, value,
                                                    exc_info=(kind, value, tb))
            logging.shutdown()
        hook(kind, value, tb)

    return excepthook


def keep_freed_memory() -> bool:
    """Let glibc's ``malloc`` reuse the memory torch frees instead of handing it back to the kernel every step.

    By default glibc maps each large block (128 KiB and up, adapting to what was freed, at most 32 MiB) on
    its own and unmaps it when freed, and trims the heap's top when a few MiB are free; so the activations,
    gradients and per-sample chunks of every step arrive in fresh pages, which the kernel zeroes and maps
    again, step after step. This sets ``M_MMAP_MAX`` to 0 (every block comes from the heap) and
    ``M_TRIM_THRESHOLD`` to -1 (the heap is never trimmed): freed memory stays with the process for the next
    step, until it exits. ``benchmarks/malloc_reuse.py`` measures a training step both ways, side by side (the
    small CNN: 650 page faults per step to none, CPU per step 0.73x; ResNet-18 at 32 px: 12,000 to none,
    0.85x). A whole small-CNN job gains little (a transfer job timed six times each way: 0.98x, within the
    noise): glibc's own adaptation, once a job has read and freed its data, already avoids most of the
    faults. The Fisher of a torchvision backbone, whose per-sample chunks exceed glibc's largest adaptive
    threshold (32 MiB), gains most (``benchmarks/fisher_speed.py`` with and without ``--default-malloc``:
    ResNet-18's empirical Fisher 4.2x a forward+backward without, 2.5x with it).

    What is computed is the same bit for bit: only where the memory comes from changes. Returns whether the
    setting took (glibc; elsewhere nothing changes).
    """
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):  # a C library without mallopt (macOS)
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # glibc's malloc.h
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, -1))


def torch_device(threads: int, device: str = "cpu") -> torch.device:
    """Cap torch's CPU threads at the job's ``threads``, keep freed memory for reuse (:func:`keep_freed_memory`)
    and resolve the configured ``device``."""
    import torch

    from taskdist.nets.models import resolve_device

    if not keep_freed_memory():
        logging.getLogger("taskdist").info("malloc settings unavailable (not glibc): freed memory goes back")
    torch.set_num_threads(max(1, int(threads)))
    resolved = resolve_device(device)
    logging.getLogger("taskdist").info("device %s, %d threads", resolved, torch.get_num_threads())
    return resolved


def start(smk, *, torch: bool = False) -> torch.device | None:
    """Begin a job: log to its rule's log; with ``torch``, cap threads at its ``threads`` and return its device
    (``params.device``)."""
    log_to(smk.log[0] if smk.log else None)
    return torch_device(smk.threads, smk.params.device) if torch else None


FAILED = "job failed:"
"""Starts the line a job's log gets when an error ends the job (:func:`log_to`)."""

RESOURCES = "job resources:"
"""Starts the last line of every finished job's log: its CPU seconds, wall seconds and peak memory."""


def finish() -> None:
    """End a job whose outputs are written: log what it used (:data:`RESOURCES`), flush logs and streams, then
    leave without the interpreter's teardown."""
    import resource

    import psutil  # a Snakemake dependency; only for the process's start time

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
    wall = time.time() - psutil.Process().create_time()
    logging.getLogger("taskdist.job").info(
        "%s cpu_s=%.2f wall_s=%.2f max_rss_mb=%.0f", RESOURCES, cpu, wall, max(peak_rss_mb(), children.ru_maxrss / 1024)
    )
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def peak_rss_mb() -> float:
    """This process's own peak resident memory, in MB.

    ``getrusage``'s ``ru_maxrss`` survives fork and exec: a job started by Snakemake reports the Snakemake
    process's peak when that was larger. Linux's ``VmHWM`` (``/proc/self/status``) is the peak of this
    process's own memory since its exec; elsewhere ``ru_maxrss`` is the fallback.
    """
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def read_resources(log_path: str | os.PathLike) -> dict[str, float] | None:
    """What a finished job used, from its log (the line :func:`finish` writes); None if it did not finish."""
    with open(log_path, encoding="utf-8", errors="replace") as f:
        lines = [line for line in f if RESOURCES in line]
    if not lines:
        return None
    fields = lines[-1].split(RESOURCES, 1)[1].split()
    return {key: float(value) for key, value in (field.split("=", 1) for field in fields)}


def prepend_pythonpath(path: str) -> None:
    """Put ``path`` first on the PYTHONPATH that jobs inherit (conda envs, cluster jobs)."""
    current = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([path, current] if current else [path])


def stage_version(module: str) -> int:
    """The ``VERSION`` constant of a taskdist module, read from its source without importing it.

    Every stage's module owns the version of what it computes; the workflow
    puts it in the params of the rules that run it, so raising it reruns
    exactly those jobs and what depends on them. Reading the literal keeps
    planning free of the modules' heavy imports (torch). The file is found
    from the top-level package's folder, since ``find_spec`` of a submodule
    imports its parent packages (``taskdist.nas`` imports torch: 2.5 s of
    every dry run).
    """
    import ast
    import importlib.util
    from pathlib import Path

    top, *parts = module.split(".")
    spec = importlib.util.find_spec(top)
    origin = None
    if spec is not None and spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
        origin = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
    elif spec is not None and not parts:
        origin = spec.origin
    if origin is None:
        raise ValueError(f"no module {module!r}")
    tree = ast.parse(Path(origin).read_text(encoding="utf-8"), str(origin))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "VERSION" for t in node.targets):
            value = ast.literal_eval(node.value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
    raise ValueError(f"module {module!r} ({origin}) has no integer VERSION constant")
