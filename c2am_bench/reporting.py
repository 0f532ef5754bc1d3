"""Reports: a tidy results frame -> tables (CSV, Markdown) and figures. Never trains anything."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

SEED_COLUMNS = {
    "label": "method",
    "mAP": "classifier mAP (val)",
    "seed_mIoU_fixed": "seed mIoU @0.15 (train)",
    "seed_mIoU_best": "seed mIoU best (train)",
    "best_threshold": "best bg threshold",
    "train_seconds": "train s",
    "seed_seconds": "seeds s",
}


def cam_table(rows: list[dict]):
    """Rows from :func:`c2am_bench.pipeline.compare_cam_stage` -> display DataFrame."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    table = frame[list(SEED_COLUMNS)].rename(columns=SEED_COLUMNS)
    return table


def write_cam_report(rows: list[dict], out_dir: str | os.PathLike, *, data_root) -> Path:
    """Write ``summary.csv``, ``summary.md`` and the CAM-stage figures into ``out_dir``."""
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows)
    _atomic_text(out_dir / "cam_stage.csv", frame.to_csv(index=False))
    table = cam_table(rows)
    md = [
        f"# CAM stage on `{data_root}`",
        "",
        "Seeds: multi-scale (1.0, 0.5, 1.5, 2.0) + flip CAMs, evaluated on split `train` against "
        "the ground truth (dataset-level mIoU over background + classes, 255 ignored). "
        "Classifier: mAP on `val`.",
        "",
        table.to_markdown(index=False, floatfmt=".4f"),
        "",
    ]
    _atomic_text(out_dir / "README.md", "\n".join(md))
    return out_dir


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
