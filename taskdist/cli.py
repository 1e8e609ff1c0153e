"""The ``taskdist`` command: inspect artifacts without opening Python.

    taskdist show results/distances/ftd.parquet     # a matrix as a task x task table
    taskdist show results/models/mnist_low.pt       # a checkpoint's spec and accuracies
    taskdist methods                                # distance methods the workflow knows
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from taskdist import io


def show(path: Path, value: str, digits: int) -> str:
    if path.suffix == ".pt":
        ckpt = io.load_checkpoint(path, ("arch", "task", "metrics"))
        lines = [f"task {ckpt['task']['id']} ({ckpt['task']['dataset']}, {ckpt['n_classes']} classes)",
                 f"arch {ckpt['arch']}"]
        lines += [f"{k:>16} {v:.4f}" for k, v in sorted(ckpt["metrics"].items())]
        return "\n".join(lines)
    df = io.read_parquet(path)
    if {"source", "target", value} <= set(df.columns):
        square = io.to_square(df, value=value)
        square.index.name, square.columns.name = None, "source \\ target"
        return square.round(digits).to_string()
    with pd.option_context("display.max_rows", 40, "display.width", 120):
        return df.round(digits).to_string(max_rows=40)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="taskdist", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_show = sub.add_parser("show", help="print an artifact (matrix as task x task, checkpoint summary, table)")
    p_show.add_argument("path", type=Path)
    p_show.add_argument("--value", default="value", help="column to tabulate for matrices (default: value)")
    p_show.add_argument("--digits", type=int, default=3)
    sub.add_parser("methods", help="list the distance methods")
    args = parser.parse_args(argv)

    try:
        if args.command == "show":
            print(show(args.path, args.value, args.digits))
        elif args.command == "methods":
            from taskdist.distances import METHODS

            for m in METHODS.values():
                print(f"{m.name:12} {'symmetric ' if m.symmetric else 'asymmetric'}  {m.description}")
    except (io.ArtifactError, ValueError, KeyError) as e:
        print(f"taskdist: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
