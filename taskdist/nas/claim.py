"""The TA-NAS search claim as a test: anytime traces of the searches, cost-to-reach and paired comparisons.

The claim (Le et al., TA-NAS; REFERENCES.md): searching a target's architecture in the space spanned by the
best cells of its nearest base tasks finds as good an architecture at lower cost than searching the full space.
Every search of a target runs once per seed and records, after every candidate it trains, its cost so far and
the best validation accuracy so far (:func:`taskdist.nas.fuse.anytime`). From those traces (one row per
trained candidate: ``task, search, seed`` and :data:`~taskdist.nas.fuse.TRACE_COLUMNS`):

- :func:`reach_table`: per target and search, the cost at which the search first reaches the *full* search's
  final validation accuracy of the same seed (``inf`` when it never does), as a median over seeds with a
  distribution-free interval (:func:`median_interval`), in candidates trained and in CPU seconds;
- :func:`paired_table`: per target, task-aware against every other search at equal cost (``compare_at`` of the
  full search's budget, and the whole budget), paired over seeds, with an exact sign-flip test
  (:func:`sign_flip_test`, one-sided: task-aware better);
- :func:`verdicts`: one line per target: did task-aware reach the full search's accuracy at <= ``compare_at``
  of its cost, with the p-value, or did it not.

All of it reads validation accuracies only; the winners' test accuracies (:func:`winners_table`) are reported
beside, never used to decide. Nothing here imports torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import product

import numpy as np
import pandas as pd

VERSION = 1
"""Version of the claim's tables (curves, cost-to-reach, paired tests, winners, verdicts)."""

COSTS = ("candidates_trained", "epochs", "cpu_s")
"""The cost axes of a trace, all cumulative; ``candidates_trained`` is the searches' common budget unit."""

KEYS = ("task", "search", "seed")
EPS = 1e-12  # accuracies are ratios of counts: equal ones compare equal up to rounding


def check_trace(trace: pd.DataFrame, where: str = "trace") -> pd.DataFrame:
    """``trace`` if its costs and its best validation accuracy never decrease and the best is the running
    maximum of the candidates' accuracies; otherwise a ValueError naming what is wrong."""
    if len(trace) == 0:
        raise ValueError(f"{where}: an empty trace")
    for column in (*COSTS, "best_val_accuracy"):
        values = trace[column].to_numpy(dtype=float)
        if not np.all(np.isfinite(values)) or np.any(np.diff(values) < -EPS):
            raise ValueError(f"{where}: {column} must be finite and non-decreasing, got {values.tolist()}")
    if not np.allclose(trace["best_val_accuracy"], trace["val_accuracy"].cummax()):
        raise ValueError(f"{where}: best_val_accuracy is not the running maximum of val_accuracy")
    return trace


def best_at(trace: pd.DataFrame, budget: float, cost: str = "candidates_trained") -> float:
    """The best validation accuracy a search had reached at ``cost <= budget`` (NaN before its first
    candidate)."""
    within = trace[trace[cost].to_numpy(dtype=float) <= budget + EPS]
    return float(within["best_val_accuracy"].iloc[-1]) if len(within) else math.nan


def cost_to_reach(trace: pd.DataFrame, threshold: float, cost: str = "candidates_trained") -> float:
    """The ``cost`` at which the trace's best validation accuracy first reaches ``threshold``; inf if never."""
    hit = trace[trace["best_val_accuracy"].to_numpy(dtype=float) >= threshold - EPS]
    return float(hit[cost].iloc[0]) if len(hit) else math.inf


def median_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """Median of ``values`` (inf allowed: a search that never reached) and a distribution-free interval for it.

    The interval is ``(x_(k), x_(n+1-k))`` of the sorted values with the largest ``k`` whose coverage
    ``1 - 2 P(Bin(n, 1/2) <= k - 1)`` is at least ``level``; with too few values for ``level`` it is the range
    (``k = 1``) and the coverage returned says how much less it is. Returns (median, low, high, coverage);
    NaNs for no values.
    """
    x = np.sort(np.asarray(values, dtype=float))
    n = len(x)
    if n == 0:
        return math.nan, math.nan, math.nan, math.nan
    cdf = np.cumsum([math.comb(n, i) for i in range(n + 1)]) / 2.0**n  # P(Bin(n, 1/2) <= i)

    def coverage(k: int) -> float:
        return 1.0 - 2.0 * float(cdf[k - 1])

    k = 1
    while k + 1 <= (n + 1) // 2 and coverage(k + 1) >= level:
        k += 1
    return float(np.median(x)), float(x[k - 1]), float(x[n - k]), coverage(k)


