"""The report's first page (taskdist.summary_page) and the report's figures that show a spread (taskdist.plots)."""

import math
import re

import numpy as np
import pandas as pd

from taskdist import plots, summary_page

METHODS = ["ftd", "logme"]
TARGETS = ["a", "b"]


def tables():
    mantel = pd.DataFrame([
        {"x": m, "y": y, "setting": s, "method": "spearman", "statistic": r, "p_value": p, "ci_low": r - 0.3,
         "ci_high": min(r + 0.2, 1.0), "level": 0.95, "p_holm": min(4 * p, 1.0)}
        for s, base, p_base in (("finetune", 0.81234, 0.01), ("linear", -0.1, 0.6))
        for m, r, p in (("ftd", base, p_base), ("logme", 0.2, 0.4))
        for y in ("-gain", "1-accuracy")
    ] + [{"x": "ftd", "y": "logme", "setting": "", "method": "spearman", "statistic": 0.5, "p_value": 0.2,
          "ci_low": 0.1, "ci_high": 0.8, "level": 0.95, "p_holm": math.nan}])
    reliability = pd.DataFrame({"setting": ["finetune", "linear"], "value": "gain", "replicates": [2, 2],
                                "pairs": [6, 6], "over_pairs": [0.9123, -2.5], "within_targets": [0.456, math.nan],
                                "targets": [3, 0]})
    floors = pd.DataFrame({"method": METHODS, "kind": ["distance", "score"], "floor": [0.1, math.nan],
                           "between": [0.3, math.nan], "ratio": [3.0, math.nan], "within_spread": [0.2, 0.3],
                           "within_floor": [0.1, 0.1], "within_ratio": [2.0, 3.0], "tasks": [3, 3]})
    selection = pd.DataFrame([
        {"setting": s, "method": m, "target": t, "chosen": "random" if m == "random" else "c", "best": "c",
         "regret": 0.0125 if m == "random" else 0.0, "spearman": 0.0, "weighted_tau": 0.0}
        for s in ("finetune", "linear") for m in [*METHODS, "random"] for t in TARGETS
    ])
    return mantel, reliability, floors, selection


def cell(text: str, key: str) -> str:
    hit = re.search(rf'id="{re.escape(key)}"[^>]*>(?:<b>)?([^<]*)<', text)
    assert hit, f"no element {key}"
    return hit[1]


def test_the_page_shows_each_headline_number_in_its_format():
    mantel, reliability, floors, selection = tables()
    text = summary_page.page(mantel=mantel, reliability=reliability, floors=floors, selection=selection,
                             methods=METHODS, settings={"tasks": ["a", "b", "c"], "seed": 7}, code="abc123")
    assert cell(text, "r-finetune-ftd") == "0.81"
    assert cell(text, "ci-finetune-ftd") == "[0.51, 1.00]"
    assert cell(text, "p-finetune-ftd") == "0.01" and cell(text, "holm-finetune-ftd") == "0.04"
    assert cell(text, "r-linear-ftd") == "-0.10"
    assert "<b>ftd</b>" in text  # Holm p 0.04 < 0.05
    assert "1 of 2 methods predict transfer" in text and "no method predicts" in text  # finetune, linear
    assert cell(text, "reliability-finetune-pairs") == "0.91" and cell(text, "reliability-finetune-within") == "0.46"
    assert cell(text, "reliability-linear-within") == summary_page.DASH  # NaN
    assert cell(text, "floor-ftd-ratio") == "3.00" and cell(text, "floor-logme-ratio") == summary_page.DASH
    assert cell(text, "floor-logme-within") == "3.00"
    assert cell(text, "best-finetune-a") == "c"
    assert cell(text, "regret-finetune-ftd-a") == "c 0.000"
    assert cell(text, "regret-linear-random-b") == "0.013"  # the expectation: no chosen source
    assert cell(text, "run-commit") == "abc123" and cell(text, "run-tasks") == "a, b, c"
    # the Mantel tests between methods (setting "") and against 1-accuracy are not on the page
    assert "r--ftd" not in text and text.count('id="r-') == 4


def test_the_page_is_written_as_ascii_with_character_references(tmp_path):
    path = tmp_path / "summary.html"
    summary_page.write("<p>– ±</p>", path)
    assert path.read_bytes() == b"<p>&#8211; &#177;</p>"


def test_commit_names_the_checkout_or_says_it_is_unknown(tmp_path):
    assert re.fullmatch(r"[0-9a-f]{12}( \+ uncommitted changes)?", summary_page.commit())
    assert summary_page.commit(tmp_path).startswith("unknown")


def test_scatter_draws_one_panel_per_setting_and_heatmap_a_spread(tmp_path):
    tasks = ["a", "b", "c"]
    square = pd.DataFrame(np.arange(9.0).reshape(3, 3) / 10, index=tasks, columns=tasks)
    panels = [plots.Panel(mean=square, std=square / 10, title="finetune: Mantel spearman r = 0.50 vs -gain, 95% CI "
                          "[0.10, 0.90], p = 0.167, Holm p = 0.5", ylabel="gain"),
              plots.Panel(mean=-square, std=square * np.nan, title="linear", ylabel="gain")]
    plots.mantel_scatter(square, panels, title="ftd", xlabel="ftd", path=tmp_path / "scatter.png")
    plots.heatmap(square, title="gain", spread=square / 10, path=tmp_path / "heat.png")
    for name in ("scatter.png", "heat.png"):
        assert (tmp_path / name).stat().st_size > 1000
