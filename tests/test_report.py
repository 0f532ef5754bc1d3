"""Tests for c2am_bench.report: statistics (hand-computed and against scipy.stats), summary,
tables, figures (one dot per seed), the report directory (atomic, refuses foreign folders) and
index.html's links."""

from __future__ import annotations

import html.parser
import json
import logging
import math
import re

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from PIL import Image
from report_synth import SEEDS, VARIANTS, build_results, build_study_results, make_study
from scipy import stats as scipy_stats

from c2am_bench import cam_figures as cf
from c2am_bench.datasets import voc
from c2am_bench.errors import ConfigError, DataError
from c2am_bench.report import figures, render, render_report
from c2am_bench.report import stats as S
from c2am_bench.report import tables as T
from c2am_bench.report.render import MARKER
from c2am_bench.report.schema import load_results

T975 = {
    1: 12.706204736,
    2: 4.302652730,
    3: 3.182446305,
    4: 2.776445105,
    9: 2.262157163,
    30: 2.042272456,
    120: 1.979930405,
}  # t_{0.975, df}: published tables


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    return build_results(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(results_dir, tmp_path_factory):
    """The synthetic report rendered once (with an Optuna study) for the read-only tests."""
    out = tmp_path_factory.mktemp("out") / "report"
    assert render_report(results_dir, out, study=make_study()) == out
    return out


# --------------------------------------------------------------------------- stats


@pytest.mark.parametrize("df", sorted(T975))
def test_mean_ci_uses_published_t_quantiles(df):
    # n = df + 1 values 0, 1, ..., df: sd = sqrt(n (n + 1) / 12); half = t_{0.975, df} sd / sqrt(n)
    n = df + 1
    m = S.mean_ci(np.arange(n, dtype=float))
    sd = math.sqrt(n * (n + 1) / 12)
    assert m.half_width == pytest.approx(T975[df] * sd / math.sqrt(n), rel=1e-9)
    assert m.half_width == pytest.approx(scipy_stats.t.ppf(0.975, df) * sd / math.sqrt(n))


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.5, 1.5])
def test_mean_ci_rejects_bad_confidence(bad):
    with pytest.raises(ValueError, match="confidence"):
        S.mean_ci([1.0, 2.0], bad)


def test_mean_ci_hand_computed():
    # [1, 2, 3]: mean 2, sd 1, half-width t_{0.975,2} / sqrt(3) = 4.302653 / 1.732051 = 2.484138
    m = S.mean_ci([1.0, 2.0, 3.0])
    assert (m.mean, m.n) == (2.0, 3)
    assert m.low == pytest.approx(2 - 2.4841377, abs=1e-6)
    assert m.high == pytest.approx(2 + 2.4841377, abs=1e-6)
    assert m.half_width == pytest.approx(2.4841377, abs=1e-6)
    # NaN entries (a stage that did not run) are dropped: [10, 14] -> mean 12, sd 2.828427,
    # half = 12.706205 * 2.828427 / sqrt(2) = 25.412409
    m = S.mean_ci([10.0, float("nan"), 14.0])
    assert (m.mean, m.n) == (12.0, 2)
    assert m.half_width == pytest.approx(25.412409, abs=1e-5)
    # 90 % level: t_{0.95,2} = 2.919986; half = 2.919986 / sqrt(3) = 1.685850
    assert S.mean_ci([1.0, 2.0, 3.0], 0.90).half_width == pytest.approx(1.685850, abs=1e-5)


def test_mean_ci_one_and_no_value():
    one = S.mean_ci([38.7])
    assert one.mean == 38.7 and one.n == 1
    assert math.isnan(one.low) and math.isnan(one.high) and math.isnan(one.half_width)
    none = S.mean_ci([float("nan")])
    assert none.n == 0 and math.isnan(none.mean)
    assert S.delta_ci([1.5]).distinguishable is None


def test_delta_ci_distinguishable():
    assert S.delta_ci([2.0, 2.2, 1.9]).distinguishable is True
    assert S.delta_ci([-2.0, -2.2, -1.9]).distinguishable is True
    assert S.delta_ci([1.0, -0.5, 0.2]).distinguishable is False
    assert S.delta_ci([0.0, 0.0]).distinguishable is False  # zero width at 0: not different


def test_paired_delta_p_value_is_ttest_rel():
    # [2.0, 2.2, 1.9]: mean 2.0333, sd 0.152753, t = 23.0544 on 2 df -> p = 0.0018759
    ci = S.delta_ci([2.0, 2.2, 1.9])
    assert ci.p == pytest.approx(0.0018759, abs=1e-7)
    values, base = [31.0, 45.5, 38.2, 40.0], [30.0, 44.0, 38.5, 37.9]
    ci = S.paired_delta(values, base)
    ref = scipy_stats.ttest_rel(values, base)
    assert ci.p == pytest.approx(ref.pvalue, rel=1e-12)
    assert ci.mean == pytest.approx(np.mean(np.subtract(values, base)))
    assert (ci.p < 0.05) == ci.distinguishable  # the test and the 95 % interval agree
    # pairs with a NaN on either side are dropped; fewer than two pairs: no test
    assert S.paired_delta([1.0, np.nan, 3.0], [0.5, 2.0, np.nan]).n == 1
    assert math.isnan(S.paired_delta([1.0, np.nan], [0.5, 2.0]).p)
    assert math.isnan(S.delta_ci([0.0, 0.0]).p)  # 0 / 0
    assert S.delta_ci([1.0, 1.0, 1.0]).p == 0.0  # no spread at all: sd 0, t infinite
    with pytest.raises(ValueError, match="pairs must match"):
        S.paired_delta([1.0, 2.0], [1.0])