def sign_flip_test(
    differences: Sequence[float], *, alternative: str = "greater", draws: int = 65536, seed: int = 0
) -> float:
    """Paired test over seeds: the p-value of the mean of ``differences`` under random signs (exact over all
    ``2^n`` sign patterns for n <= 16, else ``draws`` seeded Monte Carlo patterns). ``alternative``:
    ``greater`` (the first search better), ``less`` or ``two-sided``. NaN without differences."""
    d = np.asarray(differences, dtype=float)
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alternative!r}")
    if len(d) == 0 or not np.isfinite(d).all():
        return math.nan
    if len(d) <= 16:
        signs = np.array(list(product((1.0, -1.0), repeat=len(d))))
    else:
        signs = np.random.default_rng(seed).choice((1.0, -1.0), size=(draws, len(d)))
    stats, observed = (signs * d).mean(axis=1), d.mean()
    if alternative == "greater":
        return float(np.mean(stats >= observed - EPS))
    if alternative == "less":
        return float(np.mean(stats <= observed + EPS))
    return float(np.mean(np.abs(stats) >= abs(observed) - EPS))


def _traces(curves: pd.DataFrame) -> dict[tuple[str, str, int], pd.DataFrame]:
    out = {}
    for key, rows in curves.groupby(list(KEYS), sort=True):
        out[(str(key[0]), str(key[1]), int(key[2]))] = check_trace(rows.reset_index(drop=True), f"trace {key}")
    return out


def _budget(trace: pd.DataFrame, cost: str) -> float:
    return float(trace[cost].iloc[-1])


REACH_COLUMNS = (
    "target",
    "search",
    "seeds",
    "reached",
    "median_candidates",
    "low_candidates",
    "high_candidates",
    "coverage",
    "full_candidates",
    "median_cpu_s",
    "low_cpu_s",
    "high_cpu_s",
    "full_cpu_s",
)


