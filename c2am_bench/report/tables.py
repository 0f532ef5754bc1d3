"""Summary frame and display tables (Markdown, LaTeX, HTML) of a results directory.

:func:`summary_frame` is the numbers (``summary.csv``): one row per variant with means, 95 %
Student-t intervals over seeds and paired deltas against the baseline. Every ``*_frame`` function
below turns it into strings for display; :func:`markdown_table` and :func:`latex_table` render
those. The paper's reported VOC 2012 numbers (:data:`PAPER_VOC`) sit in their own, labelled
columns: they come from ``design/algorithms.md`` and are blank where that file gives none.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .schema import (
    CONFOUNDER_COLUMNS,
    CONTEXT_ERROR_COLUMNS,
    DELTA_METRICS,
    LADDER,
    LADDER_STAGES,
    METRICS,
    ORACLE_QUALITY,
    PR_COLUMNS,
    SECONDS,
    STAGE_TITLES,
    THRESHOLDS,
)
from .stats import dedupe_runs, mean_ci, paired_delta, paired_differences

__all__ = [
    "PAPER_VOC",
    "TABLE1_METRICS",
    "confounder_frame",
    "environment_frame",
    "ladder_class_frame",
    "ladder_frame",
    "ladder_view",
    "format_ci",
    "format_delta",
    "format_p",
    "latex_table",
    "markdown_table",
    "metrics_frame",
    "paper_frame",
    "per_class_frame",
    "precision_recall_frame",
    "seed_deltas",
    "seed_values",
    "summary_frame",
    "table1_frame",
    "thresholds_frame",
    "timings_frame",
]

# The paper's Table 1 columns: seed, pseudo-mask and segmentation mIoU.
TABLE1_METRICS = {
    "seed_miou": "seed",
    "pseudo_miou": "pseudo-mask",
    "seg_miou": "segmentation",
}

# Reported PASCAL VOC 2012 mIoU (percent) per base method, from design/algorithms.md. None = not
# given there (left blank rather than invented). Seeds and pseudo-masks: VOC12 train (1,464);
# segmentation: DeepLabV2 on val (1,449).
PAPER_VOC: dict[str, dict] = {
    "cam": {
        "seed_miou": 48.3,
        "pseudo_miou": 66.5,
        "seg_miou": None,
        "source": "IRN paper (Ahn et al., CVPR 2019), the CAM + IRN baseline C2AM builds on: "
        "seed at fixed t = 0.15, pseudo-mask after the random walk (algorithms.md c.1, c.2)",
    },
    "cam_constant": {
        "seed_miou": None,
        "pseudo_miou": 69.41,
        "seg_miou": None,
        "source": "C2AM repository history, cfg/cam_constant.yml at ec74d93 (constant 0.2; "
        "recorded pseudo-mask 0.6941; algorithms.md a.5, c.2)",
    },
    "c2am": {
        "seed_miou": 51.39,
        "pseudo_miou": 69.56,
        "seg_miou": 67.5,
        "source": "C2AM paper-era config cfg/c2am.yml at 7cb39df (seed 0.5139 at a hand-swept "
        "t, pseudo-mask 0.6956 = the paper's 69.6); segmentation: the README's DeepLabV2 val "
        "number (67.7 on test) (algorithms.md a.1, a.8, a.9)",
    },
}

_SUMMARY_STATS = tuple(dict.fromkeys((*METRICS, *PR_COLUMNS, *THRESHOLDS,
                                      *(c for c, _, _ in LADDER), *ORACLE_QUALITY,
                                      *CONFOUNDER_COLUMNS, *CONTEXT_ERROR_COLUMNS)))  # fmt: skip


# --------------------------------------------------------------------------- numbers


def _order(runs: pd.DataFrame, against: str) -> list[str]:
    """Variant names: the baseline first, then the others in order of first appearance."""
    names = list(dict.fromkeys(runs["variant"].astype(str)))
    return [against, *[n for n in names if n != against]] if against in names else names


def _display_names(rows: pd.DataFrame) -> pd.Series:
    """Each variant's label, or ``label (variant)`` where labels repeat across variants."""
    dup = rows["label"].duplicated(keep=False)
    shown = rows["label"].where(~dup | (rows["label"] == rows["variant"]))
    return shown.fillna(rows["label"] + " (" + rows["variant"] + ")")


