"""The oracle ladder's ground-truth inputs and the boundary map's quality.

The ladder substitutes ground truth for one input of the IRN pipeline at a time, so a user sees
which stage loses the mIoU (seeds -> walk over the GT boundary -> boundary net trained on GT IR
labels -> the method's own pipeline -> DeepLabV2; DeepLabV2 on GT masks is the ceiling). This
module holds the pure pieces:

* :func:`gt_edges` / :func:`gt_boundary`: the boundary a perfect boundary net would draw, from a
  GT mask: a pixel is an edge when its 3x3 neighbourhood holds another label (the void band counts
  as a label), max-pooled to the walk's stride 4;
* :func:`boundary_counts` / :func:`best_f_score`: a learned boundary map against those edges,
  pixel for pixel at stride 4 (no distance tolerance), precision / recall / F over thresholds;

and the folder-level functions the runner caches (GT boundary maps in the ``boundary/`` format of
:mod:`c2am_bench.irn_stage`, the boundary evaluation).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Thresholds at which a boundary map (in [0, 1]) is binarised for precision / recall.
BOUNDARY_THRESHOLDS = tuple(np.round(np.arange(0.05, 1.0, 0.05), 2))


def gt_edges(mask: np.ndarray) -> np.ndarray:
    """Label edges of a mask: a pixel whose 3x3 neighbourhood holds a different label.

    Args:
        mask: ``(H, W)`` integer labels; 255 (void) is a label like any other.

    Returns:
        ``(H, W)`` bool. The image border is not an edge (neighbours outside are ignored).
    """
    mask = np.asarray(mask)
    pad = np.pad(mask, 1, mode="edge")
    h, w = mask.shape
    edge = np.zeros((h, w), bool)
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            edge |= pad[dy : dy + h, dx : dx + w] != mask
    return edge


def max_pool(binary: np.ndarray, stride: int = 4) -> np.ndarray:
    """``(H, W)`` -> ``(ceil(H/stride), ceil(W/stride))`` max over each stride x stride cell."""
    h, w = binary.shape
    hs, ws = -(-h // stride), -(-w // stride)
    pad = np.zeros((hs * stride, ws * stride), binary.dtype)
    pad[:h, :w] = binary
    return pad.reshape(hs, stride, ws, stride).max(axis=(1, 3))


def gt_boundary(mask: np.ndarray, stride: int = 4) -> np.ndarray:
    """The oracle boundary map: :func:`gt_edges` max-pooled to ``stride``; float32 in {0, 1}."""
    return max_pool(gt_edges(mask), stride).astype(np.float32)


def boundary_counts(
    pred: np.ndarray, gt: np.ndarray, thresholds: Sequence[float] = BOUNDARY_THRESHOLDS
) -> np.ndarray:
    """True positives, false positives, false negatives of ``pred >= t`` against ``gt``.

    Args:
        pred: ``(h, w)`` boundary map in [0, 1].
        gt: ``(h, w)`` bool (or {0, 1}) GT edges at the same stride.
        thresholds: ``(T,)`` binarisation thresholds.

    Returns:
        ``(T, 3)`` int64 counts ``(tp, fp, fn)``.
    """
    pred, gt = np.asarray(pred, np.float32), np.asarray(gt).astype(bool)
    if pred.shape != gt.shape:
        raise ValueError(f"boundary map {pred.shape} and GT edges {gt.shape} differ")
    out = np.zeros((len(thresholds), 3), np.int64)
    for i, t in enumerate(thresholds):
        on = pred >= t
        out[i] = (np.count_nonzero(on & gt), np.count_nonzero(on & ~gt),
                  np.count_nonzero(~on & gt))  # fmt: skip
    return out


def best_f_score(counts: np.ndarray, thresholds: Sequence[float] = BOUNDARY_THRESHOLDS) -> dict:
    """Precision, recall and F1 at the threshold with the best F1 (dataset-level counts).

    Args:
        counts: ``(T, 3)`` summed ``(tp, fp, fn)`` of :func:`boundary_counts`.

    Returns:
        ``threshold``, ``precision``, ``recall``, ``f_score`` (fractions) and the ``curve``
        (one ``{threshold, precision, recall, f_score}`` per threshold).
    """
    counts = np.asarray(counts, np.float64)
    tp, fp, fn = counts.T
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    f = np.divide(2 * precision * recall, precision + recall, out=np.zeros_like(tp),
                  where=precision + recall > 0)  # fmt: skip
    i = int(np.argmax(f))
    curve = [{"threshold": float(t), "precision": float(p), "recall": float(r), "f_score": float(s)}
             for t, p, r, s in zip(thresholds, precision, recall, f, strict=True)]  # fmt: skip
    return {"threshold": float(thresholds[i]), "precision": float(precision[i]),
            "recall": float(recall[i]), "f_score": float(f[i]), "curve": curve}  # fmt: skip


def _gt(tree, id_: str) -> np.ndarray:
    from .datasets import voc
    from .errors import DataError

    path = tree.mask_path(id_, prefer_aug=True)
    if path is None:
        raise DataError(tree.image_path(id_), "no ground-truth mask for the oracle")
    return voc.load_mask(path, tree.num_classes)


def make_gt_boundaries(data_root, out_dir, *, split: str = "train", stride: int = 4) -> dict:
    """``out_dir/boundary/<id>.npz`` (key ``boundary``, float16) drawn from the GT masks."""
    from .datasets import voc

    tree = voc.open_tree(data_root)
    ids = tree.read_split(split)
    folder = Path(out_dir) / "boundary"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for id_ in ids:
        with open(folder / f"{id_}.npz", "wb") as f:
            np.savez(f, boundary=gt_boundary(_gt(tree, id_), stride).astype(np.float16))
    return {"n_images": len(ids), "split": split, "seconds": round(time.perf_counter() - start, 2)}


def evaluate_boundaries(
    boundary_dir: str | os.PathLike, data_root, out_dir, *, split: str = "train", stride: int = 4
) -> dict:
    """A boundary map folder against the GT edges of ``split``: ``out_dir/metrics.json``.

    Writes ``metrics.json`` with ``threshold``, ``precision``, ``recall``, ``f_score`` (best F1)
    and the ``curve``; also the mean boundary value on GT-edge and on non-edge pixels.
    """
    from .datasets import voc
    from .errors import DataError

    tree = voc.open_tree(data_root)
    counts = np.zeros((len(BOUNDARY_THRESHOLDS), 3), np.int64)
    on_edge, off_edge = [], []
    for id_ in tree.read_split(split):
        path = Path(boundary_dir) / f"{id_}.npz"
        if not path.is_file():
            raise DataError(path, "no boundary map to evaluate")
        with np.load(path) as z:
            pred = z["boundary"].astype(np.float32)
        gt = gt_boundary(_gt(tree, id_), stride).astype(bool)
        if pred.shape != gt.shape:
            raise DataError(path, f"boundary map {pred.shape} != GT edges at stride {stride} "
                                  f"{gt.shape}")  # fmt: skip
        counts += boundary_counts(pred, gt)
        on_edge.append(pred[gt])
        off_edge.append(pred[~gt])
    metrics = best_f_score(counts)
    metrics.update(split=split, stride=stride,
                   mean_on_edges=float(np.concatenate(on_edge).mean()),
                   mean_off_edges=float(np.concatenate(off_edge).mean()))  # fmt: skip
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