def reach_table(curves: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Per target and search: the cost to reach the full search's final validation accuracy of the same seed.

    Columns :data:`REACH_COLUMNS`: ``seeds`` with a full search to compare with, ``reached`` (how many of them
    got there at all), the median cost over seeds with its interval (:func:`median_interval`; ``inf``: not
    reached in enough seeds) in candidates trained and in CPU seconds, its ``coverage``, and the full search's
    own median budget (``full_candidates``, ``full_cpu_s``). The full search reaches its own final accuracy at
    the candidate where it first attained it.
    """
    traces = _traces(curves)
    rows = []
    for task in sorted({t for t, _, _ in traces}):
        searches = [s for s in dict.fromkeys(s for t, s, _ in traces if t == task)]
        full = {r: tr for (t, s, r), tr in traces.items() if t == task and s == "full"}
        if not full:
            raise ValueError(f"target {task!r} has no full search to compare with")
        for search in searches:
            seeds = sorted(r for (t, s, r) in traces if t == task and s == search and r in full)
            ref = {r: float(full[r]["best_val_accuracy"].iloc[-1]) for r in seeds}
            cand = [cost_to_reach(traces[(task, search, r)], ref[r], "candidates_trained") for r in seeds]
            cpu = [cost_to_reach(traces[(task, search, r)], ref[r], "cpu_s") for r in seeds]
            med, low, high, cover = median_interval(cand, level)
            cmed, clow, chigh, _ = median_interval(cpu, level)
            rows.append(
                {
                    "target": task,
                    "search": search,
                    "seeds": len(seeds),
                    "reached": int(np.isfinite(cand).sum()),
                    "median_candidates": med,
                    "low_candidates": low,
                    "high_candidates": high,
                    "coverage": cover,
                    "full_candidates": float(np.median([_budget(full[r], "candidates_trained") for r in seeds])),
                    "median_cpu_s": cmed,
                    "low_cpu_s": clow,
                    "high_cpu_s": chigh,
                    "full_cpu_s": float(np.median([_budget(full[r], "cpu_s") for r in seeds])),
                }
            )
    return pd.DataFrame(rows, columns=list(REACH_COLUMNS))


PAIRED_COLUMNS = (
    "target",
    "search",
    "against",
    "fraction",
    "candidates",
    "seeds",
    "mean_search",
    "mean_against",
    "mean_difference",
    "wins",
    "ties",
    "losses",
    "p",
)


def paired_table(curves: pd.DataFrame, *, fraction: float = 0.5, search: str = "task_aware") -> pd.DataFrame:
    """``search`` against every other search of each target at equal cost, paired over seeds.

    At ``fraction`` of the full search's budget (candidates trained, rounded down, at least one) and at the
    whole budget: each search's best validation accuracy so far (:func:`best_at`); ``mean_difference`` =
    mean over seeds of ``search - against``; wins / ties / losses of ``search``; ``p`` one-sided (``search``
    better) from the exact sign-flip test (:func:`sign_flip_test`). Columns :data:`PAIRED_COLUMNS`.
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    traces = _traces(curves)
    rows = []
    for task in sorted({t for t, _, _ in traces}):
        present = list(dict.fromkeys(s for t, s, _ in traces if t == task))
        full = {r: tr for (t, s, r), tr in traces.items() if t == task and s == "full"}
        if search not in present or not full:
            continue
        budget = float(np.median([_budget(tr, "candidates_trained") for tr in full.values()]))
        fractions = sorted({fraction, 1.0})
        for against in [s for s in present if s != search]:
            seeds = sorted(r for (t, s, r) in traces if t == task and s == against and (task, search, r) in traces)
            for f in fractions:
                at = max(1.0, math.floor(f * budget + EPS))
                a = np.array([best_at(traces[(task, search, r)], at) for r in seeds])
                b = np.array([best_at(traces[(task, against, r)], at) for r in seeds])
                d = a - b
                rows.append(
                    {
                        "target": task,
                        "search": search,
                        "against": against,
                        "fraction": f,
                        "candidates": at,
                        "seeds": len(seeds),
                        "mean_search": float(a.mean()),
                        "mean_against": float(b.mean()),
                        "mean_difference": float(d.mean()),
                        "wins": int((d > EPS).sum()),
                        "ties": int((np.abs(d) <= EPS).sum()),
                        "losses": int((d < -EPS).sum()),
                        "p": sign_flip_test(d),
                    }
                )
    return pd.DataFrame(rows, columns=list(PAIRED_COLUMNS))


WINNER_COLUMNS = (
    "target",
    "search",
    "seeds",
    "final_trainings",
    "test_mean",
    "test_sd",
    "test_min",
    "test_max",
    "val_mean",
    "params_median",
    "search_cpu_s_mean",
)


def winners_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Per target and search, over seeds: the winners' test accuracy (each seed's the mean of its
    ``final_trainings`` trainings from scratch) as mean, sd (over seeds), min and max; the winners' validation
    accuracy, median parameters and the mean CPU seconds of a search. Reported, never used to decide."""
    targets = summary[summary["role"] == "target"]
    rows = []
    for (task, search), g in targets.groupby(["task", "search"], sort=False):
        finals = g["final_seeds"] if "final_seeds" in g else pd.Series(1, index=g.index)
        rows.append(
            {
                "target": task,
                "search": search,
                "seeds": len(g),
                "final_trainings": int(finals.max()),
                "test_mean": float(g["test_accuracy"].mean()),
                "test_sd": float(g["test_accuracy"].std(ddof=1)) if len(g) > 1 else 0.0,
                "test_min": float(g["test_accuracy"].min()),
                "test_max": float(g["test_accuracy"].max()),
                "val_mean": float(g["val_accuracy"].mean()),
                "params_median": float(g["params"].median()),
                "search_cpu_s_mean": float(g["search_cpu_s"].mean()) if "search_cpu_s" in g else math.nan,
            }
        )
    return pd.DataFrame(rows, columns=list(WINNER_COLUMNS))


def _cost(value: float) -> str:
    return "never" if not np.isfinite(value) else f"{value:g}"


def verdicts(
    reach: pd.DataFrame,
    paired: pd.DataFrame,
    *,
    fraction: float | None = 0.5,
    level: float = 0.95,
    search: str = "task_aware",
) -> list[str]:
    """One line per target: did ``search`` reach the full search's final validation accuracy at <= ``fraction``
    of its cost (median over seeds), with the paired test against the full search at that cost; the claim
    holds when it did and that test rejects at ``1 - level``. ``fraction`` None: the smallest of ``paired``."""
    if fraction is None:
        fraction = float(paired["fraction"].min()) if len(paired) else 0.5
    lines = []
    alpha = 1 - level
    for task, rows in reach.groupby("target", sort=True):
        r = rows[rows["search"] == search]
        if r.empty:
            continue
        r = r.iloc[0]
        limit = fraction * r["full_candidates"]
        reached = bool(np.isfinite(r["median_candidates"]) and r["median_candidates"] <= limit + EPS)
        p = paired[(paired["target"] == task) & (paired["against"] == "full") & (paired["fraction"] == fraction)]
        share = f"{fraction:g} of" if fraction != 0.5 else "half"
        text = (
            f"- **{task}**: {search} {'reached' if reached else 'did not reach'} the full search's final "
            f"validation accuracy at <= {share} its cost (median {_cost(r['median_candidates'])} of "
            f"{r['full_candidates']:g} candidates, interval {_cost(r['low_candidates'])} to "
            f"{_cost(r['high_candidates'])} at {r['coverage']:.0%}; reached at all in {r['reached']} of "
            f"{r['seeds']} seeds)"
        )
        if len(p):
            q = p.iloc[0]
            holds = reached and q["p"] < alpha and q["mean_difference"] > 0
            text += (
                f"; at {q['candidates']:g} candidates it is {q['mean_difference']:+.4f} in validation "
                f"accuracy against full (wins/ties/losses {q['wins']}/{q['ties']}/{q['losses']}, paired "
                f"sign-flip p = {q['p']:.3f}, one-sided): "
                + ("the claim holds." if holds else "the claim is not shown.")
            )
        else:
            text += "; no paired comparison with the full search."
        lines.append(text)
    return lines
