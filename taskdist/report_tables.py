"""The result tables of the documentation, generated from a stored run.

Two steps, so that the documentation can be regenerated without the run:

    taskdist tables snapshot results --out docs/results       # the run's small tables, its costs, run.json
    taskdist tables render docs/results                       # Markdown blocks in README.md, docs/results.md

:func:`snapshot` copies a finished run's small tables (the final Parquet tables, the distance matrices, the
ground truth or its per-pair means) into a folder, adds a table of the task networks (from the checkpoints)
and one of the jobs' costs (from their logs), and writes ``run.json``: the commit of the checkout that ran,
when it ran, the machine and the settings. :func:`render` turns that folder into named Markdown blocks and
replaces, in each Markdown file, the text between ``<!-- generated:NAME -->`` and
``<!-- /generated:NAME -->`` by block NAME (and writes the same tables as CSV beside the snapshot). With
``check``, nothing is written: it returns what would change.

Tables are rendered with whatever columns they have (other stages add columns): integers with thousands
separators, p-values to three decimals (``<0.001`` below), other floats with as many decimals as their
magnitude needs, missing values empty.

Why one module of over 500 lines: the snapshot and the blocks it renders are one format (what ``snapshot``
stores is exactly what a block reads); each block is a short function, and half of the lines say what the
stored run is.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from taskdist.artifacts import io, matrices
from taskdist.artifacts.matrices import to_square
from taskdist.runtime import read_resources

VERSION = 3
"""Version of the snapshot layout and of the rendered blocks.

2: snapshots have a kind (``run.json``: ``kind``): ``run`` (the default run's tables) or ``nas_claim`` (the TA-NAS
claim's tables, :data:`NAS_CLAIM_TABLES`; blocks ``nas_claim-*``, :func:`nas_claim_blocks`); the NAS block has a
seed column;
3: the kind ``rerun`` (:func:`compare`), blocks ``rerun-*``."""

KINDS = ("run", "nas_claim", "rerun")
"""Kinds of snapshot. A Markdown file's blocks named ``nas_claim-*`` are filled from a ``nas_claim`` snapshot,
those named ``rerun-*`` from a ``rerun`` snapshot (:func:`compare`: how far two runs of one config differ), the
others from a ``run`` snapshot: rendering one kind leaves the other's blocks as they are."""

NAS_CLAIM_TABLES = {
    "nas_summary": "nas/summary.parquet",
    "nas_curves": "nas/curves.parquet",
    "nas_reach": "nas/reach.parquet",
    "nas_paired": "nas/paired.parquet",
    "nas_winners": "nas/winners.parquet",
}
"""Snapshot name -> path under the results folder of a ``nas_claim`` snapshot's tables (rule nas_summary)."""
NAS_CLAIM_FIGURES = {"nas_curves.png": "plots/nas_curves.png", "nas.png": "plots/nas.png"}

TABLES = {
    "reliability": "reliability.parquet",
    "mantel": "mantel.parquet",
    "mantel_comparison": "mantel_comparison.parquet",
    "selection": "selection.parquet",
    "floors": "floors.parquet",
    "consistency": "consistency.parquet",
    "nas_summary": "nas/summary.parquet",
}
"""Snapshot name -> path under the results folder of the small final tables, copied as they are."""

TRANSFER_MAX_BYTES = 256_000
"""A ground-truth table larger than this is stored as its per-pair means (``transfer_means.parquet``)."""
MATRIX_MAX_BYTES = 64_000
"""Distance matrices larger than this stay out of the snapshot."""

COST_GROUPS = {
    "prepare_dataset": "data and tasks",
    "make_task": "data and tasks",
    "train_task": "task networks (incl. resamples)",
    "train_variant": "ftd consistency (extra networks)",
    "fisher": "ftd",
    "ftd_matrix": "ftd",
    "ftd_consistency": "ftd consistency (extra networks)",
    "train_probe": "task2vec (+ task2vec_asym)",
    "task2vec_embed": "task2vec (+ task2vec_asym)",
    "task2vec_trivial": "task2vec (+ task2vec_asym)",
    "task2vec_matrix": "task2vec (+ task2vec_asym)",
    "tanas": "tanas",
    "tanas_matrix": "tanas",
    "scores": "leep, logme, nce, h_score (together)",
    "score_matrix": "leep, logme, nce, h_score (together)",
    "transfer": "ground truth (transfer + scratch)",
    "scratch": "ground truth (transfer + scratch)",
    "transfer_matrix": "ground truth (transfer + scratch)",
    "mantel": "evaluation (mantel, selection, floors)",
    "selection": "evaluation (mantel, selection, floors)",
    "noise_floors": "evaluation (mantel, selection, floors)",
    "plot_method": "plots",
    "plot_transfer": "plots",
    "plot_paths": "plots",
    "transfer_bound": "transfer_bound",
    "bound": "transfer_bound",
    "bound_matrix": "transfer_bound",
    "nas_base": "architecture search",
    "nas_bases": "architecture search",
    "nas_target": "architecture search",
    "nas_summary": "architecture search",
}
"""Rule -> the cost group its jobs are charged to; ``path_length`` and ``path_matrix`` go to their method."""

COMMANDS = ("taskdist tables snapshot results --out docs/results --logs logs --config config.yaml",
            "taskdist tables render docs/results --readme README.md --results docs/results.md")
"""How the documentation's tables are regenerated (in a run's directory, then in the checkout)."""
NAS_CLAIM_COMMANDS = ("taskdist tables snapshot results --out docs/results/nas_claim --kind nas_claim --logs logs "
                      "--config config.yaml configs/nas_claim.yaml",
                      "taskdist tables render docs/results/nas_claim --readme README.md --results docs/results.md")
"""The same for the TA-NAS claim's run (configs/nas_claim.yaml)."""


# ------------------------------------------------------------------------------------------------ costs


_STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})")


def cost_group(rule: str, job: str) -> str:
    """The row of the cost table a job of ``rule`` (log ``logs/{rule}/{job}.log``) is charged to."""
    if rule in ("paths", "path_length", "path_matrix"):  # logs/paths/{method}/..., logs/path_matrix/{method}.log
        return job.split("/", 1)[0]
    if rule == "distance_matrix":  # logs/distance_matrix/{method}.log of earlier code states
        return COST_GROUPS.get(f"{job}_matrix", job)
    return COST_GROUPS.get(rule, f"other ({rule})")


def job_costs(log_dir: str | Path) -> pd.DataFrame:
    """One row per finished job of a run, from its log's last line: ``rule, job, cpu_s, wall_s, max_rss_mb``
    (``rule`` is the log's folder under ``log_dir``, ``job`` the rest of its path), sorted by rule and job.
    Logs without that line (failed or running jobs) are left out."""
    log_dir = Path(log_dir)
    rows = []
    for path in sorted(log_dir.rglob("*.log")):
        used = read_resources(path)
        if used is None:
            continue
        parts = path.relative_to(log_dir).with_suffix("").parts
        rule, job = parts[0], "/".join(parts[1:])
        rows.append({"rule": rule, "job": job, "cpu_s": used.get("cpu_s", np.nan),
                     "wall_s": used.get("wall_s", np.nan), "max_rss_mb": used.get("max_rss_mb", np.nan)})
    columns = ["rule", "job", "cpu_s", "wall_s", "max_rss_mb"]
    return pd.DataFrame(rows, columns=columns).sort_values(["rule", "job"], ignore_index=True)


