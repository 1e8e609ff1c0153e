"""The ``taskdist`` command: inspect artifacts without opening Python.

    taskdist show results/distances/ftd.parquet     # a matrix as a task x task table
    taskdist show results/models/mnist_low.pt       # a checkpoint's spec and accuracies
    taskdist methods                                # distance methods the workflow knows
    taskdist nearest mnist_low --method ftd         # closest sources of a target, with measured transfer
    taskdist summary                                # per method: Mantel test vs transfer, source-selection regret
    taskdist nas                                    # architecture searches: accuracy, size, cost per task
    taskdist tables snapshot results --out docs/results   # copy a finished run's small tables, describe the run
    taskdist tables render docs/results [--check]   # fill the generated blocks of README.md, docs/results.md
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from taskdist.artifacts import io, matrices


def show(path: Path, value: str, digits: int) -> str:
    if path.suffix == ".pt":
        from taskdist.artifacts import checkpoint  # here: the other commands do not pay for importing torch

        ckpt = checkpoint.read(path)
        lines = [f"task {ckpt['task']['id']} ({ckpt['task']['dataset']}, {ckpt['n_classes']} classes)",
                 f"arch {ckpt['arch']}"]
        lines += [f"{k:>16} {v:.4f}" for k, v in sorted(ckpt["metrics"].items())]
        return "\n".join(lines)
    df = io.read_parquet(path)
    if {"source", "target", value} <= set(df.columns):
        square = matrices.to_square(df, value=value)
        square.index.name, square.columns.name = None, "source \\ target"
        return square.round(digits).to_string()
    with pd.option_context("display.max_rows", 40, "display.width", 120):
        return df.round(digits).to_string(max_rows=40)


def nearest(results: Path, target: str, method: str, k: int | None) -> str:
    from taskdist.methods.registry import METHODS

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {sorted(METHODS)}")
    df = matrices.read_method(results / "distances" / f"{method}.parquet", method)
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


def summary(results: Path) -> str:
    from taskdist.evaluation import tables

    mantel = io.read_parquet(results / "mantel.parquet", ("x", "y", "setting", "statistic", "p_value"))
    selection = io.read_parquet(results / "selection.parquet", ("setting", "method", "target", "regret"))
    table = tables.summary(mantel, selection)
    columns = ["setting", "method", "mantel_r", "mantel_p", "mantel_r_error", "mantel_p_error",
               "mean_regret", "mean_spearman", "mean_weighted_tau", "n_targets"]
    truth_tests = int((mantel["setting"] != "").sum())
    parts = [
        "Mantel tests against the ground truth (one-sided, positive = predicts transfer; "
        f"{truth_tests} tests of methods against the truth, {len(mantel) - truth_tests} between methods, "
        "uncorrected p-values) and source selection:",
        table[columns].round(3).to_string(index=False),
    ]
    extras = {
        "reliability.parquet": "Split-half reliability of the ground truth (Spearman-Brown):",
        "floors.parquet": "Noise floor of each method (resampled tasks):",
        "consistency.parquet": "FTD consistency (Mantel tests between networks of other seeds, shapes):",
    }
    for name, title in extras.items():
        if (results / name).exists():
            parts += ["", title, io.read_parquet(results / name).round(3).to_string(index=False)]
    return "\n".join(parts)


def nas(results: Path) -> str:
    table = io.read_parquet(results / "nas" / "summary.parquet", ("task", "role", "search", "test_accuracy"))
    winner = [" ".join(edge["op"] for edge in json.loads(g)["edges"]) for g in table["genotype"]]
    table = table.assign(
        kparams=table["params"] / 1e3,
        space=table["ops"].where(table["search"] == "task_aware", "(all)"),
        winner=winner,
        order=table["role"] == "base",
    ).sort_values(["order", "task", "search"])
    columns = ["task", "role", "search", "bases", "test_accuracy", "val_accuracy", "kparams", "candidates_trained",
               "search_seconds", "space", "winner"]
    return table[columns].round(3).to_string(index=False)


def tables(args: argparse.Namespace) -> int:
    from taskdist import report_tables

    if args.tables_command == "snapshot":
        written = report_tables.snapshot(args.results, args.out, logs=args.logs, config=args.config,
                                         checkout=args.checkout)
        size = sum(p.stat().st_size for p in written)
        print(f"wrote {len(written)} files ({size / 1e3:.0f} kB) to {args.out}")
        return 0
    diffs = report_tables.render(args.snapshot, [args.readme, args.results], check=args.check)
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
    p_nas = sub.add_parser("nas", help="architecture searches per task: winner's accuracy, parameters, search cost")
    p_nas.add_argument("--results", type=Path, default=Path("results"))
    p_tab = sub.add_parser("tables", help="the documentation's result tables: snapshot a run, render Markdown")
    tab = p_tab.add_subparsers(dest="tables_command", required=True)
    p_snap = tab.add_parser("snapshot", help="copy a finished run's small tables into a folder, with run.json")
    p_snap.add_argument("results", type=Path, help="the run's results folder")
    p_snap.add_argument("--out", type=Path, required=True, help="the snapshot folder (e.g. docs/results)")
    p_snap.add_argument("--logs", type=Path, default=None, help="the run's logs (default: logs beside results)")
    p_snap.add_argument("--config", type=Path, default=None,
                        help="the run's config file (default: config.yaml beside results)")
    p_snap.add_argument("--checkout", type=Path, default=None,
                        help="the git checkout that ran (default: the folder holding results)")
    p_render = tab.add_parser("render", help="fill the generated blocks of Markdown files from a snapshot")
    p_render.add_argument("snapshot", type=Path)
    p_render.add_argument("--readme", type=Path, default=Path("README.md"))
    p_render.add_argument("--results", type=Path, default=Path("docs/results.md"))
    p_render.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 with a diff if a file differs from what would be written")
    args = parser.parse_args(argv)

    try:
        if args.command == "show":
            print(show(args.path, args.value, args.digits))
        elif args.command == "nearest":
            print(nearest(args.results, args.target, args.method, args.k))
        elif args.command == "summary":
            print(summary(args.results))
        elif args.command == "nas":
            print(nas(args.results))
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
