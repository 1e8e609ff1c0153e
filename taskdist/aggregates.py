"""The aggregate stages: per-pair and per-task files combined into matrices and tables.

Every function takes lists of paths in any order and identifies each file by
the names inside it (:func:`taskdist.artifacts.io.read_names`,
:mod:`taskdist.artifacts.vectors`, :mod:`taskdist.artifacts.matrices`, :mod:`taskdist.artifacts.records`),
never by its position in the list: a reordered list gives the same result,
and two files about the same pair, or a pair missing from the set the files
themselves imply, is an :class:`~taskdist.artifacts.io.ArtifactError` naming it.

The workflow's aggregate scripts are one call each; the version of what a
function computes is that of its method's module (noted per function).
Nothing here imports torch: an aggregate job starts in a fraction of a second.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from taskdist.artifacts import io, matrices, records, vectors
from taskdist.evaluation import floors, tables, transfer
from taskdist.methods.distances import fisher_task_distance, ftd_matrix, task2vec_matrices
from taskdist.methods.registry import METHODS
from taskdist.specs import ABLATIONS, RESAMPLE_SUFFIX, TARGET_SEARCHES

Paths = Iterable[str | Path]


def _pairs(tasks: Iterable[str], diagonal: bool) -> list[tuple[str, str]]:
    tasks = sorted(tasks)
    return [(a, b) for a in tasks for b in tasks if diagonal or a != b]


def _resampled(task: str, resample: str, what: str) -> None:
    if resample != f"{task}{RESAMPLE_SUFFIX}":
        raise io.ArtifactError(f"the {what} of {task!r} is about {resample!r}, not its resample "
                               f"{task}{RESAMPLE_SUFFIX!r}")


def _one_per_task(keys: Iterable[tuple[str, ...]], tasks: Iterable[str], what: str) -> None:
    """The floors ``keys`` (first name the task) must hold exactly one entry per task of ``tasks``."""
    io.require(io.by_name(((key[0], key, None) for key in keys), what), tasks, what)


# ------------------------------------------------------------------------------------------------ distances


def ftd(pair_paths: Paths, floor_paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The FTD matrix and its noise floor from the Fisher tables (version: :data:`taskdist.methods.distances.VERSION`).

    ``pair_paths`` are the tables ``F_{a,b}`` (names ``net=a, data=b``) of
    every ordered pair of tasks, own tasks included: the tasks are the nets
    with a table on their own data, and every pair of them must be present
    once. ``floor_paths`` hold ``F_{a,a'}`` of each task's network on its
    resample ``a'``.

    Returns the long matrix ``d(a -> b)`` (:func:`taskdist.methods.distances.ftd_matrix`)
    and the floor ``d(a -> a')``, reported as the pair ``(a, a)``.
    """
    fisher = vectors.read_all(pair_paths, ("net", "data"))
    tasks = sorted(net for net, data in fisher if net == data)
    io.require(fisher, _pairs(tasks, diagonal=True), "Fisher table")
    resampled = vectors.read_all(floor_paths, ("net", "data"))
    _one_per_task(resampled, tasks, "Fisher table of a resample")
    for net, data in resampled:
        _resampled(net, data, "Fisher floor table")
    for (net, data), values in {**fisher, **resampled}.items():
        if vectors.layout(values) != vectors.layout(fisher[(net, net)]):
            raise io.ArtifactError(f"the Fisher table of {net!r} on {data!r} has other layers or sizes than "
                                   f"{net!r} on its own task: they come from different networks")
    flat = {pair: vectors.flat(values) for pair, values in fisher.items()}
    floor = [{"source": net, "target": net,
              "value": fisher_task_distance(flat[(net, net)], vectors.flat(resampled[(net, data)]))}
             for net, data in sorted(resampled)]
    return ftd_matrix(flat, tasks), pd.DataFrame(floor, columns=list(matrices.COLUMNS))


