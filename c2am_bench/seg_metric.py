"""mmseg's ``IoUMetric`` that also *returns* per-class IoU (the stock one only logs a table).

The maths is mmseg's own: the per-image ``intersect_and_union`` areas collected by
``IoUMetric.process`` are summed over the dataset and turned into IoU by its static
``total_area_to_metrics``, so ``mIoU`` is the NaN-mean of the returned per-class values.
"""

from __future__ import annotations

import numpy as np
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS


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