def grouped_costs(costs: pd.DataFrame) -> pd.DataFrame:
    """Jobs, CPU and wall seconds summed and the largest peak memory per cost group (:func:`cost_group`),
    most CPU first."""
    costs = costs.assign(group=[cost_group(r, j) for r, j in zip(costs["rule"], costs["job"], strict=True)])
    table = costs.groupby("group").agg(jobs=("cpu_s", "size"), cpu_s=("cpu_s", "sum"), wall_s=("wall_s", "sum"),
                                       max_rss_mb=("max_rss_mb", "max"))
    return table.sort_values(["cpu_s", "jobs"], ascending=False, kind="stable").reset_index()


def _log_span(log_dir: Path) -> tuple[str | None, str | None]:
    """The first and the last timestamp in the run's logs (the run's start and end, to the second)."""
    stamps = []
    for path in log_dir.rglob("*.log"):
        lines = [m.group(1) for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
                 if (m := _STAMP.match(line))]
        stamps += lines[:1] + lines[-1:]
    return (min(stamps), max(stamps)) if stamps else (None, None)


# ------------------------------------------------------------------------------------------------ snapshot


def network_table(model_dir: str | Path) -> pd.DataFrame:
    """One row per task network checkpoint: task, dataset, classes, the epochs trained, the epoch kept and why
    training stopped (``patience``, ``max_epochs`` or a ``fixed`` schedule), and its metrics (train / val / test
    accuracy and loss)."""
    from taskdist.artifacts import checkpoint  # torch: only the snapshot needs it

    rows = []
    for path in sorted(Path(model_dir).glob("*.pt")):
        ckpt = checkpoint.read(path)
        metrics = dict(ckpt["metrics"])
        row = {"task": path.stem, "dataset": ckpt["task"]["dataset"], "classes": int(ckpt["n_classes"]),
               "epochs": int(metrics.pop("epochs", len(ckpt.get("history") or []))),
               "best_epoch": metrics.pop("best_epoch", None), "stopped": metrics.pop("stopped", None)}
        order = {"train": 0, "val": 1, "test": 2}
        ordered = sorted(metrics.items(), key=lambda kv: (kv[0].endswith("loss"), order.get(kv[0].split("_")[0], 3),
                                                           kv[0]))
        row.update({k: float(v) for k, v in ordered})
        rows.append(row)
    return pd.DataFrame(rows)


def networks_brief(networks: pd.DataFrame) -> list[str]:
    """The task networks in short: how training stopped over every network, and each task's own network (seed 0)
    with its epochs and accuracies."""
    lines = []
    if "stopped" in networks.columns:
        counts = networks["stopped"].fillna("unknown").value_counts()
        said = ", ".join(f"{n} on {reason.replace('_', ' ')}" for reason, n in counts.items())
        lines += [f"Of the run's {len(networks)} networks (seeds and resamples included) {said}; "
                  f"epochs trained {int(networks['epochs'].min())}–{int(networks['epochs'].max())} "
                  f"(median {networks['epochs'].median():.0f}).", ""]
    own = networks[~networks["task"].str.contains("@")]
    columns = [c for c in ("task", "classes", "epochs", "best_epoch", "stopped", "train_accuracy", "val_accuracy",
                           "test_accuracy") if c in own.columns]
    table = own[columns].reset_index(drop=True)
    return lines + [markdown(table, format_table(table))]


def samples_table(score_paths: Iterable[str | Path]) -> pd.DataFrame:
    """What the scores read, from the per-target score tables: one row per score with the fewest and most
    labelled examples of a target it read, the features' dimension, and on how many of the targets it is
    degenerate (:func:`taskdist.methods.scores.underdetermined`)."""
    from taskdist.methods.scores import underdetermined

    frame = pd.concat([matrices.read_scores(path)[0] for path in score_paths], ignore_index=True)
    frame = frame[frame["sample"] == "task"]
    rows = []
    for method, rows_of in frame.groupby("method", sort=True):
        per_target = rows_of.groupby("target").agg(examples=("examples", "min"), features=("features", "max"))
        degenerate = [underdetermined(method, int(e), int(f)) for e, f in zip(per_target["examples"],
                                                                             per_target["features"], strict=True)]
        rows.append({"method": method, "targets": len(per_target), "examples_min": int(per_target["examples"].min()),
                     "examples_max": int(per_target["examples"].max()),
                     "features": int(per_target["features"].max()), "degenerate_targets": int(sum(degenerate))})
    return pd.DataFrame(rows)


def git(checkout: str | Path, *args: str) -> str | None:
    """The output of ``git -C checkout ARGS``, stripped; None where git or the checkout is missing."""
    try:
        out = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def machine() -> dict:
    """The machine the snapshot is taken on: CPU model (and family, model number, stepping and microcode: two
    CPUs of one model name can round differently), cores, torch version, build, threads and the vector
    instructions its kernels use, Python."""
    import platform

    fields = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "cpu family", "model", "stepping", "microcode") and key not in fields:
                fields[key] = value.strip()
            elif not key and fields:  # the first processor's block ends
                break
    except OSError:
        pass
    info = {"cpu": fields.get("model name") or platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version()}
    if "cpu family" in fields:
        info["cpu_id"] = (f"family {fields['cpu family']}, model {fields.get('model')}, stepping "
                          f"{fields.get('stepping')}, microcode {fields.get('microcode')}")
    try:
        import torch
    except ImportError:
        return info
    parallel = torch.__config__.parallel_info()
    backend = next((line.split(":", 1)[1].strip() for line in parallel.splitlines()
                    if line.startswith("ATen parallel backend")), "unknown")
    info.update({"torch": torch.__version__,
                 "torch_build": f"git {torch.version.git_version[:10]}, CUDA {torch.version.cuda or 'none'}, "
                                f"parallel backend {backend}",
                 "torch_threads": torch.get_num_threads(),
                 "torch_cpu_capability": torch.backends.cpu.get_cpu_capability()})
    return info


def _within(path: Path, checkout: Path) -> str:
    """``path`` relative to the checkout that ran (a machine's own folders stay out of the stored run)."""
    try:
        return str(Path(path).resolve().relative_to(Path(checkout).resolve()))
    except ValueError:
        return Path(path).name


def _settings(configs: list[Path]) -> dict | None:
    """The settings of config files merged as Snakemake merges ``--configfile`` overlays (mappings merge, the rest
    replaces)."""
    import yaml

    if not configs:
        return None
    merged: dict = {}

    def merge(into: dict, over: Mapping) -> None:
        for key, value in over.items():
            if isinstance(value, Mapping) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    for path in configs:
        merge(merged, yaml.safe_load(Path(path).read_text()) or {})
    return merged