def ftd_variants(matrix_path: str | Path, variant_paths: Paths) -> dict[str, pd.DataFrame]:
    """Square FTD matrices: ``ftd`` (the main networks) and ``ftd@{variant}`` from each variant's networks.

    ``variant_paths`` are Fisher tables of the networks ``{task}@{variant}``
    (another seed or shape) on every task's data; every variant must have
    every pair of the main matrix's tasks.
    """
    main = matrices.read_method(matrix_path, "ftd")
    tasks = sorted(set(main["source"]))
    squares = {"ftd": matrices.to_square(main, order=tasks)}
    per_variant: dict[str, dict[tuple[str, str], np.ndarray]] = {}
    for (net, data), values in vectors.read_all(variant_paths, ("net", "data")).items():
        task, at, variant = net.partition("@")
        if not at:
            raise io.ArtifactError(f"the Fisher table of {net!r} on {data!r} is not of a variant network "
                                   "(named task@variant)")
        per_variant.setdefault(variant, {})[(task, data)] = vectors.flat(values)
    for variant, fisher in sorted(per_variant.items()):
        io.require(fisher, _pairs(tasks, diagonal=True), f"Fisher table of the {variant} networks")
        squares[f"ftd@{variant}"] = matrices.to_square(ftd_matrix(fisher, tasks), order=tasks)
    return squares


def task2vec(embedding_paths: Paths, floor_paths: Paths, trivial_path: str | Path,
             alpha: float) -> dict[str, pd.DataFrame]:
    """Task2Vec matrices and floors from the embeddings (version: :data:`taskdist.methods.task2vec.VERSION`).

    ``embedding_paths`` name their ``task``; ``floor_paths`` are the
    embeddings of the tasks' resamples, one per task; ``trivial_path`` is the
    trivial embedding (name :data:`taskdist.methods.task2vec.TRIVIAL`). Returns the
    long frames ``task2vec``, ``task2vec_asym`` (:func:`taskdist.methods.distances.task2vec_matrices`)
    and their floors ``task2vec_floor``, ``task2vec_asym_floor``: ``d(a, a')``
    reported as the pair ``(a, a)``.
    """
    from taskdist.methods.task2vec import TRIVIAL  # the name only: the module itself imports torch

    embeddings = {task: e for (task,), e in sorted(vectors.read_all(embedding_paths, ("task",)).items())}
    resampled = {task: e for (task,), e in vectors.read_all(floor_paths, ("task",)).items()}
    trivial, names = vectors.read(trivial_path)
    if names.get("task") != TRIVIAL or TRIVIAL in embeddings:
        raise io.ArtifactError(f"{trivial_path} is the embedding of {names}, not the trivial one ({TRIVIAL})")
    owners = {r.removesuffix(RESAMPLE_SUFFIX): r for r in resampled}
    _one_per_task(((r.removesuffix(RESAMPLE_SUFFIX),) for r in resampled), embeddings, "embedding of a resample")
    sym, asym = task2vec_matrices(embeddings, trivial, alpha)
    floor: dict[str, list[dict]] = {"sym": [], "asym": []}
    for task, name in sorted(owners.items()):
        _resampled(task, name, "floor embedding")
        pair_sym, pair_asym = task2vec_matrices({task: embeddings[task], name: resampled[name]}, trivial, alpha)
        for kind, frame in (("sym", pair_sym), ("asym", pair_asym)):
            value = frame[(frame["source"] == task) & (frame["target"] == name)]["value"].item()
            floor[kind].append({"source": task, "target": task, "value": value})
    return {"task2vec": sym, "task2vec_asym": asym, "task2vec_floor": pd.DataFrame(floor["sym"]),
            "task2vec_asym_floor": pd.DataFrame(floor["asym"])}


