"""Task distances from a notebook: in-memory networks and data in, the workflow's numbers out.

One call per question, each computing exactly what the workflow's stage computes (:mod:`taskdist.stages`, then
:mod:`taskdist.aggregates`) with the workflow's default settings (the config schema's,
:func:`taskdist.config.defaults`), so the same inputs give the same numbers:

- :func:`fisher_task_distance`: the FTD ``d(a -> b)`` of a source network on its own data and a target's;
- :func:`fisher`: the body's diagonal Fisher of a network on labelled data (what FTD compares);
- :func:`scores`: LEEP, LogME, NCE and H-score of a source network on labelled target data;
- :func:`task2vec`: Task2Vec embeddings of several datasets through one probe, and both distance matrices;
- :func:`rank_sources`: source networks ranked for a target by any of these methods.

Data is ``(images, labels)`` (tensors or numpy arrays: float images ``(N, C, H, W)``, as
:func:`taskdist.data.tasks.arrays` gives them, scaled to [-1, 1]; integer labels ``0 .. K-1``, every label
present), a ``torch.utils.data.Dataset`` of such pairs or a ``DataLoader`` over one (read in its order). A
network has a ``body`` and a linear ``head``: a workflow checkpoint's network
(:func:`taskdist.artifacts.checkpoint.load_network`, or the checkpoint's path), the small CNN or a torchvision
architecture with a new head (:func:`taskdist.nets.models.build`).

Seeds: a workflow job seeds from the experiment's seed and the task ids (``stable_seed(seed, "fisher", net,
data)``, ``stable_seed(seed, "task2vec", task)``); give the experiment's ``seed`` and the task ids as names to
reproduce a run's values.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from taskdist import stages
from taskdist.artifacts import checkpoint as checkpoints
from taskdist.artifacts import matrices, vectors
from taskdist.config import defaults
from taskdist.methods import distances
from taskdist.methods.registry import METHODS, SCORE_METHODS
from taskdist.nets.models import resolve_device
from taskdist.seeds import stable_seed
from taskdist.specs import FisherSpec, HeadSpec, from_params

__all__ = ["RANK_METHODS", "Task2VecResult", "fisher", "fisher_task_distance", "rank_sources", "scores", "task2vec"]

RANK_METHODS = ("ftd", "task2vec", "task2vec_asym", *SCORE_METHODS)
"""The methods :func:`rank_sources` ranks by (the others need the workflow: trained target networks, paths)."""
TASK2VEC_KEYS = ("estimator", "alpha", "beta", "samples", "head")
"""The Task2Vec settings (``task2vec:`` in the config) an embedding and the matrices read."""

Data = tuple | Dataset | DataLoader
Network = nn.Module | str | Path


# ------------------------------------------------------------------------------------------------ the calls


def fisher(net: Network, data: Data, *, settings: FisherSpec | Mapping | None = None, seed: int = 0,
           device: str | torch.device = "cpu") -> dict[str, np.ndarray]:
    """The diagonal Fisher of the body of ``net`` on labelled ``data``, per layer, as the workflow's Fisher job
    computes it (:func:`taskdist.stages.body_fisher`).

    A copy of ``net`` gets a new head over the data's labels, fitted to convergence with the body frozen; the
    head is then frozen, so the Fisher is the body's (FTD compares bodies; a trainable head would add its own
    entries). ``net`` is left untouched.

    Parameters
    ----------
    net
        A network with ``body``, ``head`` and ``with_new_head`` (the small CNN or a torchvision architecture,
        :func:`taskdist.nets.models.build`), or the path of a workflow checkpoint (``results/models/*.pt``).
    data
        ``(images, labels)``, a ``Dataset`` or a ``DataLoader`` (see the module's docstring).
    settings
        A :class:`~taskdist.specs.FisherSpec`, or a mapping of the config's ``fisher:`` keys to change from the
        defaults (e.g. ``{"estimator": "mc", "head": {"l2": 1.0}}``).
    seed
        The job's seed: the head's initialisation, which of the examples enter (at most ``samples``) and the
        ``mc`` draws. The workflow's Fisher job of network ``a`` on task ``x`` has
        ``stable_seed(experiment seed, "fisher", a, x)``.
    device
        ``cpu``, ``cuda`` or ``auto``.

    Returns
    -------
    dict of str to numpy.ndarray
        Per body parameter: ``(filters, entries)`` at ``parameter`` granularity, ``(filters,)`` at ``filter``
        (:mod:`taskdist.artifacts.vectors`; ``vectors.flat`` makes one vector).
    """
    x, y, n_classes = _examples(data, "data")
    device = _device(device)
    return _body_fisher(_network(net, "net", device), x, y, n_classes, settings, _int("seed", seed), device)


def fisher_task_distance(source_net: Network, source_data: Data, target_data: Data, *,
                         settings: FisherSpec | Mapping | None = None, seed: int = 0,
                         names: tuple[str, str] = ("source", "target"), device: str | torch.device = "cpu") -> float:
    r"""The Fisher Task Distance ``d(a -> b)`` from network ``N_a`` (``source_net``), as the workflow computes it.

    ``F_{a,a}`` is the body's Fisher of ``N_a`` on ``source_data`` (the source task's train examples, in the
    workflow) and ``F_{a,b}`` that of ``N_a`` on ``target_data`` (the target's labelled examples), each with a
    new head fitted on that data's labels and then frozen (:func:`fisher`); then

    .. math::  d(a \to b) = \frac{1}{\sqrt 2}\,\lVert \hat F_{a,a}^{1/2} - \hat F_{a,b}^{1/2} \rVert_2,
               \qquad \hat F = F / \textstyle\sum F

    (:func:`taskdist.methods.distances.fisher_task_distance`), in [0, 1].

    Parameters
    ----------
    source_net, source_data, target_data, settings, device
        As for :func:`fisher`.
    seed, names
        The two Fisher jobs' seeds are ``stable_seed(seed, "fisher", a, a)`` and ``stable_seed(seed, "fisher", a,
        b)`` with ``names = (a, b)``: the experiment's seed and the task ids reproduce a workflow run's value.

    Raises
    ------
    ValueError
        For data of the wrong shape or labels, equal names, or a Fisher that is zero everywhere.
    TypeError
        For a network without ``body``, ``head`` and ``with_new_head``, or data of another kind.
    """
    a, b = _names(names)
    if a == b:
        raise ValueError(f"names must name two tasks, got {names!r}: d(a -> a) is 0 by definition")
    own, other = _examples(source_data, "source_data"), _examples(target_data, "target_data")
    device = _device(device)
    net = _network(source_net, "source_net", device)
    seed = _int("seed", seed)
    f_own = _body_fisher(net, *own, settings, stable_seed(seed, "fisher", a, a), device)
    f_other = _body_fisher(net, *other, settings, stable_seed(seed, "fisher", a, b), device)
    return distances.fisher_task_distance(vectors.flat(f_own), vectors.flat(f_other))


def scores(source_net: Network, target_data: Data, *, device: str | torch.device = "cpu") -> dict[str, float]:
    """Every transferability score of ``source_net`` on labelled ``target_data``: ``{leep, nce, h_score, logme}``,
    higher = better transfer expected, as the workflow's score job computes them
    (:func:`taskdist.stages.source_scores`: the source's softmax outputs and body features, no training).

    ``source_net`` needs ``body`` and a linear ``head`` (its own task's, for LEEP and NCE) or is a checkpoint's
    path; ``target_data`` as for :func:`fisher`.
    """
    device = _device(device)
    net = _network(source_net, "source_net", device)
    x, y, _ = _examples(target_data, "target_data")
    return stages.source_scores(net, x, y)


@dataclass(frozen=True)
class Task2VecResult:
    """What :func:`task2vec` returns: the embeddings (per layer, one value per filter) by dataset name, the
    trivial task's, and the square distance matrices (rows: source, columns: target, in the given order)."""

    embeddings: dict[str, dict[str, np.ndarray]]
    trivial: dict[str, np.ndarray]
    symmetric: pd.DataFrame
    asymmetric: pd.DataFrame


def task2vec(datasets: Mapping[str, Data], probe: Network, *, settings: Mapping | None = None, seed: int = 0,
             device: str | torch.device = "cpu") -> Task2VecResult:
    """Task2Vec embeddings of ``datasets`` through ``probe`` and their symmetric and asymmetric distances, as the
    workflow's embedding jobs (:func:`taskdist.stages.embed_examples`) and matrix job
    (:func:`taskdist.methods.distances.task2vec_matrices`) compute them.

    Parameters
    ----------
    datasets
        Name to labelled data (as for :func:`fisher`); the name seeds its embedding,
        ``stable_seed(seed, "task2vec", name)``, as a task id does in the workflow.
    probe
        A network with ``body`` and a linear ``head`` (the workflow's trained probe, a task network, or a
        torchvision probe: :func:`taskdist.methods.probes.torchvision_probe`), or a checkpoint's path
        (``results/task2vec/_probe.pt``); it is not changed.
    settings
        The config's ``task2vec:`` keys to change from the defaults: ``estimator`` (``mc`` or ``variational``),
        ``alpha``, ``beta``, ``samples``, ``head`` (``epochs``, ``batch_size``, ``lr``).
    seed
        The experiment's seed.
    device
        ``cpu``, ``cuda`` or ``auto``.
    """
    from taskdist.methods import task2vec as t2v

    if not isinstance(datasets, Mapping) or not datasets:
        raise TypeError(f"datasets must be a non-empty mapping of name to data, got {type(datasets).__name__}")
    spec = _task2vec_settings(settings)
    device = _device(device)
    net = _network(probe, "probe", device)
    head = from_params(HeadSpec, spec["head"])
    embeddings = {}
    for name, data in datasets.items():
        if not isinstance(name, str):
            raise TypeError(f"dataset names must be strings, got {name!r}")
        x, y, n_classes = _examples(data, f"datasets[{name!r}]")
        embeddings[name] = stages.embed_examples(net, x, y, n_classes, estimator=spec["estimator"], head=head,
                                                 samples=spec["samples"], beta=spec["beta"],
                                                 seed=stable_seed(_int("seed", seed), "task2vec", name), device=device)
    trivial = t2v.trivial_embedding(net, estimator=spec["estimator"], beta=spec["beta"])
    sym, asym = distances.task2vec_matrices(embeddings, trivial, spec["alpha"])
    order = list(datasets)
    return Task2VecResult(embeddings, trivial, matrices.to_square(sym, order=order),
                          matrices.to_square(asym, order=order))


def rank_sources(sources: Mapping[str, object] | Sequence[object], target_data: Data, method: str = "leep", *,
                 target: str = "target", probe: Network | None = None, settings: Mapping | FisherSpec | None = None,
                 seed: int = 0, device: str | torch.device = "cpu") -> pd.DataFrame:
    """Source networks ranked for the labelled ``target_data`` by ``method``, best first.

    Parameters
    ----------
    sources
        Name to source, or a list of sources (named by their checkpoint's task, else ``source0``, ``source1``,
        ...). A source is a network (``body`` and a linear ``head``: a task network, or a torchvision
        architecture with a new head, :func:`taskdist.nets.models.build`), the path of a workflow checkpoint
        (``results/models/{task}.pt``), or a pair ``(network or path, its own task's data)``: ``ftd`` needs
        that data (``F_{a,a}``), ``task2vec`` and ``task2vec_asym`` read only it (and the probe).
    target_data
        The target's labelled examples (as for :func:`fisher`).
    method
        One of :data:`RANK_METHODS`: ``ftd``, ``task2vec``, ``task2vec_asym`` (distances: lower is better) or
        a score, ``leep``, ``logme``, ``nce``, ``h_score`` (higher is better).
    target
        The target's name (seeds, as a task id does in the workflow; no source may have it).
    probe
        The Task2Vec probe (``task2vec`` and ``task2vec_asym`` only).
    settings
        The method's settings to change from the defaults (``fisher:`` keys for ``ftd``, ``task2vec:`` keys
        for Task2Vec); the scores have none.
    seed
        The experiment's seed.

    Returns
    -------
    pandas.DataFrame
        ``source, value, rank``: the method's value of each source for the target, rank 1 the best.
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown method {method!r}; rank_sources knows {list(RANK_METHODS)}")
    if method not in RANK_METHODS:
        raise ValueError(f"method {method!r} needs the workflow (snakemake); rank_sources knows {list(RANK_METHODS)}")
    if (probe is not None) != method.startswith("task2vec"):
        raise ValueError(f"a probe is needed by the Task2Vec methods and only by them; method {method!r} got "
                         f"probe={'a probe' if probe is not None else None}")
    if settings is not None and method in SCORE_METHODS:
        raise ValueError(f"the score {method!r} has no settings, got {settings!r}")
    device = _device(device)
    named = _sources(sources, target, device)
    if method in SCORE_METHODS:
        values = {name: scores(net, target_data, device=device)[method] for name, (net, _) in named.items()}
    else:
        missing = [name for name, (_, data) in named.items() if data is None]
        if missing:
            raise ValueError(f"method {method!r} needs each source's own data: give the sources {missing} as "
                             "(network or path, data) pairs")
        if method == "ftd":
            values = {name: fisher_task_distance(net, data, target_data, settings=settings, seed=seed,
                                                 names=(name, target), device=device)
                      for name, (net, data) in named.items()}
        else:
            data = {name: data for name, (_, data) in named.items()}
            result = task2vec({**data, target: target_data}, probe, settings=settings, seed=seed, device=device)
            square = result.symmetric if method == "task2vec" else result.asymmetric
            values = {name: float(square.loc[name, target]) for name in named}
    higher = METHODS[method].kind == "score"
    table = pd.DataFrame({"source": list(values), "value": list(values.values())})
    table = table.sort_values("value", ascending=not higher, kind="stable", ignore_index=True)
    table["rank"] = np.arange(1, len(table) + 1)
    return table


# ------------------------------------------------------------------------------------------------ inputs


def _examples(data: object, what: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``(images, labels, n_classes)`` of ``data``, checked: float images ``(N, C, H, W)``, integer labels ``(N,)``
    that are ``0 .. K-1`` with every one present, ``K >= 2``."""
    if isinstance(data, DataLoader):
        pairs = [_pair(batch, f"a batch of {what}") for batch in data]
        if not pairs:
            raise ValueError(f"{what} is an empty DataLoader")
        images, labels = (torch.cat([torch.as_tensor(p[i]) for p in pairs]) for i in (0, 1))
    elif isinstance(data, Dataset):
        items = [_pair(data[i], f"an item of {what}") for i in range(len(data))]  # a map-style Dataset has len
        if not items:
            raise ValueError(f"{what} is an empty Dataset")
        images = torch.stack([torch.as_tensor(item[0]) for item in items])
        labels = torch.stack([torch.as_tensor(item[1]) for item in items])
    elif isinstance(data, (tuple, list)):
        images, labels = _pair(data, what)
    else:
        raise TypeError(f"{what} must be (images, labels), a torch Dataset or a DataLoader, got {type(data).__name__}")
    images = torch.from_numpy(images) if isinstance(images, np.ndarray) else images
    labels = torch.from_numpy(labels) if isinstance(labels, np.ndarray) else labels
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        got = getattr(images, "dtype", type(images).__name__)
        raise TypeError(f"{what}: images must be a float tensor or array (scaled to [-1, 1], as "
                        f"taskdist.data.tasks.arrays gives them), got {got}")
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.is_complex() \
            or labels.dtype == torch.bool:
        got = getattr(labels, "dtype", type(labels).__name__)
        raise TypeError(f"{what}: labels must be integers (a tensor or array of class ids 0 .. K-1), got {got}")
    if images.dim() != 4 or len(images) == 0:
        raise ValueError(f"{what}: images must have shape (N, C, H, W) with N > 0, got {tuple(images.shape)}")
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(f"{what}: labels must have shape (N,) for the N = {len(images)} images, got "
                         f"{tuple(labels.shape)}")
    present = torch.unique(labels).tolist()
    if len(present) < 2:
        raise ValueError(f"{what}: the labels hold one class ({present}), a task needs two or more (rows of "
                         "taskdist.data.tasks.arrays can be grouped by label: take a random permutation before "
                         "slicing)")
    if present != list(range(len(present))):
        raise ValueError(f"{what}: labels must be 0 .. K-1 with every label present, got {present[:10]}"
                         f"{' ...' if len(present) > 10 else ''} (relabel with np.unique(labels, "
                         "return_inverse=True))")
    return images.float().cpu(), labels.long().cpu(), len(present)


def _body_fisher(net: nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int, settings: object, seed: int,
                 device: torch.device) -> dict[str, np.ndarray]:
    """:func:`taskdist.stages.body_fisher` with the settings of :func:`fisher`."""
    if not callable(getattr(net, "with_new_head", None)):
        raise TypeError(f"the network must be able to take a new head (with_new_head: a TaskNet or BackboneNet), "
                        f"got {type(net).__name__}")
    return stages.body_fisher(net, x, y, n_classes, _settings(FisherSpec, "fisher", settings), seed, device)


def _pair(item: object, what: str) -> tuple:
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise ValueError(f"{what} must be a pair (images, labels), got {type(item).__name__}"
                         f"{f' of length {len(item)}' if isinstance(item, (tuple, list)) else ''}")
    return tuple(item)


def _network(net: object, what: str, device: torch.device) -> nn.Module:
    """The network ``net`` names (a checkpoint path is read), on ``device`` (copied there if elsewhere)."""
    if isinstance(net, (str, Path)):
        return checkpoints.load_network(checkpoints.read(net), device)
    if not isinstance(net, nn.Module) or not isinstance(getattr(net, "body", None), nn.Module) \
            or not isinstance(getattr(net, "head", None), nn.Linear):
        raise TypeError(
            f"{what} must be a network with a body and a linear head (a checkpoint's network, "
            "taskdist.nets.models.build of an ArchSpec or of a BackboneSpec for a torchvision architecture), or "
            f"the path of a workflow checkpoint; got {type(net).__name__}")
    params = list(net.parameters())
    if params and params[0].device != device:
        net = copy.deepcopy(net).to(device)
    return net


def _sources(sources: object, target: str, device: torch.device) -> dict[str, tuple[nn.Module, object]]:
    """``{name: (network, own data or None)}`` of :func:`rank_sources`' sources."""
    if isinstance(sources, Mapping):
        items = list(sources.items())
    elif isinstance(sources, Sequence) and not isinstance(sources, str):
        items = [(None, source) for source in sources]
    else:
        raise TypeError(f"sources must be a mapping of name to source or a list of sources, got "
                        f"{type(sources).__name__}")
    if not items:
        raise ValueError("sources is empty: give one or more source networks")
    named = {}
    for i, (name, source) in enumerate(items):
        net, data = source if isinstance(source, tuple) and len(source) == 2 else (source, None)
        if isinstance(net, (str, Path)):
            ckpt = checkpoints.read(net)
            name = name if name is not None else ckpt["task"]["id"]
            net = checkpoints.load_network(ckpt, device)
        name = f"source{i}" if name is None else name
        if not isinstance(name, str) or name in named or name == target:
            raise ValueError(f"source names must be distinct strings other than the target's ({target!r}); "
                             f"got {name!r} for source {i}")
        named[name] = (_network(net, f"source {name!r}", device), data)
    return named


def _settings(cls: type, section: str, given: object):
    """A spec of ``cls``: ``given`` itself, or the schema defaults of ``section`` with the mapping ``given``
    merged over them."""
    if isinstance(given, cls):
        return given
    if given is not None and not isinstance(given, Mapping):
        raise TypeError(f"settings must be a {cls.__name__} or a mapping of {section}: keys, got "
                        f"{type(given).__name__}")
    return from_params(cls, _merged(defaults(section), given or {}, section))


def _task2vec_settings(given: object) -> dict:
    if given is not None and not isinstance(given, Mapping):
        raise TypeError(f"settings must be a mapping of task2vec: keys, got {type(given).__name__}")
    base = {k: v for k, v in defaults("task2vec").items() if k in TASK2VEC_KEYS}
    return _merged(base, given or {}, "task2vec")


def _merged(base: dict, given: Mapping, where: str) -> dict:
    """``base`` with ``given`` merged in, recursively; a key ``base`` lacks is an error naming it."""
    out = dict(base)
    for key, value in given.items():
        if key not in base:
            raise ValueError(f"unknown setting {where}.{key}; known: {sorted(base)}")
        out[key] = _merged(base[key], value, f"{where}.{key}") if isinstance(base[key], dict) else value
    return out


def _names(names: object) -> tuple[str, str]:
    if not isinstance(names, (tuple, list)) or len(names) != 2 or not all(isinstance(n, str) for n in names):
        raise TypeError(f"names must be two task names (source, target), got {names!r}")
    return names[0], names[1]


def _int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    return int(value)


def _device(device: str | torch.device) -> torch.device:
    return device if isinstance(device, torch.device) else resolve_device(device)