def run_record(results: Path, logs: Path | None, config: Path | list[Path] | None, checkout: Path,
               costs: pd.DataFrame | None, kind: str = "run") -> dict:
    """``run.json``: the kind of snapshot, the commit that ran, when, the machine, the load now and the settings
    (``config``: the run's config file, or its files in the order Snakemake merged them)."""
    configs = [] if config is None else [Path(c) for c in (config if isinstance(config, list | tuple) else [config])]

    started, finished = _log_span(logs) if logs is not None else (None, None)
    record = {
        "version": VERSION,
        "kind": kind,
        "commit": git(checkout, "rev-parse", "HEAD"),
        "commit_date": git(checkout, "log", "-1", "--format=%cI"),
        "dirty": bool(git(checkout, "status", "--porcelain", "--untracked-files=no")),
        "started": started,
        "finished": finished,
        "jobs": None if costs is None else len(costs),
        "cpu_s": None if costs is None else round(float(costs["cpu_s"].sum()), 2),
        "machine": machine(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "results_dir": _within(results, checkout),
        "logs_dir": None if logs is None else _within(logs, checkout),
        "config_file": None if not configs else " + ".join(_within(c, checkout) for c in configs),
        "settings": _settings(configs),
        "commands": list(COMMANDS if kind == "run" else NAS_CLAIM_COMMANDS),
    }
    return record


def _clear(out: Path) -> None:
    """Remove what an earlier snapshot wrote into ``out`` (its Parquet, CSV and run.json), nothing else."""
    for pattern in ("*.parquet", "*.csv", "*.png", "distances/*.parquet", "run.json"):
        for path in out.glob(pattern):
            path.unlink()


def snapshot(results: str | Path, out: str | Path, *, logs: str | Path | None = None,
             config: str | Path | list[str | Path] | None = None, checkout: str | Path | None = None,
             kind: str = "run") -> list[Path]:
    """Copy a finished run's small tables into ``out`` and describe the run (``run.json``); the files written.

    ``logs`` (default: ``logs`` beside ``results`` when it exists) gives ``costs.parquet``; ``config`` (default:
    ``config.yaml`` beside ``results``; several files: in the order the run gave them, e.g. ``config.yaml``,
    ``configs/benchmark.yaml``) the settings; ``checkout`` (default: the folder of ``results``) the commit.
    Nothing large enters: no checkpoint, Fisher table or per-pair record; the ground truth only as per-pair
    means when it is large. ``kind`` ``nas_claim``: the tables of the TA-NAS claim (:data:`NAS_CLAIM_TABLES`)
    and its figures instead, with the costs and ``run.json``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    results, out = Path(results), Path(out)
    base = results.resolve().parent
    logs = Path(logs) if logs is not None else (base / "logs" if (base / "logs").is_dir() else None)
    if config is None:
        config = base / "config.yaml" if (base / "config.yaml").is_file() else None
    config = [Path(c) for c in config] if isinstance(config, list | tuple) else config
    checkout = Path(checkout) if checkout is not None else base
    required = NAS_CLAIM_TABLES.values() if kind == "nas_claim" else ("transfer.parquet", "mantel.parquet",
                                                                       "selection.parquet")
    for name in required:
        if not (results / name).is_file():
            raise ValueError(f"{results / name} does not exist: is the run at {results} finished?")
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    written = []

    def copy(src: Path, name: str) -> None:
        dst = out / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)

    def finish(costs: pd.DataFrame | None) -> list[Path]:
        io.write_json(run_record(results, logs, config, checkout, costs, kind), out / "run.json")
        written.append(out / "run.json")
        return written

    def cost_table() -> pd.DataFrame | None:
        if logs is None:
            return None
        costs = job_costs(logs)
        io.write_parquet(costs, out / "costs.parquet", sort_by=["rule", "job"])
        written.append(out / "costs.parquet")
        return costs

    if kind == "nas_claim":
        for name, rel in NAS_CLAIM_TABLES.items():
            copy(results / rel, f"{name}.parquet")
        for name, rel in NAS_CLAIM_FIGURES.items():
            if (results / rel).is_file():
                copy(results / rel, name)
        return finish(cost_table())

    for name, rel in TABLES.items():
        if (results / rel).is_file():
            copy(results / rel, f"{name}.parquet")
    transfer_path = results / "transfer.parquet"
    if transfer_path.stat().st_size <= TRANSFER_MAX_BYTES:
        copy(transfer_path, "transfer.parquet")
    else:
        from taskdist.evaluation.transfer import means

        transfer = io.read_parquet(transfer_path, ("source", "target", "setting"))
        frames = [means(transfer, s).assign(setting=s) for s in sorted(set(transfer["setting"]))]
        io.write_parquet(pd.concat(frames, ignore_index=True), out / "transfer_means.parquet",
                         sort_by=["setting", "source", "target"])
        written.append(out / "transfer_means.parquet")
    for path in sorted((results / "distances").glob("*.parquet")):
        if path.stat().st_size <= MATRIX_MAX_BYTES:
            copy(path, f"distances/{path.name}")
    if (results / "models").is_dir():
        networks = network_table(results / "models")
        if len(networks):
            io.write_parquet(networks, out / "networks.parquet", sort_by=["task"])
            written.append(out / "networks.parquet")
    score_tables = sorted((results / "scores").glob("*.parquet"))
    if score_tables:
        io.write_parquet(samples_table(score_tables), out / "samples.parquet", sort_by=["method"])
        written.append(out / "samples.parquet")
    for name, records, table in (("bound_terms", sorted((results / "bound").glob("*/*.json")), bound_table),
                                 ("path_ends", sorted((results / "paths").glob("*/*/*.json")), path_table)):
        if records:  # the literature methods' pair records, summarised (configs/literature.yaml)
            io.write_parquet(table(records), out / f"{name}.parquet")
            written.append(out / f"{name}.parquet")
    return finish(cost_table())


def bound_table(record_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Per pair of the transferability bound (the pairs of distinct tasks and each task's pair with its resample,
    ``resample``): its terms, ``tightness`` (the bound over the loss it bounds, that of the transferred head on
    the labelled target examples), that head's test loss and a new linear head's (``linear_loss``)."""
    from taskdist.aggregates import bound_terms
    from taskdist.specs import RESAMPLE_SUFFIX

    table = bound_terms(record_paths)
    table.insert(2, "resample", table["target"].str.endswith(RESAMPLE_SUFFIX))
    table.insert(4, "tightness", table["bound"] / table["target_loss"])
    return table.sort_values(["source", "target"], ignore_index=True)


def path_table(record_paths: Iterable[str | Path]) -> pd.DataFrame:
    """Per path-length record: method, source, target, ``resample`` (the pair of a task with its resample), the
    distance, where the path ends (the target's accuracy at its last point) and starts (the source's at the
    first), the coupling's outer iterations and the share of mass its first update moved (``moved``)."""
    from taskdist.artifacts import records
    from taskdist.specs import RESAMPLE_SUFFIX

    rows = []
    for (method, source, target), r in sorted(records.read_all(record_paths, "path").items()):
        moved = [it["moved"] for it in r.get("iterations", []) if "moved" in it]
        rows.append({"method": method, "source": source, "target": target,
                     "resample": target.endswith(RESAMPLE_SUFFIX), "distance": r["distance"],
                     "target_accuracy_end": r["path"]["target_accuracy"][-1],
                     "source_accuracy_start": r["path"]["source_accuracy"][0],
                     "iterations": len(r.get("iterations", [])), "moved": moved[0] if moved else math.nan})
    return pd.DataFrame(rows)


def literature_blocks(snap: Snapshot) -> dict[str, pd.DataFrame | list[str] | str]:
    """The blocks of the literature methods' summaries, where the run has them: ``bound`` (tightness and the
    transferred head against a new linear head, over the pairs of distinct tasks) and ``paths`` (per path
    method: distances, where the paths end, how far the coupling moved; coupled against uncoupled)."""
    blocks: dict[str, pd.DataFrame | list[str] | str] = {}
    bound = snap.get("bound_terms")
    if bound is not None:
        pairs = bound[~bound["resample"]]
        better = int((pairs["test_loss"] < pairs["linear_loss"]).sum())
        blocks["bound"] = [
            f"- Over the {len(pairs)} ordered pairs of distinct tasks: the bound's median tightness (the bound over "
            f"the loss of the transferred head h_T on the labelled target examples, which it bounds) "
            f"{pairs['tightness'].median():.2f}× (quartiles {pairs['tightness'].quantile(0.25):.2f}× to "
            f"{pairs['tightness'].quantile(0.75):.2f}×); it holds on all pairs: "
            f"{'yes' if (pairs['bound'] >= pairs['target_loss']).all() else 'no'}.",
            f"- h_T's median loss on the labelled target examples {pairs['target_loss'].median():.2f}, on the test "
            f"split {pairs['test_loss'].median():.2f}, against {pairs['linear_loss'].median():.2f} for a new linear "
            f"head on the frozen features; h_T's test loss is the lower on {better} of {len(pairs)} pairs.",
        ]
    paths = snap.get("path_ends")
    if paths is not None:
        pairs = paths[~paths["resample"]]
        table = pairs.groupby("method", sort=True).agg(
            pairs=("distance", "size"), median_distance=("distance", "median"),
            end_accuracy_median=("target_accuracy_end", "median"), end_accuracy_min=("target_accuracy_end", "min"),
            start_accuracy_min=("source_accuracy_start", "min"), moved_median=("moved", "median")).reset_index()
        lines = []
        if {"coupled", "uncoupled"} <= set(pairs["method"]):
            both = pairs.pivot_table(index=["source", "target"], columns="method", values="distance").dropna(
                subset=["coupled", "uncoupled"])
            lines = ["", f"The coupled distance is at most the uncoupled one on "
                     f"{int((both['coupled'] <= both['uncoupled']).sum())} of {len(both)} ordered pairs (the "
                     f"paper: 19 of 20)."]
        blocks["paths"] = [markdown(table), *lines]
    return blocks





# ------------------------------------------------------------------------------------------------ formatting


MINUS = "\u2212"


def _is_p(column: str) -> bool:
    return column == "p" or column.startswith("p_") or column.endswith("_p") or "_p_" in column \
        or column.startswith("mantel_p")


def format_column(values: pd.Series, column: str) -> list[str]:
    """The cells of one column as text: integers with thousands separators, p-values to 3 decimals (``<0.001``),
    other floats with 3 decimals below 10, 2 below 100, 1 below 1,000, none above; missing values empty."""
    if values.dtype == bool:
        return ["yes" if v else "no" for v in values]
    if pd.api.types.is_integer_dtype(values.dtype):
        return [f"{int(v):,}" for v in values]
    if not pd.api.types.is_numeric_dtype(values.dtype):
        return ["" if v is None or (np.isscalar(v) and pd.isna(v)) else str(v) for v in values]
    numbers = values.astype(float)
    finite = numbers[np.isfinite(numbers)]
    if _is_p(column):
        return ["" if not np.isfinite(v) else "<0.001" if v < 0.001 else f"{v:.3f}" for v in numbers]
    if len(finite) and (finite == finite.round()).all() and finite.abs().max() >= 1:
        decimals = 0  # counts stored as floats (or medians of counts)
    else:
        largest = finite.abs().max() if len(finite) else 0.0
        decimals = 3 if largest < 10 else 2 if largest < 100 else 1 if largest < 1000 else 0
    return ["" if not np.isfinite(v) else f"{v:,.{decimals}f}" for v in numbers]


def format_table(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with every cell as text (:func:`format_column`)."""
    return pd.DataFrame({c: format_column(df[c], str(c)) for c in df.columns}, columns=df.columns, dtype=object)


def markdown(df: pd.DataFrame, cells: pd.DataFrame | None = None) -> str:
    """A Markdown table of ``df`` (numbers right-aligned, negative numbers with a minus sign)."""
    cells = format_table(df) if cells is None else cells
    numeric = [pd.api.types.is_numeric_dtype(df[c].dtype) and df[c].dtype != bool for c in df.columns]

    def cell(text: str) -> str:
        text = text.replace("|", "\\|")
        return MINUS + text[1:] if re.match(r"^-\d", text) else text

    lines = ["| " + " | ".join(str(c) for c in df.columns) + " |",
             "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ blocks


@dataclass(frozen=True)
class Snapshot:
    """A snapshot folder read back: ``run.json`` and its tables by name (``distances/ftd`` for a matrix)."""

    path: Path
    run: dict
    tables: dict[str, pd.DataFrame]

    def get(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)


def read_snapshot(path: str | Path) -> Snapshot:
    """The snapshot at ``path`` (written by :func:`snapshot`)."""
    path = Path(path)
    if not (path / "run.json").is_file():
        raise ValueError(f"{path} is not a snapshot (no run.json); write one with `{COMMANDS[0]}`")
    tables = {}
    for file in sorted(path.glob("*.parquet")) + sorted(path.glob("distances/*.parquet")):
        name = file.relative_to(path).with_suffix("").as_posix()
        tables[name] = io.read_parquet(file)
    return Snapshot(path, io.read_json(path / "run.json"), tables)


def _day(stamp: str | None) -> str:
    return stamp[:16] if stamp else "unknown date"


def run_line(run: dict) -> str:
    """The line that starts every generated block: which run, when, where, under what load (of a ``rerun``
    snapshot: both runs', one line each)."""
    if run.get("kind") == "rerun":
        return f"{run_line(run['first'])}\n\n{run_line(run['second'])}"
    m = run.get("machine", {})
    commit = (run.get("commit") or "unknown")[:10] + (" (uncommitted changes)" if run.get("dirty") else "")
    load = "/".join(f"{x:.2f}" for x in run.get("load_average", []))
    return (f"_Generated by `taskdist tables render` from the stored run of commit `{commit}` "
            f"({_day(run.get('started'))} to {_day(run.get('finished'))[11:] or '?'} UTC) on {m.get('cpu')}, "
            f"{m.get('cores')} cores, torch {m.get('torch', '?')}; load {load or '?'} when snapshotted._")


def _missing(what: str) -> str:
    return f"Not in this run ({what})."


def _cost_block(costs: pd.DataFrame) -> pd.DataFrame:
    table = grouped_costs(costs)
    total = pd.DataFrame([{"group": "total", "jobs": int(table["jobs"].sum()), "cpu_s": table["cpu_s"].sum(),
                           "wall_s": table["wall_s"].sum(), "max_rss_mb": table["max_rss_mb"].max()}])
    return pd.concat([table, total], ignore_index=True)


def selection_means(selection: pd.DataFrame) -> pd.DataFrame:
    """Per setting and method (in the table's order), the mean over targets of every numeric column."""
    numeric = [c for c in selection.columns if pd.api.types.is_numeric_dtype(selection[c].dtype)
               and selection[c].dtype != bool]
    keys = [c for c in ("setting", "method") if c in selection.columns]
    grouped = selection.groupby(keys, sort=False)
    table = grouped[numeric].mean()
    if "target" in selection.columns:
        table["targets"] = grouped["target"].nunique()
    return table.reset_index()


SUMMARY_COLUMNS = ("setting", "method", "mantel_r", "mantel_low", "mantel_high", "mantel_p", "mantel_p_holm",
                   "mantel_r_error", "mantel_p_error", "mantel_p_holm_error", "mean_regret", "mean_regret_low",
                   "mean_regret_high", "mean_spearman", "mean_weighted_tau", "n_targets")


def summary_table(snap: Snapshot) -> pd.DataFrame | None:
    """Per setting and method: the table of ``taskdist summary`` (:func:`taskdist.evaluation.tables.summary`):
    the Mantel r against ``-gain`` with its interval over tasks, raw and Holm p, the same against
    ``1-accuracy`` (``_error``), and the mean source-selection metrics, the regret with its interval over
    targets (the columns of :data:`SUMMARY_COLUMNS` the tables have)."""
    from taskdist.evaluation import tables

    mantel, selection = snap.get("mantel"), snap.get("selection")
    if mantel is None or selection is None or "setting" not in mantel.columns:
        return None
    table = tables.summary(mantel, selection)
    return table[[c for c in SUMMARY_COLUMNS if c in table.columns]]


def _baselines(snap: Snapshot) -> set[str]:
    """Methods of the selection table that read no target data: not distance methods of the registry."""
    from taskdist.methods.registry import METHODS

    selection = snap.get("selection")
    return set() if selection is None else {m for m in selection["method"].unique() if m not in METHODS}


def headline(snap: Snapshot) -> list[str]:
    """One line per transfer setting: the best predictor of the gain (Mantel r), the best selector (regret)
    beside the best baseline, and the reliability of the ground truth."""
    summary = summary_table(snap)
    if summary is None:
        return [_missing("no Mantel or selection table")]
    baselines = _baselines(snap)
    reliability = snap.get("reliability")
    lines = []
    for setting, rows in summary.groupby("setting", sort=False):
        methods = rows[~rows["method"].isin(baselines)]
        base = rows[rows["method"].isin(baselines)]
        parts = [f"- **{setting}**:"]
        if methods["mantel_r"].notna().any():
            best = methods.loc[methods["mantel_r"].idxmax()]
            p = format_column(pd.Series([best["mantel_p"]]), "p")[0]
            parts.append(f"best predictor of the gain `{best['method']}` (Mantel r {best['mantel_r']:.3f}, "
                         f"one-sided p {p});")
        if "mean_regret" in rows and methods["mean_regret"].notna().any():
            best = methods.loc[methods["mean_regret"].idxmin()]
            parts.append(f"best source selection `{best['method']}` (top-1 regret {best['mean_regret']:.3f}, "
                         f"Spearman {best['mean_spearman']:.3f});")
        if len(base) and base["mean_regret"].notna().any():
            b = base.loc[base["mean_regret"].idxmin()]
            parts.append(f"best baseline `{b['method']}` (regret {b['mean_regret']:.3f});")
            beat = methods[methods["mean_regret"] < b["mean_regret"]].sort_values("mean_regret")["method"]
            parts.append(f"methods with a lower regret than it: {', '.join(f'`{m}`' for m in beat) or 'none'};")
        if reliability is not None and "setting" in reliability.columns:
            rel = reliability[reliability["setting"] == setting]
            col = next((c for c in ("over_pairs", "reliability") if c in rel.columns), None)
            if len(rel) and col is not None and np.isfinite(float(rel[col].iloc[0])):
                seeds = float(rel["over_seeds"].iloc[0]) if "over_seeds" in rel.columns else math.nan
                between = (f" ({seeds:.2f} between the source networks' {int(rel['seeds'].iloc[0])} seeds)"
                           if np.isfinite(seeds) else "")
                parts.append(f"split-half reliability of the gains over pairs {float(rel[col].iloc[0]):.2f}"
                             f"{between}.")
        text = " ".join(parts)
        lines.append(text[:-1] + "." if text.endswith(";") else text)
    return lines


SIGNIFICANT = 0.05
"""A method "predicts the gain" in :func:`shared_findings` when its Holm-adjusted one-sided p is below this."""


def shared_findings(first: Snapshot, second: Snapshot, names: tuple[str, str]) -> list[str]:
    """Which findings two stored runs share, per transfer setting: one line each (the order of the methods by
    their Mantel r with the gain, the best predictor, the methods whose Holm p is below :data:`SIGNIFICANT`, the
    best baseline and the methods that beat it), then the table of both runs' figures side by side."""
    tables = {name: summary_table(snap) for name, snap in zip(names, (first, second), strict=True)}
    if any(t is None for t in tables.values()):
        return [_missing("a run lacks its Mantel or selection table")]
    baselines = _baselines(first) | _baselines(second)
    lines, frames = [], []
    a, b = names
    for setting in [s for s in tables[a]["setting"].unique() if s in set(tables[b]["setting"])]:
        per = {n: t[t["setting"] == setting].set_index("method") for n, t in tables.items()}
        methods = [m for m in per[a].index if m in per[b].index and m not in baselines]
        base = [m for m in per[a].index if m in per[b].index and m in baselines]
        facts = {}
        for n in names:
            rows = per[n].loc[methods]
            best_base = per[n].loc[base, "mean_regret"].idxmin() if base else None
            bar = per[n].loc[best_base, "mean_regret"] if best_base else math.nan
            facts[n] = {"best": rows["mantel_r"].idxmax(), "significant": set(rows.index[rows["mantel_p_holm"]
                                                                                        < SIGNIFICANT]),
                        "baseline": best_base, "beat": set(rows.index[rows["mean_regret"] < bar])}
        order = pd.Series(per[a].loc[methods, "mantel_r"]).corr(pd.Series(per[b].loc[methods, "mantel_r"]),
                                                               method="spearman")
        both = {key: ", ".join(f"`{m}`" for m in methods if m in facts[a][key] & facts[b][key]) or "none"
                for key in ("significant", "beat")}
        each = {key: " and ".join(f"`{facts[n][key]}` ({n})" for n in names) for key in ("best", "baseline")}
        lines.append(f"- **{setting}**: the {len(methods)} methods' Mantel r with the gain rank alike at Spearman "
                     f"{order:.2f} across the two runs; best predictor {each['best']}; Holm p < {SIGNIFICANT} in "
                     f"both: {both['significant']}; best baseline {each['baseline']}; a lower regret than it in "
                     f"both: {both['beat']}.")
        frame = pd.DataFrame({"setting": setting, "method": methods + base})
        for n in names:
            frame[f"r_{n}"] = per[n].loc[methods + base, "mantel_r"].to_numpy()
            frame[f"p_holm_{n}"] = per[n].loc[methods + base, "mantel_p_holm"].to_numpy()
            frame[f"regret_{n}"] = per[n].loc[methods + base, "mean_regret"].to_numpy()
        frames.append(frame)
    if not frames:
        return [_missing("the runs share no transfer setting")]
    table = pd.concat(frames, ignore_index=True)
    return [*lines, "", markdown(table, format_table(table))]


MEASURED_COST = ("cpu_s", "wall_s", "seconds", "rss")
"""Columns holding what a job cost (CPU and wall seconds, memory): machines differ in them by construction, so
:func:`run_differences` leaves them out (tables named ``costs*`` too)."""


def run_differences(first: Snapshot, second: Snapshot) -> pd.DataFrame:
    """How far two runs of one config differ, column by column of every table both snapshots hold.

    Rows are matched by position (the stages write them in a fixed order and both runs have the same tasks). One
    row per table and column: ``cells`` compared, ``differ`` (how many differ at all: numbers by value, text such
    as why a network stopped by equality), ``shown_differ`` (how many read differently as the documentation prints
    them, :func:`format_table`), ``largest`` and ``median`` (the largest and the median absolute difference of the
    numbers that differ; empty for text). A table of another shape or columns is one row, ``column`` saying so.
    What jobs cost (:data:`MEASURED_COST`) is not compared.
    """
    rows = []
    for name in sorted(set(first.tables) & set(second.tables)):
        if name.startswith("costs"):
            continue
        a, b = first.tables[name], second.tables[name]
        if list(a.columns) != list(b.columns) or a.shape != b.shape:
            rows.append({"table": name, "column": f"(shapes differ: {a.shape} and {b.shape})", "cells": 0})
            continue
        a, b = a.reset_index(drop=True), b.reset_index(drop=True)
        shown_a, shown_b = format_table(a), format_table(b)
        for column in a.columns:
            if any(k in str(column) for k in MEASURED_COST):
                continue
            row = {"table": name, "column": str(column), "cells": len(a),
                   "shown_differ": int((shown_a[column] != shown_b[column]).sum())}
            if pd.api.types.is_numeric_dtype(a[column].dtype) and a[column].dtype != bool:
                x, y = a[column].to_numpy(dtype=float), b[column].to_numpy(dtype=float)
                gap = np.abs(x - y)[~((x == y) | (np.isnan(x) & np.isnan(y)))]
                gap = np.where(np.isnan(gap), np.inf, gap)  # a value on one machine, missing on the other
                row.update(differ=len(gap), largest=gap.max() if len(gap) else 0.0,
                           median=float(np.median(gap)) if len(gap) else 0.0)
            else:
                row["differ"] = int((a[column].astype(str) != b[column].astype(str)).sum())
            rows.append(row)
    columns = ["table", "column", "cells", "differ", "shown_differ", "largest", "median"]
    return pd.DataFrame(rows, columns=columns).fillna({"differ": 0, "shown_differ": 0}).astype(
        {"cells": "int64", "differ": "int64", "shown_differ": "int64"})


def differences_by_table(columns: pd.DataFrame) -> pd.DataFrame:
    """:func:`run_differences` summed per table: cells, how many differ and read differently, the largest
    difference and the column holding it."""
    rows = []
    for name, part in columns.groupby("table", sort=False):
        numbers = part.dropna(subset=["largest"])
        worst = numbers.loc[numbers["largest"].idxmax()] if len(numbers) and numbers["largest"].max() > 0 else None
        rows.append({"table": name, "cells": int(part["cells"].sum()), "differ": int(part["differ"].sum()),
                     "shown_differ": int(part["shown_differ"].sum()),
                     "largest": math.nan if worst is None else worst["largest"],
                     "column": part["column"].iloc[0] if part["cells"].eq(0).all()
                     else "" if worst is None else worst["column"]})
    return pd.DataFrame(rows, columns=["table", "cells", "differ", "shown_differ", "largest", "column"])


def compare(first: str | Path, second: str | Path, out: str | Path) -> list[Path]:
    """Store how far two runs of one config differ (:func:`run_differences`) as a ``rerun`` snapshot in ``out``:
    ``differences.parquet`` and ``run.json`` with both runs' records. Rendered, it fills the blocks ``rerun-*``.

    Raises
    ------
    ValueError
        If either folder is not a ``run`` snapshot, or their settings differ (then they are not reruns of one
        config and their numbers may differ for that reason).
    """
    a, b = read_snapshot(first), read_snapshot(second)
    for snap in (a, b):
        if snap.run.get("kind", "run") != "run":
            raise ValueError(f"{snap.path} is a {snap.run.get('kind')!r} snapshot; compare takes two runs")
    if a.run.get("settings") != b.run.get("settings"):
        flat = [{k: json.dumps(v, sort_keys=True) for k, v in _flat(snap.run.get("settings") or {})} for snap in (a, b)]
        keys = sorted(k for k in flat[0].keys() | flat[1].keys() if flat[0].get(k) != flat[1].get(k))
        raise ValueError(f"{a.path} and {b.path} are not runs of one config: their settings differ in {keys[:8]}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _clear(out)
    written = [out / "differences.parquet", out / "run.json"]
    io.write_parquet(run_differences(a, b), written[0])
    io.write_json({"kind": "rerun", "first": a.run, "second": b.run}, written[1])
    return written


def rerun_blocks(snap: Snapshot) -> dict[str, pd.DataFrame | list[str] | str]:
    """The blocks of a ``rerun`` snapshot: ``rerun-summary`` (one line), ``rerun-tables`` (table by table) and
    ``rerun-columns`` (every column that differs: the tolerance to read a table's figures with)."""
    columns = snap.get("differences")
    tables = differences_by_table(columns)
    first, second = ((m.get("cpu"), m.get("torch_build")) for m in (snap.run[k].get("machine", {})
                                                                      for k in ("first", "second")))
    same = "the same" if first == second else "not the same"
    changed, cells = tables[tables["differ"] > 0], int(tables["cells"].sum())
    if tables["cells"].eq(0).any():
        summary = (f"Tables that do not line up: {', '.join(tables.loc[tables['cells'].eq(0), 'table'])}; "
                   "their runs differ in more than the last bits.")
    elif changed.empty:
        summary = (f"The two runs (CPU model and torch build: {same}) agree bit for bit: all {cells:,} cells of "
                   f"{len(tables)} tables are equal.")
    else:
        summary = (f"The two runs (CPU model and torch build: {same}) differ in {int(changed['differ'].sum()):,} of "
                   f"{cells:,} cells ({len(changed)} of {len(tables)} tables); as printed, "
                   f"{int(tables['shown_differ'].sum()):,} cells read differently.")

    def shown(frame: pd.DataFrame) -> pd.DataFrame:  # differences from 1e-9 to whole units
        return frame.assign(**{c: ["" if pd.isna(v) else f"{v:.2g}" if v else "0" for v in frame[c]]
                               for c in ("largest", "median") if c in frame.columns})

    return {"rerun-summary": summary, "rerun-tables": shown(tables),
            "rerun-columns": shown(columns[columns["differ"] > 0].reset_index(drop=True))}


def _flat(value: object, prefix: str = "") -> Iterable[tuple[str, object]]:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _flat(sub, f"{prefix}{key}.")
    else:
        yield prefix.rstrip("."), value


def _text(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def settings_table(settings: Mapping) -> pd.DataFrame:
    """Every setting of the run's config but its tasks, one row per key (``transfer.replicates``)."""
    rows = [{"setting": key, "value": _text(value)}
            for key, value in _flat({k: v for k, v in settings.items() if k != "tasks"})]
    return pd.DataFrame(rows, columns=["setting", "value"])


def task_table(settings: Mapping) -> pd.DataFrame:
    """The run's tasks: id, dataset, classes or relabelling, and every other key given."""
    rows = []
    for task in settings.get("tasks", []):
        row = {"task": task.get("id"), "dataset": task.get("dataset")}
        row["classes"] = _text(task["labels"] if "labels" in task else task.get("classes", ""))
        row.update({k: _text(v) for k, v in task.items() if k not in ("id", "dataset", "labels", "classes")})
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def _nas_table(nas: pd.DataFrame) -> pd.DataFrame:
    table = nas.copy()
    if "genotype" in table.columns:
        table["winner"] = [" ".join(edge["op"] for edge in json.loads(g).get("edges", [])) for g in table["genotype"]]
        table = table.drop(columns="genotype")
    if {"ops", "search"} <= set(table.columns):  # only the task-aware space is not the full one
        table["ops"] = table["ops"].where(table["search"].isin(("task_aware", "farthest", "random_bases")), "(all)")
    if "params" in table.columns:
        table["params"] = table["params"].astype("int64")
    return table


def _truth_table(snap: Snapshot) -> pd.DataFrame | None:
    """Per setting: pairs, replicates, runs and the mean accuracy, scratch accuracy and gain; the stopping reasons
    and epochs where the table has them."""
    transfer = snap.get("transfer")
    if transfer is None:
        return None
    rows = []
    for setting, frame in transfer.groupby("setting", sort=False):
        pair_gain = frame.groupby(["source", "target"])["gain"].mean()
        row = {"setting": setting, "pairs": int(len(pair_gain)),
               "replicates": int(frame["replicate"].nunique()) if "replicate" in frame else None,
               "runs": int(len(frame))}
        for c in ("accuracy", "scratch_accuracy", "gain"):
            if c in frame:
                row[f"mean {c}"] = float(frame[c].mean())
        row["sd of pair gains"] = float(pair_gain.std(ddof=1))
        for c in frame.columns:
            if c.endswith("stopped") and not pd.api.types.is_numeric_dtype(frame[c].dtype):
                for reason, n in sorted(frame[c].value_counts().items()):
                    row[f"{c.replace('_', ' ')}: {reason}"] = int(n)
            elif c.endswith("epochs") or c.endswith("epoch"):
                row[f"median {c.replace('_', ' ')}"] = float(frame[c].median())
        rows.append(row)
    table = pd.DataFrame(rows)
    counts = [c for c in table.columns if "stopped: " in c]
    table[counts] = table[counts].fillna(0).astype("int64")
    return table


def _matrix(df: pd.DataFrame) -> pd.DataFrame:
    square = to_square(df)
    square.index.name = "source \\ target"
    return square.reset_index()


def _run_lines(run: dict, costs: pd.DataFrame | None) -> list[str]:
    """What the stored run is: commit, when, jobs and CPU, machine, load, settings."""
    m = run.get("machine", {})
    settings = run.get("settings") or {}
    tasks = [t.get("id") for t in settings.get("tasks", []) if isinstance(t, Mapping)]
    return [
        f"- commit `{run.get('commit')}`{' with uncommitted changes' if run.get('dirty') else ''} "
        f"(committed {run.get('commit_date')})",
        f"- ran {run.get('started')} to {run.get('finished')} (UTC, from the job logs)"
        + (f": {len(costs):,} jobs, {costs['cpu_s'].sum():,.0f} CPU-s in job processes" if costs is not None else ""),
        f"- machine: {m.get('cpu')}, {m.get('cores')} cores; Python {m.get('python')}, torch {m.get('torch')} "
        f"({m.get('torch_build')}), {m.get('torch_threads')} torch threads",
        f"- load average when snapshotted: {' / '.join(str(x) for x in run.get('load_average', []))}",
        f"- settings: `{run.get('config_file')}` ({len(tasks)} tasks: {', '.join(f'`{t}`' for t in tasks)})",
    ]


def _curve_points(curves: pd.DataFrame) -> pd.DataFrame:
    """Per target and search: the median over seeds of the best validation accuracy so far at a quarter, half,
    three quarters and all of the budget (candidates trained)."""
    rows = []
    for (task, search), g in curves.groupby(["task", "search"], sort=False):
        budget = int(g["candidates_trained"].max())
        points = sorted({max(1, int(budget * q)) for q in (0.25, 0.5, 0.75, 1.0)})
        row = {"target": task, "search": search, "seeds": int(g["seed"].nunique())}
        for n in points:
            best = g[g["candidates_trained"] <= n].groupby("seed")["best_val_accuracy"].max()
            row[f"at {n}"] = float(best.median())
        rows.append(row)
    return pd.DataFrame(rows)


def _space_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per target and search: the bases that spanned its space (each seed's, for random bases) and the number
    of operations in it (median over seeds): the ablation's spaces against the task-aware one."""
    targets = summary[summary["role"] == "target"]
    rows = []
    for (task, search), g in targets.groupby(["task", "search"], sort=False):
        sizes = [len(ops.split(",")) for ops in g["ops"]]
        rows.append({"target": task, "search": search,
                     "bases": " / ".join(dict.fromkeys(b or "(all ops)" for b in g["bases"])),
                     "operations": float(np.median(sizes))})
    return pd.DataFrame(rows)


def _never(reach: pd.DataFrame) -> pd.DataFrame:
    """The cost-to-reach table with its infinite costs (a search that did not reach) written ``never``."""
    table = reach.copy()
    for column in [c for c in table.columns if c.split("_", 1)[0] in ("median", "low", "high")]:
        values = table[column].astype(float)
        if not np.isfinite(values).all():
            shown = format_column(values.where(np.isfinite(values)), column)  # as the column's finite values
            table[column] = [text if np.isfinite(v) else "never" for text, v in zip(shown, values, strict=True)]
    return table


def nas_claim_blocks(snap: Snapshot) -> dict[str, pd.DataFrame | list[str] | str]:
    """The blocks of a ``nas_claim`` snapshot (all named ``nas_claim-*``): the run, the answer per target
    (:func:`taskdist.nas.claim.verdicts`), the anytime curves at four budgets, the cost to reach the full search's
    accuracy, the paired comparisons, the winners' test accuracy, the spaces and the costs."""
    from taskdist.nas import claim

    run, costs = snap.run, snap.get("costs")
    nas = (run.get("settings") or {}).get("nas", {})
    fraction, level = float(nas.get("compare_at", 0.5)), float(nas.get("level", 0.95))
    reach, paired = snap.get("nas_reach"), snap.get("nas_paired")
    blocks: dict[str, pd.DataFrame | list[str] | str] = {
        "nas_claim-run": _run_lines(run, costs),
        "nas_claim-answer": claim.verdicts(reach, paired, fraction=fraction, level=level),
        "nas_claim-curves": _curve_points(snap.get("nas_curves")),
        "nas_claim-reach": _never(reach),
        "nas_claim-paired": paired,
        "nas_claim-winners": snap.get("nas_winners"),
        "nas_claim-spaces": _space_table(snap.get("nas_summary")),
    }
    if costs is not None:
        blocks["nas_claim-costs"] = _cost_block(costs)
        blocks["nas_claim-costs-rules"] = costs.groupby("rule").agg(
            jobs=("cpu_s", "size"), cpu_s=("cpu_s", "sum"), mean_cpu_s=("cpu_s", "mean"), wall_s=("wall_s", "sum"),
            max_rss_mb=("max_rss_mb", "max")).reset_index()
    else:
        blocks["nas_claim-costs"] = blocks["nas_claim-costs-rules"] = _missing("no job logs")
    return blocks


def block_tables(snap: Snapshot) -> dict[str, pd.DataFrame | list[str] | str]:
    """Every block's content: a table, lines of text, or a note that the run lacks it."""
    if snap.run.get("kind", "run") == "nas_claim":
        return nas_claim_blocks(snap)
    if snap.run.get("kind") == "rerun":
        return rerun_blocks(snap)
    blocks: dict[str, pd.DataFrame | list[str] | str] = {}
    run = snap.run
    settings = run.get("settings") or {}
    costs = snap.get("costs")
    blocks["run"] = _run_lines(run, costs)
    blocks["runtime"] = [runtime_line(run, costs)]
    blocks["headline"] = headline(snap)
    if settings:
        blocks["settings"] = settings_table(settings)
        blocks["tasks"] = task_table(settings)
    networks = snap.get("networks")
    blocks["networks"] = networks if networks is not None else _missing("no checkpoints")
    blocks["networks-brief"] = networks_brief(networks) if networks is not None else _missing("no checkpoints")
    truth = _truth_table(snap)
    blocks["truth"] = truth if truth is not None else _missing("no transfer table")
    for name in ("reliability", "floors", "consistency", "samples"):
        table = snap.get(name)
        blocks[name] = table if table is not None else _missing(f"no {name}.parquet")
    blocks.update(literature_blocks(snap))
    summary = summary_table(snap)
    if summary is not None:
        for setting, rows in summary.groupby("setting", sort=False):
            blocks[f"summary-{setting}"] = rows.drop(columns="setting").reset_index(drop=True)
    mantel = snap.get("mantel")
    if mantel is not None:
        against = mantel["setting"] != "" if "setting" in mantel.columns else pd.Series(True, index=mantel.index)
        blocks["mantel"] = mantel[against].reset_index(drop=True)
        blocks["agreement"] = mantel[~against].drop(columns="setting", errors="ignore").reset_index(drop=True)
    comparison = snap.get("mantel_comparison")
    blocks["comparison"] = comparison if comparison is not None else _missing("no mantel_comparison.parquet")
    selection = snap.get("selection")
    if selection is not None:
        blocks["selection"] = selection_means(selection)
    nas = snap.get("nas_summary")
    blocks["nas"] = _nas_table(nas) if nas is not None else _missing("no nas/summary.parquet")
    if costs is not None:
        blocks["costs"] = _cost_block(costs)
        blocks["costs-rules"] = costs.groupby("rule").agg(
            jobs=("cpu_s", "size"), cpu_s=("cpu_s", "sum"), mean_cpu_s=("cpu_s", "mean"), wall_s=("wall_s", "sum"),
            max_rss_mb=("max_rss_mb", "max")).reset_index()
    for name, table in snap.tables.items():
        if name.startswith("distances/") and {"source", "target", "value"} <= set(table.columns):
            blocks[f"matrix-{name.split('/', 1)[1]}"] = _matrix(table)
    for name in ("summary-finetune", "summary-linear", "mantel", "agreement", "selection", "costs", "costs-rules"):
        blocks.setdefault(name, _missing(f"no table for {name}"))
    return blocks


def runtime_line(run: dict, costs: pd.DataFrame | None) -> str:
    """One sentence: the run's jobs, CPU seconds in jobs and wall time from its first to its last log line."""
    if costs is None or not run.get("started") or not run.get("finished"):
        return _missing("no job logs")
    fmt = "%Y-%m-%d %H:%M:%S"
    wall = (datetime.strptime(run["finished"], fmt) - datetime.strptime(run["started"], fmt)).total_seconds()
    cores = run.get("machine", {}).get("cores")
    return (f"The stored run: {len(costs):,} jobs, {costs['cpu_s'].sum():,.0f} CPU-s in job processes, "
            f"{int(wall // 60)} min {int(wall % 60)} s from its first to its last job log on {cores} cores.")


def render_blocks(snap: Snapshot) -> tuple[dict[str, str], dict[str, pd.DataFrame]]:
    """Each block's Markdown (starting with :func:`run_line`) and the formatted cells of each table block."""
    line = run_line(snap.run)
    texts, cells = {}, {}
    for name, content in block_tables(snap).items():
        if isinstance(content, pd.DataFrame):
            cells[name] = format_table(content)
            body = markdown(content, cells[name])
        elif isinstance(content, list):
            body = "\n".join(content)
        else:
            body = content
        texts[name] = f"{line}\n\n{body}"
    return texts, cells


_BLOCK = re.compile(r"^(<!-- generated:([\w.-]+) -->\n)(.*?)^(<!-- /generated:\2 -->)$", re.DOTALL | re.MULTILINE)
_OPEN = re.compile(r"^<!-- generated:([\w.-]+) -->$", re.MULTILINE)


OPTIONAL = ("matrix-", "summary-")
"""Blocks named with these prefixes may be absent from a run (a method or setting it did not compute)."""


def ours(name: str, prefix: str = "", kind: str = "run") -> bool:
    """Whether a snapshot of ``kind`` rendered with ``prefix`` fills the block ``name``: ``benchmark.mantel`` is
    the one rendered with ``prefix="benchmark."``'s, ``mantel`` (no dot) the one's without; ``nas_claim-*``
    blocks are a ``nas_claim`` snapshot's, ``rerun-*`` a ``rerun`` snapshot's, every other block a ``run``
    snapshot's."""
    rest = name[len(prefix):]
    owner = next((k for k in KINDS if k != "run" and rest.startswith(f"{k}-")), "run")
    return name.startswith(prefix) and "." not in rest and owner == kind


def fill(text: str, blocks: Mapping[str, str], where: str = "the file", line: str = "", prefix: str = "",
         kind: str = "run") -> str:
    """``text`` with every generated block of a ``kind`` snapshot rendered with ``prefix`` (:func:`ours`)
    replaced by its content, from ``blocks`` named without the prefix; an unknown or unclosed block is an error
    (but for the :data:`OPTIONAL` ones, which say that the run lacks them, after ``line``). Other blocks stay as
    they are."""
    every = _OPEN.findall(text)
    closed = [m.group(2) for m in _BLOCK.finditer(text)]
    if sorted(every) != sorted(closed):
        raise ValueError(f"{where}: a generated block is not closed by `<!-- /generated:NAME -->` on a line of "
                         f"its own: {sorted(set(every) - set(closed)) or every}")
    names = [n for n in every if ours(n, prefix, kind)]
    blocks = {prefix + k: v for k, v in blocks.items()}
    blocks = {**{n: f"{line}\n\n{_missing(f'no {n}')}" for n in names
                 if n[len(prefix):].startswith(OPTIONAL)}, **blocks}
    unknown = sorted(set(names) - set(blocks))
    if unknown:
        raise ValueError(f"{where}: no generated block named {unknown}; known: {sorted(blocks)}")
    return _BLOCK.sub(lambda m: f"{m.group(1)}{blocks[m.group(2)]}\n{m.group(4)}" if ours(m.group(2), prefix, kind)
                      else m.group(0), text)


def _csv(cells: pd.DataFrame) -> str:
    return cells.to_csv(index=False, lineterminator="\n")


def render(snapshot_dir: str | Path, markdown_files: Iterable[str | Path], *, check: bool = False,
           prefix: str = "", compare: str | Path | None = None) -> list[str]:
    """Fill the generated blocks of ``markdown_files`` from the snapshot and write its tables as CSV.

    ``prefix`` names the snapshot's blocks (``benchmark.`` fills ``<!-- generated:benchmark.mantel -->``, so that
    the tables of several runs live in one file; :func:`ours`). Returns a unified diff per file that differs from
    what is rendered (Markdown files and CSV files); with ``check`` nothing is written, otherwise the differing
    files are rewritten. With ``compare`` (the default run's snapshot) the block ``shared`` says which findings
    this run shares with it (:func:`shared_findings`).
    """
    snap = read_snapshot(snapshot_dir)
    texts, cells = render_blocks(snap)
    if compare is not None:
        other = read_snapshot(compare)
        names = ("default", Path(snapshot_dir).name)
        texts["shared"] = f"{run_line(other.run)}\n\n{run_line(snap.run)}\n\n" + "\n".join(
            shared_findings(other, snap, names))
    wanted: dict[Path, str] = {Path(snap.path) / f"{name}.csv": _csv(c) for name, c in sorted(cells.items())}
    for path in map(Path, markdown_files):
        text = path.read_text(encoding="utf-8")
        wanted[path] = fill(text, texts, str(path), run_line(snap.run), prefix, snap.run.get("kind", "run"))
    diffs = []
    for path, new in wanted.items():
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old == new:
            continue
        diffs.append("".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                                  f"{path} (now)", f"{path} (rendered)")))
        if not check:
            _write(path, new)
    if not check:
        stale = set(Path(snap.path).glob("*.csv")) - set(wanted)
        for path in sorted(stale):
            path.unlink()
    return diffs


def _write(path: Path, text: str) -> None:
    with io.atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
