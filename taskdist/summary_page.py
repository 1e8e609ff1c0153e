"""The report's first page: the run's answer to "does a task distance predict transfer?", from its own tables.

:func:`page` turns the evaluation tables of a run (``results/reliability.parquet``, ``mantel.parquet``,
``floors.parquet``, ``selection.parquet``) into one HTML fragment: how reliable the ground truth is, which
methods predict transfer in each setting (Mantel r against ``-gain``, its bootstrap interval over tasks, the
raw and the Holm-adjusted p-value), each method's noise floor, the best source per target with each method's
choice and regret, and the commit and settings of the run. The workflow writes it to
``results/report/summary.html`` (rule ``summary_page``); ``report/workflow.rst`` puts it on the report's front
page, and the report lists it under "Summary". Every number is written with one of the formats below, and every
cell that holds one carries an ``id`` (e.g. ``r-finetune-ftd``) so a test can read it back from the rendered page.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from taskdist.artifacts.io import atomic_path
from taskdist.evaluation import reliability as reliability_mod
from taskdist.report_tables import git

VERSION = 2
"""Version of the summary page; raised whenever what it shows or computes changes.

2: the source-selection table shows the rankings that read no target data (``blind_*``) beside random."""

ALPHA = 0.05
"""Holm-adjusted p-values below this are shown in bold and counted as "predicts transfer"."""

TRUTH = "-gain"
"""The ground truth the page's Mantel table reads (the other, ``1-accuracy``, is in ``taskdist summary``)."""

DASH = "–"  # a value that is missing or undefined (NaN)


def number(value: float, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals (r, reliability, floor ratios: 2; regrets: 3); NaN as a dash."""
    return DASH if value is None or math.isnan(value) else f"{value:.{digits}f}"


def p_value(value: float) -> str:
    """A p-value with three significant digits (``0.0303``, ``0.167``, ``1``); NaN as a dash."""
    return DASH if value is None or math.isnan(value) else f"{value:.3g}"


def interval(low: float, high: float, digits: int = 2) -> str:
    """``[low, high]``; a dash where either end is NaN."""
    if any(v is None or math.isnan(v) for v in (low, high)):
        return DASH
    return f"[{low:.{digits}f}, {high:.{digits}f}]"


def commit(path: str | Path | None = None) -> str:
    """The git commit of the checkout holding ``path`` (default: this package), with "+ uncommitted changes"
    when tracked files differ from it; "unknown (not a git checkout)" otherwise."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    head = git(where, "rev-parse", "--short=12", "HEAD")
    if not head:
        return "unknown (not a git checkout)"
    return f"{head} + uncommitted changes" if git(where, "status", "--porcelain", "--untracked-files=no") else head


def _e(value: object) -> str:
    return html.escape(str(value))


def _cell(text: str, key: str | None = None, *, bold: bool = False, tag: str = "td") -> str:
    ident = f' id="{_e(key)}"' if key else ""
    body = f"<b>{_e(text)}</b>" if bold else _e(text)
    return f"<{tag}{ident}>{body}</{tag}>"


def _table(header: list[str], rows: list[str], caption: str | None = None) -> str:
    head = "".join(_cell(h, tag="th") for h in header)
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead><tbody>'
            + "".join(f"<tr>{row}</tr>" for row in rows) + "</tbody></table></div>")


def _truth_rows(mantel: pd.DataFrame) -> pd.DataFrame:
    return mantel[(mantel["y"] == TRUTH) & (mantel["setting"] != "")]


def reading(value: float) -> str:
    """One word for a reliability (:func:`taskdist.evaluation.reliability.reading`: ok, low, none, undefined)."""
    text = reliability_mod.reading(float(value))
    return text.split(":")[0].split(" (")[0]


def _read(value: float, key: str) -> str:
    """A reliability and its reading in one cell; the number alone carries the id."""
    return f'<td><span id="{_e(key)}">{_e(number(value))}</span> <i>{_e(reading(value))}</i></td>'


