"""Multi-label quality of the CAM classifier: mAP and F1 (a registered mmengine metric).

Neither mmengine nor mmseg ships a multi-label average-precision metric (mmpretrain does, but it
would add a whole package and its mmcv pins for ~20 lines), so the maths lives here as pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmseg.registry import METRICS

from .errors import TrainingDiverged


def average_precision(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-class average precision (area under the precision-recall step curve).

    Args:
        scores: (N, K) scores; higher = more confident.
        labels: (N, K) {0, 1} ground truth.

    Returns:
        (K,) AP per class; NaN for a class with no positive example.
    """
    n, k = scores.shape
    ap = np.full(k, np.nan)
    for c in range(k):
        pos = labels[:, c] > 0
        if not pos.any():
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        hits = pos[order]
        precision_at_hit = np.cumsum(hits)[hits] / (np.flatnonzero(hits) + 1)
        ap[c] = precision_at_hit.mean()
    return ap


def f1_scores(scores: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Micro- and macro-averaged F1 of ``scores >= threshold`` against ``labels`` (N, K)."""
    pred = scores >= threshold
    gt = labels > 0
    tp = (pred & gt).sum(0).astype(float)
    fp = (pred & ~gt).sum(0).astype(float)
    fn = (~pred & gt).sum(0).astype(float)
    micro = 2 * tp.sum() / max(2 * tp.sum() + fp.sum() + fn.sum(), 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return {"f1_micro": float(micro), "f1_macro": float(np.nanmean(per_class))}


@METRICS.register_module()
class MultiLabelMetric(BaseMetric):
    """mAP (over classes with a positive example) and F1 at ``threshold`` on sigmoid scores.

    Expects data samples with ``gt_label`` (K,) and ``pred_score`` (K,) (``CAMClassifier``
    'predict' mode). Reports ``mAP``, ``f1_micro``, ``f1_macro`` in [0, 1] and per-class AP as
    ``AP/<class>``. Non-finite scores are refused (:class:`~c2am_bench.errors.TrainingDiverged`).
    """

    default_prefix = "cls"

    def __init__(self, threshold: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold

    def process(self, data_batch, data_samples: Sequence) -> None:
        for sample in data_samples:
            score = sample["pred_score"] if isinstance(sample, dict) else sample.pred_score
            label = sample["gt_label"] if isinstance(sample, dict) else sample.gt_label
            self.results.append((score.cpu().numpy(), label.cpu().numpy()))

    def compute_metrics(self, results: list) -> dict[str, float]:
        scores = np.stack([r[0] for r in results])
        labels = np.stack([r[1] for r in results])
        bad = int(np.size(scores) - np.isfinite(scores).sum())
        if bad:  # NaN ranks anywhere in argsort: an mAP from them means nothing
            raise TrainingDiverged(f"{bad} of {scores.size} classification scores on "
                                   f"{len(scores)} images are NaN or infinite: the classifier "
                                   "diverged")  # fmt: skip
        ap = average_precision(scores, labels)
        metrics = {"mAP": float(np.nanmean(ap)), **f1_scores(scores, labels, self.threshold)}
        names = (self.dataset_meta or {}).get("classes") or [str(i) for i in range(len(ap))]
        for name, value in zip(names, ap, strict=True):
            metrics[f"AP/{name}"] = float(value)
        return metrics
