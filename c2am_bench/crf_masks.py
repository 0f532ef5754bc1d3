"""The ``crf`` pseudo-mask method: each seed refined by one dense-CRF pass, no affinity network.

The classical "CAM + CRF" baseline of WSSS (e.g. SEC, DSRG and AffinityNet's own CRF step): the
``high_res`` CAMs of an image are stacked under a constant background score ``bg`` (IRN's
``cam_eval_thres``, 0.15, by default), the arg-max is refined by the same fully connected CRF
that makes IRN's IR labels (:func:`c2am_bench.ir_labels.crf_inference_label`), and the result is
the pseudo-mask: a class or background at every pixel, nothing ignored. Against ``irn`` it
measures what the boundary network and the random walk add on top of a CRF.

Output layout matches IRN's masks stage, so DeepLabV2 and the report read either:
``pseudo_masks/<id>.png`` (VOC palette) and ``mask_eval/metrics.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import DataError
from .ir_labels import crf_pass, label_split, seed_classes
from .irn_settings import IRN, IrnSettings

PSEUDO_DIR = "pseudo_masks"
#: IRN's run_sample.py ``cam_eval_thres``: the CAM background score its seeds are read at.
DEFAULT_BG = IRN.crf_mask_bg


def crf_label(img: np.ndarray, seed: dict, *, bg: float = DEFAULT_BG,
              crf: dict | None = None) -> np.ndarray:  # fmt: skip
    """CAM + dense-CRF pseudo-mask of one image.

    Args:
        img: ``(H, W, 3)`` uint8 RGB image.
        seed: ``keys`` ``(n,)`` 0-based class ids and ``high_res`` ``(n, H, W)`` CAMs in
            ``[0, 1]`` (:func:`c2am_bench.cams.load_seed`).
        bg: Background score stacked under the CAMs before the arg-max.
        crf: Keyword overrides of :func:`~c2am_bench.ir_labels.crf_inference_label`.

    Returns:
        ``(H, W)`` uint8: 0 background, ``1..K`` classes.
    """
    _check_bg(bg)
    keys1, high_res = seed_classes(img, seed)
    if keys1.size == 1:  # no class in the image: all background
        return np.zeros(high_res.shape[1:], np.uint8)
    return crf_pass(img, high_res, keys1, bg, crf)


def _check_bg(bg: float) -> None:
    IrnSettings(crf_mask_bg=bg)  # raises ConfigError naming crf_mask_bg


def make_crf_masks(
    data_root: str | os.PathLike, cams_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
    split: str = "train_aug", bg: float = DEFAULT_BG, crf: dict | None = None,
    workers: int | None = None, progress: bool = True,
) -> dict:  # fmt: skip
    """``out_dir/pseudo_masks/<id>.png`` for every image of ``split`` (atomic folder).

    Returns:
        ``n_images``, ``seconds``, ``seconds_per_image``, ``workers``, ``bg``, ``crf``.
    """
    _check_bg(bg)
    crf = dict(crf) if crf else None
    summary = label_split(crf_label, dict(bg=bg, crf=crf), data_root, cams_dir,
                          Path(out_dir) / PSEUDO_DIR, split=split, workers=workers,
                          progress=progress, what="CRF pseudo-masks")  # fmt: skip
    return {**summary, "bg": bg, "crf": dict(crf or {})}


def evaluate_masks(
    out_dir: str | os.PathLike, data_root: str | os.PathLike, *, split: str = "train",
    ids: Sequence[str] | None = None,
) -> dict:  # fmt: skip
    """mIoU of ``out_dir/pseudo_masks/`` on ``split``; writes ``out_dir/mask_eval/metrics.json``.

    One CRF pass per background score, so there is no sweep: ``best_miou`` is absent.
    """
    from PIL import Image

    from .datasets import voc
    from .evaluation import evaluate_label_maps

    out_dir = Path(out_dir)
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split) if ids is None else list(ids)

    def pairs():
        for id_ in ids:
            mask_path = tree.mask_path(id_)
            if mask_path is None:
                raise DataError(tree.image_path(id_), f"no ground-truth mask to evaluate {split}")
            pred_path = out_dir / PSEUDO_DIR / f"{id_}.png"
            if not pred_path.is_file():
                raise DataError(pred_path, f"no pseudo-mask for {split!r} image {id_}")
            with Image.open(pred_path) as im:
                yield np.array(im), voc.load_mask(mask_path, tree.num_classes)

    metrics = evaluate_label_maps(pairs(), tree.num_classes, tree.class_names)
    metrics.update(split=split)
    (out_dir / "mask_eval").mkdir(parents=True, exist_ok=True)
    (out_dir / "mask_eval" / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
