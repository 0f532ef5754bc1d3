"""Report figures: metric bars and paired deltas with 95 % intervals, per-class IoU heat maps,
threshold curves, Optuna study plots, and the CAM figures of :mod:`c2am_bench.cam_figures`.

Every figure that shows a mean and its interval over seeds (metric bars, paired deltas, the
oracle ladder) also shows the values that mean was taken over, one dot per seed (per distinct run:
:func:`~c2am_bench.report.tables.seed_values`, :func:`~c2am_bench.report.tables.seed_deltas`),
filled in the bar's colour with a darker edge.

``draw_*`` functions take tidy frames and an optional ``ax`` and return the ``Axes``; ``plot_*``
functions write one PNG (atomically, via :func:`~c2am_bench.cam_figures.save_figure`) and return
its path. Everything renders on pyplot-free Agg figures except Optuna's matplotlib plots, which
use pyplot internally; those figures are closed right after saving and nothing is shown.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ..cam_figures import new_figure, save_figure
from ..errors import C2AMError
from .schema import LADDER, LADDER_SHORT, METRICS, STAGE_TITLES, Results
from .tables import ladder_class_frame, ladder_variants, ladder_view, seed_deltas, seed_values

logger = logging.getLogger(__name__)

__all__ = [
    "FigureFile",
    "BAR_METRICS",
    "SEED_DOTS",
    "draw_deltas",
    "draw_ladder",
    "draw_metric_bars",
    "draw_threshold_curves",
    "palette_for",
    "plot_cam_figures",
    "plot_deltas",
    "plot_ladder",
    "plot_ladder_per_class",
    "plot_metric_bars",
    "plot_optuna",
    "plot_per_class",
    "plot_threshold_curves",
    "select_variants",
]

# metric -> short panel title (stage order)
BAR_METRICS = {
    "seed_miou": "seed (best t)",
    "seed_miou_fixed": "seed (t = 0.15)",
    "pseudo_miou": "pseudo-mask",
    "seg_miou": "segmentation (val)",
}
FIXED_SEED_THRESHOLD = 0.15
SEED_DOTS = "one dot per seed"  # the legend entry of the per-seed dots
_LABEL_BOX = {"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85}


@dataclass(frozen=True)
class FigureFile:
    """A written figure: file name (relative to the report), title and a one-line caption."""

    name: str
    title: str
    caption: str


def palette_for(order: Sequence[str]) -> dict[str, tuple]:
    """One colour per variant, stable across every figure of a report (baseline = first)."""
    colours = sns.color_palette("colorblind", n_colors=max(len(order), 1))
    return dict(zip(order, colours, strict=False))


def select_variants(summary: pd.DataFrame, metric: str | None, k: int = 6) -> list[str]:
    """The baseline and up to ``k - 1`` other variants, best ``metric`` first (file order if
    ``metric`` is None or all NaN). Keeps crowded study figures readable."""
    base = summary.loc[summary["is_baseline"], "variant"].tolist()
    rest = summary.loc[~summary["is_baseline"]]
    if metric and metric in rest and rest[metric].notna().any():
        rest = rest.sort_values(metric, ascending=False, na_position="last")
    return base + rest["variant"].tolist()[: max(k - len(base), 0)]


def _height(n: int, per: float = 0.42, extra: float = 1.6) -> float:
    return max(2.6, per * n + extra)


def _darker(colour, factor: float = 0.5) -> tuple[float, float, float]:
    return tuple(factor * c for c in to_rgb(colour))


def _lighter(colour, white: float = 0.4) -> tuple[float, float, float]:
    """``colour`` mixed with ``white`` parts of white: a bar's face, so that the dots drawn on it
    in the full colour stand out."""
    return tuple((1.0 - white) * c + white for c in to_rgb(colour))


def _mark_beyond(ax: Axes, row: float, low: float, high: float, xmax: float) -> None:
    """An arrowhead at the axis end (0 or ``xmax``) of row ``row`` where the interval
    ``[low, high]`` passes it: mIoU lies in [0, 100] but a t interval of few seeds need not
    (n = 2: t = 12.7), and the error bar is cut at the axis. NaN ends (one seed) mark nothing."""
    for beyond, edge, marker in ((high > xmax, xmax, ">"), (low < 0.0, 0.0, "<")):
        if beyond:
            ax.plot(edge, row, marker, ms=6, color="black", clip_on=False, zorder=3)


def _seed_dots(
    ax: Axes, values, row: float, colour, offset: float = 0.17, spread: float = 0.09
) -> PathCollection | None:
    """One dot per value at ``x = value`` in row ``row``, spread over ``row + offset ± spread``
    (the lower half of a bar, clear of the error bar on the row's centre line), in ``colour``
    with a darker edge, above the bars and error bars. The Axes' first dots carry the legend
    label :data:`SEED_DOTS`."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not x.size:
        return None
    y = row + offset + (np.linspace(-spread, spread, x.size) if x.size > 1 else np.zeros(1))
    colour = colour if colour is not None else "lightgrey"
    first = not any(c.get_label() == SEED_DOTS for c in ax.collections)
    return ax.scatter(x, y, s=20, color=colour, edgecolors=[_darker(colour)], linewidths=0.9,
                      zorder=3.5, label=SEED_DOTS if first else "_nolegend_")  # fmt: skip


def _seed_legend(handles: Sequence = ()) -> list:
    """Legend handles ending with the per-seed dot's (neutral grey, as every variant has its own
    colour)."""
    dot = Line2D([], [], ls="", marker="o", ms=5, mfc="lightgrey", mec="dimgrey", mew=0.9,
                 label=SEED_DOTS)  # fmt: skip
    return [*handles, dot]


def _figure_legend(fig: Figure, handles: Sequence) -> None:
    fig.legend(handles=list(handles), loc="outside lower center", ncol=len(handles), fontsize=8,
               frameon=False)  # fmt: skip


# --------------------------------------------------------------------------- bars and deltas


def draw_metric_bars(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    metric: str,
    ax: Axes | None = None,
    palette: Mapping[str, tuple] | None = None,
) -> Axes:
    """Horizontal bars of ``metric``'s mean per variant with its t interval and each seed's dot.

    Variants follow ``summary``'s order (baseline on top); the value (mean ± half-width) is
    written inside each bar. The dots are the runs the mean was taken over
    (:func:`~c2am_bench.report.tables.seed_values`: repeated identical runs, a study's cached
    baseline, show one dot). A variant with one seed has no error bar (its interval is
    undefined) and says so; its one dot sits on the bar's end. An interval end outside [0, 100]
    (few seeds) stops at the axis under an arrowhead.
    """
    if ax is None:
        ax = new_figure(figsize=(5, _height(len(summary)))).subplots()
    palette = palette or palette_for(summary["variant"].tolist())
    runs = seed_values(runs)
    values = [summary[metric], summary[f"{metric}_ci_high"], runs[metric]]
    top = max((float(np.nanmax(v)) for v in values if v.notna().any()), default=1.0)
    xmax = min(100.0, top * 1.15 + 2.0)
    for i, row in enumerate(summary.to_dict("records")):
        mean, low, high = row[metric], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"]
        if not np.isfinite(mean):
            ax.text(0.01 * xmax, i, "not run", va="center", fontsize=8, color="grey")
            continue
        xerr = [[mean - low], [high - mean]] if np.isfinite(low) else None
        colour = palette.get(row["variant"]) or "grey"
        ax.barh(
            i,
            mean,
            color=_lighter(colour),
            xerr=xerr,
            capsize=4,
            height=0.65,
            error_kw={"elinewidth": 1.2, "ecolor": "black"},
            edgecolor="black",
            lw=0.5,
        )
        _mark_beyond(ax, i, low, high, xmax)
        mine = runs[runs["variant"] == row["variant"]].sort_values("seed", kind="stable")
        _seed_dots(ax, mine[metric], i, colour)
        text = f"{mean:.1f}" + (f" ± {(high - low) / 2:.1f}" if np.isfinite(low) else " (n=1)")
        ax.text(0.015 * xmax, i, text, va="center", fontsize=8, zorder=4, bbox=_LABEL_BOX)
    ax.set_yticks(np.arange(len(summary)), summary["display"].tolist())
    ax.set_ylim(len(summary) - 0.5, -0.5)  # baseline on top (not invert_yaxis: axes share y)
    ax.set_xlim(0, xmax)
    ax.set_xlabel("mIoU (%)")
    ax.set_title(BAR_METRICS.get(metric, METRICS.get(metric, metric)), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_metric_bars(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    out: str | os.PathLike,
    palette: Mapping[str, tuple] | None = None,
) -> Path | None:
    """One :func:`draw_metric_bars` panel per stage metric that has numbers; ``None`` if none."""
    metrics = [m for m in BAR_METRICS if summary[m].notna().any()]
    if not metrics:
        return None
    fig = new_figure(figsize=(3.6 * len(metrics) + 1.8, _height(len(summary))))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, m in zip(axes, metrics, strict=True):
        draw_metric_bars(summary, runs, m, ax=ax, palette=palette)
    for ax in axes[1:]:
        ax.tick_params(axis="y", left=False)
    n = int(summary["n_seeds"].max())
    fig.suptitle(f"mIoU per stage: mean over seeds, 95 % t interval (n = {n})", fontsize=11)
    _figure_legend(fig, _seed_legend())
    return save_figure(fig, out)


def draw_deltas(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    metric: str,
    ax: Axes | None = None,
    palette: Mapping[str, tuple] | None = None,
) -> Axes:
    """Forest plot of the paired delta vs the baseline for ``metric``, one row per variant.

    Large marker: the mean; filled: the 95 % interval excludes 0 (distinguishable); hollow: it
    does not; a cross with no bar: fewer than two pairs (interval undefined). Below it, one dot
    per seed: that seed's paired difference (:func:`~c2am_bench.report.tables.seed_deltas`, the
    differences the mean and interval were taken over).
    """
    rows = summary[~summary["is_baseline"]]
    if ax is None:
        ax = new_figure(figsize=(4.5, _height(len(rows)))).subplots()
    palette = palette or palette_for(summary["variant"].tolist())
    d = f"delta_{metric}"
    base = summary.loc[summary["is_baseline"], "variant"]
    if len(base):
        pairs = seed_deltas(runs, base.iloc[0], [metric])[metric]
    else:
        pairs = pd.DataFrame(columns=["variant", "seed", "delta"])
    for i, row in enumerate(rows.to_dict("records")):
        mean, low, high = row[d], row[f"{d}_ci_low"], row[f"{d}_ci_high"]
        if not np.isfinite(mean):
            ax.text(0, i, "n/a", va="center", ha="center", fontsize=8, color="grey")
            continue
        colour = palette.get(row["variant"], "black")
        dist = row[f"{d}_distinguishable"]
        mine = pairs[pairs["variant"] == row["variant"]].sort_values("seed", kind="stable")
        _seed_dots(ax, mine["delta"], i, colour, offset=0.28, spread=0.06)
        ax.annotate(
            f"{round(mean, 1) + 0.0:+.1f}",  # no "-0.0"
            (mean, i),
            xytext=(0, 7),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
        )
        if np.isfinite(low):
            ax.errorbar(
                mean,
                i,
                xerr=[[mean - low], [high - mean]],
                fmt="none",
                ecolor=colour,
                capsize=4,
                elinewidth=1.5,
            )
            filled = bool(dist) if dist is not pd.NA else False
            ax.plot(mean, i, "o", ms=8, mec=colour, mfc=colour if filled else "white", mew=1.5)
        else:
            ax.plot(mean, i, "x", ms=8, color=colour, mew=2)
    ax.axvline(0.0, color="grey", lw=1, ls="--")
    shown = pairs.loc[pairs["variant"].isin(rows["variant"]), "delta"].to_numpy(dtype=float)
    span = np.abs(np.r_[rows[[d, f"{d}_ci_low", f"{d}_ci_high"]].to_numpy(float).ravel(), shown])
    span = np.nanmax(span) if np.isfinite(span).any() else 1.0
    ax.set_xlim(-1.25 * span - 0.05, 1.25 * span + 0.05)  # symmetric: 0 in the middle
    ax.set_yticks(np.arange(len(rows)), rows["display"].tolist())
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlabel("Δ mIoU (percentage points)")
    ax.set_title(BAR_METRICS.get(metric, metric), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_deltas(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    out: str | os.PathLike,
    palette: Mapping[str, tuple] | None = None,
) -> Path | None:
    """:func:`draw_deltas` per stage metric; ``None`` with no non-baseline variant or no delta."""
    rows = summary[~summary["is_baseline"]]
    metrics = [m for m in BAR_METRICS if rows[f"delta_{m}"].notna().any()]
    if rows.empty or not metrics:
        return None
    fig = new_figure(figsize=(3.3 * len(metrics) + 1.8, _height(len(rows), extra=2.0)))
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, m in zip(axes, metrics, strict=True):
        draw_deltas(summary, runs, m, ax=ax, palette=palette)
    for ax in axes[1:]:
        ax.tick_params(axis="y", left=False)
    handles = [
        Line2D(
            [],
            [],
            ls="",
            marker="o",
            ms=7,
            mfc="black",
            mec="black",
            label="95 % CI excludes 0 (distinguishable)",
        ),
        Line2D(
            [], [], ls="", marker="o", ms=7, mfc="white", mec="black", label="CI includes 0 (≈)"
        ),
        Line2D([], [], ls="", marker="x", ms=7, color="black", mew=2, label="one pair (CI n/a)"),
    ]
    _figure_legend(fig, _seed_legend(handles))
    base = summary.loc[summary["is_baseline"], "display"]
    fig.suptitle(
        f"Paired difference vs {base.iloc[0] if len(base) else 'the baseline'} "
        "(same seed), mean and 95 % t interval",
        fontsize=11,
    )
    return save_figure(fig, out)


# --------------------------------------------------------------------------- per-class heat maps


def plot_per_class(
    per_class: pd.DataFrame,
    order: Sequence[str],
    names: Mapping[str, str],
    out: str | os.PathLike,
) -> Path | None:
    """Heat maps of mean IoU, variant x class, one panel per stage (stacked); ``None`` if empty.

    The colour scale is shared (0-100 %); cells are annotated while the grid stays small enough
    to read. The ``mean`` column is the unweighted mean over the classes shown (= mIoU).
    """
    from .tables import per_class_frame

    tables = {s: per_class_frame(per_class, s, order, names) for s in STAGE_TITLES}
    tables = {s: t for s, t in tables.items() if not t.empty}
    if not tables:
        return None
    n_cols = max(t.shape[1] for t in tables.values())
    n_rows = [t.shape[0] for t in tables.values()]
    width = max(7.0, 0.62 * n_cols + 3.2)
    fig = new_figure(figsize=(width, sum(0.42 * n + 1.3 for n in n_rows) + 0.6))
    axes = fig.subplots(
        len(tables), 1, squeeze=False, height_ratios=[0.42 * n + 1.3 for n in n_rows]
    )[:, 0]
    annotate = n_cols * max(n_rows) <= 600
    for ax, (stage, table) in zip(axes, tables.items(), strict=True):
        sns.heatmap(
            table,
            ax=ax,
            vmin=0,
            vmax=100,
            cmap="viridis",
            annot=annotate,
            fmt=".0f",
            annot_kws={"fontsize": 7},
            linewidths=0.5,
            linecolor="white",
            cbar_kws={"label": "IoU (%)", "shrink": 0.9},
        )
        ax.set_title(f"{STAGE_TITLES[stage]}: IoU per class (mean over seeds)", fontsize=10)
        ax.set_ylabel("")
        ax.tick_params(axis="x", labelrotation=40, labelsize=8)
        ax.tick_params(axis="y", labelrotation=0, labelsize=8)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
        ax.axvline(table.shape[1] - 1, color="white", lw=3)  # set the mean column apart
    return save_figure(fig, out)


# --------------------------------------------------------------------------- threshold curves


def draw_threshold_curves(
    curves: pd.DataFrame,
    stage: str,
    order: Sequence[str],
    names: Mapping[str, str],
    ax: Axes | None = None,
    palette: Mapping[str, tuple] | None = None,
    marks: Mapping[str, float] | None = None,
) -> Axes:
    """mIoU against the threshold of ``stage`` per variant: the mean over seeds as a line, the
    min-max over seeds as a band, the mean curve's best point marked; ``marks`` adds labelled
    vertical lines (e.g. the fixed t = 0.15 or the configured sem_seg_bg)."""
    if ax is None:
        ax = new_figure(figsize=(7, 4.4)).subplots()
    palette = palette or palette_for(list(order))
    sub = curves[(curves["stage"] == stage) & curves["variant"].isin(order)]
    sub = sub.drop_duplicates(subset=["variant", "seed", "threshold", "miou"])
    for v in order:
        c = sub[sub["variant"] == v]
        if c.empty:
            continue
        g = c.groupby("threshold")["miou"].agg(["mean", "min", "max", "count"]).reset_index()
        colour = palette.get(v)
        best = g.loc[g["mean"].idxmax()]
        label = f"{names.get(v, v)} (best {best['mean']:.1f} @ {best['threshold']:.2f})"
        ax.plot(g["threshold"], g["mean"], color=colour, lw=1.8, label=label)
        if g["count"].max() > 1:
            ax.fill_between(g["threshold"], g["min"], g["max"], color=colour, alpha=0.18, lw=0)
        ax.plot(best["threshold"], best["mean"], "o", color=colour, mec="black", ms=7)
    for text, x in (marks or {}).items():
        ax.axvline(x, ls="--", color="grey", lw=1)
        ax.text(
            x,
            0.02,
            f" {text}",
            rotation=90,
            va="bottom",
            ha="right",
            fontsize=8,
            color="dimgrey",
            transform=ax.get_xaxis_transform(),
        )
    ax.set_xlabel("background threshold t" if stage == "seed" else "sem_seg_bg")
    ax.set_ylabel("mIoU (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return ax


def plot_threshold_curves(
    curves: pd.DataFrame,
    stage: str,
    order: Sequence[str],
    names: Mapping[str, str],
    out: str | os.PathLike,
    palette: Mapping[str, tuple] | None = None,
    marks: Mapping[str, float] | None = None,
) -> Path | None:
    """:func:`draw_threshold_curves` written to ``out``; ``None`` when ``stage`` has no curve."""
    if curves.empty or not (curves["stage"] == stage).any():
        return None
    ax = draw_threshold_curves(curves, stage, order, names, palette=palette, marks=marks)
    n = curves.loc[curves["stage"] == stage, "seed"].nunique()
    what = (
        "Seed mIoU vs background threshold"
        if stage == "seed"
        else ("Pseudo-mask mIoU vs sem_seg_bg")
    )
    band = "band = min-max over seeds" if n > 1 else "one seed"
    ax.set_title(f"{what} (mean over {n} seed{'s' * (n > 1)}; {band})", fontsize=10)
    return save_figure(ax.figure, out)


# --------------------------------------------------------------------------- Optuna


def _importance_problem(study) -> str | None:
    """Why parameter importances would be meaningless for ``study`` (None if they are not)."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) < 2:
        return f"{len(done)} completed trial(s); importances need at least 2"
    values: dict[str, set] = {}
    for t in done:
        for k, v in t.params.items():
            values.setdefault(k, set()).add(repr(v))
    if not any(len(v) > 1 for v in values.values()):
        return "no parameter varies across the completed trials"
    return None


def plot_optuna(study, out_dir: str | os.PathLike) -> list[FigureFile]:
    """Optimisation history, parameter importances and slice plot of an Optuna study.

    Each figure is attempted on its own: one that cannot be drawn (importances need at least two
    completed trials whose parameters vary; Optuna raises on an empty study) is skipped with a
    logged warning, and the report goes on.
    """
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning
    from optuna.visualization import matplotlib as ovm

    out_dir = Path(out_dir)
    specs = [
        (
            "optuna_history.png",
            "Optuna optimisation history",
            ovm.plot_optimization_history,
            "objective value of each completed trial and the best so far",
            None,
        ),
        (
            "optuna_importances.png",
            "Optuna parameter importances",
            ovm.plot_param_importances,
            "importance of each searched parameter for the objective (Optuna's default evaluator)",
            _importance_problem,
        ),
        (
            "optuna_slice.png",
            "Optuna slice plot",
            ovm.plot_slice,
            "objective against each parameter, one dot per trial (colour = trial number)",
            None,
        ),
    ]
    done = []
    mine = set(plt.get_fignums())  # close only the figures Optuna opens here, not a user's
    for name, title, fn, caption, check in specs:
        problem = check(study) if check is not None else None
        if problem:
            logger.warning("optuna figure %s skipped: %s", name, problem)
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                warnings.simplefilter("ignore", UserWarning)  # e.g. a one-trial slice's xlim
                result = fn(study)
                axes = np.atleast_1d(result)
                fig = axes.flat[0].figure
                width, height = fig.get_size_inches()
                fig.set_size_inches(max(width, 3.8 * axes.size + 1.0, 7.5), max(height, 4.5))
                fig.set_layout_engine("constrained")
                save_figure(fig, out_dir / name)
            done.append(FigureFile(name, title, caption))
        except Exception as err:  # noqa: BLE001 - Optuna raises several types; the report goes on
            logger.warning("optuna figure %s skipped: %s: %s", name, type(err).__name__, err)
        finally:
            for num in set(plt.get_fignums()) - mine:
                plt.close(num)
    return done


# --------------------------------------------------------------------------- CAM figures


def _params(row: pd.Series) -> dict:
    try:
        value = json.loads(row.get("params") or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _param(params: dict, key: str, default):
    """``params[key]`` for a dotted key, also under a ``method:`` prefix (study spaces)."""
    for k, v in params.items():
        if k == key or k.endswith(":" + key):
            return v
    return default


def plot_cam_figures(
    results: Results,
    summary: pd.DataFrame,
    out_dir: str | os.PathLike,
    variants: Sequence[str],
) -> tuple[list[FigureFile], list[str]]:
    """CAM overlays with pseudo-masks (Figs. 1/5), Global CAM (Fig. 10), constants M_z (Fig. 7)
    and logit gradients (Figs. 4/8) from the stage dirs of each variant's smallest seed.

    Returns the figures written and notes on those that could not be drawn (a stage dir deleted,
    the data root absent on this machine, no Global CAM), each also logged as a warning.
    """
    from .. import cam_figures as cf
    from ..cams import load_global_cam

    out_dir = Path(out_dir)
    runs, context = results.runs, results.context
    names = dict(zip(summary["variant"], summary["display"], strict=True))
    first = runs.sort_values(["seed", "trial"]).drop_duplicates("variant").set_index("variant")
    done: list[FigureFile] = []
    notes: list[str] = []

    def skip(what: str, why: str) -> None:
        logger.warning("%s skipped: %s", what, why)
        notes.append(f"{what} not drawn: {why}")

    def dir_of(v: str, col: str, sub: str = "") -> Path | None:
        text = str(first.loc[v, col]) if v in first.index else ""
        if not text or text == "nan":
            return None
        path = Path(text) / sub if sub else Path(text)
        return path if path.is_dir() else None

    data_root = context.get("data_root")
    cams = {names.get(v, v): dir_of(v, "seeds_dir", "cams") for v in variants}
    cams = {k: d for k, d in cams.items() if d is not None}
    masks = {names.get(v, v): dir_of(v, "masks_dir", "pseudo_masks") for v in variants}
    masks = {k: d for k, d in masks.items() if d is not None}
    if not data_root or not Path(data_root).is_dir():
        skip("CAM overlays", f"data root {data_root!r} is not on this machine")
    elif not cams:
        skip("CAM overlays", "no variant's seeds directory (seeds_dir/cams) exists")
    else:
        seed = int(runs["seed"].min())
        try:
            cf.plot_cam_overlays(
                data_root, cams, out_dir / "cam_overlays.png", n=4, masks_dirs=masks or None
            )
            what = "CAMs and pseudo-masks" if masks else "CAMs"
            done.append(
                FigureFile(
                    "cam_overlays.png",
                    f"{what} of the same images (paper Figs. 1 and 5)",
                    f"image, ground truth, each method's CAM of the largest GT class"
                    f"{' and its pseudo-mask' if masks else ''} (seed {seed})",
                )
            )
        except C2AMError as err:
            skip("CAM overlays", str(err))

    base = results.against
    gpath = dir_of(base, "seeds_dir")
    gpath = gpath / "global_cam.npz" if gpath is not None else None
    class_names = results.class_names
    if gpath is None or not gpath.is_file():
        skip("Global CAM figures", f"the baseline {base!r} has no seeds_dir/global_cam.npz")
        return done, notes
    try:
        cf.plot_global_cam(gpath, class_names, out_dir / "global_cam.png")
        cf.save_class_constants(gpath, class_names, out_dir / "class_constants.png")
        g = load_global_cam(gpath)
    except (C2AMError, ValueError) as err:
        skip("Global CAM figures", str(err))
        return done, notes
    done += [
        FigureFile(
            "global_cam.png",
            "Global CAM per class (paper Fig. 10)",
            "G^all (top) and G^cls (bottom) of the baseline classifier, per class",
        ),
        FigureFile(
            "class_constants.png",
            "Per-class constants M_z (paper Fig. 7)",
            "spatial mean of G_z; C2AM scales class z's logit by gamma * M_z",
        ),
    ]
    constants = {"CAM (c = 1)": 1.0}
    n_c2am = 0
    for v in variants:
        row = first.loc[v] if v in first.index else None
        if row is None:
            continue
        p = _params(row)
        if row.get("method") == "cam_constant":
            c = float(_param(p, "model.head.constant", 0.2))
            constants[f"{names.get(v, v)} (c = {c:g})"] = c
        elif row.get("method") == "c2am" and n_c2am < 2:  # two C2AM variants keep it legible
            n_c2am += 1
            gamma = float(_param(p, "model.head.gamma", 1.0))
            agg = "by_class" if _param(p, "model.head.aggregation", "all") == "class" else "all"
            means = np.asarray(g[agg], np.float64).reshape(len(class_names), -1).mean(1)
            for i in dict.fromkeys((int(means.argmax()), int(means.argmin()))):
                c = gamma * float(means[i])
                constants[f"{names.get(v, v)}: {class_names[i]} (c = {c:.3f})"] = c
    cf.plot_gradient_curves(constants, out_dir / "gradients.png")
    done.append(
        FigureFile(
            "gradients.png",
            "Logit gradients for the measured constants (paper Figs. 4/8)",
            "dL/ds of BCE-with-logits on c·s; C2AM's c is gamma·M_z of its largest and smallest "
            "class",
        )
    )
    return done, notes


# --------------------------------------------------------------------------- oracle ladder


def draw_ladder(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    variant: str,
    ax: Axes | None = None,
    color: tuple | None = None,
) -> Axes:
    """One variant's oracle ladder: a horizontal bar per rung (top to bottom in stage order)
    with its t interval, each seed as a dot (the runs the mean was taken over:
    :func:`~c2am_bench.report.tables.seed_values`), and the change from the rung above in the
    margin.

    Rungs that did not run (``--until masks`` has no DeepLabV2) are marked "not run".
    """
    if ax is None:
        ax = new_figure(figsize=(7, 3.4)).subplots()
    color = color if color is not None else palette_for([variant])[variant]
    row = summary.set_index("variant").loc[variant]
    mine = seed_values(runs)
    mine = mine[mine["variant"] == variant].sort_values("seed", kind="stable")
    prev = None
    for i, (col, _, _) in enumerate(LADDER):
        mean, low, high = row[col], row[f"{col}_ci_low"], row[f"{col}_ci_high"]
        ceiling = col == "oracle_seg_gt_miou"
        oracle = col.startswith("oracle")
        if not np.isfinite(mean):
            ax.text(1, i, "not run", va="center", fontsize=8, color="grey")
            continue
        xerr = [[mean - low], [high - mean]] if np.isfinite(low) else None
        ax.barh(i, mean, height=0.62, color="white" if oracle else _lighter(color),
                edgecolor="black", hatch="//" if oracle else None, lw=0.8, xerr=xerr,
                capsize=3, error_kw={"elinewidth": 1.0})  # fmt: skip
        _mark_beyond(ax, i, low, high, 100.0)
        _seed_dots(ax, mine[col], i, color)
        ax.text(1, i, f"{mean:.1f}", va="center", ha="left", fontsize=8, zorder=4, bbox=_LABEL_BOX)
        if prev is not None:
            d = mean - prev
            colour = "grey" if ceiling else ("#1a7f37" if d >= 0 else "#c62828")
            ax.text(103, i, f"{d:+.1f}", va="center", ha="left", fontsize=9, color=colour,
                    fontweight="bold")  # fmt: skip
        if not ceiling:
            prev = mean
    labels = [f"{rung} [{split}]" for _, rung, split in LADDER]
    ax.set_yticks(np.arange(len(LADDER)), labels, fontsize=8)
    ax.set_ylim(len(LADDER) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("mIoU (%)")
    ax.text(103, -0.85, "Δ", fontsize=9, ha="left", fontweight="bold")
    ax.grid(axis="x", alpha=0.3)
    return ax


def plot_ladder(
    summary: pd.DataFrame,
    runs: pd.DataFrame,
    out: str | os.PathLike,
    palette: Mapping[str, tuple] | None = None,
) -> Path | None:
    """ "Where mIoU is lost": :func:`draw_ladder` for every variant that climbed the ladder, over
    the seeds it climbed at (:func:`~c2am_bench.report.tables.ladder_view`)."""
    summary, runs = ladder_view(summary, runs)
    names = ladder_variants(summary, runs)
    if not names:
        return None
    palette = palette or palette_for(summary["variant"].tolist())
    fig = new_figure(figsize=(9.5, 3.0 * len(names) + 0.9))
    axes = fig.subplots(len(names), 1, squeeze=False)[:, 0]
    display = dict(zip(summary["variant"], summary["display"], strict=True))
    for ax, name in zip(axes, names, strict=True):
        draw_ladder(summary, runs, name, ax=ax, color=palette.get(name))
        ax.set_title(display[name], fontsize=10, loc="left")
    fig.suptitle("Where mIoU is lost: ground truth substituted for one input at a time\n"
                 "(hatched = oracle rung; Δ = change from the rung above; grey: the ceiling's "
                 "gap over DeepLabV2)", fontsize=10)  # fmt: skip
    _figure_legend(fig, _seed_legend())
    return save_figure(fig, out)


def plot_ladder_per_class(
    per_class: pd.DataFrame, summary: pd.DataFrame, runs: pd.DataFrame, out: str | os.PathLike
) -> Path | None:
    """The oracle ladder class by class, for every variant that climbed it: IoU per class and
    rung (left) and its change from the rung above (right, red = lost), so the class a stage
    loses on stands out (:func:`~c2am_bench.report.tables.ladder_class_frame`); ``None`` when
    no run has per-class ladder rows."""
    display = dict(zip(summary["variant"], summary["display"], strict=True))
    tables = {v: ladder_class_frame(per_class, runs, v) for v in ladder_variants(summary, runs)}
    short = {rung: LADDER_SHORT[col] for col, rung, _ in LADDER}
    tables = {v: t.rename(columns=short) for v, t in tables.items() if not t.empty}
    if not tables:
        return None
    n_cls = max(t.shape[0] for t in tables.values())
    fig = new_figure(figsize=(12.5, (0.36 * n_cls + 1.9) * len(tables) + 0.8))
    axes = fig.subplots(len(tables), 2, squeeze=False)
    for (left, right), (name, table) in zip(axes, tables.items(), strict=True):
        sns.heatmap(table, ax=left, vmin=0, vmax=100, cmap="viridis", annot=True, fmt=".0f",
                    annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                    cbar_kws={"label": "IoU (%)", "shrink": 0.9})  # fmt: skip
        change = table.diff(axis=1).iloc[:, 1:]
        # the ceiling's column is a gap, not a loss: it saturates rather than setting the scale
        scaled = change.drop(columns=["DeepLabV2 on GT"], errors="ignore").to_numpy()
        lim = max(10.0, float(np.nanmax(np.abs(scaled))) if np.isfinite(scaled).any() else 10.0)
        sns.heatmap(change, ax=right, vmin=-lim, vmax=lim, cmap="RdBu", center=0, annot=True,
                    fmt="+.0f", annot_kws={"fontsize": 7}, linewidths=0.5, linecolor="white",
                    cbar_kws={"label": "change from the rung to its left (points)",
                              "shrink": 0.9})  # fmt: skip
        left.set_title(f"{display.get(name, name)}: IoU per class and rung", fontsize=10,
                       loc="left")  # fmt: skip
        right.set_title("change from the rung before (red: lost there)", fontsize=10, loc="left")
        for ax in (left, right):
            ax.set_ylabel("")
            ax.set_xlabel("")
            ax.tick_params(axis="x", labelrotation=30, labelsize=8)
            ax.tick_params(axis="y", labelrotation=0, labelsize=8)
            for label in ax.get_xticklabels():
                label.set_horizontalalignment("right")
    fig.suptitle("Where mIoU is lost, class by class (mean over the seeds the ladder was "
                 "climbed at; seeds, walks and pseudo-masks on train, DeepLabV2 on val)",
                 fontsize=10)  # fmt: skip
    return save_figure(fig, out)


# --------------------------------------------------------------------------- confounders

REGION_COLOURS = {"body": "#4c9f70", "part": "#f0a202", "context": "#c44536",
                  "elsewhere": "#b8b8b8"}  # fmt: skip


# where a class's predicted pixels lie (c2am_bench.context_errors.ERRORS)
ERROR_COLOURS = {"correct": "#4c9f70", "context": "#c44536", "absent": "#7b4ea3",
                 "object": "#f0a202", "background": "#b8b8b8"}  # fmt: skip


def draw_confounder_shares(
    shares: pd.DataFrame, ax: Axes | None = None, colours: Mapping[str, str] = REGION_COLOURS
) -> Axes:
    """Stacked horizontal bars: share of CAM mass on body / part / context / elsewhere (or of
    any other regions, in the order and colours of ``colours``).

    Args:
        shares: rows ``label`` (bar name), ``region``, ``share`` (percent); bars keep the
            frame's order of labels.
    """
    if ax is None:
        ax = new_figure(figsize=(7, 3)).subplots()
    labels = list(dict.fromkeys(shares["label"]))
    wide = shares.pivot_table(index="label", columns="region", values="share", aggfunc="mean")
    wide = wide.reindex(labels)
    left = np.zeros(len(labels))
    for region, colour in colours.items():
        if region not in wide.columns:
            continue
        vals = wide[region].fillna(0).to_numpy()
        ax.barh(np.arange(len(labels)), vals, left=left, color=colour, edgecolor="white",
                height=0.7, label=region)  # fmt: skip
        for i, (x, v) in enumerate(zip(left, vals, strict=True)):
            if v >= 6:
                ax.text(x + v / 2, i, f"{v:.0f}", ha="center", va="center", fontsize=7)
        left += vals
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=8)
    ax.set_ylim(len(labels) - 0.5, -0.5)
    ax.set_xlim(0, 100)
    ax.set_xlabel("share (%)")
    return ax


def plot_context_errors(
    confounders: pd.DataFrame | None, order: Sequence[str], names: Mapping[str, str],
    out: str | os.PathLike,
) -> Path | None:  # fmt: skip
    """Per class and method, where the pixels the pseudo-masks (train) and DeepLabV2 (val) give
    the class lie: correct, on its context band, in an image without it, on another object, on
    other background (mean over seeds); ``None`` when no run measured them."""
    if confounders is None or confounders.empty:
        return None
    frame = confounders[confounders["measure"].isin(["pseudo_error", "seg_error"])].copy()
    if frame.empty:
        return None
    frame["share"] = pd.to_numeric(frame["share"], errors="coerce")
    mean = frame.groupby(["variant", "class", "measure", "region"], as_index=False)["share"].mean()
    variants = [v for v in order if v in set(mean["variant"])]
    stages = {"pseudo_error": "masks", "seg_error": "DeepLabV2"}
    rows = []
    for c in dict.fromkeys(mean["class"]):
        for v in variants:
            for measure, stage in stages.items():
                sub = mean[(mean["variant"] == v) & (mean["class"] == c)
                           & (mean["measure"] == measure)]  # fmt: skip
                rows += [{"label": f"{c} · {names.get(v, v)} · {stage}", "region": r, "share": x}
                         for r, x in zip(sub["region"], sub["share"], strict=True)]  # fmt: skip
    labels = list(dict.fromkeys(r["label"] for r in rows))
    fig = new_figure(figsize=(8, 1.2 + 0.26 * len(labels)))
    ax = fig.subplots()
    draw_confounder_shares(pd.DataFrame(rows), ax=ax, colours=ERROR_COLOURS)
    ax.set_xlabel("share of the pixels given the class (%)")
    handles, legend = ax.get_legend_handles_labels()
    fig.suptitle("Where each class's predicted pixels lie: pseudo-masks (train) and DeepLabV2 "
                 "(val)", fontsize=10)  # fmt: skip
    fig.legend(handles, legend, loc="outside lower center", ncol=5, fontsize=9, frameon=False)
    return save_figure(fig, out)


def plot_confounder_shares(
    confounders: pd.DataFrame | None, order: Sequence[str], names: Mapping[str, str],
    out: str | os.PathLike,
) -> Path | None:  # fmt: skip
    """Where each method's CAM mass lies (left: mean over classes; right: per class), with the
    regions' area shares as the reference bar; ``None`` without confounder maps."""
    if confounders is None or confounders.empty:
        return None
    frame = confounders.copy()
    frame["share"] = pd.to_numeric(frame["share"], errors="coerce")
    mass = frame[frame["measure"] == "mass"]
    area = frame[frame["measure"] == "area"]
    variants = [v for v in order if v in set(mass["variant"])]
    # mean over seeds, then over classes (as the table's macro average)
    per_class = mass.groupby(["variant", "class", "region"], as_index=False)["share"].mean()
    overall = per_class.groupby(["variant", "region"], as_index=False)["share"].mean()
    overall["label"] = overall["variant"].map(lambda v: names.get(v, v))
    ref = area.groupby(["class", "region"], as_index=False)["share"].mean()
    ref_all = ref.groupby("region", as_index=False)["share"].mean().assign(label="area share")
    left_frame = pd.concat(
        [overall.set_index("variant").loc[variants].reset_index(), ref_all], ignore_index=True
    )
    classes = list(dict.fromkeys(frame["class"]))
    fig = new_figure(figsize=(12, 1.0 + 0.32 * len(classes) * (len(variants) + 1)))
    ax_all, ax_cls = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.3]})
    draw_confounder_shares(left_frame, ax=ax_all)
    ax_all.set_title("mean over classes", fontsize=10)
    rows = []
    for c in classes:
        for v in variants:
            sub = per_class[(per_class["variant"] == v) & (per_class["class"] == c)]
            rows += [{"label": f"{c} · {names.get(v, v)}", "region": r, "share": s}
                     for r, s in zip(sub["region"], sub["share"], strict=True)]  # fmt: skip
        sub = ref[ref["class"] == c]
        rows += [{"label": f"{c} · area", "region": r, "share": s}
                 for r, s in zip(sub["region"], sub["share"], strict=True)]  # fmt: skip
    draw_confounder_shares(pd.DataFrame(rows), ax=ax_cls)
    ax_cls.set_title("per class (images that contain it)", fontsize=10)
    handles, labels = ax_all.get_legend_handles_labels()
    fig.suptitle("Where the CAM mass lies: the object's body, its discriminative part, its context "
                 "band (background in the GT), elsewhere", fontsize=10)  # fmt: skip
    # constrained layout (new_figure) makes room for an "outside" figure legend
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=9, frameon=False)
    return save_figure(fig, out)