def reliability_section(table: pd.DataFrame) -> str:
    rows = []
    for row in table.sort_values("setting").itertuples(index=False):
        s = row.setting
        rows.append(_cell(s) + _cell(f"{row.replicates}") + _read(row.over_pairs, f"reliability-{s}-pairs")
                    + _read(row.within_targets, f"reliability-{s}-within") + _cell(f"{row.targets}"))
    return ("<h3>1. How reliable is the ground truth?</h3>"
            "<p>Split-half reliability of the gain over replicates (Spearman-Brown): over all ordered pairs, and "
            "within targets (the mean over the targets it is defined for: what source selection needs). A "
            "correlation with the ground truth can reach about the square root of it; at or below 0 none is "
            "meaningful.</p>"
            + _table(["setting", "replicates", "over pairs", "within targets", "targets"], rows))


def mantel_section(mantel: pd.DataFrame, methods: list[str]) -> str:
    truth = _truth_rows(mantel)
    level = float(truth["level"].iloc[0]) if len(truth) else math.nan
    pct = "" if math.isnan(level) else f"{level:.0%} "
    parts = ["<h3>2. Which methods predict transfer?</h3>",
             f"<p>Mantel correlation ({_e(', '.join(sorted(set(truth['method']))))}) of each method, oriented as a "
             f'distance, with <span class="mono">{_e(TRUTH)}</span>: positive = closer sources transfer better. '
             f"{_e(pct)}"
             "bootstrap interval over tasks; p: one-sided permutation p-value; Holm p: adjusted over all tests "
             f"against the ground truth. <b>Bold</b>: Holm p &lt; {ALPHA:g}.</p>"]
    for setting in sorted(set(truth["setting"])):
        rows, hits = [], []
        here = truth[truth["setting"] == setting].set_index("x")
        for m in [m for m in methods if m in here.index]:
            r = here.loc[m]
            significant = bool(r["p_holm"] < ALPHA)
            if significant:
                hits.append(f"{m} (r = {number(r['statistic'])})")
            key = f"{setting}-{m}"
            rows.append(_cell(m, bold=significant) + _cell(number(r["statistic"]), f"r-{key}", bold=significant)
                        + _cell(interval(r["ci_low"], r["ci_high"]), f"ci-{key}")
                        + _cell(p_value(r["p_value"]), f"p-{key}") + _cell(p_value(r["p_holm"]), f"holm-{key}"))
        verdict = (f"{len(hits)} of {len(rows)} methods predict transfer at Holm p &lt; {ALPHA:g}: "
                   + _e(", ".join(hits)) if hits else
                   f"no method predicts transfer at Holm p &lt; {ALPHA:g} ({len(rows)} tested)")
        parts.append(f'<p id="verdict-{_e(setting)}"><b>{_e(setting)}</b>: {verdict}.</p>')
        parts.append(_table(["method", "r", f"{pct}CI", "p", "Holm p"], rows))
    if truth[["ci_low", "ci_high"]].isna().any().any():
        parts.append(f"<p>{DASH}: undefined, e.g. an interval when fewer than half the resamples of the tasks have "
                     "a correlation (with 3 tasks only the 6 of 27 that draw every task do).</p>")
    return "".join(parts)


def floors_section(floors: pd.DataFrame, methods: list[str]) -> str:
    rows = []
    table = floors.set_index("method")
    for m in [m for m in methods if m in table.index]:
        r = table.loc[m]
        rows.append(_cell(m) + _cell(str(r["kind"])) + _cell(number(r["ratio"]), f"floor-{m}-ratio")
                    + _cell(number(r["within_ratio"]), f"floor-{m}-within"))
    return ("<h3>3. Is each method above its noise floor?</h3>"
            "<p>Ratio of a method's spread to its own estimation noise (a task against an independent resample of "
            "it): <i>between</i>, the typical distance between tasks over the floor (distances only); "
            "<i>within target</i>, the median over targets of the spread over sources over the floor on the "
            "target. Near 1 or below: the method cannot tell the tasks apart.</p>"
            + _table(["method", "kind", "between", "within target"], rows))


