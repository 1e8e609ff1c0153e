"""POT's solvers without ``import ot``'s cost.

``import ot`` runs POT's ``__init__``, which imports every solver it has and with them scipy.stats,
scikit-learn and more: about 1.6 CPU-s on top of torch (POT 0.9.7), paid by every job that solves a
transport problem. :func:`_submodule` loads one of POT's modules as a submodule of packages whose
``__init__`` is skipped: the transferability bound loads its network simplex (``ot.lp.emd_wrap``) so
(:func:`taskdist.methods.bound.emd`; the coupled distance solves its Sinkhorn in torch). :func:`emd2` and
:func:`sinkhorn` are POT's own functions loaded the same way (about 0.35 CPU-s), for code that wants
POT's interface; the workflow's jobs do not call them. A later ``import ot`` elsewhere in the process
works as usual and reuses the loaded submodules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

__all__ = ["emd2", "sinkhorn"]


def _submodule(name: str) -> ModuleType:
    """POT's module ``name`` (``ot.lp``, ``ot.bregman._sinkhorn``) without running the ``__init__`` of the packages
    above it that are not imported yet."""
    if name in sys.modules:
        return sys.modules[name]
    parts = name.split(".")
    shells = []
    try:
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            if package in sys.modules:
                continue
            spec = importlib.util.find_spec(package)
            if spec is None:
                raise ModuleNotFoundError(
                    f"POT is not installed (no module {package!r}); pip install POT", name=package
                )
            sys.modules[package] = importlib.util.module_from_spec(spec)  # the package's path, its __init__ not run
            shells.append(package)
        return importlib.import_module(name)
    finally:
        for package in shells:  # a later `import ot` runs the real __init__, reusing the submodules loaded here
            del sys.modules[package]


def emd2(*args, **kwargs):
    """``ot.emd2`` (exact optimal transport cost; POT's ``ot.lp.emd2``, same arguments)."""
    return _submodule("ot.lp").emd2(*args, **kwargs)


def sinkhorn(*args, **kwargs):
    """``ot.sinkhorn`` (entropic optimal transport plan; POT's ``ot.bregman._sinkhorn.sinkhorn``, same arguments)."""
    return _submodule("ot.bregman._sinkhorn").sinkhorn(*args, **kwargs)
