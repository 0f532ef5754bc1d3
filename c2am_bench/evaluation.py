"""Seed and pseudo-mask evaluation on mmseg's ``IoUMetric`` maths.

Protocol (IRN ``step/eval_cam.py`` / ``step/eval_sem_seg.py``, shared by C2AM, ReCAM, AdvCAM):
areas are accumulated over **all pixels of all images** (dataset-level, not a per-image average),
``IoU_c = TP / (TP + FP + FN)`` and ``mIoU = nanmean_c IoU_c`` over background + ``K`` classes,
GT 255 is ignored. The per-image histograms come from
:meth:`mmseg.evaluation.metrics.IoUMetric.intersect_and_union` and the ratios from
:meth:`IoUMetric.total_area_to_metrics`; nothing here builds its own confusion matrix.

Label convention: ``num_classes`` is the number of *foreground* classes ``K`` (20 for VOC); label
maps hold ``0`` (background), ``1..K`` and ``255`` (ignore); seed ``keys`` are 0-based foreground
ids, so class ``k`` is label ``k + 1``. Metrics are fractions in ``[0, 1]`` (not percent); NaN
(a class absent from both prediction and GT) is reported as ``None`` so results are valid JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from mmseg.evaluation.metrics import IoUMetric

logger = logging.getLogger(__name__)

#: AdvCAM/C2AM-style sweep grid: 0.05, 0.06, ..., 0.60.
DEFAULT_THRESHOLDS = np.round(np.arange(0.05, 0.6001, 0.01), 2)
IGNORE_INDEX = 255

# ``intersect_and_union`` bins with ``torch.histc`` on float32 values; integer class ids stay in
# their own bin only up to ~4096 bins (checked empirically), so one call never uses more than this.
_MAX_BINS_PER_CALL = 2048
# Upper bound on thresholds x pixels per call (~64 MB per int16 (C, P) array; a few such arrays
# and their float32 copies inside ``intersect_and_union`` stay well under 1 GB).
_MAX_ELEMENTS_PER_CALL = 2**25

__all__ = ["DEFAULT_THRESHOLDS", "ThresholdCurve", "evaluate_label_maps"]


def _class_names(num_classes: int, class_names: Sequence[str] | None) -> list[str]:
    """``K + 1`` names, background first; accepts ``K`` foreground names or ``K + 1`` names."""
    if class_names is None:
        return ["background"] + [f"class_{k}" for k in range(1, num_classes + 1)]
    names = list(class_names)
    if len(names) == num_classes:
        return ["background", *names]
    if len(names) == num_classes + 1:
        return names
    raise ValueError(
        f"class_names has {len(names)} names, expected {num_classes} (foreground) "
        f"or {num_classes + 1} (with background)"
    )


def _to_py(x) -> float | None:
    x = float(x)
    return None if np.isnan(x) else x


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    ok = ~np.isnan(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _per_class(names: list[str], values: np.ndarray) -> dict[str, float | None]:
    return {n: _to_py(v) for n, v in zip(names, values, strict=True)}


def _check_gt(gt: np.ndarray, num_classes: int, what: str = "gt") -> None:
    bad = (gt > num_classes) & (gt != IGNORE_INDEX)
    if (gt < 0).any() or bad.any():
        values = np.unique(gt[(gt < 0) | bad])[:5].tolist()
        raise ValueError(
            f"{what} holds values outside 0..{num_classes} and {IGNORE_INDEX}: {values}"
        )


def _metrics_from_areas(intersect, union, pred_area, label_area) -> dict[str, np.ndarray]:
    """IoU / aAcc via mmseg, precision and recall from the same areas (1-D tensors)."""
    ret = IoUMetric.total_area_to_metrics(intersect, union, pred_area, label_area, ["mIoU"])
    with np.errstate(divide="ignore", invalid="ignore"):
        inter = intersect.numpy()
        precision = inter / pred_area.numpy()
        recall = inter / label_area.numpy()
    return {
        "aAcc": np.asarray(ret["aAcc"], np.float64),
        "IoU": np.asarray(ret["IoU"], np.float64),
        "Precision": precision,
        "Recall": recall,
    }


class ThresholdCurve:
    """Seed (CAM) mIoU at every background threshold of a grid, in one pass over the images.

    For threshold ``t`` the prediction is IRN's ``argmax([t, high_res_1, ..., high_res_n])``
    mapped to ``[0, keys + 1]``: a pixel takes the class of its largest CAM ``m`` if ``m > t`` and
    background otherwise (``np.argmax`` returns the first maximum, so background wins a tie
    ``m == t``; ``t`` is compared in float32 as the reference's padded float32 array does).

    All thresholds are scored with one ``intersect_and_union`` call per image (or a few for long
    grids) by giving threshold ``i`` its own block of class ids ``i * (K + 1) + c``.

    Args:
        num_classes: Number of foreground classes ``K``.
        thresholds: Background thresholds ``(T,)``.
    """

    def __init__(self, num_classes: int, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> None:
        if not 0 < num_classes < _MAX_BINS_PER_CALL:
            raise ValueError(f"num_classes must be in [1, {_MAX_BINS_PER_CALL}), got {num_classes}")
        thr = np.asarray(thresholds, dtype=np.float64).reshape(-1)
        if thr.size == 0:
            raise ValueError("thresholds must not be empty")
        self.num_classes = num_classes
        self.thresholds = thr
        self._thr32 = torch.from_numpy(thr.astype(np.float32))
        shape = (thr.size, num_classes + 1)
        self.area_intersect = torch.zeros(shape, dtype=torch.float64)
        self.area_union = torch.zeros(shape, dtype=torch.float64)
        self.area_pred = torch.zeros(shape, dtype=torch.float64)
        self.area_label = torch.zeros(shape, dtype=torch.float64)
        self.n_images = 0

    def add(self, high_res, keys, gt) -> None:
        """Score one image at every threshold.

        Args:
            high_res: ``(n, H, W)`` max-normalised CAMs in ``[0, 1]`` of the classes ``keys``
                (numpy or torch).
            keys: ``(n,)`` 0-based foreground ids (the image's GT classes).
            gt: ``(H, W)`` label map: 0 background, ``1..K`` classes, 255 ignored.
        """
        if isinstance(high_res, torch.Tensor):
            high_res = high_res.detach().cpu().numpy()
        cams = np.asarray(high_res, dtype=np.float32)
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        gt = np.asarray(gt)
        if gt.ndim != 2 or cams.ndim != 3 or cams.shape[1:] != gt.shape:
            raise ValueError(f"high_res {cams.shape} must be (n, H, W) with gt (H, W) {gt.shape}")
        if cams.shape[0] != keys.size:
            raise ValueError(f"high_res has {cams.shape[0]} maps but keys has {keys.size} ids")
        if keys.size and (keys.min() < 0 or keys.max() >= self.num_classes):
            raise ValueError(f"keys must lie in [0, {self.num_classes}), got {keys.tolist()}")
        _check_gt(gt, self.num_classes)
        self.n_images += 1

        valid = gt.reshape(-1) != IGNORE_INDEX
        # int16 ids: every call has <= _MAX_BINS_PER_CALL bins, and int16 halves the memory
        # traffic of the (thresholds x pixels) arrays compared with int64 (~2x faster).
        label = torch.from_numpy(gt.reshape(-1)[valid].astype(np.int16))
        if keys.size:
            flat = cams.reshape(keys.size, -1)[:, valid]
            top = np.argmax(flat, axis=0)  # first maximum, like the reference
            m = torch.from_numpy(np.take_along_axis(flat, top[None], axis=0)[0])
            cls = torch.from_numpy((keys[top] + 1).astype(np.int16))
        else:  # no foreground class: background everywhere
            m = torch.full((label.numel(),), -np.inf, dtype=torch.float32)
            cls = torch.zeros(label.numel(), dtype=torch.int16)

        k1 = self.num_classes + 1
        n_pix = max(label.numel(), 1)
        chunk = max(1, min(_MAX_BINS_PER_CALL // k1, _MAX_ELEMENTS_PER_CALL // n_pix))
        for start in range(0, self.thresholds.size, chunk):
            thr = self._thr32[start : start + chunk]
            c = thr.numel()
            offset = (torch.arange(c, dtype=torch.int16) * k1)[:, None]
            pred = torch.where(m[None] > thr[:, None], cls[None], torch.zeros((), dtype=cls.dtype))
            pred += offset
            lab = label[None] + offset
            areas = IoUMetric.intersect_and_union(
                pred.reshape(-1), lab.reshape(-1), num_classes=c * k1, ignore_index=c * k1
            )
            for total, area in zip(
                (self.area_intersect, self.area_union, self.area_pred, self.area_label),
                areas,
                strict=True,
            ):
                total[start : start + c] += area.double().reshape(c, k1)

    def _per_threshold(self) -> list[dict[str, np.ndarray]]:
        if self.n_images == 0:
            raise ValueError("ThresholdCurve has no images; call add() first")
        return [
            _metrics_from_areas(
                self.area_intersect[i], self.area_union[i], self.area_pred[i], self.area_label[i]
            )
            for i in range(self.thresholds.size)
        ]

    def miou(self) -> np.ndarray:
        """mIoU at every threshold, ``(T,)`` (NaN where no class has a union)."""
        return np.array([_nanmean(r["IoU"]) for r in self._per_threshold()])

    def metrics(self, fixed: float | None = 0.15, class_names: Sequence[str] | None = None) -> dict:
        """Summarise the curve.

        Args:
            fixed: The protocol's fixed threshold (IRN 0.15), on the grid; ``None`` skips it.
            class_names: ``K`` foreground names (background is prepended) or ``K + 1`` names.

        Returns:
            ``n_images``, ``thresholds``, ``miou_curve``, ``fixed_threshold``, ``miou_at_fixed``,
            ``per_class_iou_at_fixed``, ``best_threshold`` (first argmax), ``best_miou``,
            ``per_class_iou_at_best``, ``per_class_precision_at_best``,
            ``per_class_recall_at_best``, ``fg_precision_at_best``, ``fg_recall_at_best`` --
            python floats in ``[0, 1]``, NaN as ``None``.
        """
        names = _class_names(self.num_classes, class_names)
        per_t = self._per_threshold()
        curve = np.array([_nanmean(r["IoU"]) for r in per_t])
        out: dict = {
            "n_images": self.n_images,
            "thresholds": [float(t) for t in self.thresholds],
            "miou_curve": [_to_py(v) for v in curve],
        }
        if fixed is not None:
            hits = np.flatnonzero(np.isclose(self.thresholds, fixed, rtol=0, atol=1e-9))
            if hits.size == 0:
                raise ValueError(
                    f"fixed threshold {fixed} is not on the grid {self.thresholds.tolist()}"
                )
            i = int(hits[0])
            out["fixed_threshold"] = float(self.thresholds[i])
            out["miou_at_fixed"] = _to_py(curve[i])
            out["per_class_iou_at_fixed"] = _per_class(names, per_t[i]["IoU"])
        else:
            out.update(fixed_threshold=None, miou_at_fixed=None, per_class_iou_at_fixed=None)
        if np.isnan(curve).all():
            logger.warning("seed mIoU is undefined at every threshold (no labelled pixels)")
            out.update(best_threshold=None, best_miou=None, per_class_iou_at_best=None,
                       per_class_precision_at_best=None, per_class_recall_at_best=None)  # fmt: skip
            return out
        b = int(np.nanargmax(curve))
        out["best_threshold"] = float(self.thresholds[b])
        out["best_miou"] = _to_py(curve[b])
        out["per_class_iou_at_best"] = _per_class(names, per_t[b]["IoU"])
        out["per_class_precision_at_best"] = _per_class(names, per_t[b]["Precision"])
        out["per_class_recall_at_best"] = _per_class(names, per_t[b]["Recall"])
        out["fg_precision_at_best"], out["fg_recall_at_best"] = fg_precision_recall(
            self.area_intersect[b], self.area_pred[b], self.area_label[b]
        )
        return out

    def curve_frame(self) -> pd.DataFrame:
        """One row per threshold: ``threshold``, ``mIoU``, ``mPrecision``, ``mRecall``, ``aAcc``.

        Means are NaN-means over background + ``K`` classes (fractions, not percent).
        """
        rows = [
            {
                "threshold": float(t),
                "mIoU": _nanmean(r["IoU"]),
                "mPrecision": _nanmean(r["Precision"]),
                "mRecall": _nanmean(r["Recall"]),
                "aAcc": float(r["aAcc"]),
            }
            for t, r in zip(self.thresholds, self._per_threshold(), strict=True)
        ]
        return pd.DataFrame(rows, columns=["threshold", "mIoU", "mPrecision", "mRecall", "aAcc"])


def fg_precision_recall(area_intersect, area_pred, area_label) -> tuple[float | None, float | None]:
    """Class-aware foreground precision and recall from ``(K + 1,)`` areas (background first).

    ``sum_c TP_c / sum_c pred_c`` and ``sum_c TP_c / sum_c label_c`` over the foreground classes
    ``c >= 1``: the false-positive / false-negative split of a label map's foreground (a pixel
    of the wrong class counts against both). ``None`` when the denominator is 0.
    """
    tp = float(area_intersect[1:].sum())
    pred, label = float(area_pred[1:].sum()), float(area_label[1:].sum())
    return (tp / pred if pred else None), (tp / label if label else None)


def evaluate_label_maps(
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    class_names: Sequence[str] | None = None,
) -> dict:
    """Dataset-level mIoU of label maps, e.g. IRN pseudo-masks (``step/eval_sem_seg.py``).

    As in the reference, any 255 in a *prediction* is scored as background (0); 255 in the GT is
    ignored.

    Args:
        pairs: ``(pred, gt)`` per image, both ``(H, W)`` integer maps with values ``0..K`` / 255.
        num_classes: Number of foreground classes ``K``.
        class_names: ``K`` foreground names (background is prepended) or ``K + 1`` names.

    Returns:
        ``n_images``, ``mIoU``, ``aAcc``, ``mPrecision``, ``mRecall`` and ``per_class_iou`` /
        ``per_class_precision`` / ``per_class_recall`` dicts (background first), ``fg_precision``
        and ``fg_recall``, python floats in ``[0, 1]``, NaN as ``None``.
    """
    names = _class_names(num_classes, class_names)
    k1 = num_classes + 1
    totals = [torch.zeros(k1, dtype=torch.float64) for _ in range(4)]
    n_images = 0
    for i, (pred, gt) in enumerate(pairs):
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape or gt.ndim != 2:
            raise ValueError(f"pair {i}: prediction {pred.shape} and gt {gt.shape} must be (H, W)")
        _check_gt(pred, num_classes, what=f"pair {i}: prediction")
        _check_gt(gt, num_classes, what=f"pair {i}: gt")
        pred = np.where(pred == IGNORE_INDEX, 0, pred).astype(np.int64)
        areas = IoUMetric.intersect_and_union(
            torch.from_numpy(pred), torch.from_numpy(gt.astype(np.int64)), k1, IGNORE_INDEX
        )
        for total, area in zip(totals, areas, strict=True):
            total += area.double()
        n_images += 1
    if n_images == 0:
        raise ValueError("evaluate_label_maps got no (pred, gt) pairs")
    r = _metrics_from_areas(*totals)
    fg_precision, fg_recall = fg_precision_recall(totals[0], totals[2], totals[3])
    return {
        "n_images": n_images,
        "fg_precision": fg_precision,
        "fg_recall": fg_recall,
        "mIoU": _to_py(_nanmean(r["IoU"])),
        "aAcc": _to_py(r["aAcc"]),
        "mPrecision": _to_py(_nanmean(r["Precision"])),
        "mRecall": _to_py(_nanmean(r["Recall"])),
        "per_class_iou": _per_class(names, r["IoU"]),
        "per_class_precision": _per_class(names, r["Precision"]),
        "per_class_recall": _per_class(names, r["Recall"]),
    }
