"""Where a label map's foreground goes wrong: on the class's context band, in an image without the
class, on another object, or elsewhere (SynthVOC's ``SegmentationConfounders/`` maps).

The CAM mass shares (:mod:`c2am_bench.confounder_shares`) say how much a *CAM* leans on the
context; this says what the leak costs in the label maps the later stages make. For each class
``c``, every pixel a label map gives ``c`` (ground-truth void skipped) is one of

* ``correct``: the ground truth is ``c``;
* ``absent``: the image's ground truth has no ``c`` at all. Pseudo-masks made with the image
  labels (IRN's, CRF's) cannot err this way; a segmenter predicting without labels can;
* ``context``: ``c``'s own context band (background in the ground truth) of an image that holds
  ``c``: the confounder learnt as the class;
* ``object``: another class's object of an image that holds ``c`` (e.g. a look-alike);
* ``background``: any other background of such an image (plain, or another class's context).

The five shares sum to 1 (``correct`` is the class's precision). Measured on the pseudo-masks
(``train``) and on DeepLabV2's ``val`` predictions, they show whether the segmenter amplifies the
masks' context leak and how much it loses without the image labels (README, "DeepLabV2's errors
by region").
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from .errors import DataError

ERRORS = ("correct", "absent", "context", "object", "background")


def prediction_counts(
    pred: np.ndarray, gt: np.ndarray, confounders: np.ndarray, context_of: dict[int, int],
    num_classes: int, ignore_index: int = 255,
) -> np.ndarray:  # fmt: skip
    """Pixel counts of one image, ``(num_classes, 5)`` int64: row ``c - 1`` counts the pixels
    predicted ``c`` (1..K) by :data:`ERRORS` category.

    Args:
        pred: ``(H, W)`` predicted labels (0 = background, 1..K).
        gt: ``(H, W)`` ground truth (``ignore_index`` pixels are skipped).
        confounders: ``(H, W)`` uint8 confounder map (``64 * kind + index``).
        context_of: 0-based class id -> its context's index in the map (1-based).
        num_classes: K (foreground classes).
    """
    from .datasets.synthvoc import CONTEXT, decode_confounders

    if not pred.shape == gt.shape == confounders.shape:
        raise ValueError(f"pred {pred.shape}, gt {gt.shape}, confounders {confounders.shape}")
    kind, index = decode_confounders(confounders)
    valid = gt != ignore_index
    present = set(np.unique(gt[valid]).tolist())
    out = np.zeros((num_classes, len(ERRORS)), np.int64)
    for c in range(1, num_classes + 1):
        mine = valid & (pred == c)
        n = int(mine.sum())
        if not n:
            continue
        correct = int((mine & (gt == c)).sum())
        if c not in present:
            out[c - 1] = (0, n, 0, 0, 0)
            continue
        background = mine & (gt == 0)
        on_context = background & (kind == CONTEXT) & (index == context_of.get(c - 1, -1))
        context, rest = int(on_context.sum()), int(background.sum()) - int(on_context.sum())
        out[c - 1] = (correct, 0, context, n - correct - context - rest, rest)
    return out


def error_shares(counts: np.ndarray, class_names: list[str]) -> dict:
    """Shares of summed :func:`prediction_counts` (``(K, 5)``): per class (pooled over images;
    a class never predicted is left out) and ``mean`` over those classes, fractions in [0, 1];
    ``n_pred`` is the class's predicted pixels."""
    per_class = {}
    for name, row in zip(class_names, counts, strict=True):
        total = int(row.sum())
        if total:
            per_class[name] = {e: float(v) / total for e, v in zip(ERRORS, row, strict=True)}
            per_class[name]["n_pred"] = total
    mean = {e: float(np.mean([v[e] for v in per_class.values()])) if per_class else float("nan")
            for e in ERRORS}  # fmt: skip
    return {"per_class": per_class, "mean": mean}


def png_label_maps(
    folder: str | os.PathLike, ids: Iterable[str]
) -> Iterator[tuple[str, np.ndarray]]:
    """``(id, labels)`` of the label PNGs ``folder/<id>.png`` (pseudo-masks)."""
    from PIL import Image

    for id_ in ids:
        path = Path(folder) / f"{id_}.png"
        if not path.is_file():
            raise DataError(path, "no label map for this image")
        with Image.open(path) as im:
            yield id_, np.asarray(im)


def evaluate_context_errors(
    label_maps: Iterable[tuple[str, np.ndarray]], data_root: str | os.PathLike, split: str
) -> dict:
    """:func:`error_shares` of ``label_maps`` (``(id, (H, W) labels)`` of every image of
    ``split``) against the tree's ground truth and confounder maps, with ``split`` and
    ``n_images``.

    Raises:
        DataError: an image's confounder map or ground truth is missing or of another size.
    """
    from PIL import Image

    from .confounder_shares import context_index
    from .datasets import voc
    from .datasets.synthvoc import CONFOUNDER_DIR

    root = Path(data_root)
    tree = voc.open_tree(root)
    context_of = context_index(root)
    counts = np.zeros((tree.num_classes, len(ERRORS)), np.int64)
    n = 0
    for id_, pred in label_maps:
        path = root / CONFOUNDER_DIR / f"{id_}.png"
        if not path.is_file():
            raise DataError(path, "no confounder map for this image")
        with Image.open(path) as im:
            conf = np.asarray(im)
        mask = tree.mask_path(id_)
        if mask is None:
            raise DataError(tree.root / "SegmentationClass" / f"{id_}.png",
                            f"ground truth of {split!r} image {id_} absent")  # fmt: skip
        gt = voc.load_mask(mask, tree.num_classes)
        if not pred.shape == gt.shape == conf.shape:
            raise DataError(path, f"size {conf.shape}: ground truth {gt.shape}, labels "
                            f"{pred.shape}")  # fmt: skip
        counts += prediction_counts(pred, gt, conf, context_of, tree.num_classes)
        n += 1
    return {"split": split, "n_images": n, **error_shares(counts, list(tree.class_names))}
