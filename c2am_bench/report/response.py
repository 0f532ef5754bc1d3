"""Study response figures: the objective against each studied parameter's value.

One figure per parameter that varies over a study's trials: on top, the metric of every trial
and seed (one dot each) with the mean and 95 % t interval per parameter value and the baseline's
mean as a dashed line; below, the paired gain over the baseline of the same trial and seed. So
``constants`` reads as a dose-response curve, and a categorical parameter (``pooling``) as
per-value points. Optuna's slice plot shows one dot per trial and no baseline; this is the view
a WSSS reader wants.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from .stats import mean_ci

# the metric a response figure shows for each study objective (irn_lift: what IRN adds)
_OBJECTIVE_METRIC = {"irn_lift": "irn_lift"}


def studied_parameters(runs: pd.DataFrame) -> list[str]:
    """Parameters whose value differs between a study's (non-baseline) trials, in first-seen
    order."""
    rows = runs[~runs["is_baseline"].astype(bool)] if "is_baseline" in runs else runs
    values: dict[str, set[str]] = {}
    for text in rows.get("params", pd.Series(dtype=str)).dropna():
        for key, value in json.loads(text).items():
            values.setdefault(key, set()).add(json.dumps(value, sort_keys=True))
    return [k for k, v in values.items() if len(v) > 1]


def response_frame(runs: pd.DataFrame, param: str, metric: str) -> pd.DataFrame:
    """Tidy ``trial, seed, value, y, gain`` for ``param``: every non-baseline run's ``metric``
    (percent) at its value of ``param``, and its difference from the baseline run of the same
    trial and seed (NaN where the study ran no baseline). ``metric='irn_lift'``: pseudo-mask
    minus seed mIoU."""
    frame = runs.copy()
    if metric == "irn_lift":
        frame["irn_lift"] = frame["pseudo_miou"] - frame["seed_miou"]
    base = frame[frame["is_baseline"].astype(bool)]
    base_y = {(t, s): y for t, s, y in zip(base["trial"], base["seed"], base[metric], strict=True)}
    rows = []
    for _, r in frame[~frame["is_baseline"].astype(bool)].iterrows():
        params = json.loads(r["params"]) if isinstance(r["params"], str) else {}
        if param not in params:
            continue
        y = float(r[metric])
        b = base_y.get((r["trial"], r["seed"]), math.nan)
        rows.append({"trial": r["trial"], "seed": r["seed"], "value": params[param], "y": y,
                     "gain": y - b})  # fmt: skip
    out = pd.DataFrame(rows, columns=["trial", "seed", "value", "y", "gain"])
    # a cached trial re-run (same point, same seed) is one measurement, not two
    out["key"] = out["value"].map(lambda v: json.dumps(v, sort_keys=True))
    return out.drop_duplicates(["key", "seed", "y"]).drop(columns="key")


def _positions(values: list) -> tuple[np.ndarray, list[str], bool]:
    """x positions of ``values`` (numbers as themselves, others as 0..n-1), tick labels, and
    whether the axis is numeric."""
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if numeric:
        return np.asarray(values, float), [], True
    labels = sorted({str(v) for v in values})
    return np.asarray([labels.index(str(v)) for v in values], float), labels, False


def draw_response(frame: pd.DataFrame, param: str, metric_name: str, baseline: float | None,
                  axes, colour="tab:green") -> None:  # fmt: skip
    """``frame`` (:func:`response_frame`) on ``axes`` = (value Axes, gain Axes or None)."""
    ax, gain_ax = axes
    x, labels, numeric = _positions(frame["value"].tolist())
    frame = frame.assign(x=x)
    log = numeric and (frame["x"] > 0).all() and frame["x"].max() / frame["x"].min() >= 20
    span = (frame["x"].max() - frame["x"].min()) or 1.0
    jitter = 0.0 if log else 0.012 * span
    panels = [(ax, "y", metric_name)]
    if gain_ax is not None:
        panels.append((gain_ax, "gain", "gain over the baseline (pp)"))
    for a, col, ylabel in panels:
        groups = sorted(frame.groupby("x"), key=lambda g: g[0])
        for xv, g in groups:
            ys = g[col].to_numpy(float)
            offs = np.linspace(-jitter, jitter, len(ys)) if len(ys) > 1 else np.zeros(1)
            xs = xv * (1 + offs / span) if log else xv + offs
            a.scatter(xs, ys, s=18, color=colour, alpha=0.7, edgecolors="none", zorder=5,
                      label="one dot per seed" if xv == groups[0][0] else "_nolegend_")  # fmt: skip
        ci = [(xv, mean_ci(g[col])) for xv, g in groups]
        mx = np.array([c[0] for c in ci])
        mean = np.array([c[1].mean for c in ci])
        low = np.array([c[1].mean - c[1].low if c[1].n > 1 else 0.0 for c in ci])
        high = np.array([c[1].high - c[1].mean if c[1].n > 1 else 0.0 for c in ci])
        a.errorbar(mx, mean, yerr=[low, high], fmt="o-" if numeric else "o", color="black",
                   ms=5, lw=1.2, capsize=3, zorder=4, label="mean, 95 % t interval")  # fmt: skip
        if col == "y" and baseline is not None and math.isfinite(baseline):
            a.axhline(baseline, ls="--", color="tab:blue", lw=1.2, zorder=2,
                      label=f"baseline CAM {baseline:.1f}")  # fmt: skip
        if col == "gain":
            a.axhline(0.0, ls="--", color="grey", lw=1, zorder=2)
        a.set_ylabel(ylabel)
        a.grid(alpha=0.3)
        if log:
            a.set_xscale("log")
        if not numeric:
            a.set_xticks(range(len(labels)), labels)
    (gain_ax or ax).set_xlabel(param)
    # above the data, under the title: clear of every point
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)


def plot_response(runs: pd.DataFrame, objective: str | None, out_dir: str | os.PathLike):
    """One ``response_<param>.png`` per studied parameter; the figure files drawn."""
    import matplotlib.pyplot as plt

    from .figures import FigureFile
    from .schema import METRICS

    if "params" not in runs or "is_baseline" not in runs:
        return []
    metric = (objective or "seed_miou").removesuffix("_gain")
    metric = _OBJECTIVE_METRIC.get(metric, metric)
    if metric not in runs and metric != "irn_lift":
        return []
    name = METRICS.get(metric, "IRN lift (pseudo-mask - seed mIoU)" if metric == "irn_lift"
                       else metric)  # fmt: skip
    base = runs[runs["is_baseline"].astype(bool)]
    out = []
    for param in studied_parameters(runs):
        frame = response_frame(runs, param, metric)
        if frame.empty or not np.isfinite(frame["y"]).any():
            continue
        has_gain = bool(np.isfinite(frame["gain"]).any())
        baseline = None
        if len(base):
            b = base["pseudo_miou"] - base["seed_miou"] if metric == "irn_lift" else base[metric]
            baseline = float(b.drop_duplicates().mean())
        fig, axes = plt.subplots(2 if has_gain else 1, 1, figsize=(6.4, 6.2 if has_gain else 3.6),
                                 sharex=True, squeeze=False)  # fmt: skip
        draw_response(frame, param, f"{name} (%)", baseline,
                      (axes[0][0], axes[1][0] if has_gain else None))  # fmt: skip
        fig.suptitle(f"{name} against {param}", fontsize=11)
        fig.tight_layout(rect=(0, 0, 1, 0.97))
        file = f"response_{''.join(c if c.isalnum() else '_' for c in param)}.png"
        fig.savefig(Path(out_dir) / file, dpi=120)
        plt.close(fig)
        out.append(FigureFile(file, f"Response to {param}",
                              f"{name} of every trial and seed (dots), mean and 95 % t interval "
                              "per value, the baseline as a dashed line; below, the paired gain "
                              "over the baseline of the same trial and seed"))  # fmt: skip
    return out