def selection_section(selection: pd.DataFrame, methods: list[str]) -> str:
    parts = ["<h3>4. Which source to transfer from?</h3>",
             "<p>Per target, the best source (highest measured accuracy after transfer) and each method's choice "
             "(its nearest source) with its regret: the accuracy lost against the best source (0 = the best). "
             "<i>random</i>: the expected regret of a random choice; <i>blind_*</i>: rankings that read no "
             "target data (the source's training examples, classes, own test accuracy, mean transfer to the other "
             "targets; a tie lists every tied source and costs its expected regret).</p>"]
    for setting in sorted(set(selection["setting"])):
        here = selection[selection["setting"] == setting]
        targets = sorted(set(here["target"]))
        best = here.groupby("target")["best"].first()
        rows = [_cell("best source", bold=True) + "".join(_cell(str(best[t]), f"best-{setting}-{t}") for t in targets)
                + _cell("")]
        present = list(dict.fromkeys(here["method"]))  # the table's order: methods, random, the blind rules
        names = [m for m in [*methods, "random"] if m in present] + [m for m in present if m not in methods
                                                                      and m != "random"]
        for m in names:
            per = here[here["method"] == m].set_index("target")
            cells = []
            for t in targets:
                chosen = str(per.loc[t, "chosen"]) if "chosen" in per.columns else ""
                regret = number(float(per.loc[t, "regret"]), 3)
                text = regret if m == "random" or not chosen or chosen == "nan" else f"{chosen} {regret}"
                cells.append(_cell(text, f"regret-{setting}-{m}-{t}"))
            rows.append(_cell(m) + "".join(cells) + _cell(number(float(per["regret"].mean()), 3),
                                                          f"regret-{setting}-{m}-mean"))
        parts.append(f"<p><b>{_e(setting)}</b></p>")
        parts.append(_table(["", *targets, "mean regret"], rows))
    return "".join(parts)


def run_section(settings: Mapping, code: str) -> str:
    items = [("commit", code)] + [(k, ", ".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v))
                                  for k, v in settings.items()]
    return ("<h3>5. This run</h3><ul>"
            + "".join(f'<li>{_e(k)}: <span class="mono" id="run-{_e("-".join(k.split()))}">{_e(v)}</span></li>'
                      for k, v in items)
            + "</ul>")


STYLE = """<style>
#taskdist-summary table { font-size: 0.8rem; border-collapse: collapse; margin: 0.3rem 0 0.8rem 0; }
#taskdist-summary th, #taskdist-summary td { padding: 0.15rem 0.45rem; border-bottom: 1px solid #ddd;
  text-align: left; white-space: nowrap; }
#taskdist-summary .scroll { overflow-x: auto; }
#taskdist-summary h3 { margin: 1rem 0 0.3rem 0; }
#taskdist-summary p { margin: 0.3rem 0; }
#taskdist-summary .mono { font-family: ui-monospace, monospace; font-size: 0.85em; }
#taskdist-summary ul { margin: 0.3rem 0; }
#taskdist-summary li { margin: 0; }
</style>"""


def page(*, mantel: pd.DataFrame, reliability: pd.DataFrame, floors: pd.DataFrame, selection: pd.DataFrame,
         methods: list[str], settings: Mapping, code: str) -> str:
    """The summary as one HTML fragment (with its own style; no ``<html>`` element, so that the report's front
    page can include it and a browser can show it alone)."""
    return "\n".join([
        '<div id="taskdist-summary">', STYLE,
        reliability_section(reliability), mantel_section(mantel, methods), floors_section(floors, methods),
        selection_section(selection, methods), run_section(settings, code), "</div>", "",
    ])


def write(text: str, path: str | Path) -> None:
    """Write the page (UTF-8; non-ASCII characters as character references, so it reads right whatever
    encoding a viewer assumes)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(text.encode("ascii", "xmlcharrefreplace"))
