"""The results directory a report is rendered from: its columns, and reading it back.

A results directory (written by :func:`c2am_bench.pipeline.write_results`) holds

* ``runs.csv``: one row per (trial, variant, seed); metrics in percent, NaN where a stage did not
  run; thresholds as fractions; wall seconds; the stage directories (absolute paths).
* ``per_class.csv``: long ``study, trial, variant, seed, stage, class, iou`` (percent).
* ``curves.csv``: long ``study, trial, variant, seed, stage, threshold, miou`` (percent).
* ``context.json``: title, kind (``compare``/``study``), name, against (the baseline variant),
  profile, data root and fingerprint, class names, objective, environment, storage, notes.

Columns that a run did not produce (``--until seeds`` has no pseudo-mask columns at all) are added
as NaN, so every table and figure sees the same schema.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError

__all__ = [
    "CONFOUNDER_COLUMNS",
    "CONTEXT_ERROR_COLUMNS",
    "DELTA_METRICS",
    "LADDER",
    "LADDER_SHORT",
    "LADDER_STAGES",
    "ORACLE_QUALITY",
    "METRICS",
    "PR_COLUMNS",
    "RUN_KEYS",
    "Results",
    "SECONDS",
    "STAGE_TITLES",
    "THRESHOLDS",
    "load_results",
]

RUN_KEYS = ("study", "trial", "variant", "method", "label", "seed", "params", "is_baseline")

# metric column -> display name (all percent). Order = order in tables.
METRICS: dict[str, str] = {
    "cls_map": "classifier mAP (val)",
    "seed_miou": "seed mIoU (best t)",
    "seed_miou_fixed": "seed mIoU (t = 0.15)",
    "seed_miou_heldout": "seed mIoU (t chosen on held-out)",
    "pseudo_miou": "pseudo-mask mIoU",
    "pseudo_miou_best": "pseudo-mask mIoU (best sem_seg_bg)",
    "pseudo_miou_heldout": "pseudo-mask mIoU (sem_seg_bg chosen on held-out)",
    "heldout_pseudo_miou": "pseudo-mask mIoU on the held-out images (configured sem_seg_bg)",
    "seg_miou": "segmentation mIoU (val)",
    "seg_train_miou": "segmentation mIoU (train)",
    "seg_tta_miou": "segmentation mIoU (val, +TTA)",
    "seg_crf_miou": "segmentation mIoU (val, +CRF)",
}
DELTA_METRICS = tuple(METRICS)

# precision / recall of the foreground per stage (percent)
PR_COLUMNS: dict[str, str] = {
    "seed_fg_precision": "seed fg precision",
    "seed_fg_recall": "seed fg recall",
    "ir_fg_precision": "IR-label fg precision",
    "ir_ignore_share": "IR-label ignored share",
    "pseudo_fg_precision": "pseudo-mask fg precision",
    "pseudo_fg_recall": "pseudo-mask fg recall",
    "seg_fg_precision": "segmentation fg precision",
    "seg_fg_recall": "segmentation fg recall",
}

# The oracle ladder (percent): ground truth substituted for one input at a time, in stage order.
# (column, rung name, split it is scored on)
LADDER: tuple[tuple[str, str, str], ...] = (
    ("seed_miou", "seeds (best t)", "train"),
    ("oracle_gt_boundary_miou", "walk over the GT boundary", "train"),
    ("oracle_gt_ir_miou", "walk over a boundary net trained on GT IR labels", "train"),
    ("pseudo_miou", "the method's pseudo-masks", "train"),
    ("seg_miou", "DeepLabV2 on the method's pseudo-masks", "val"),
    ("oracle_seg_gt_miou", "DeepLabV2 on GT masks (ceiling)", "val"),
)
# Quality of the inputs the ladder swaps (percent): boundary maps against the GT edges at stride
# 4 (best-F threshold), IR labels against the GT.
ORACLE_QUALITY: dict[str, str] = {
    "boundary_f": "boundary F (learned)",
    "boundary_precision": "boundary precision (learned)",
    "boundary_recall": "boundary recall (learned)",
    "oracle_gt_ir_boundary_f": "boundary F (net on GT IR labels)",
    "ir_coverage": "IR-label coverage (not ignored)",
    "ir_fg_precision": "IR-label fg precision",
    "ir_bg_precision": "IR-label bg precision",
    "oracle_gt_boundary_miou_best": "walk over GT boundary (best sem_seg_bg)",
    "oracle_gt_ir_miou_best": "walk over GT-IR net (best sem_seg_bg)",
}
# CAM mass shares by SynthVOC region (percent), macro-averaged over classes.
CONFOUNDER_COLUMNS: dict[str, str] = {
    "cam_mass_body": "CAM mass on the body",
    "cam_mass_part": "CAM mass on the part",
    "cam_mass_context": "CAM mass on the context",
    "cam_mass_elsewhere": "CAM mass elsewhere",
    "cam_area_body": "body area",
    "cam_area_part": "part area",
    "cam_area_context": "context area",
    "cam_area_elsewhere": "area elsewhere",
}
# Where the foreground of the pseudo-masks (train) and of DeepLabV2 (val) goes wrong (percent of
# each class's predicted pixels, mean over classes; c2am_bench.context_errors): on the class's
# context band, in an image without the class, on another class's object, on other background.
# The rest is the class's precision.
CONTEXT_ERROR_COLUMNS: dict[str, str] = {
    "pseudo_err_context": "pseudo-masks: on its context",
    "pseudo_err_object": "pseudo-masks: on another object",
    "pseudo_err_background": "pseudo-masks: other background",
    "seg_err_context": "DeepLabV2: on its context",
    "seg_err_absent": "DeepLabV2: class not in the image",
    "seg_err_object": "DeepLabV2: on another object",
    "seg_err_background": "DeepLabV2: other background",
}

# thresholds (fractions)
THRESHOLDS: dict[str, str] = {
    "seed_threshold": "best seed threshold t",
    "sem_seg_bg": "sem_seg_bg (configured)",
    "best_sem_seg_bg": "best sem_seg_bg",
    "seed_threshold_heldout": "seed threshold t chosen on held-out",
    "sem_seg_bg_heldout": "sem_seg_bg chosen on held-out",
}

# wall seconds per stage
SECONDS: dict[str, str] = {
    "seconds_classifier": "classifier",
    "seconds_seeds": "seeds",
    "seconds_ir_labels": "IR labels",
    "seconds_boundary": "boundary net",
    "seconds_walk": "random walk + masks",
    "seconds_pseudo_masks": "pseudo-masks (CRF or another non-IRN method)",
    "seconds_seg": "DeepLabV2",
}

DIRS = ("classifier_dir", "seeds_dir", "masks_dir", "seg_dir")

# per_class.csv / curves.csv stages -> display names
STAGE_TITLES = {"seed": "seeds", "pseudo": "pseudo-masks", "seg": "segmentation (val)"}

# The ladder's rungs (LADDER's columns) -> short names, for the per-class ladder's columns.
LADDER_SHORT: dict[str, str] = {
    "seed_miou": "seeds", "oracle_gt_boundary_miou": "walk: GT boundary",
    "oracle_gt_ir_miou": "walk: GT-IR net", "pseudo_miou": "pseudo-masks",
    "seg_miou": "DeepLabV2", "oracle_seg_gt_miou": "DeepLabV2 on GT",
}  # fmt: skip

# The ladder's rungs (LADDER's columns) -> their per_class.csv stage, for the per-class ladder.
LADDER_STAGES: dict[str, str] = {
    "seed_miou": "seed", "oracle_gt_boundary_miou": "oracle_gt_boundary",
    "oracle_gt_ir_miou": "oracle_gt_ir", "pseudo_miou": "pseudo", "seg_miou": "seg",
    "oracle_seg_gt_miou": "oracle_seg_gt",
}  # fmt: skip

_LADDER_ONLY = tuple(c for c, _, _ in LADDER if c not in METRICS)
_NUMERIC = (*METRICS, *PR_COLUMNS, *THRESHOLDS, *SECONDS, *_LADDER_ONLY, *ORACLE_QUALITY,
            *CONFOUNDER_COLUMNS)  # fmt: skip


@dataclass
class Results:
    """A results directory read back: three tidy frames and the context dict."""

    runs: pd.DataFrame
    per_class: pd.DataFrame
    curves: pd.DataFrame
    context: dict
    root: Path
    confounders: pd.DataFrame | None = None  # long: variant, seed, class, measure, region, share

    @property
    def against(self) -> str:
        """The baseline variant's name (``context['against']``, else the ``is_baseline`` row's)."""
        name = self.context.get("against")
        if name:
            return str(name)
        base = self.runs.loc[self.runs["is_baseline"], "variant"]
        return str(base.iloc[0]) if not base.empty else str(self.runs["variant"].iloc[0])

    @property
    def class_names(self) -> list[str]:
        """Foreground class names (context, else the per-class frame's order minus background)."""
        names = self.context.get("class_names")
        if names:
            return [str(n) for n in names]
        seen = self.per_class["class"].drop_duplicates().tolist() if len(self.per_class) else []
        return [str(c) for c in seen if c != "background"]


def _read_csv(path: Path, required: tuple[str, ...], optional: bool) -> pd.DataFrame:
    if not path.is_file():
        if optional:
            return pd.DataFrame(columns=list(required))
        raise DataError(path, "missing; is this a results directory (runs.csv, context.json)?")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        if optional:
            return pd.DataFrame(columns=list(required))
        raise DataError(path, "empty file") from None
    except (OSError, ValueError) as err:
        raise DataError(path, f"unreadable CSV ({err})") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(path, f"lacks column(s) {missing}")
    return frame


def _as_bool(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series
    text = series.astype(str).str.strip().str.lower()
    return text.isin(("true", "1", "yes"))


def load_results(results_dir: str | os.PathLike) -> Results:
    """Read ``runs.csv``, ``per_class.csv``, ``curves.csv`` and ``context.json`` of a results dir.

    ``runs.csv`` and ``context.json`` are required; the long files may be absent (empty frames).
    Missing metric, threshold, seconds and directory columns are added (NaN / empty) and
    ``is_baseline`` becomes a bool.

    Raises:
        DataError: a required file is missing, unreadable, empty or lacks its key columns; the
            baseline named in ``context.json`` has no row.
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise DataError(root, "results directory does not exist")
    runs = _read_csv(root / "runs.csv", ("variant", "seed"), optional=False)
    if runs.empty:
        raise DataError(root / "runs.csv", "no run rows")
    long_keys = ("variant", "seed", "stage")
    per_class = _read_csv(root / "per_class.csv", (*long_keys, "class", "iou"), optional=True)
    curves = _read_csv(root / "curves.csv", (*long_keys, "threshold", "miou"), optional=True)
    confounders = _read_csv(root / "confounders.csv",
                            ("variant", "seed", "class", "measure", "region", "share"),
                            optional=True)  # fmt: skip
    ctx_path = root / "context.json"
    if not ctx_path.is_file():
        raise DataError(ctx_path, "missing; is this a results directory?")
    try:
        context = json.loads(ctx_path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(ctx_path, f"unreadable JSON ({err})") from None
    if not isinstance(context, dict):
        raise DataError(ctx_path, "expected a JSON object")

    runs = runs.copy()
    defaults = {"study": "", "trial": -1, "params": "{}", "is_baseline": False}
    for col, value in defaults.items():
        if col not in runs.columns:
            runs[col] = value
    runs["method"] = runs["method"] if "method" in runs.columns else runs["variant"]
    runs["label"] = runs["label"] if "label" in runs.columns else runs["variant"]
    runs["variant"] = runs["variant"].astype(str)
    runs["label"] = runs["label"].fillna(runs["variant"]).astype(str)
    runs["trial"] = pd.to_numeric(runs["trial"], errors="coerce").fillna(-1).astype(int)
    runs["seed"] = pd.to_numeric(runs["seed"], errors="raise").astype(int)
    runs["is_baseline"] = _as_bool(runs["is_baseline"])
    for col in _NUMERIC:
        runs[col] = pd.to_numeric(runs[col], errors="coerce") if col in runs else np.nan
    for col in DIRS:
        runs[col] = runs[col].fillna("").astype(str) if col in runs else ""
    for frame in (per_class, curves, confounders):
        frame["variant"] = frame["variant"].astype(str)
        if "trial" not in frame.columns:
            frame["trial"] = -1
    against = context.get("against")
    if against and against not in set(runs["variant"]):
        raise DataError(root / "runs.csv", f"no row of the baseline variant {against!r}")
    if "oracle" in runs.columns:
        runs["oracle"] = _as_bool(runs["oracle"])
    else:
        runs["oracle"] = False
    return Results(runs, per_class, curves, context, root, confounders)
