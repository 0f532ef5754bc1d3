"""mmseg's ``IoUMetric`` that also *returns* per-class IoU (the stock one only logs a table).

The maths is mmseg's own: the per-image ``intersect_and_union`` areas collected by
``IoUMetric.process`` are summed over the dataset and turned into IoU by its static
``total_area_to_metrics``, so ``mIoU`` is the NaN-mean of the returned per-class values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS

from .errors import TrainingDiverged


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """``IoUMetric`` plus one ``IoU.<class>`` key per class.

    Values use the stock metric's scale and rounding (percent, 0..100, two decimals) so they
    compare directly with its ``mIoU``; they are plain ``float`` (JSON-ready). A class absent
    from both prediction and ground truth has IoU NaN (or ``nan_to_num`` when set), and is left
    out of ``mIoU`` as in mmseg. Constructor arguments are ``IoUMetric``'s; keys carry the
    prefix ``seg/`` (``seg/mIoU``, ``seg/IoU.background``) unless ``prefix`` is given, as the
    classifier's metric uses ``cls/``.
    """

    default_prefix = "seg"

    def process(self, data_batch: dict, data_samples) -> None:
        """``IoUMetric.process``, refusing NaN or infinite ``seg_logits`` (a diverged model's
        argmax would still give a mask, and an IoU that means nothing)."""
        for sample in data_samples:
            logits = (sample.get("seg_logits") or {}).get("data")
            bad = 0 if logits is None else int(logits.numel() - torch.isfinite(logits).sum())
            if bad:
                name = Path(sample.get("img_path") or "?").stem
                raise TrainingDiverged(
                    f"{bad} of {logits.numel()} segmentation scores of image {name} are NaN or "
                    "infinite: the segmentor diverged"
                )
        super().process(data_batch, data_samples)

    def compute_metrics(self, results: list) -> dict[str, float]:
        """Summary metrics of ``IoUMetric`` (cast to float) plus ``IoU.<class>``."""
        metrics = {k: float(v) for k, v in super().compute_metrics(results).items()}
        if self.format_only:
            return metrics
        areas = [sum(column) for column in zip(*results, strict=True)]
        per_class = self.total_area_to_metrics(*areas, ["mIoU"], self.nan_to_num, self.beta)
        iou = np.asarray(per_class["IoU"], dtype=np.float64)
        for name, value in zip(self.dataset_meta["classes"], iou, strict=True):
            metrics[f"IoU.{name}"] = float(np.round(value * 100, 2))
        return metrics