def test_paired_differences_pair_by_seed():
    # Seed effects dominate: unpaired intervals overlap, the paired delta is +1 on every seed.
    runs = pd.DataFrame(
        {
            "variant": ["cam"] * 3 + ["c2am"] * 3,
            "trial": -1,
            "seed": [0, 1, 2] * 2,
            "seed_miou": [30.0, 40.0, 50.0, 31.0, 41.0, 51.0],
        }
    )
    d = S.paired_differences(runs, "seed_miou", "cam")
    assert d["variant"].tolist() == ["c2am"] * 3
    assert d["delta"].tolist() == [1.0, 1.0, 1.0]
    ci = S.delta_ci(d["delta"])
    assert (ci.mean, ci.low, ci.high, ci.distinguishable) == (1.0, 1.0, 1.0, True)
    a, b = S.mean_ci([30, 40, 50]), S.mean_ci([31, 41, 51])
    assert a.high > b.low  # the unpaired intervals overlap


def test_paired_differences_by_trial_fallback_and_duplicates():
    runs = pd.DataFrame(
        [
            # a study: every trial has its own baseline run per seed
            {"variant": "cam", "trial": 0, "seed": 0, "m": 10.0},
            {"variant": "cam", "trial": 1, "seed": 0, "m": 20.0},
            {"variant": "a", "trial": 0, "seed": 0, "m": 13.0},
            {"variant": "b", "trial": 1, "seed": 0, "m": 21.0},
            # the same point run again in trial 2 whose baseline is missing: paired by seed with
            # the mean of the baseline's seed-0 runs (15.0)
            {"variant": "c", "trial": 2, "seed": 0, "m": 16.0},
            # an exact repeat of trial 0's pair counts once
            {"variant": "a", "trial": 3, "seed": 0, "m": 13.0},
            {"variant": "cam", "trial": 3, "seed": 0, "m": 10.0},
            {"variant": "a", "trial": 0, "seed": 1, "m": float("nan")},
        ]
    )
    d = S.paired_differences(runs, "m", "cam").set_index("variant")
    assert d.loc["a", "delta"] == 3.0 and d.loc["b", "delta"] == 1.0
    assert d.loc["c", "baseline"] == 15.0 and d.loc["c", "delta"] == 1.0
    assert len(d) == 3  # a counted once, the NaN row dropped
    assert S.paired_differences(runs, "absent", "cam").empty


def test_dedupe_runs_keeps_distinct_numbers():
    runs = pd.DataFrame(
        {"variant": ["cam"] * 3, "seed": [0, 0, 0], "params": "{}", "m": [1.0, 1.0, 2.0]}
    )
    assert S.dedupe_runs(runs, ["m"])["m"].tolist() == [1.0, 2.0]


# --------------------------------------------------------------------------- summary


def test_summary_columns_and_hand_values(results_dir):
    res = load_results(results_dir)
    summary = T.summary_frame(res.runs, "cam")
    assert summary["variant"].tolist() == list(VARIANTS)  # baseline first
    assert summary["n_seeds"].tolist() == [3, 3, 3]
    for m in ("seed_miou", "seed_miou_fixed", "seed_threshold", "pseudo_miou", "seg_miou"):
        for suffix in ("", "_ci_low", "_ci_high"):
            assert m + suffix in summary
    for m in ("seed_miou", "pseudo_miou", "seg_miou"):
        for suffix in ("", "_ci_low", "_ci_high", "_n", "_distinguishable"):
            assert f"delta_{m}{suffix}" in summary
    for stage in ("seed", "pseudo", "seg"):
        assert f"{stage}_fg_precision" in summary and f"{stage}_fg_recall" in summary
    runs = pd.read_csv(results_dir / "runs.csv")
    t2 = T975[2]
    for v in VARIANTS:
        x = runs.loc[runs["variant"] == v].sort_values("seed")["seed_miou"].to_numpy()
        row = summary.set_index("variant").loc[v]
        half = t2 * x.std(ddof=1) / np.sqrt(3)
        assert row["seed_miou"] == pytest.approx(x.mean())
        assert row["seed_miou_ci_low"] == pytest.approx(x.mean() - half)
        assert row["seed_miou_ci_high"] == pytest.approx(x.mean() + half)
    base = runs[runs["variant"] == "cam"].set_index("seed")["pseudo_miou"]
    for v in ("cam_constant", "c2am"):
        d = (runs[runs["variant"] == v].set_index("seed")["pseudo_miou"] - base).to_numpy()
        half = t2 * d.std(ddof=1) / np.sqrt(3)
        row = summary.set_index("variant").loc[v]
        assert row["delta_pseudo_miou"] == pytest.approx(d.mean())
        assert row["delta_pseudo_miou_ci_low"] == pytest.approx(d.mean() - half)
        assert row["delta_pseudo_miou_ci_high"] == pytest.approx(d.mean() + half)
        assert row["delta_pseudo_miou_n"] == 3
        excludes = d.mean() - half > 0 or d.mean() + half < 0
        assert bool(row["delta_pseudo_miou_distinguishable"]) == excludes
        assert row["delta_pseudo_miou_p"] == pytest.approx(
            scipy_stats.ttest_rel(runs[runs["variant"] == v].set_index("seed")["pseudo_miou"],
                                  base).pvalue, rel=1e-12)  # fmt: skip
    # the synthetic data: C2AM gains ~2 points on every seed, CAM+Constant is noise
    by = summary.set_index("variant")
    assert bool(by.loc["c2am", "delta_seed_miou_distinguishable"]) is True
    assert bool(by.loc["cam_constant", "delta_seed_miou_distinguishable"]) is False
    assert by.loc["cam", "delta_seed_miou"] == 0.0
    assert pd.isna(by.loc["cam", "delta_seed_miou_distinguishable"])
    assert math.isnan(by.loc["cam", "delta_seed_miou_p"])


