"""taskdist: distances between learning tasks, and whether they predict transfer.

From a notebook: ``taskdist.fisher_task_distance``, ``taskdist.scores``, ``taskdist.task2vec``,
``taskdist.rank_sources`` and ``taskdist.fisher`` (:mod:`taskdist.api`). They are loaded on first use, so that
``import taskdist`` (which every workflow job and planning do) stays cheap: no torch.
"""

__version__ = "0.1.0"

API = ("fisher", "fisher_task_distance", "rank_sources", "scores", "task2vec")
"""The names of :mod:`taskdist.api` that ``taskdist`` exports."""


def __getattr__(name: str):
    """``taskdist.api`` and its calls, imported on first use (PEP 562)."""
    if name == "api" or name in API:
        import importlib

        api = importlib.import_module("taskdist.api")
        return api if name == "api" else getattr(api, name)
    raise AttributeError(f"module 'taskdist' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "api", *API])