def seed_values(runs: pd.DataFrame) -> pd.DataFrame:
    """The distinct runs that :func:`summary_frame`'s means and intervals are taken over (one row
    per variant x seed in a compare; a study's identical baseline re-runs count once)."""
    return dedupe_runs(runs, [c for c in _SUMMARY_STATS if c in runs.columns])


def seed_deltas(
    runs: pd.DataFrame, against: str, metrics: Sequence[str] = DELTA_METRICS
) -> dict[str, pd.DataFrame]:
    """Per mIoU metric, the paired per-run differences vs ``against`` that :func:`summary_frame`'s
    deltas are taken over (:func:`~c2am_bench.report.stats.paired_differences` frames: columns
    ``variant, trial, seed, value, baseline, delta``; empty for a metric ``runs`` lacks)."""
    return {m: paired_differences(runs, m, against) for m in metrics}


def summary_frame(runs: pd.DataFrame, against: str, confidence: float = 0.95) -> pd.DataFrame:
    """One row per variant: means and t intervals over seeds, paired deltas vs ``against``.

    Args:
        runs: the ``runs.csv`` frame (as :func:`~c2am_bench.report.schema.load_results` reads it:
            every metric column present, NaN where a stage did not run).
        against: the baseline variant's name.
        confidence: interval level.

    Returns:
        Columns ``variant, method, label, display, is_baseline, trials, params, n_seeds, n_runs``;
        for every metric, precision/recall and threshold column ``m``: ``m`` (mean),
        ``m_ci_low``, ``m_ci_high``; for every mIoU metric: ``delta_m`` (mean paired difference,
        percentage points), ``delta_m_ci_low``, ``delta_m_ci_high``, ``delta_m_n`` (pairs) and
        ``delta_m_distinguishable`` (interval excludes 0; NA with fewer than two pairs; NA for the
        baseline itself) and ``delta_m_p`` (two-sided p-value of the paired t-test,
        ``scipy.stats.ttest_rel``; NaN with fewer than two pairs and for the baseline);
        ``seconds_*`` means. The baseline comes first.
    """
    unique = seed_values(runs)
    deltas = seed_deltas(runs, against)
    out = []
    for name in _order(runs, against):
        rows = unique[unique["variant"] == name]
        first = rows.iloc[0]
        row = {
            "variant": name,
            "method": str(first.get("method", name)),
            "label": str(first.get("label", name)),
            "is_baseline": name == against,
            "trials": ",".join(
                str(t) for t in sorted(set(runs.loc[runs["variant"] == name, "trial"])) if t >= 0
            ),
            "params": str(first.get("params", "{}")),
            "n_seeds": int(rows["seed"].nunique()),
            "n_runs": len(rows),
        }
        for m in _SUMMARY_STATS:
            ci = mean_ci(rows[m] if m in rows else [], confidence)
            row.update({m: ci.mean, f"{m}_ci_low": ci.low, f"{m}_ci_high": ci.high})
        for m in DELTA_METRICS:
            pairs = deltas[m][deltas[m]["variant"] == name]
            ci = paired_delta(pairs["value"], pairs["baseline"], confidence)
            if name == against:  # the baseline against itself: 0 by definition, not a test
                ci = ci._replace(mean=0.0, low=math.nan, high=math.nan, n=0, distinguishable=None,
                                 p=math.nan)  # fmt: skip
            row.update(
                {
                    f"delta_{m}": ci.mean,
                    f"delta_{m}_ci_low": ci.low,
                    f"delta_{m}_ci_high": ci.high,
                    f"delta_{m}_n": ci.n,
                    f"delta_{m}_distinguishable": pd.NA
                    if ci.distinguishable is None
                    else ci.distinguishable,
                    f"delta_{m}_p": ci.p,
                }
            )
        for m in SECONDS:
            vals = pd.to_numeric(rows[m], errors="coerce") if m in rows else pd.Series([], float)
            row[m] = float(vals.mean()) if vals.notna().any() else math.nan
        out.append(row)
    frame = pd.DataFrame(out)
    frame.insert(3, "display", _display_names(frame))
    for m in DELTA_METRICS:
        frame[f"delta_{m}_distinguishable"] = frame[f"delta_{m}_distinguishable"].astype("boolean")
    return frame