def test_summary_interval_and_p_from_scipy(results_dir):
    """Every mean's half-width is t.ppf(0.975, n - 1) sd / sqrt(n) over the per-seed values, and
    every delta's p is scipy's ttest_rel of the variant's and the baseline's per-seed values."""
    runs = load_results(results_dir).runs
    summary = T.summary_frame(runs, "cam").set_index("variant")
    base = runs[runs["variant"] == "cam"].set_index("seed")
    for v in VARIANTS:
        mine = runs[runs["variant"] == v].set_index("seed")
        for m in ("seed_miou", "seed_miou_fixed", "pseudo_miou", "seg_miou"):
            x = mine[m].to_numpy()
            n = len(x)
            half = scipy_stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n)
            row = summary.loc[v]
            assert (row[f"{m}_ci_high"] - row[f"{m}_ci_low"]) / 2 == pytest.approx(half, rel=1e-12)
            if v == "cam":
                continue
            p = scipy_stats.ttest_rel(mine[m], base.loc[mine.index, m]).pvalue
            assert row[f"delta_{m}_p"] == pytest.approx(p, rel=1e-12)
            d = (mine[m] - base[m]).to_numpy()
            dhalf = scipy_stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
            ci = (row[f"delta_{m}_ci_high"] - row[f"delta_{m}_ci_low"]) / 2
            assert ci == pytest.approx(dhalf, rel=1e-12)
            assert bool(row[f"delta_{m}_distinguishable"]) == (p < 0.05)


def test_one_seed_ci_is_na(tmp_path):
    res = load_results(build_results(tmp_path, seeds=(7,), files=False))
    summary = T.summary_frame(res.runs, "cam")
    assert summary["n_seeds"].tolist() == [1, 1, 1]
    assert summary["seed_miou_ci_low"].isna().all() and summary["seed_miou"].notna().all()
    assert summary["delta_seed_miou_distinguishable"].isna().all()
    table = T.table1_frame(summary)
    assert table["seed"].str.endswith("± n/a").all()
    assert table.loc[1, "Δ seed"].endswith("(CI n/a)")
    assert table.loc[0, "Δ seed"] == "(baseline)"


def test_format_cells():
    assert T.format_ci(38.66, 37.0, 40.2, 3) == "38.7 ± 1.6"
    assert T.format_ci(38.66, float("nan"), float("nan"), 1) == "38.7 ± n/a"
    assert T.format_ci(float("nan"), 0, 0, 3) == "—"
    assert T.format_delta(1.23, 0.5, 1.96, 3, True) == "+1.2 ± 0.7"
    assert T.format_delta(0.3, -0.8, 1.4, 3, False) == "≈ +0.3 ± 1.1"
    assert T.format_delta(-0.04, -0.5, 0.4, 3, False) == "≈ +0.0 ± 0.5"  # never "-0.0"
    assert T.format_delta(0.3, float("nan"), float("nan"), 1, None) == "+0.3 (CI n/a)"
    assert T.format_delta(1.23, 0.5, 1.96, 3, True, p=0.0412) == "+1.2 ± 0.7 (p 0.04)"
    assert T.format_delta(0.3, -0.8, 1.4, 3, False, p=0.41) == "≈ +0.3 ± 1.1 (p 0.41)"
    assert T.format_delta(2.0, 1.6, 2.4, 3, True, p=0.00188) == "+2.0 ± 0.4 (p 0.002)"
    assert T.format_delta(2.0, 1.9, 2.1, 9, True, p=1e-5) == "+2.0 ± 0.1 (p < 0.001)"
    assert T.format_delta(0.0, 0.0, 0.0, 2, False, p=float("nan")) == "≈ +0.0 ± 0.0"
    assert T.format_delta(0.3, float("nan"), float("nan"), 1, None, p=0.5) == "+0.3 (CI n/a)"
    assert T._tex_cell("+2.0 ± 0.1 (p < 0.001)") == r"+2.0 $\pm$ 0.1 (p $<$ 0.001)"


