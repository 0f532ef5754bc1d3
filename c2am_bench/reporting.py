"""Reports: a tidy results frame -> tables (CSV, Markdown) and figures. Never trains anything."""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

SEED_COLUMNS = {
    "label": "method",
    "mAP": "classifier mAP (val)",
    "f1_micro": "classifier F1 (val)",
    "seed_mIoU_fixed": "seed mIoU @0.15 (train)",
    "seed_mIoU_best": "seed mIoU best (train)",
    "best_threshold": "best bg threshold",
}


def cam_table(rows: list[dict]):
    """Rows from :func:`c2am_bench.pipeline.compare_cam_stage` -> display DataFrame."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    table = frame[[c for c in SEED_COLUMNS if c in frame]].rename(columns=SEED_COLUMNS)
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
        f"# CAM vs CAM+Constant vs C2AM on `{data_root}`",
        "",
        "Seeds: multi-scale (1.0, 0.5, 1.5, 2.0) + flip CAMs, evaluated on split `train` against "
        "the ground truth (dataset-level mIoU over background + classes, 255 ignored). "
        "Classifier: mAP on `val`.",
        "",
        table.to_markdown(index=False, floatfmt=".4f"),
        "",
    ]
    md += _cam_figures(rows, out_dir, data_root)
    if "mask_mIoU" in frame:
        md += [
            "## Pseudo-masks (IRN: IR labels + boundary net + random walk)",
            "",
            "Evaluated on split `train` (255 in a pseudo-mask counts as background, as IRN's "
            "eval_sem_seg). IR labels: conf_fg 0.30, conf_bg 0.05 (IRN's defaults); their "
            "precision is over confidently labelled pixels, the ignored share is what the "
            "boundary net gets no pair label from. sem_seg_bg 0.25, and the best over the sweep.",
            "",
            frame[[c for c in MASK_COLUMNS if c in frame]]
            .rename(columns=MASK_COLUMNS)
            .to_markdown(index=False, floatfmt=".4f"),
            "",
        ]
    if "seg_val_mIoU" in frame:
        md += [
            "## DeepLabV2 trained on the pseudo-masks",
            "",
            "mIoU of the segmentation model on `val` and, against the ground truth, on `train` "
            "(so seeds -> pseudo-masks -> segmentation can be read on the same images).",
            "",
            frame[[c for c in SEG_COLUMNS if c in frame]]
            .rename(columns=SEG_COLUMNS)
            .to_markdown(index=False, floatfmt=".4f"),
            "",
        ]
    steps = [c for c in TIME_COLUMNS if c in frame]
    md += [
        "## Wall seconds per step (as recorded when the step ran)",
        "",
        frame[["label", *steps]]
        .rename(columns={"label": "method", **TIME_COLUMNS})
        .to_markdown(index=False, floatfmt=".1f"),
        "",
    ]
    _atomic_text(out_dir / "README.md", "\n".join(md))
    return out_dir


SEG_COLUMNS = {
    "label": "method",
    "seed_mIoU_best": "seed mIoU best (train)",
    "mask_mIoU": "pseudo-mask mIoU (train)",
    "seg_train_mIoU": "DeepLabV2 mIoU (train)",
    "seg_val_mIoU": "DeepLabV2 mIoU (val)",
}

TIME_COLUMNS = {
    "train_seconds": "classifier",
    "seed_seconds": "seeds",
    "ir_labels_seconds": "IR labels",
    "boundary_train_seconds": "boundary net",
    "boundary_maps_seconds": "boundary maps",
    "random_walk_seconds": "walk + masks",
    "seg_seconds": "DeepLabV2",
}


MASK_COLUMNS = {
    "label": "method",
    "ir_fg_precision": "IR fg precision",
    "ir_bg_precision": "IR bg precision",
    "ir_ignore_share": "IR ignored share",
    "seed_mIoU_best": "seed mIoU best",
    "mask_mIoU": "pseudo-mask mIoU",
    "sem_seg_bg": "sem_seg_bg",
    "mask_mIoU_best": "pseudo-mask mIoU best",
    "best_sem_seg_bg": "best sem_seg_bg",
}


def _cam_figures(rows: list[dict], out_dir: Path, data_root) -> list[str]:
    """Draw the CAM-stage figures; return the Markdown lines that show them."""
    from . import cam_figures
    from .cams import load_global_cam
    from .datasets import voc

    runs = {r["label"]: Path(r["run_dir"]) for r in rows}
    names = voc.open_tree(data_root).class_names
    lines = ["## Figures", ""]
    cam_figures.plot_seed_curves(
        {k: v / "seed_eval" / "curve.csv" for k, v in runs.items()}, out_dir / "seed_curves.png"
    )
    lines.append("Seed mIoU against the background threshold: ![](seed_curves.png)")
    cam_figures.plot_cam_overlays(
        data_root, {k: v / "cams" for k, v in runs.items()}, out_dir / "cam_overlays.png"
    )
    lines.append("CAMs of each method on the same images: ![](cam_overlays.png)")
    base = next((Path(r["run_dir"]) for r in rows if r["method"] == "cam"), None)
    gpath = base / "global_cam.npz" if base is not None else None
    if gpath is not None and gpath.is_file():
        cam_figures.plot_global_cam(gpath, names, out_dir / "global_cam.png")
        cam_figures.save_class_constants(gpath, names, out_dir / "class_constants.png")
        g = load_global_cam(gpath)
        constants = {"CAM (c = 1)": 1.0, "CAM+Constant (c = 0.2)": 0.2}
        means = g["all"].reshape(len(names), -1).mean(1)
        for i in (int(means.argmax()), int(means.argmin())):
            constants[f"C2AM {names[i]} (c = {means[i]:.3f})"] = float(means[i])
        cam_figures.plot_gradient_curves(constants, out_dir / "gradients.png")
        lines += [
            "Global CAM G^all and G^cls per class (paper Fig. 10): ![](global_cam.png)",
            "Per-class constants M_z = mean(G_z) (paper Fig. 7): ![](class_constants.png)",
            "Logit gradients of Eq. 7/8 for the measured constants (G^all, gamma 1; "
            "paper Fig. 4/8): ![](gradients.png)",
        ]
    return [part for line in lines for part in (line, "")]  # one paragraph per figure


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
