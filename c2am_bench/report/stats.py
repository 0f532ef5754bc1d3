"""Means, Student-t confidence intervals and paired deltas over seeds (pure pandas/numpy).

Every interval here is a two-sided Student-t interval over independent runs (seeds): with ``n``
finite values, ``mean ± t_{(1+conf)/2, n-1} · sd / sqrt(n)`` (``sd`` with ``ddof=1``). With one
value the interval is undefined (NaN, shown as "n/a"); it is never replaced by zero width.

A delta against the baseline is *paired*: each run of a variant is matched with the baseline run
of the same ``(trial, seed)`` (a compare has ``trial == -1`` everywhere, so that is the seed), the
differences are formed first and the interval is taken over the differences. Pairing removes the
seed-to-seed variance both methods share (the same data order, the same initial weights), which
is why a paired delta can be distinguishable while the two unpaired intervals overlap.

The t quantile is computed exactly for integer degrees of freedom (Abramowitz & Stegun 26.7.3/4,
inverted by bisection) so that no statistics package is needed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd

__all__ = [
    "DeltaCI",
    "MeanCI",
    "dedupe_runs",
    "delta_ci",
    "mean_ci",
    "paired_differences",
    "t_quantile",
    "t_two_sided_mass",
]

PAIR_KEYS = ("trial", "seed")


def t_two_sided_mass(t: float, df: int) -> float:
    """``P(|T| <= t)`` for Student's t with integer ``df`` >= 1 (exact closed form).

    Abramowitz & Stegun 26.7.3 (odd ``df``) and 26.7.4 (even ``df``), with
    ``theta = atan(t / sqrt(df))``.
    """
    df = _check_df(df)
    t = abs(float(t))
    if math.isinf(t):
        return 1.0
    theta = math.atan(t / math.sqrt(df))
    return _mass_at_angle(theta, df)


def _mass_at_angle(theta: float, df: int) -> float:
    c2, s = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd: (2/pi)(theta + sin cos (1 + 2/3 cos^2 + 2·4/(3·5) cos^4 + ...))
        if df == 1:
            return 2.0 * theta / math.pi
        term = total = math.cos(theta)
        for k in range(1, (df - 3) // 2 + 1):
            term *= (2 * k) / (2 * k + 1) * c2
            total += term
        return 2.0 / math.pi * (theta + s * total)
    term = total = 1.0  # even: sin (1 + 1/2 cos^2 + 1·3/(2·4) cos^4 + ...)
    for k in range(1, (df - 2) // 2 + 1):
        term *= (2 * k - 1) / (2 * k) * c2
        total += term
    return s * total


def t_quantile(p: float, df: int) -> float:
    """The ``p``-quantile of Student's t with integer ``df`` (``p`` in (0.5, 1); 0.975 -> 95 %).

    Exact to ~1e-12: bisection on ``theta = atan(t / sqrt(df))`` of
    :func:`t_two_sided_mass` ``= 2p - 1``. Examples: ``t_quantile(0.975, 1) = 12.7062``,
    ``t_quantile(0.975, 2) = 4.3027``, ``t_quantile(0.975, 30) = 2.0423``.
    """
    df = _check_df(df)
    if not 0.5 < p < 1.0:
        raise ValueError(f"p={p}: the quantile is defined here for 0.5 < p < 1")
    target = 2.0 * p - 1.0
    lo, hi = 0.0, math.pi / 2
    for _ in range(200):  # the interval halves each time: 200 steps reach float resolution
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if _mass_at_angle(mid, df) < target:
            lo = mid
        else:
            hi = mid
    return math.sqrt(df) * math.tan(0.5 * (lo + hi))


def _check_df(df) -> int:
    if isinstance(df, bool) or int(df) != df or df < 1:
        raise ValueError(f"df={df!r}: degrees of freedom must be an integer >= 1")
    return int(df)


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
    """A paired mean difference, its t interval and whether the interval excludes zero.

    ``distinguishable`` is ``None`` when the interval is undefined (fewer than two pairs).
    """

    mean: float
    low: float
    high: float
    n: int
    distinguishable: bool | None

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
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * float(x.std(ddof=1)) / math.sqrt(n)
    return MeanCI(mean, mean - half, mean + half, n)


def delta_ci(differences: Iterable[float], confidence: float = 0.95) -> DeltaCI:
    """:func:`mean_ci` of paired differences, plus whether the interval excludes 0."""
    m = mean_ci(differences, confidence)
    if m.n < 2:
        return DeltaCI(*m, None)
    return DeltaCI(*m, bool(m.low > 0.0 or m.high < 0.0))


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