def test_table1_paper_columns(results_dir):
    res = load_results(results_dir)
    table = T.table1_frame(T.summary_frame(res.runs, "cam"))
    assert list(table.columns[:5]) == ["method", "n", "seed", "pseudo-mask", "segmentation"]
    paper = table.set_index("method")[[c for c in table.columns if c.startswith("paper (VOC")]]
    assert paper.shape[1] == 3
    assert paper.loc["CAM"].tolist() == ["48.3", "66.5", ""]  # no CAM segmentation number
    assert paper.loc["C2AM"].tolist() == ["51.39", "69.56", "67.5"]
    assert paper.loc["CAM+Constant"].tolist() == ["", "69.41", ""]
    assert table.set_index("method").loc["CAM+Constant", "Δ seed"].startswith("≈ ")
    assert not table.set_index("method").loc["C2AM", "Δ seed"].startswith("≈")
    # the paired t-test's p beside every delta with an interval
    assert re.fullmatch(r"\+2\.\d ± 0\.\d \(p 0\.00\d\)", table.loc[2, "Δ seed"])
    assert re.fullmatch(r"≈ \+0\.\d ± \d\.\d \(p 0\.\d\d\)", table.loc[1, "Δ seed"])


def test_missing_stages_render_as_dashes(tmp_path):
    results = build_results(tmp_path, stages=("seed",), files=False)
    assert "pseudo_miou" not in pd.read_csv(results / "runs.csv")
    out = render_report(results, tmp_path / "rep")
    summary = pd.read_csv(out / "summary.csv")
    assert summary["pseudo_miou"].isna().all() and summary["seed_miou"].notna().all()
    md = (out / "table.md").read_text()
    row = next(line for line in md.splitlines() if line.startswith("| C2AM |"))
    assert row.count("| — |") >= 2  # pseudo-mask and segmentation did not run
    assert not (out / "pseudo_curves.png").exists()
    assert "CAM overlays not drawn" in (out / "README.md").read_text()


# --------------------------------------------------------------------------- figures: seed dots


def _dots(ax) -> tuple[list[PathCollection], np.ndarray]:
    """The Axes' scatter collections (the per-seed dots) and all their (x, y) offsets."""
    cols = [c for c in ax.collections if isinstance(c, PathCollection)]
    xy = np.concatenate([c.get_offsets() for c in cols]) if cols else np.empty((0, 2))
    return cols, np.asarray(xy, dtype=float)


def _row(xy: np.ndarray, i: int) -> np.ndarray:
    """The x of the dots drawn in row ``i`` (rows are 1 apart; dots stay within ±0.5)."""
    return np.sort(xy[np.abs(xy[:, 1] - i) < 0.5, 0])


def _check_on_top(ax, cols):
    """Dots above the bars and error bars; the legend label once per Axes."""
    below = [a.get_zorder() for a in [*ax.patches, *ax.lines]]
    below += [c.get_zorder() for c in ax.collections if not isinstance(c, PathCollection)]
    assert min(c.get_zorder() for c in cols) > max(below)
    assert [c.get_label() for c in cols].count(figures.SEED_DOTS) == 1


@pytest.fixture(scope="module")
def loaded(results_dir):
    runs = load_results(results_dir).runs
    return runs, T.summary_frame(runs, "cam")


@pytest.mark.parametrize("metric", list(figures.BAR_METRICS))
def test_metric_bars_one_dot_per_seed(loaded, metric):
    runs, summary = loaded
    ax = figures.draw_metric_bars(summary, runs, metric)
    cols, xy = _dots(ax)
    assert len(xy) == len(VARIANTS) * len(SEEDS)  # one per (method, seed)
    palette = figures.palette_for(summary["variant"].tolist())
    for i, (v, mean) in enumerate(zip(summary["variant"], summary[metric], strict=True)):
        x = _row(xy, i)
        assert x == pytest.approx(np.sort(runs.loc[runs["variant"] == v, metric].to_numpy()))
        assert x.mean() == pytest.approx(mean)  # the bar is the mean of its dots
        assert tuple(cols[i].get_facecolor()[0][:3]) == pytest.approx(palette[v])
    _check_on_top(ax, cols)


def _arrowheads(ax) -> list[tuple[str, float, float]]:
    return [(ln.get_marker(), *map(float, ln.get_xydata()[0])) for ln in ax.lines
            if ln.get_marker() in ("<", ">")]  # fmt: skip


def test_metric_bars_mark_an_interval_beyond_the_axis(loaded):
    runs, summary = loaded
    assert _arrowheads(figures.draw_metric_bars(summary, runs, "seed_miou")) == []
    wide = summary.copy()
    wide.loc[wide.index[0], "seed_miou_ci_high"] = 130.0  # n = 2: t = 12.7 can pass 100
    wide.loc[wide.index[1], "seed_miou_ci_low"] = -4.0
    ax = figures.draw_metric_bars(wide, runs, "seed_miou")
    assert ax.get_xlim() == (0.0, 100.0)
    assert sorted(_arrowheads(ax)) == [("<", 0.0, 1.0), (">", 100.0, 0.0)]


