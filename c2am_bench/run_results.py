"""What runs produce, in the report's tidy shapes: rows, per-class IoUs, curves, CAM shares.

Every stage of a run's chain (:mod:`c2am_bench.stages`) summarises its folders into one
:class:`RunSummary`; the runs of a compare or a study add up to one :class:`RunResults`, written
as ``runs.csv``, ``per_class.csv``, ``curves.csv`` and ``confounders.csv`` (``c2am_bench.report``
reads them). Percent throughout: the stages store fractions, mmseg's metrics percent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunResults:
    """Tidy rows of any number of runs (one ``runs`` row per variant x seed)."""

    runs: list[dict] = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)
    confounders: list[dict] = field(default_factory=list)

    def extend(self, other: RunResults) -> None:
        self.runs += other.runs
        self.per_class += other.per_class
        self.curves += other.curves
        self.confounders += other.confounders


@dataclass
class RunSummary:
    """One run being summarised: its ``runs`` row and its other rows, tagged alike.

    Args:
        tag: ``study``, ``trial``, ``variant``, ``seed``: the columns every row of the run has.
        row: the ``runs.csv`` row, filled stage by stage.
    """

    tag: dict
    row: dict = field(default_factory=dict)
    results: RunResults = field(default_factory=RunResults)

    def per_class(self, stage: str, ious: dict | None) -> None:
        """Per-class IoUs (fractions) of ``stage`` (``seed``, ``pseudo``, ``seg``)."""
        for name, iou in (ious or {}).items():
            self.results.per_class.append({**self.tag, "stage": stage, "class": name,
                                           "iou": pct(iou)})  # fmt: skip

    def curve(self, path: Path, column: str, stage: str) -> None:
        """The ``(threshold, mIoU %)`` rows of an evaluation's ``curve.csv`` (if it exists)."""
        import pandas as pd

        if not path.is_file():
            return
        frame = pd.read_csv(path)
        self.results.curves += [
            {**self.tag, "stage": stage, "threshold": t, "miou": pct(m)}
            for t, m in zip(frame[column], frame["mIoU"], strict=True)
        ]

    def finish(self) -> RunResults:
        self.results.runs.append({**self.tag, **self.row})
        return self.results


def read_json(path: Path) -> dict:
    """A stage's JSON file, ``{}`` when it is not there (a stage that did not run)."""
    return json.loads(path.read_text()) if path.is_file() else {}


def pct(value) -> float:
    """Fraction in [0, 1] (or None) -> percent, NaN for missing (reports use percent)."""
    return float("nan") if value is None else round(100.0 * float(value), 3)


def mm_pct(value) -> float:
    """mmseg's IoUMetric already reports percent."""
    return float("nan") if value is None else round(float(value), 3)


def add(*values) -> float | None:
    """Sum of the values that exist (stage seconds), ``None`` when none does."""
    present = [v for v in values if v is not None]
    return round(sum(present), 2) if present else None
