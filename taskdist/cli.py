"""The ``taskdist`` command: inspect artifacts without opening Python.

    taskdist show results/distances/ftd.parquet     # a matrix as a task x task table
    taskdist show results/models/mnist_low.pt       # a checkpoint's spec and accuracies
    taskdist show results/transfer/a/b.json         # a per-pair or NAS record (any .json, .npz too)
    taskdist methods                                # distance methods the workflow knows
    taskdist nearest mnist_low --method ftd         # closest sources of a target, with measured transfer
    taskdist summary                                # per method: Mantel r [CI], p, Holm p; selection means [CI]
    taskdist nas                                    # architecture searches: accuracy, size, cost per task
    taskdist status                                 # jobs done, running, failed and pending per stage
    taskdist tables snapshot results --out docs/results   # copy a finished run's small tables, describe the run
    taskdist tables render docs/results [--check]   # fill the generated blocks of README.md, docs/results.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from taskdist.artifacts import io, matrices
from taskdist.specs import SPACE_FROM_BASES

SHOWN = (".parquet", ".json", ".pt", ".npz")
"""The artifact files ``taskdist show`` reads: tables, per-pair and NAS records, checkpoints, dataset classes."""


def show(path: Path, value: str, digits: int) -> str:
    """A readable view of any artifact the workflow writes, chosen by its suffix (:data:`SHOWN`)."""
    if path.suffix not in SHOWN:
        raise ValueError(f"taskdist show reads {', '.join(SHOWN)} artifacts; got {path}")
    if path.suffix == ".pt":
        from taskdist.artifacts import checkpoint  # here: the other commands do not pay for importing torch

        ckpt = checkpoint.read(path)
        lines = [f"task {ckpt['task']['id']} ({ckpt['task']['dataset']}, {ckpt['n_classes']} classes)",
                 f"arch {ckpt['arch']}"]
        lines += [f"{k:>16} {v:.4f}" for k, v in sorted(ckpt["metrics"].items())]
        return "\n".join(lines)
    if path.suffix == ".json":
        return _show_record(path, digits)
    if path.suffix == ".npz":
        from taskdist.artifacts import dataset
        from taskdist.specs import POOLS

        ds, names = dataset.read_named(path)
        counts = pd.crosstab(pd.Categorical(np.asarray(ds.class_names)[ds.labels], categories=ds.class_names),
                             pd.Categorical(np.asarray(POOLS)[ds.pool], categories=POOLS), dropna=False)
        counts.index.name, counts.columns.name = "class", "pool"
        return f"dataset {names['dataset']}: {len(ds.labels)} images {tuple(ds.images.shape[1:])}\n{counts}"
    df = io.read_parquet(path)
    if {"source", "target", value} <= set(df.columns):
        square = matrices.to_square(df, value=value)
        square.index.name, square.columns.name = None, "source \\ target"
        return square.round(digits).to_string()
    with pd.option_context("display.max_rows", 40, "display.width", 120):
        return df.round(digits).to_string(max_rows=40)


def _show_record(path: Path, digits: int) -> str:
    """A per-pair or NAS record: its kind and names, its scalar values, and each list of rows as a table."""
    from taskdist.artifacts import records

    raw = io.read_json(path)
    kind = raw.get("kind") if isinstance(raw, dict) else None
    if kind not in records.KINDS:
        raise io.ArtifactError(f"{path} is not a taskdist record (kind {kind!r}; known: {sorted(records.KINDS)})")
    record = records.read(path, kind)
    about = ", ".join(f"{k} {record[k]}" for k in records.KINDS[kind][0])
    lines = [f"{kind} record: {about}"]
    for key, val in record.items():
        if key in records.KINDS[kind][0]:
            continue
        if isinstance(val, list) and val and all(isinstance(v, dict) for v in val):
            table = pd.json_normalize(val)
            with pd.option_context("display.max_rows", 40, "display.width", 120):
                lines += [f"{key}:", table.round(digits).to_string(max_rows=40)]
        elif isinstance(val, (dict, list)):
            text = json.dumps(val, default=str)
            lines.append(f"{key}: {text if len(text) <= 200 else text[:197] + '...'}")
        else:
            lines.append(f"{key}: {round(val, digits) if isinstance(val, float) else val}")
    return "\n".join(lines)


def nearest(results: Path, target: str, method: str, k: int | None) -> str:
    from taskdist.methods.registry import METHODS

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    path = results / "distances" / f"{method}.parquet"
    if not path.exists():
        raise ValueError(f"{path} does not exist: the run in {results} did not compute {method}. A method is computed "
                         f"when the config's distances.methods lists it{_config_hint(method)}; then run snakemake")
    df = matrices.read_method(path, method)
    if target not in set(df["target"]):
        raise ValueError(f"target {target!r} is not in {method}'s matrix; tasks: {sorted(set(df['target']))}")
    rows = df[(df["target"] == target) & (df["source"] != target)].rename(columns={"value": method})
    rows = rows.assign(_key=METHODS[method].as_distance(rows[method])).sort_values(["_key", "source"])
    transfer_path = results / "transfer.parquet"
    columns = ["source", method]
    if transfer_path.exists():
        from taskdist.evaluation.transfer import SETTINGS, means

        transfer = matrices.read_transfer(transfer_path)
        for setting in [s for s in SETTINGS if s in set(transfer["setting"])]:
            per_pair = means(transfer, setting)[["source", "target", "accuracy", "gain"]]
            rows = rows.merge(per_pair.add_prefix(f"{setting}_").rename(
                columns={f"{setting}_source": "source", f"{setting}_target": "target"}), on=["source", "target"],
                how="left")
            columns += [f"{setting}_accuracy", f"{setting}_gain"]
    order = "highest score first" if METHODS[method].kind == "score" else "closest first"
    table = rows[columns].head(k).round(4).to_string(index=False)
    return f"sources for {target} by {method} ({order}):\n{table}"


def _with_interval(value: pd.Series, low: pd.Series, high: pd.Series, digits: int = 2) -> pd.Series:
    """``value [low, high]`` as text (``value`` alone where the interval is NaN)."""
    def one(v: float, lo: float, hi: float) -> str:
        text = f"{v:.{digits}f}"
        return text if pd.isna(lo) or pd.isna(hi) else f"{text} [{lo:.{digits}f}, {hi:.{digits}f}]"

    return pd.Series([one(*t) for t in zip(value, low, high, strict=True)], index=value.index, dtype=object)


def _config_hint(method: str) -> str:
    """Which shipped config turns ``method`` on."""
    from taskdist.methods.registry import PATH_METHODS

    if method in (*PATH_METHODS, "transfer_bound"):
        return (" (config.yaml leaves it out for its cost; configs/literature.yaml adds it: "
                "snakemake --cores 2 --configfile configs/literature.yaml)")
    return " (config.yaml does)"


def summary(results: Path, resamples: int = 2000, seed: int = 0) -> str:
    from taskdist.evaluation import tables

    mantel = io.read_parquet(results / "mantel.parquet", ("x", "y", "setting", "statistic", "p_value"))
    selection = io.read_parquet(results / "selection.parquet", ("setting", "method", "target", "regret"))
    level = float(mantel["level"].iloc[0]) if "level" in mantel.columns and len(mantel) else 0.95
    table = tables.summary(mantel, selection, level=level, resamples=resamples, seed=seed)
    truth_tests = int((mantel["setting"] != "").sum())
    pct = f"{100 * level:g}%"
    shown = pd.DataFrame({"setting": table["setting"], "method": table["method"]})
    for suffix, name in (("", "-gain"), ("_error", "1-acc")):
        shown[f"r {name} [{pct}]"] = _with_interval(table[f"mantel_r{suffix}"], table[f"mantel_low{suffix}"],
                                                   table[f"mantel_high{suffix}"])
        shown[f"p {name}"] = table[f"mantel_p{suffix}"].round(4)
        shown[f"p_holm {name}"] = table[f"mantel_p_holm{suffix}"].round(4)
    chosen = pd.DataFrame({"setting": table["setting"], "method": table["method"]})
    for metric in ("regret", "spearman", "weighted_tau"):
        chosen[f"{metric} [{pct}]"] = _with_interval(table[f"mean_{metric}"], table[f"mean_{metric}_low"],
                                                     table[f"mean_{metric}_high"], digits=3)
    chosen["n_targets"] = table["n_targets"]
    parts = [
        "Mantel tests against the ground truth (one-sided, positive = predicts transfer; "
        f"{truth_tests} tests of methods against the truth, {len(mantel) - truth_tests} between methods). "
        f"r with its {pct} bootstrap interval over tasks; p: permutation p-value, p_holm: Holm-adjusted over "
        "the tests against the truth:",
        shown.to_string(index=False),
        "",
        f"Source selection: means over targets with {pct} bootstrap intervals over targets "
        "(regret lower is better; spearman and weighted tau higher):",
        chosen.to_string(index=False),
    ]
    comparison = results / "mantel_comparison.parquet"
    if comparison.exists():
        pairs = io.read_parquet(comparison)
        if len(pairs):
            pairs = pairs.assign(difference=_with_interval(pairs["difference"], pairs["ci_low"], pairs["ci_high"]))
            parts += ["", f"Best method vs runner-up (paired bootstrap over tasks of r_a - r_b, {pct} interval, "
                          "two-sided p):",
                      pairs[["setting", "truth", "a", "b", "r_a", "r_b", "difference", "p_value"]].round(3)
                      .to_string(index=False)]
    if (results / "reliability.parquet").exists():
        parts += ["", reliability_text(io.read_parquet(results / "reliability.parquet"),
                                       results / "transfer.parquet")]
    extras = {
        "floors.parquet": "Noise floor of each method (resampled tasks; floor, between, ratio: between tasks, "
                          "distances only; within_*: median over targets of the spread over sources against the "
                          "floor on the target):",
        "consistency.parquet": "FTD consistency (Mantel r between the FTD matrices of networks of other seeds or "
                               "shapes; residual_*: with row and column effects removed; nearest_changed: targets "
                               "whose nearest source differs):",
    }
    for name, title in extras.items():
        if (results / name).exists():
            parts += ["", title, io.read_parquet(results / name).round(3).to_string(index=False)]
    if any((results / "models").glob("*.pt")):
        from taskdist.report_tables import network_table

        nets = network_table(results / "models")
        parts += ["", "Task networks (seeds @seedK, resamples @resample): epochs trained, the epoch kept, why "
                      "training stopped, accuracies:",
                  nets.drop(columns=[c for c in nets.columns if c.endswith("_loss")]).round(3).to_string(index=False)]
    return "\n".join(parts)


def reliability_text(table: pd.DataFrame, transfer_path: Path) -> str:
    """The reliability table with a reading of each value and, where targets are left out, how many and why."""
    from taskdist.evaluation import reliability

    totals = {}
    if transfer_path.exists():
        totals = matrices.read_transfer(transfer_path).groupby("setting")["target"].nunique().to_dict()
    lines = ["Split-half reliability of the ground truth (gain; Spearman-Brown), over all pairs and within targets "
             "(the mean over targets, what source selection needs):"]
    for row in table.itertuples(index=False):
        lines.append(f"  {row.setting}: {row.replicates} replicates, {row.pairs} pairs")
        lines.append(f"    over pairs     {row.over_pairs:7.3f}  {reliability.reading(row.over_pairs)}")
        lines.append(f"    within targets {row.within_targets:7.3f}  {reliability.reading(row.within_targets)}")
        seeds = getattr(row, "seeds", 1)
        if seeds >= 2:
            lines.append(f"    over seeds     {row.over_seeds:7.3f}  {reliability.reading(row.over_seeds)} (the "
                         f"replicates of each of the {seeds} source networks' seeds against each other)")
        total = totals.get(row.setting)
        if total is not None and row.targets < total:
            lines.append(f"    ({total - row.targets} of {total} targets left out of the mean: their sources' gains "
                         "are constant in a half, or they have fewer than 3 sources)")
    return "\n".join(lines)


def nas(results: Path) -> str:
    table = io.read_parquet(results / "nas" / "summary.parquet", ("task", "role", "search", "test_accuracy"))
    winner = [" ".join(edge["op"] for edge in json.loads(g)["edges"]) for g in table["genotype"]]
    table = table.assign(
        kparams=table["params"] / 1e3,
        space=table["ops"].where(table["search"].isin(SPACE_FROM_BASES), "(all)"),
        winner=winner,
        order=table["role"] == "base",
    ).sort_values(["order", "task", "search"])
    columns = ["task", "role", "search", "seed", "bases", "test_accuracy", "val_accuracy", "kparams",
               "candidates_trained", "search_seconds", "space", "winner"]
    text = table[[c for c in columns if c in table.columns]].round(3).to_string(index=False)
    reach, paired = results / "nas" / "reach.parquet", results / "nas" / "paired.parquet"
    if reach.is_file() and paired.is_file():  # the claim, one line per target (taskdist.nas.claim.verdicts)
        from taskdist.nas.claim import verdicts

        text += "\n\n" + "\n".join(verdicts(io.read_parquet(reach), io.read_parquet(paired), fraction=None))
    return text


STATUS_PLAN = {  # stage (its log folder) -> jobs planned for n tasks and v consistency variants, per log subfolder
    "fisher": lambda n, v: n * (n - 1) + 2 * n + v * n * n,  # pairs, own, floors; variant networks on every task
    "transfer": lambda n, v: n * (n - 1),
    "scratch": lambda n, v: n,
    "tanas": lambda n, v: n * (n - 1) + n,  # pairs and floors
    "bound": lambda n, v: n * (n - 1) + n,
    "paths": lambda n, v: n * (n - 1) + n,  # per path method (one subfolder each)
    "scores": lambda n, v: n,
    "task2vec_embed": lambda n, v: 2 * n,  # tasks and their resamples
}
"""The stages whose number of jobs follows from the task list alone (``rules/common.smk``): ``taskdist status``
counts their pending jobs."""

STATUS_HELP = """Count each stage's jobs from the files alone: a job's log is logs/{stage}/...log (logs/{stage}.log
for a one-job stage). done: the log ends with the 'job resources:' line a job writes once its outputs are written.
failed: the log holds the error that ended the job. running: the log has begun and has neither; a job killed
without a traceback (out of memory, Snakemake stopped) counts here until it is rerun. pending: jobs planned without
a log yet, only for stages whose jobs follow from the task list (fisher, transfer, scratch, tanas, bound, paths,
scores, task2vec_embed) and that have begun; the number of tasks comes from --config, else from the task tables
in RESULTS/tasks (right once every make_task job is done; consistency variants then not counted). A stage with no
log yet is not listed and '-' marks a count the files cannot give: 'snakemake -n' lists every job still to run.
Follow one job with: tail -f logs/{stage}/....log"""


def status(results: Path, logs: Path, config: Path | None = None) -> str:
    """Jobs per stage from the files alone: done, running, failed (from the logs) and pending (where planned).

    A job's log is ``logs/{stage}/...log`` (``logs/{stage}.log`` for a one-job stage). Done: its log ends with the
    ``job resources:`` line :func:`taskdist.runtime.finish` writes once the outputs are written. Failed: its log
    holds the error that ended it. Running: its log has begun and has neither (a job killed without a traceback,
    e.g. out of memory or with Snakemake, counts here until it is rerun). Pending: jobs planned but without a log,
    only for the stages of :data:`STATUS_PLAN` that have begun (at least one log), with the number of tasks of
    ``config`` (else the task tables in ``results/tasks``, right once every ``make_task`` job is done); ``-``
    elsewhere: a stage not begun is not listed (``snakemake -n`` lists every job still to run).
    """
    from taskdist.runtime import FAILED, RESOURCES

    if not logs.is_dir():
        raise ValueError(f"no logs folder {logs}: pass --logs, the folder the run writes its logs/ to")
    counts: dict[str, dict[str, int]] = {}
    folders: dict[str, set[str]] = {}
    for log_path in sorted(logs.rglob("*.log")):
        parts = log_path.relative_to(logs).parts
        stage = parts[0] if len(parts) > 1 else log_path.stem
        text = log_path.read_text(encoding="utf-8", errors="replace")
        state = "done" if RESOURCES in text else "failed" if FAILED in text else "running"
        counts.setdefault(stage, {"done": 0, "running": 0, "failed": 0})[state] += 1
        folders.setdefault(stage, set()).add(parts[1] if len(parts) > 3 else "")
    if not counts:
        return f"no job logs in {logs}"
    if config is not None:
        from taskdist.config import load

        exp = load(config)
        n, v, source = len(exp.tasks), len(exp.consistency.variants()), f"{config}"
    else:
        n = len([p for p in (results / "tasks").glob("*.parquet") if "@" not in p.stem])
        v, source = 0, f"{results / 'tasks'} (consistency variants not counted)"
    rows = []
    for stage, c in sorted(counts.items()):
        planned = STATUS_PLAN[stage](n, v) * len(folders[stage]) if stage in STATUS_PLAN and n else None
        pending = "-" if planned is None else str(max(planned - sum(c.values()), 0))
        rows.append({"stage": stage, **c, "pending": pending})
    table = pd.DataFrame(rows).to_string(index=False)
    return f"{table}\n\n{n} tasks, from {source}; pending '-': not derivable from the files (see --help)"


def tables(args: argparse.Namespace) -> int:
    from taskdist import report_tables

    if args.tables_command == "snapshot":
        config = args.config[0] if args.config and len(args.config) == 1 else args.config
        written = report_tables.snapshot(args.results, args.out, logs=args.logs, config=config,
                                         checkout=args.checkout, kind=args.kind)
        size = sum(p.stat().st_size for p in written)
        print(f"wrote {len(written)} files ({size / 1e3:.0f} kB) to {args.out}")
        return 0
    if args.tables_command == "compare":
        report_tables.compare(args.first, args.second, args.out)
        print(report_tables.rerun_blocks(report_tables.read_snapshot(args.out))["rerun-summary"])
        return 0
    diffs = report_tables.render(args.snapshot, [args.readme, args.results], check=args.check, prefix=args.prefix,
                                 compare=args.compare)
    if args.check and diffs:
        print("".join(diffs), end="")
        print(f"taskdist: {len(diffs)} file(s) differ from what `taskdist tables render {args.snapshot}` writes",
              file=sys.stderr)
        return 1
    print(f"{len(diffs)} file(s) {'differ' if args.check else 'rewritten'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskdist", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_show = sub.add_parser("show", help="print an artifact (matrix as task x task, checkpoint summary, table)")
    p_show.add_argument("path", type=Path)
    p_show.add_argument("--value", default="value", help="column to tabulate for matrices (default: value)")
    p_show.add_argument("--digits", type=int, default=3)
    sub.add_parser("methods", help="list the distance methods")
    p_near = sub.add_parser("nearest", help="the closest sources of a target task by a method")
    p_near.add_argument("target")
    p_near.add_argument("--method", default="ftd")
    p_near.add_argument("-k", type=int, default=None, help="show only the k nearest")
    p_near.add_argument("--results", type=Path, default=Path("results"))
    p_sum = sub.add_parser("summary", help="Mantel statistic vs transfer and source-selection metrics per method")
    p_sum.add_argument("--results", type=Path, default=Path("results"))
    p_sum.add_argument("--resamples", type=int, default=2000, help="bootstrap draws of the targets (0: no intervals)")
    p_sum.add_argument("--seed", type=int, default=0, help="seed of those draws")
    p_nas = sub.add_parser("nas", help="architecture searches per task: winner's accuracy, parameters, search cost")
    p_nas.add_argument("--results", type=Path, default=Path("results"))
    p_status = sub.add_parser("status", help="jobs done, running, failed and pending per stage, from the files alone",
                              description=STATUS_HELP)
    p_status.add_argument("--results", type=Path, default=Path("results"))
    p_status.add_argument("--logs", type=Path, default=Path("logs"))
    p_status.add_argument("--config", type=Path, default=None, help="the run's config: its number of tasks")


    p_tab = sub.add_parser("tables", help="the documentation's result tables: snapshot a run, render Markdown")
    tab = p_tab.add_subparsers(dest="tables_command", required=True)
    p_snap = tab.add_parser("snapshot", help="copy a finished run's small tables into a folder, with run.json")
    p_snap.add_argument("results", type=Path, help="the run's results folder")
    p_snap.add_argument("--out", type=Path, required=True, help="the snapshot folder (e.g. docs/results)")
    p_snap.add_argument("--logs", type=Path, default=None, help="the run's logs (default: logs beside results)")
    p_snap.add_argument("--config", type=Path, nargs="+", default=None,
                        help="the run's config files, in the order given to snakemake (default: config.yaml beside "
                             "results)")
    p_snap.add_argument("--kind", choices=["run", "nas_claim"], default="run",
                        help="run: the default run's tables; nas_claim: the TA-NAS claim's (configs/nas_claim.yaml)")
    p_snap.add_argument("--checkout", type=Path, default=None,
                        help="the git checkout that ran (default: the folder holding results)")
    p_cmp = tab.add_parser("compare", help="how far two runs of one config differ, table by table (e.g. two "
                           "machines): stored as a snapshot whose render fills the blocks rerun-*")
    p_cmp.add_argument("first", type=Path, help="a run's snapshot (e.g. docs/results)")
    p_cmp.add_argument("second", type=Path, help="the snapshot of a rerun of the same config")
    p_cmp.add_argument("--out", type=Path, required=True, help="the folder to store the comparison in")
    p_render = tab.add_parser("render", help="fill the generated blocks of Markdown files from a snapshot")
    p_render.add_argument("snapshot", type=Path)
    p_render.add_argument("--readme", type=Path, default=Path("README.md"))
    p_render.add_argument("--results", type=Path, default=Path("docs/results.md"))
    p_render.add_argument("--prefix", default="",
                          help="fill the blocks named PREFIX.NAME (e.g. benchmark.) from this snapshot")
    p_render.add_argument("--compare", type=Path, default=None,
                          help="the default run's snapshot: fills the block PREFIX.shared, the findings both share")
    p_render.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 with a diff if a file differs from what would be written")
    args = parser.parse_args(argv)

    try:
        if args.command == "show":
            print(show(args.path, args.value, args.digits))
        elif args.command == "nearest":
            print(nearest(args.results, args.target, args.method, args.k))
        elif args.command == "summary":
            print(summary(args.results, args.resamples, args.seed))
        elif args.command == "nas":
            print(nas(args.results))
        elif args.command == "status":
            print(status(args.results, args.logs, args.config))
        elif args.command == "tables":
            return tables(args)
        elif args.command == "methods":
            from taskdist.methods.registry import METHODS

            for m in METHODS.values():
                print(f"{m.name:14} {m.kind:8}  {'symmetric ' if m.symmetric else 'asymmetric'}  {m.description}")
    except (io.ArtifactError, ValueError, KeyError) as e:
        print(f"taskdist: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