@pytest.mark.parametrize("metric", list(figures.BAR_METRICS))
def test_deltas_one_dot_per_seed(loaded, metric):
    runs, summary = loaded
    ax = figures.draw_deltas(summary, runs, metric)
    cols, xy = _dots(ax)
    others = summary[~summary["is_baseline"]]
    assert len(xy) == len(others) * len(SEEDS)
    base = runs[runs["variant"] == "cam"].set_index("seed")[metric]
    for i, (v, mean) in enumerate(zip(others["variant"], others[f"delta_{metric}"], strict=True)):
        d = runs[runs["variant"] == v].set_index("seed")[metric] - base  # the per-seed deltas
        x = _row(xy, i)
        assert x == pytest.approx(np.sort(d.to_numpy()))
        assert x.mean() == pytest.approx(mean)
    _check_on_top(ax, cols)


def test_ladder_one_dot_per_seed(loaded):
    from c2am_bench.report.schema import LADDER

    runs, summary = loaded
    assert T.ladder_variants(summary, runs) == ["cam"]
    ax = figures.draw_ladder(summary, runs, "cam")
    cols, xy = _dots(ax)
    assert len(xy) == len(LADDER) * len(SEEDS)
    mine = runs[runs["variant"] == "cam"]
    for i, (col, _, _) in enumerate(LADDER):
        assert _row(xy, i) == pytest.approx(np.sort(mine[col].to_numpy()))
        assert _row(xy, i).mean() == pytest.approx(summary.loc[0, col])
    _check_on_top(ax, cols)


def test_ladder_per_class_reads_every_rung_of_the_laddered_seeds(loaded, results_dir):
    """One row per class, one column per rung in the ladder's order; each cell the mean of that
    class's per_class.csv rows over the seeds the ladder was climbed at; a variant that did not
    climb it has no frame."""
    from c2am_bench.report.schema import LADDER, LADDER_STAGES

    runs, _ = loaded
    per_class = pd.read_csv(results_dir / "per_class.csv")
    frame = T.ladder_class_frame(per_class, runs, "cam")
    assert list(frame.columns) == [rung for _, rung, _ in LADDER]
    assert list(frame.index) == list(dict.fromkeys(per_class["class"]))
    for col, rung, _ in LADDER:
        stage = per_class["stage"] == LADDER_STAGES[col]
        mine = per_class[(per_class["variant"] == "cam") & stage]
        for cls, iou in mine.groupby("class")["iou"].mean().items():
            assert frame.loc[cls, rung] == pytest.approx(iou)
    assert T.ladder_class_frame(per_class, runs, "c2am").empty
    # climbed at the first seed only: the other seeds' seed/pseudo/seg rows are left out
    first = runs.assign(oracle=runs["oracle"].astype(bool) & (runs["seed"] == SEEDS[0]))
    one = T.ladder_class_frame(per_class, first, "cam")
    seed0 = per_class[(per_class["variant"] == "cam") & (per_class["seed"] == SEEDS[0])]
    want = seed0[seed0["stage"] == "seed"].set_index("class")["iou"]
    assert one["seeds (best t)"].to_dict() == pytest.approx(want.to_dict())


def test_ladder_per_class_figure_marks_the_lost_class(loaded, results_dir, tmp_path):
    """A class that falls at the pseudo-mask rung gets the most negative cell of the change
    panel, and the figure is drawn."""
    runs, summary = loaded
    per_class = pd.read_csv(results_dir / "per_class.csv")
    drop = (
        (per_class["variant"] == "cam")
        & (per_class["stage"] == "pseudo")
        & (per_class["class"] == per_class["class"].iloc[1])
    )
    per_class.loc[drop, "iou"] = 0.0
    out = figures.plot_ladder_per_class(per_class, summary, runs, tmp_path / "classes.png")
    _non_blank(out)
    frame = T.ladder_class_frame(per_class, runs, "cam")
    change = frame.diff(axis=1)["the method's pseudo-masks"]
    assert change.idxmin() == per_class["class"].iloc[1]


def test_figures_have_one_seed_legend_entry(loaded, tmp_path, monkeypatch):
    """The multi-panel figures say "one dot per seed" once, in the figure legend."""
    runs, summary = loaded
    seen = {}

    def capture(fig, out, **kwargs):
        texts = [t.get_text() for lg in [*fig.legends, *(a.get_legend() for a in fig.axes)]
                 if lg is not None for t in lg.get_texts()]  # fmt: skip
        seen[out.name] = texts
        return out

    monkeypatch.setattr(figures, "save_figure", capture)
    figures.plot_metric_bars(summary, runs, tmp_path / "metrics.png")
    figures.plot_deltas(summary, runs, tmp_path / "deltas.png")
    figures.plot_ladder(summary, runs, tmp_path / "oracle_ladder.png")
    assert set(seen) == {"metrics.png", "deltas.png", "oracle_ladder.png"}
    for name, texts in seen.items():
        assert texts.count(figures.SEED_DOTS) == 1, name