def tanas(pair_paths: Paths, floor_paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TA-NAS matrix (0 on the diagonal) and floor from the pair records (version: :mod:`taskdist.methods.tanas`).

    ``pair_paths`` are the records of every ordered pair of distinct tasks,
    ``floor_paths`` those of each task's network against its resample
    ``d(a -> a')``, reported as the pair ``(a, a)``.
    """
    return _pair_matrix(_values(pair_paths, "tanas", "tanas"), _values(floor_paths, "tanas", "tanas"), "TA-NAS")


def path_lengths(method: str, pair_paths: Paths, floor_paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Matrix (0 on the diagonal) and floor of a path-length method from its pair records (version:
    :mod:`taskdist.methods.coupled`); ``pair_paths`` and ``floor_paths`` as for :func:`tanas`, every record of
    ``method``.
    """
    values = []
    for paths in (pair_paths, floor_paths):
        found = records.read_all(paths, "path")
        other = sorted({m for m, _, _ in found} - {method})
        if other:
            raise io.ArtifactError(f"the {method} matrix was given records of the methods {other}")
        values.append({(s, t): r["distance"] for (_, s, t), r in found.items()})
    return _pair_matrix(*values, method)


def transfer_bound(pair_paths: Paths, floor_paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Matrix (0 on the diagonal) and floor of the transferability bound from its pair records (version:
    :mod:`taskdist.methods.bound`); ``pair_paths`` and ``floor_paths`` as for :func:`tanas`."""
    return _pair_matrix(_values(pair_paths, "bound", "bound"), _values(floor_paths, "bound", "bound"),
                        "transfer_bound")


def bound_terms(pair_paths: Paths) -> pd.DataFrame:
    """Per pair: the bound's terms on the labelled target examples, the loss of the transferred head there and on
    the test split, and the test loss of a new linear head (:func:`taskdist.methods.bound.transfer_bound`)."""
    rows = [{"source": s, "target": t, **r["terms"], "test_loss": r["test"]["target_loss"],
             "test_bound": r["test"]["bound"], "linear_loss": r["linear_loss"]}
            for (s, t), r in sorted(records.read_all(pair_paths, "bound").items())]
    if not rows:
        raise ValueError("no bound records given")
    return pd.DataFrame(rows)


def path_traces(record_paths: Paths) -> pd.DataFrame:
    """The traces of path-length records, long: ``method, source, target, tau, length, source_accuracy,
    target_accuracy`` (one row per point of a path), in the order of the records' names."""
    frames = [pd.DataFrame({"method": m, "source": s, "target": t, **r["path"]})
              for (m, s, t), r in sorted(records.read_all(record_paths, "path").items())]
    if not frames:
        raise ValueError("no path records given")
    return pd.concat(frames, ignore_index=True)


def _values(record_paths: Paths, kind: str, key: str) -> dict[tuple[str, ...], float]:
    """``key`` of every record of ``kind`` in ``record_paths``, by the record's names."""
    return {names: r[key] for names, r in records.read_all(record_paths, kind).items()}


def _pair_matrix(pairs: dict[tuple[str, str], float], resampled: dict[tuple[str, str], float],
                 what: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A distance's long matrix from its values on every ordered pair of distinct tasks (0 on the diagonal), and
    its floor from each task's value against its resample."""
    tasks = sorted({source for source, _ in pairs} | {target for _, target in pairs})
    io.require(pairs, _pairs(tasks, diagonal=False), f"{what} record")
    rows = [{"source": s, "target": t, "value": v} for (s, t), v in pairs.items()]
    rows += [{"source": t, "target": t, "value": 0.0} for t in tasks]  # 0 by definition
    _one_per_task(resampled, tasks, f"{what} record of a resample")
    floor = []
    for (source, target), value in sorted(resampled.items()):
        _resampled(source, target, f"{what} floor record")
        floor.append({"source": source, "target": target.removesuffix(RESAMPLE_SUFFIX), "value": value})
    return pd.DataFrame(rows), pd.DataFrame(floor, columns=list(matrices.COLUMNS))


def scores(table_paths: Paths, score: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One score's matrix and floor from the per-target score tables (version: :data:`taskdist.methods.scores.VERSION`).

    Each table names its target and must hold the score of every other task
    as a source, once per sample (``task``: the target's own examples,
    ``resample``: its resample's). Returns ``s(source -> target)`` and the
    floor ``s(source -> target')`` under the original target's name.
    """
    if score not in METHODS or METHODS[score].kind != "score":
        raise ValueError(f"{score!r} is not a transferability score; known: "
                         f"{[m for m, v in METHODS.items() if v.kind == 'score']}")
    tables = io.by_name(((target, path, df) for path in table_paths
                         for df, target in [matrices.read_scores(path)]), "score table")
    out = []
    for target, df in sorted(tables.items()):
        rows = df[df["method"] == score]
        for sample in ("task", "resample"):
            sources = rows[rows["sample"] == sample]["source"]
            expected = [t for t in tables if t != target]
            if sources.duplicated().any() or sorted(sources) != sorted(expected):
                raise io.ArtifactError(f"the score table of {target!r} has {score} ({sample}) for the sources "
                                       f"{sorted(sources)}, expected each of {sorted(expected)} once")
        out.append(rows)
    table = pd.concat(out, ignore_index=True)
    columns = list(matrices.COLUMNS)
    return (table[table["sample"] == "task"][columns].reset_index(drop=True),
            table[table["sample"] == "resample"][columns].reset_index(drop=True))


# ------------------------------------------------------------------------------------------------ ground truth


def transfer_table(pair_paths: Paths, scratch_paths: Paths) -> pd.DataFrame:
    """The ground-truth table from the transfer and from-scratch records
    (version: :data:`taskdist.evaluation.transfer.VERSION`).

    The tasks are the targets trained from scratch; every ordered pair of
    distinct tasks must have its transfer record (:func:`taskdist.evaluation.transfer.table`).
    """
    pairs = records.read_all(pair_paths, "transfer")
    scratch = records.read_all(scratch_paths, "scratch")
    tasks = sorted(target for (target,) in scratch)
    io.require(pairs, _pairs(tasks, diagonal=False), "transfer record")
    return transfer.table([pairs[p] for p in sorted(pairs)], [scratch[(t,)] for t in tasks])


# ------------------------------------------------------------------------------------------------ evaluation


def method_matrices(paths: Paths, tasks: list[str] | None = None, kind: str = "distances") -> dict[str, pd.DataFrame]:
    """The matrices of ``paths`` by the method each names, in the order of :data:`taskdist.methods.registry.METHODS`.

    With ``tasks``, every matrix must be over exactly those tasks.
    """
    found = matrices.read_all(paths, kind)
    unknown = sorted(set(found) - set(METHODS))
    if unknown:
        raise io.ArtifactError(f"matrices of unknown methods {unknown}; known: {list(METHODS)}")
    if tasks is not None:
        for method, df in found.items():
            have = sorted(set(df["source"]) | set(df["target"]))
            if have != sorted(tasks):
                raise io.ArtifactError(f"the {kind} matrix of {method} is over the tasks {have}, "
                                       f"expected {sorted(tasks)}")
    return {m: found[m] for m in METHODS if m in found}


def mantel(matrix_paths: Paths, transfer_path: str | Path, tasks: list[str], *, method: str, permutations: int,
           seed: int, resamples: int = 2000, level: float = 0.95) -> pd.DataFrame:
    """:func:`taskdist.evaluation.tables.mantel_table` over the method matrices at ``matrix_paths``."""
    return tables.mantel_table(method_matrices(matrix_paths, tasks), matrices.read_transfer(transfer_path),
                                   tasks, method=method, permutations=permutations, seed=seed, resamples=resamples,
                                   level=level)


def mantel_comparison(matrix_paths: Paths, transfer_path: str | Path, tasks: list[str], *, method: str, seed: int,
                      resamples: int = 2000, level: float = 0.95) -> pd.DataFrame:
    """:func:`taskdist.evaluation.tables.comparison_table` over the method matrices at ``matrix_paths``.

    With ``resamples = 0`` (no bootstrap asked for) the table is empty, with its columns.
    """
    if not resamples:
        return pd.DataFrame(columns=list(tables.COMPARISON_COLUMNS))
    return tables.comparison_table(method_matrices(matrix_paths, tasks), matrices.read_transfer(transfer_path),
                                   tasks, method=method, seed=seed, resamples=resamples, level=level)


def selection(matrix_paths: Paths, transfer_path: str | Path, tasks: list[str], *, seed: int,
              model_paths: Paths = (), task_paths: Paths = ()) -> pd.DataFrame:
    """:func:`taskdist.evaluation.tables.selection_table` over the method matrices at ``matrix_paths``; with the
    task networks' checkpoints and the task tables, also the rankings that read no target data."""
    sources = source_facts(model_paths, task_paths) if model_paths else None
    return tables.selection_table(method_matrices(matrix_paths, tasks), matrices.read_transfer(transfer_path),
                                  tasks, seed=seed, sources=sources)


def source_facts(model_paths: Paths, task_paths: Paths) -> pd.DataFrame:
    """Per task (the index): ``train_examples`` and ``classes`` of its table, ``test_accuracy`` of its network."""
    from taskdist.artifacts import checkpoint, task_table

    accuracy = {task: ckpt["metrics"]["test_accuracy"] for task, ckpt in checkpoint.read_all(model_paths).items()}
    tables_ = io.by_name(((names["task"], path, table) for path in task_paths
                          for table, names in [task_table.read_named(path)]), "task table")
    io.require(tables_, accuracy, "task table")
    rows = {task: {"train_examples": int(np.sum(table.split == "train")), "classes": len(np.unique(table.label)),
                   "test_accuracy": accuracy[task]} for task, table in tables_.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def noise_floors(matrix_paths: Paths, floor_paths: Paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every method's noise floors (version: :data:`taskdist.evaluation.floors.VERSION`): one row per method
    (:data:`taskdist.evaluation.floors.COLUMNS`: a distance's between-task ratio, every method's within-target
    ratio) and one per method and target (:data:`taskdist.evaluation.floors.TARGET_COLUMNS`: the per-target
    spread, floor and ratio the within-target ratio is the median of).

    Each method needs its matrix and its floor matrix; rows in the order of
    :data:`taskdist.methods.registry.METHODS` (then by target).
    """
    found = method_matrices(matrix_paths)
    floor = method_matrices(floor_paths, kind="floor")
    io.require(floor, found, "floor matrix")
    rows, targets = [], []
    for name, resampled in floor.items():
        kind = METHODS[name].kind
        if kind == "score":
            result = floors.score_floor(found[name], resampled)
            per_target = floors.score_targets(found[name], resampled)
        else:
            own = dict(zip(resampled["source"], resampled["value"], strict=True))
            result = floors.distance_floor(found[name], own)
            per_target = floors.distance_targets(found[name], own)
        rows.append({"method": name, "kind": kind, **result})
        targets.append(per_target.assign(method=name, kind=kind))
    return (pd.DataFrame(rows, columns=list(floors.COLUMNS)),
            pd.concat(targets, ignore_index=True)[list(floors.TARGET_COLUMNS)])


# ------------------------------------------------------------------------------------------------ NAS

NAS_VALUES = ("params", "val_accuracy", "test_accuracy", "candidates_trained", "search_seconds", "final_seconds")
NAS_EXTRA = ("test_accuracy_sd", "search_val_accuracy", "search_cpu_s")  # records of NAS VERSION >= 3


def _search_records(paths: Paths) -> dict[tuple[str, str, str, int], dict]:
    """Search records by (task, search, role, seed); a record without a seed (a base's) is seed 0."""
    found: dict[tuple[str, str, str, int], dict] = {}
    for path in paths:
        r = records.read(path, "search")
        key = (*records.names(r, "search"), int(r.get("seed", 0)))
        if key in found:
            raise io.ArtifactError(f"two search records of task {key[0]!r}, search {key[1]!r}, role {key[2]!r}, "
                                   f"seed {key[3]}: {path} and another")
        found[key] = r
    return found


def nas_summary(paths: Paths) -> pd.DataFrame:
    """One row per search record (version: :data:`taskdist.plots.VERSION`), sorted by role, task, search and seed.

    Base tasks have their ``full`` search; a target has every search of
    :data:`taskdist.specs.TARGET_SEARCHES` and may have ablations, each with the same seeds.
    """
    found = _search_records(paths)
    roles: dict[tuple[str, str], dict[str, set[int]]] = {}
    for task, search, role, seed in found:
        roles.setdefault((role, task), {}).setdefault(search, set()).add(seed)
    for (role, task), searches in sorted(roles.items()):
        expected = {"full"} if role == "base" else set(TARGET_SEARCHES) | (set(searches) & set(ABLATIONS))
        if role not in ("base", "target") or set(searches) != expected:
            raise io.ArtifactError(f"the {role} task {task!r} has the searches {sorted(searches)}, "
                                   f"expected {sorted(expected)}")
        seeds = {search: sorted(s) for search, s in searches.items()}
        if len({tuple(s) for s in seeds.values()}) != 1:
            raise io.ArtifactError(f"the searches of the {role} task {task!r} have different seeds: {seeds}")
    rows = [{
        "task": task, "role": role, "search": search, "seed": seed, "bases": ",".join(r["bases"]),
        "ops": ",".join(r["space"]["ops"]),
        "genotype": json.dumps(r["genotype"], sort_keys=True, separators=(",", ":")),
        **{k: r[k] for k in NAS_VALUES}, **{k: r.get(k, np.nan) for k in NAS_EXTRA},
        "final_seeds": len(r.get("test_accuracies", [r["test_accuracy"]])),
    } for (task, search, role, seed), r in found.items()]  # fmt: skip
    return pd.DataFrame(rows).sort_values(["role", "task", "search", "seed"], kind="stable", ignore_index=True)


def nas_curves(paths: Paths) -> pd.DataFrame:
    """The anytime traces of the targets' searches (version: :data:`taskdist.nas.claim.VERSION`): one row per
    trained candidate, columns ``task, search, seed`` and :data:`taskdist.nas.fuse.TRACE_COLUMNS` (costs so far,
    the candidate's and the best validation accuracy so far), in training order per search and seed."""
    from taskdist.nas.claim import check_trace

    trace = ["candidates_trained", "epochs", "cpu_s", "val_accuracy", "best_val_accuracy"]
    frames = []
    for (task, search, role, seed), r in sorted(_search_records(paths).items()):
        if role != "target":
            continue
        history = pd.DataFrame(r["history"])
        missing = sorted(set(trace) - set(history.columns))
        if missing:
            raise io.ArtifactError(f"the search record of {task!r}, {search!r}, seed {seed} has no trace "
                                   f"(history lacks {missing}): written before NAS VERSION 3?")
        frames.append(check_trace(history[trace].assign(task=task, search=search, seed=seed),
                                  f"{task} {search} seed {seed}"))
    columns = ["task", "search", "seed", *trace]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def base_cells(paths: Paths) -> Mapping[str, dict]:
    """The base searches' records by base task (each the ``full`` search of a base)."""
    found = records.read_all(paths, "search")
    bad = [key for key in found if key[1:] != ("full", "base")]
    if bad:
        raise io.ArtifactError(f"base cells must come from the bases' full searches, got {bad}")
    return {task: r for (task, _, _), r in found.items()}
