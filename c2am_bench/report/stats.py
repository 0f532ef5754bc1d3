"""Means, Student-t confidence intervals and paired deltas over seeds (pandas/numpy, scipy.stats).

Every interval here is a two-sided Student-t interval over independent runs (seeds): with ``n``
finite values, ``mean ± t_{(1+conf)/2, n-1} · sd / sqrt(n)`` (``sd`` with ``ddof=1``; the
quantile is :func:`scipy.stats.t.ppf`). With one value the interval is undefined (NaN, shown as
"n/a"); it is never replaced by zero width.

A delta against the baseline is *paired*: each run of a variant is matched with the baseline run
of the same ``(trial, seed)`` (a compare has ``trial == -1`` everywhere, so that is the seed), the
differences are formed first and the interval is taken over the differences. Pairing removes the
seed-to-seed variance both methods share (the same data order, the same initial weights), which
is why a paired delta can be distinguishable while the two unpaired intervals overlap. Its
p-value is the paired t-test's (:func:`scipy.stats.ttest_rel`, two-sided): below
``1 - confidence`` exactly when the interval excludes 0.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "DeltaCI",
    "MeanCI",
    "dedupe_runs",
    "delta_ci",
    "mean_ci",
    "paired_delta",
    "paired_differences",
]

PAIR_KEYS = ("trial", "seed")


class MeanCI(NamedTuple):
    """Mean of ``n`` finite values and its two-sided t interval (NaN bounds when ``n < 2``)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval width (NaN when the interval is undefined)."""
        return (self.high - self.low) / 2.0


class DeltaCI(NamedTuple):
    """A paired mean difference, its t interval, whether the interval excludes zero and the
    paired t-test's two-sided p-value.

    ``distinguishable`` is ``None`` and ``p`` NaN when the interval is undefined (fewer than two
    pairs); ``p`` is also NaN when every difference is 0 (the test statistic is 0 / 0).
    """

    mean: float
    low: float
    high: float
    n: int
    distinguishable: bool | None
    p: float = math.nan

    @property
    def half_width(self) -> float:
        """Half the interval width (NaN when the interval is undefined)."""
        return (self.high - self.low) / 2.0


def mean_ci(values: Iterable[float], confidence: float = 0.95) -> MeanCI:
    """Mean and Student-t ``confidence`` interval of the finite entries of ``values``.

    NaN/inf entries (a stage that did not run) are dropped first. ``n == 0``: everything NaN;
    ``n == 1``: the value, NaN bounds.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence}: must be in (0, 1)")
    x = np.asarray(list(values), dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return MeanCI(mean, math.nan, math.nan, 1)
    t = float(stats.t.ppf(0.5 + confidence / 2.0, n - 1))
    half = t * float(x.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n)


def paired_delta(
    values: Iterable[float], baseline: Iterable[float], confidence: float = 0.95
) -> DeltaCI:
    """Mean of ``values - baseline`` (element-wise pairs), its t interval and the p-value of
    :func:`scipy.stats.ttest_rel`. Pairs with a NaN/inf on either side are dropped first."""
    v = np.asarray(list(values), dtype=np.float64).ravel()
    b = np.asarray(list(baseline), dtype=np.float64).ravel()
    if v.shape != b.shape:
        raise ValueError(f"{v.size} values but {b.size} baseline values: pairs must match")
    keep = np.isfinite(v) & np.isfinite(b)
    v, b = v[keep], b[keep]
    m = mean_ci(v - b, confidence)
    if m.n < 2:
        return DeltaCI(*m, None)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # identical differences: sd 0
        p = float(stats.ttest_rel(v, b).pvalue)
    return DeltaCI(*m, bool(m.low > 0.0 or m.high < 0.0), p)


def delta_ci(differences: Iterable[float], confidence: float = 0.95) -> DeltaCI:
    """:func:`paired_delta` of differences already formed (each paired with 0: the same test)."""
    d = np.asarray(list(differences), dtype=np.float64).ravel()
    return paired_delta(d, np.zeros_like(d), confidence)


def dedupe_runs(runs: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """Drop rows that repeat another row's variant, seed, params and every metric value.

    A study re-runs the baseline in every trial; the stage cache makes those rows identical, and
    counting them again would shrink its interval for nothing. Rows whose numbers differ (a study
    that regenerates the data per trial) are all kept.
    """
    subset = [c for c in ("variant", "seed", "params", *metrics) if c in runs.columns]
    return runs.drop_duplicates(subset=subset, keep="first")


def paired_differences(
    runs: pd.DataFrame, metric: str, against: str, keys: Sequence[str] = PAIR_KEYS
) -> pd.DataFrame:
    """Per-run ``metric(variant) - metric(baseline)``, paired by ``keys`` (``trial``, ``seed``).

    A variant run whose ``(trial, seed)`` has no baseline run (e.g. a study trial recorded without
    its baseline) is paired by seed alone with the mean of the baseline's distinct runs of that
    seed. Pairs
    that repeat another pair exactly (the same study point run twice) are counted once. Rows with a
    NaN on either side are dropped.

    Args:
        runs: ``runs.csv`` frame (needs ``variant``, ``seed``, ``metric``; ``trial`` optional).
        metric: column to difference.
        against: the baseline's ``variant`` name.
        keys: pairing columns; those missing from ``runs`` are ignored.

    Returns:
        Columns ``variant``, ``trial``, ``seed``, ``value``, ``baseline``, ``delta`` (the baseline
        variant itself is not included).
    """
    cols = ["variant", "trial", "seed", "value", "baseline", "delta"]
    if metric not in runs.columns:
        return pd.DataFrame(columns=cols)
    frame = runs.copy()
    if "trial" not in frame.columns:
        frame["trial"] = -1
    keys = [k for k in keys if k in frame.columns]
    frame["value"] = pd.to_numeric(frame[metric], errors="coerce")
    base = frame[frame["variant"] == against]
    other = frame[frame["variant"] != against]
    if base.empty or other.empty:
        return pd.DataFrame(columns=cols)
    exact = base.groupby(keys, as_index=False)["value"].mean().rename(columns={"value": "baseline"})
    by_seed = base.drop_duplicates(["seed", "value"]).groupby("seed")["value"].mean()
    pairs = other[["variant", "trial", "seed", "value"]].merge(exact, on=keys, how="left")
    missing = pairs["baseline"].isna() & ~pairs.set_index(keys).index.isin(
        exact.set_index(keys).index
    )
    pairs.loc[missing, "baseline"] = pairs.loc[missing, "seed"].map(by_seed)
    pairs["delta"] = pairs["value"] - pairs["baseline"]
    pairs = pairs[np.isfinite(pairs["delta"].to_numpy(dtype=np.float64))]
    pairs = pairs.drop_duplicates(subset=["variant", "seed", "value", "baseline"])
    return pairs[cols].reset_index(drop=True)