def test_one_seed_dot_sits_on_the_bar_end(tmp_path):
    runs = load_results(build_results(tmp_path, seeds=(7,), files=False)).runs
    summary = T.summary_frame(runs, "cam")
    _, xy = _dots(figures.draw_metric_bars(summary, runs, "seed_miou"))
    assert xy[:, 0] == pytest.approx(summary["seed_miou"].to_numpy())
    _, xy = _dots(figures.draw_deltas(summary, runs, "seed_miou"))
    assert xy[:, 0] == pytest.approx(summary["delta_seed_miou"].to_numpy()[1:])


# --------------------------------------------------------------------------- report directory


def _non_blank(path):
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG" and im.width > 200 and im.height > 150
        a = np.asarray(im.convert("L"), dtype=np.float32)
    assert a.std() > 10, f"{path.name} looks blank"
    assert (a < 200).mean() > 0.01, f"{path.name} has almost no ink"


FIGURES = (
    "metrics.png",
    "deltas.png",
    "oracle_ladder.png",
    "oracle_ladder_classes.png",
    "seed_curves.png",
    "pseudo_curves.png",
    "per_class.png",
    "cam_overlays.png",
    "global_cam.png",
    "class_constants.png",
    "gradients.png",
    "optuna_history.png",
    "optuna_importances.png",
    "optuna_slice.png",
)


def test_report_files(report, results_dir):
    for name in (
        "summary.csv",
        "runs.csv",
        "per_class.csv",
        "table.md",
        "table.tex",
        "README.md",
        "index.html",
        MARKER,
    ):
        assert (report / name).is_file(), name
    assert (report / "runs.csv").read_bytes() == (results_dir / "runs.csv").read_bytes()
    assert json.loads((report / MARKER).read_text())["renderer"] == "c2am_bench.report"
    summary = pd.read_csv(report / "summary.csv")
    assert summary["variant"].tolist() == list(VARIANTS)
    p = T.summary_frame(load_results(results_dir).runs, "cam")["delta_seed_miou_p"]
    assert summary["delta_seed_miou_p"][1:].tolist() == pytest.approx(p[1:].tolist(), rel=5e-3)
    assert pd.isna(summary.loc[0, "delta_seed_miou_p"])  # the baseline: no test
    assert not list(report.parent.glob(".report.*"))  # no temp or old dir left beside it


@pytest.mark.parametrize("name", FIGURES)
def test_figures_exist_and_are_not_blank(report, name):
    _non_blank(report / name)