# --------------------------------------------------------------------------- oracle ladder


def ladder_variants(summary: pd.DataFrame, runs: pd.DataFrame) -> list[str]:
    """Variants (summary order) whose runs climbed the oracle ladder."""
    if "oracle" not in runs.columns:
        return []
    climbed = set(runs.loc[runs["oracle"].astype(bool), "variant"])
    return [v for v in summary["variant"] if v in climbed]


def ladder_view(summary: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The summary and runs the ladder reads: only the seeds at which it was climbed (``compare
    --oracle-seeds first`` climbs at one of several), so every rung is a mean over the same runs
    and a rung-to-rung change compares like with like."""
    if "oracle" not in runs.columns or not runs["oracle"].astype(bool).any():
        return summary, runs
    seeds = set(runs.loc[runs["oracle"].astype(bool), "seed"])
    if seeds >= set(runs["seed"]):
        return summary, runs
    sub = runs[runs["seed"].isin(seeds)]
    return summary_frame(sub, summary["variant"].iloc[0]), sub  # the baseline is listed first


def ladder_class_frame(per_class: pd.DataFrame, runs: pd.DataFrame, variant: str) -> pd.DataFrame:
    """The oracle ladder of one variant per class: IoU (percent, mean over the seeds at which the
    ladder was climbed), one row per class, one column per rung in :data:`LADDER` order (the
    rung's title); rungs without per-class rows are left out, and so is the background class's
    row only when no rung has it. Empty when the variant did not climb the ladder.

    The mean over the classes of a column is that rung's mIoU, so this is where the figure's
    bars come from, class by class: the class whose IoU falls at a rung is where that stage loses.
    """
    if "oracle" not in runs.columns:
        return pd.DataFrame()
    seeds = set(runs.loc[runs["oracle"].astype(bool) & (runs["variant"] == variant), "seed"])
    sub = per_class[(per_class["variant"] == variant) & per_class["seed"].isin(seeds)]
    sub = sub.drop_duplicates(subset=["seed", "stage", "class"])
    titles = {LADDER_STAGES[c]: rung for c, rung, _ in LADDER if c in LADDER_STAGES}
    sub = sub[sub["stage"].isin(titles)]
    if sub.empty or not set(sub["stage"]) - {"seed", "pseudo", "seg"}:
        return pd.DataFrame()
    classes = list(dict.fromkeys(sub["class"]))
    table = sub.pivot_table(index="class", columns="stage", values="iou", aggfunc="mean")
    stages = [s for s in titles if s in table.columns]
    table = table.loc[classes, stages].rename(columns=titles)
    table.index.name = "class"
    table.columns.name = None
    return table


def ladder_frame(summary: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The oracle ladder as display strings: one row per rung, per variant ``mean ± CI`` and the
    change from the rung above (percentage points); then the swapped inputs' quality.

    Reading it: *walk over the GT boundary* - *seeds* is what a perfect boundary gives the walk;
    the drop to *boundary net on GT IR labels* is lost to learning boundaries; the drop to the
    method's pseudo-masks is lost to its IR labels (the seeds' errors); DeepLabV2 vs the
    pseudo-masks is the segmentation stage; the ceiling is DeepLabV2 on ground truth.
    """
    summary, runs = ladder_view(summary, runs)
    names = ladder_variants(summary, runs)
    if not names:
        return pd.DataFrame()
    by = summary.set_index("variant")
    rows = []
    for col, rung, split in LADDER:
        row = {"rung": rung, "split": split}
        for v in names:
            r = by.loc[v]
            row[by.loc[v, "display"]] = _ci_cell(r, col)
            prev = [c for c, _, _ in LADDER[: [c for c, _, _ in LADDER].index(col)]]
            if prev and np.isfinite(r[col]) and np.isfinite(r[prev[-1]]):
                row[f"{by.loc[v, 'display']} Δ"] = f"{r[col] - r[prev[-1]]:+.1f}"
            else:
                row[f"{by.loc[v, 'display']} Δ"] = "—"
        rows.append(row)
    for col, name in ORACLE_QUALITY.items():
        row = {"rung": name, "split": "train"}
        for v in names:
            row[by.loc[v, "display"]] = _ci_cell(by.loc[v], col)
            row[f"{by.loc[v, 'display']} Δ"] = ""
        rows.append(row)
    return pd.DataFrame(rows)


def confounder_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """CAM mass shares on body / part / context / elsewhere per variant (%), each with its
    concentration (mass share / area share: 1× is what a uniform map would put there), and the
    regions' area shares; empty when the data has no confounder maps."""
    if not summary["cam_mass_body"].notna().any():
        return pd.DataFrame()
    rows = []
    for r in summary.to_dict("records"):
        row = {"variant": r["display"]}
        for col, name in CONFOUNDER_COLUMNS.items():
            if col.startswith("cam_mass"):
                area = r[col.replace("mass", "area")]
                density = f" ({r[col] / area:.1f}×)" if area > 0 else ""
                row[name.removeprefix("CAM mass ")] = _ci_cell(r, col) + density
        rows.append(row)
    first = summary.iloc[0]
    area = {name.removeprefix("CAM mass "): f"{first[col.replace('mass', 'area')]:.1f}"
            for col, name in CONFOUNDER_COLUMNS.items() if col.startswith("cam_mass")}  # fmt: skip
    rows.append({"variant": "area share (reference)", **area})
    return pd.DataFrame(rows)


def context_error_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Per variant, the share (%) of the pseudo-masks' (train) and DeepLabV2's (val) foreground
    pixels that lie on their class's context band, in an image without the class, on another
    class's object or on other background (mean over classes, with its interval); empty without
    confounder maps."""
    cols = [c for c in CONTEXT_ERROR_COLUMNS if c in summary and summary[c].notna().any()]
    if not cols:
        return pd.DataFrame()
    return pd.DataFrame([{"variant": r["display"],
                          **{CONTEXT_ERROR_COLUMNS[c]: _ci_cell(r, c) for c in cols}}
                         for r in summary.to_dict("records")])  # fmt: skip


# --------------------------------------------------------------------------- formatting


def format_ci(mean: float, low: float, high: float, n: int, digits: int = 1) -> str:
    """``"38.7 ± 1.2"`` (mean ± half-width), ``"38.7 ± n/a"`` with one seed, ``"—"`` if NaN."""
    if mean is None or not np.isfinite(mean):
        return "—"
    if n < 2 or not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.{digits}f} ± n/a"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def format_p(p: float) -> str:
    """A p-value for a table cell: ``"p 0.04"``, ``"p 0.007"``, ``"p < 0.001"``; ``""`` if NaN."""
    if p is None or p is pd.NA or not np.isfinite(p):
        return ""
    if p < 0.001:
        return "p < 0.001"
    return f"p {p:.3f}" if p < 0.01 else f"p {p:.2f}"


def format_delta(
    mean: float,
    low: float,
    high: float,
    n: int,
    distinguishable,
    digits: int = 1,
    p: float = math.nan,
) -> str:
    """``"+1.2 ± 0.8"`` when the interval excludes 0, ``"≈ +0.3 ± 1.1"`` when it does not,
    ``"+0.3 (CI n/a)"`` with fewer than two pairs, ``"—"`` when there is nothing to compare; a
    finite ``p`` (the paired t-test's) is appended: ``"+1.2 ± 0.8 (p 0.04)"``."""
    if mean is None or not np.isfinite(mean):
        return "—"
    shown = round(mean, digits) + 0.0  # no "-0.0"
    if n < 2 or distinguishable is None or distinguishable is pd.NA:
        return f"{shown:+.{digits}f} (CI n/a)"
    text = f"{shown:+.{digits}f} ± {(high - low) / 2:.{digits}f}"
    if format_p(p):
        text += f" ({format_p(p)})"
    return text if bool(distinguishable) else f"≈ {text}"


def _ci_cell(row: Mapping, m: str, digits: int = 1) -> str:
    n = int(row["n_runs"])
    return format_ci(row[m], row[f"{m}_ci_low"], row[f"{m}_ci_high"], n, digits)


def _delta_cell(row: Mapping, m: str) -> str:
    if row["is_baseline"]:
        return "(baseline)"
    return format_delta(
        row[f"delta_{m}"],
        row[f"delta_{m}_ci_low"],
        row[f"delta_{m}_ci_high"],
        int(row[f"delta_{m}_n"]),
        row[f"delta_{m}_distinguishable"],
        p=row.get(f"delta_{m}_p", math.nan),
    )


def _paper(variant: str, m: str) -> str:
    value = PAPER_VOC.get(variant, {}).get(m)
    return "" if value is None else f"{value:.1f}" if round(value, 1) == value else f"{value:.2f}"


def table1_frame(summary: pd.DataFrame, *, paper: bool = True) -> pd.DataFrame:
    """The paper's Table 1 shape: rows = methods; seed / pseudo-mask / segmentation mIoU (mean ±
    95 % CI half-width over seeds), the paired delta vs the baseline (``Δ ...``), and the paper's
    VOC 2012 numbers for the plain methods (``cam``, ``cam_constant``, ``c2am``) in their own
    ``paper (VOC 2012) ...`` columns."""
    records = summary.to_dict("records")
    out = pd.DataFrame({"method": summary["display"], "n": summary["n_seeds"]})
    for m, name in TABLE1_METRICS.items():
        out[name] = [_ci_cell(r, m) for r in records]
    for m, name in TABLE1_METRICS.items():
        out[f"Δ {name}"] = [_delta_cell(r, m) for r in records]
    if paper:
        for m, name in TABLE1_METRICS.items():
            out[f"paper (VOC 2012) {name}"] = [_paper(v, m) for v in summary["variant"]]
    return out


def metrics_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Every mIoU metric that was measured (mean ± half-CI, percent)."""
    records = summary.to_dict("records")
    out = pd.DataFrame({"method": summary["display"], "n": summary["n_seeds"]})
    for m, name in METRICS.items():
        if summary[m].notna().any():
            out[name] = [_ci_cell(r, m) for r in records]
    return out


def thresholds_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The thresholds the seeds and pseudo-masks were scored at (mean ± half-CI, fractions)."""
    records = summary.to_dict("records")
    out = pd.DataFrame({"method": summary["display"], "n": summary["n_seeds"]})
    for m, name in THRESHOLDS.items():
        if summary[m].notna().any():
            out[name] = [_ci_cell(r, m, 2) for r in records]
    return out


def precision_recall_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Foreground precision and recall per stage (mean ± half-CI, percent)."""
    records = summary.to_dict("records")
    out = pd.DataFrame({"method": summary["display"], "n": summary["n_seeds"]})
    for m, name in PR_COLUMNS.items():
        out[name] = [_ci_cell(r, m) for r in records]
    return out


def timings_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean wall seconds per stage and variant (as recorded when the stage ran; cache hits are
    free in a later invocation)."""
    out = pd.DataFrame({"method": summary["display"]})
    cols = [m for m in SECONDS if summary[m].notna().any()]
    for m in cols:
        out[SECONDS[m]] = summary[m].map(lambda v: "—" if not np.isfinite(v) else f"{v:.1f}")
    if cols:
        total = summary[cols].sum(axis=1, min_count=1)
        out["total"] = total.map(lambda v: "—" if not np.isfinite(v) else f"{v:.1f}")
    return out


def per_class_frame(
    per_class: pd.DataFrame, stage: str, order: Sequence[str], names: Mapping[str, str]
) -> pd.DataFrame:
    """Mean IoU (percent) per variant x class for one ``stage`` (``seed``/``pseudo``/``seg``).

    Rows follow ``order`` (variant names) and are labelled by ``names``; columns keep the class
    order of the file. Empty when the stage has no rows.
    """
    sub = per_class[per_class["stage"] == stage]
    if sub.empty:
        return pd.DataFrame()
    classes = list(dict.fromkeys(sub["class"]))
    sub = sub.drop_duplicates(subset=["variant", "seed", "class", "iou"])
    table = sub.pivot_table(index="variant", columns="class", values="iou", aggfunc="mean")
    rows = [v for v in order if v in table.index]
    table = table.loc[rows, classes]
    table.index = [names.get(v, v) for v in rows]
    table.index.name = "method"
    table.columns.name = None
    table["mean"] = table.mean(axis=1)
    return table


def paper_frame() -> pd.DataFrame:
    """The reported VOC 2012 numbers with where each comes from."""
    labels = {"cam": "CAM", "cam_constant": "CAM+Constant", "c2am": "C2AM"}
    return pd.DataFrame(
        [
            {
                "method": labels[k],
                **{TABLE1_METRICS[m]: _paper(k, m) for m in TABLE1_METRICS},
                "source": v["source"],
            }
            for k, v in PAPER_VOC.items()
        ]
    )


def environment_frame(context: Mapping) -> pd.DataFrame:
    """``key, value`` rows: what was run on what (context fields, then the environment)."""
    rows = []
    for key in (
        "title",
        "kind",
        "name",
        "study",
        "question",
        "space",
        "profile",
        "pseudo",
        "data_root",
        "data_fingerprint",
        "against",
        "objective",
        "seeds",
        "storage",
    ):
        if key in context and context[key] not in (None, "", []):
            value = context[key]
            rows.append((key, value if isinstance(value, str) else json.dumps(value)))
    for key, value in (context.get("environment") or {}).items():
        rows.append((str(key), str(value)))
    return pd.DataFrame(rows, columns=["key", "value"])


# --------------------------------------------------------------------------- rendering


def _md_cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame: pd.DataFrame, floatfmt: str = ".1f") -> str:
    """A GitHub Markdown table (``|`` in cells escaped; floats as ``floatfmt``)."""
    frame = frame.reset_index() if frame.index.name else frame
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(_md_cell(c) for c in cols) + " |"]
    aligns = ["---:" if pd.api.types.is_numeric_dtype(frame[c]) else ":---" for c in frame.columns]
    lines.append("| " + " | ".join(aligns) + " |")
    for row in frame.itertuples(index=False):
        cells = [format(v, floatfmt) if isinstance(v, float) and np.isfinite(v) else v for v in row]
        lines.append("| " + " | ".join(_md_cell(c) for c in cells) + " |")
    return "\n".join(lines)


_TEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def _tex_cell(value) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    text = "".join(_TEX.get(ch, ch) for ch in text)
    return (
        text.replace("±", r"$\pm$")
        .replace("≈", r"$\approx$")
        .replace("<", r"$<$")
        .replace("Δ", r"$\Delta$")
        .replace("—", "---")
    )


def latex_table(frame: pd.DataFrame, caption: str, label: str) -> str:
    """A full-width booktabs ``table*`` of ``frame``, scaled to the text width (text cells
    escaped; needs the ``booktabs`` and ``graphicx`` packages)."""
    cols = [str(c) for c in frame.columns]
    spec = "l" + "r" * (len(cols) - 1)
    lines = [
        r"\begin{table*}[t]",
        r"\centering",
        rf"\caption{{{_tex_cell(caption)}}}",
        rf"\label{{{label}}}",
        r"\resizebox{\textwidth}{!}{%",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(_tex_cell(c) for c in cols) + r" \\",
        r"\midrule",
    ]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(_tex_cell(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table*}", ""]
    return "\n".join(lines)


def stage_name(stage: str) -> str:
    """Display name of a per-class / curve stage."""
    return STAGE_TITLES.get(stage, stage)