def test_table_md_and_tex(report):
    md = (report / "table.md").read_text()
    assert "| paper (VOC 2012) seed | paper (VOC 2012) pseudo-mask |" in md
    assert "51.39" in md and "69.41" in md and "48.3" in md
    assert "(p 0.0" in md and "paired t-test" in md
    assert "## Oracle ladder" in md
    assert "## Foreground precision and recall" in md and "## Environment" in md
    assert "| git commit | abc1234 |" in md
    tex = (report / "table.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 2 and r"$\pm$" in tex and r"\toprule" in tex
    assert "CAM+Constant" in tex and "$\\approx$" in tex
    readme = (report / "README.md").read_text()
    for name in FIGURES:
        assert f"({name})" in readme


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for key, value in attrs:
            if key in ("src", "href"):
                self.refs.append((tag, value))


def test_index_html_references_existing_files(report):
    text = (report / "index.html").read_text()
    parser = _Links()
    parser.feed(text)
    imgs = [v for t, v in parser.refs if t == "img"]
    assert set(imgs) == set(FIGURES)
    for _, ref in parser.refs:
        if ref.startswith("#"):
            assert f'id="{ref[1:]}"' in text, ref
            continue
        assert "://" not in ref and not ref.startswith("/"), f"not a relative link: {ref}"
        assert (report / ref).is_file(), ref
    assert "<script" not in text and "http" not in text  # opens offline
    assert parser.tags.count("table") >= 7  # table 1, metrics, P/R, 3 per-class, timings, ...
    for expected in (
        "Table 1",
        "paper (VOC 2012)",
        "Foreground precision",
        "Environment",
        "IoU per class",
        "stripes_disc",
    ):
        assert expected in text


def test_index_html_escapes_names(tmp_path):
    results = build_results(tmp_path, seeds=(0, 1), files=False)
    runs = pd.read_csv(results / "runs.csv")
    runs.loc[runs["variant"] == "c2am", "label"] = "<b>C2AM</b> & co"
    runs.to_csv(results / "runs.csv", index=False)
    text = (render_report(results, tmp_path / "rep") / "index.html").read_text()
    assert "<b>C2AM</b>" not in text and "&lt;b&gt;C2AM&lt;/b&gt; &amp; co" in text


def test_optuna_importances_skipped_with_one_trial(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="c2am_bench.report"):
        figs = figures.plot_optuna(make_study(1), tmp_path)
    assert [f.name for f in figs] == ["optuna_history.png", "optuna_slice.png"]
    assert not (tmp_path / "optuna_importances.png").exists()
    assert any("optuna_importances.png skipped" in r.getMessage() for r in caplog.records)
    _non_blank(tmp_path / "optuna_history.png")


@pytest.fixture
def quick_render(monkeypatch):
    """Replace the rendering itself by a stub: the directory handling is what is tested."""

    def fake(results, out, study):
        (out / "index.html").write_text(f"report of {results.root.name}")

    monkeypatch.setattr(render, "_render_into", fake)
    return fake


def test_refuses_foreign_directory(tmp_path, results_dir):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    with pytest.raises(ConfigError, match=re.escape(str(out))):
        render_report(results_dir, out)
    assert (out / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]
    assert not list(tmp_path.glob(".mine*"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="not a directory"):
        render_report(results_dir, tmp_path / "file")
    with pytest.raises(ConfigError, match="results directory"):
        render_report(results_dir, results_dir)


def test_replaces_own_report_and_legacy(tmp_path, results_dir, quick_render):
    out = tmp_path / "rep"
    render_report(results_dir, out, study=None)
    (out / "stale.png").write_bytes(b"old figure")  # ours, from an earlier render
    render_report(results_dir, out)
    assert not (out / "stale.png").exists() and (out / "index.html").is_file()
    legacy = tmp_path / "legacy"
    legacy.mkdir()
    for name in ("README.md", "cam_stage.csv", "seed_curves.png"):  # the old renderer's files
        (legacy / name).write_text("old")
    render_report(results_dir, legacy)
    assert (legacy / MARKER).is_file() and not (legacy / "cam_stage.csv").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (render_report(results_dir, empty) / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "legacy", "rep"]
    assert oct(out.stat().st_mode & 0o777) == "0o755"


def test_failed_render_keeps_previous_report(tmp_path, results_dir, monkeypatch, quick_render):
    out = tmp_path / "rep"
    render_report(results_dir, out)
    before = (out / "index.html").read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(render, "_render_into", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        render_report(results_dir, out)
    assert (out / "index.html").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # temp dir cleaned up


def test_bad_results_dir(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        render_report(tmp_path / "nope", tmp_path / "rep")
    (tmp_path / "res").mkdir()
    with pytest.raises(DataError, match=r"runs\.csv"):
        render_report(tmp_path / "res", tmp_path / "rep")
    pd.DataFrame({"variant": ["x"], "seed": [0]}).to_csv(tmp_path / "res" / "runs.csv")
    (tmp_path / "res" / "context.json").write_text(json.dumps({"against": "cam"}))
    with pytest.raises(DataError, match="baseline variant 'cam'"):
        render_report(tmp_path / "res", tmp_path / "rep")
    assert not (tmp_path / "rep").exists()


# --------------------------------------------------------------------------- CAM figures


def test_cam_overlays_with_pseudo_masks(results_dir, tmp_path):
    runs = pd.read_csv(results_dir / "runs.csv")
    first = runs[runs["seed"] == min(SEEDS)].set_index("label")
    data = json.loads((results_dir / "context.json").read_text())["data_root"]
    cams = {k: f"{d}/cams" for k, d in first["seeds_dir"].items()}
    masks = {k: f"{d}/pseudo_masks" for k, d in first["masks_dir"].items()}
    with_masks = cf.plot_cam_overlays(data, cams, tmp_path / "m.png", masks_dirs=masks)
    without = cf.plot_cam_overlays(data, cams, tmp_path / "c.png")
    with Image.open(with_masks) as a, Image.open(without) as b:
        assert a.width > b.width * 1.3  # three more columns
        ids = ", ".join(voc.open_tree(data).read_split("train"))
        assert a.info["Description"] == b.info["Description"] == f"ids: {ids}"
    _non_blank(with_masks)
    missing = tmp_path / "nomasks"
    with pytest.raises(DataError, match="masks dir does not exist"):
        cf.plot_cam_overlays(data, cams, tmp_path / "x.png", masks_dirs={"CAM": missing})
    missing.mkdir()
    with pytest.raises(DataError, match="pseudo-mask in every masks dir"):
        cf.plot_cam_overlays(data, cams, tmp_path / "x.png", masks_dirs={"CAM": missing})


def test_study_report(tmp_path, caplog):
    results = build_study_results(tmp_path, n_trials=8)
    res = load_results(results)
    summary = T.summary_frame(res.runs, "cam")
    assert len(summary) == 9 and summary["variant"].iloc[0] == "cam"
    base = summary.iloc[0]
    assert (base["n_seeds"], base["n_runs"]) == (2, 2)  # the 8 identical re-runs count once
    assert base["trials"] == ",".join(str(k) for k in range(8))
    runs = res.runs
    for k in (0, 7):
        name = f"c2am[model.head.gamma={0.25 * (k + 1):g}]"
        v = runs[(runs["variant"] == name)].set_index("seed")["seed_miou"]
        b = runs[(runs["variant"] == "cam") & (runs["trial"] == k)].set_index("seed")["seed_miou"]
        row = summary.set_index("variant").loc[name]
        assert row["delta_seed_miou"] == pytest.approx((v - b).mean())
        assert row["delta_seed_miou_n"] == 2
    with caplog.at_level(logging.WARNING, logger="c2am_bench.report"):
        out = render_report(results, tmp_path / "rep", study=make_study())
    readme = (out / "README.md").read_text()
    assert (
        "Threshold curves show 6 of 9 variants, CAM figures 4" in readme
        and "best by seed_miou" in readme
    )
    for name in ("metrics.png", "deltas.png", "seed_curves.png", "per_class.png"):
        _non_blank(out / name)
    # one dot per distinct run: the baseline's 8 cached re-runs show as its 2 seeds
    _, xy = _dots(figures.draw_metric_bars(summary, runs, "seed_miou"))
    assert len(xy) == summary["n_runs"].sum() == 9 * 2
    legend = pd.read_csv(out / "summary.csv")["display"].tolist()
    assert legend[0] == "CAM" and len(set(legend)) == 9


def test_study_response_figure_pairs_each_trial_with_its_own_baseline(tmp_path):
    """One response figure per studied parameter: every (trial, seed) is a dot, the gain is the
    difference from the baseline run of the same trial and seed, the interval is per value."""
    from scipy import stats

    from c2am_bench.report import response as RSP

    results = build_study_results(tmp_path, n_trials=4, seeds=(0, 1, 2))
    runs = load_results(results).runs
    assert RSP.studied_parameters(runs) == ["model.head.gamma"]
    frame = RSP.response_frame(runs, "model.head.gamma", "seed_miou")
    assert len(frame) == 4 * 3 and sorted(frame["value"].unique()) == [0, 1, 2, 3]
    # the synthetic trial k is C2AM's numbers + 0.5 k - 2, its baseline CAM's numbers unchanged
    plain = runs[runs["trial"] == 0].set_index(["variant", "seed"])["seed_miou"]
    c2am = plain[[v for v in plain.index.get_level_values(0) if v.startswith("c2am")][0]]
    first = (c2am + 2.0 - plain["cam"]).sort_index().to_numpy()  # C2AM - CAM, per seed
    for k in range(4):
        got = frame[frame["value"] == k].sort_values("seed")["gain"].to_numpy()
        assert got == pytest.approx(first + 0.5 * k - 2.0)
    fig, axes = plt.subplots(2, 1)
    RSP.draw_response(frame, "model.head.gamma", "seed mIoU (%)", 50.0, (axes[0], axes[1]))
    dots = [c for c in axes[0].collections if isinstance(c, PathCollection)
            and c.get_label() in ("one dot per seed", "_nolegend_")]  # fmt: skip
    assert sum(len(c.get_offsets()) for c in dots) == 12
    # the error bar of value 0 is the t interval of its three seeds
    y0 = frame[frame["value"] == 0]["y"].to_numpy()
    half = stats.t.ppf(0.975, 2) * y0.std(ddof=1) / np.sqrt(3)
    bar = axes[0].containers[0]
    segment = bar.lines[2][0].get_segments()[0]
    assert segment[1][1] - segment[0][1] == pytest.approx(2 * half)
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 50.0
               for line in axes[0].get_lines())  # fmt: skip
    plt.close(fig)
    out = render_report(results, tmp_path / "rep")
    _non_blank(out / "response_model_head_gamma.png")
    assert "response_model_head_gamma.png" in (out / "index.html").read_text()


def test_response_of_a_categorical_parameter_and_no_baseline(tmp_path):
    from c2am_bench.report import response as RSP

    runs = pd.DataFrame({
        "trial": [0, 0, 1, 1, 2, 2], "seed": [0, 1, 0, 1, 0, 1], "is_baseline": [False] * 6,
        "params": [json.dumps({"model.head.pooling": p}) for p in ("gap",) * 2 + ("lse",) * 2
                   + ("max",) * 2],
        "seed_miou": [40.0, 42.0, 45.0, 47.0, 30.0, 31.0],
    })  # fmt: skip
    frame = RSP.response_frame(runs, "model.head.pooling", "seed_miou")
    assert frame["gain"].isna().all()  # no baseline runs: no gain panel
    files = RSP.plot_response(runs, "seed_miou", tmp_path)
    assert [f.name for f in files] == ["response_model_head_pooling.png"]
    _non_blank(tmp_path / files[0].name)


def test_a_ladder_climbed_at_the_first_seed_reads_that_seed_on_every_rung(loaded):
    """``compare --oracle-seeds first``: seeds, pseudo-masks and DeepLabV2 ran at every seed but
    the oracle rungs at the first only; every rung (and so every change between rungs) must then
    be read at that seed, not the plain rungs over all seeds beside an oracle rung over one."""
    from c2am_bench.report.schema import LADDER

    runs, summary = loaded
    runs = runs.copy()
    later = runs["seed"] != SEEDS[0]
    runs.loc[later, "oracle"] = False
    for col, _, _ in LADDER:
        if col.startswith("oracle"):
            runs.loc[later, col] = np.nan
    view_summary, view_runs = T.ladder_view(summary, runs)
    assert set(view_runs["seed"]) == {SEEDS[0]}
    first = runs[(runs["variant"] == "cam") & ~later].iloc[0]
    row = view_summary.set_index("variant").loc["cam"]
    for col, _, _ in LADDER:
        assert row[col] == pytest.approx(first[col])
    assert row["seed_miou"] != pytest.approx(summary.set_index("variant").loc["cam", "seed_miou"])
    ax = figures.draw_ladder(view_summary, view_runs, "cam")
    assert len(_dots(ax)[1]) == len(LADDER)  # one dot per rung: the one seed
    frame = T.ladder_frame(summary, runs)
    assert frame.loc[0, "CAM"].startswith(f"{first['seed_miou']:.1f}")
