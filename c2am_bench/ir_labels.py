"""IR labels: confident fg / confident bg / ignore maps from CAM seeds and a dense CRF.

Reproduces IRN's ``step/cam_to_ir_label.py`` and ``misc/imutils.py::crf_inference_label``: the
``high_res`` CAMs of an image are thresholded twice, at a high background score ``conf_fg`` and
at a low one ``conf_bg``, each hard label map is refined by a fully connected CRF on the RGB image,
and the two results are combined into

* a class id ``1..K`` where even the high background score loses (confident foreground),
* ``0`` where even the low background score wins (confident background),
* ``255`` (ignore) in between.

These maps supervise the inter-pixel relation network (IRN). ``conf_fg`` / ``conf_bg`` trade
the share of labelled pixels against their precision; :func:`ir_label_quality` measures both.

References:
    * Ahn et al., "Weakly Supervised Learning of Instance Segmentation with Inter-pixel
      Relations", CVPR 2019, https://arxiv.org/abs/1904.05044 (IRN).
    * Krähenbühl & Koltun, "Efficient Inference in Fully Connected CRFs with Gaussian Edge
      Potentials", NeurIPS 2011, https://arxiv.org/abs/1210.5644 (dense CRF; ``pydensecrf``).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .atomic import fill_dir, write_json
from .environment import cpu_budget
from .errors import ConfigError, DataError
from .irn_settings import IRN, IrnSettings

logger = logging.getLogger(__name__)

__all__ = [
    "IR_LABEL_DIR",
    "IR_SUMMARY_FILE",
    "crf_inference_label",
    "ir_label",
    "ir_label_quality",
    "make_ir_labels",
    "save_label_png",
]

#: Folder (under the output dir) holding ``<id>.png`` IR labels.
IR_LABEL_DIR = "ir_labels"
#: Summary written beside it by :func:`make_ir_labels`.
IR_SUMMARY_FILE = "ir_labels.json"
IGNORE = 255


# --------------------------------------------------------------------------- per image


def crf_inference_label(
    img: np.ndarray,
    labels: np.ndarray,
    n_labels: int,
    *,
    t: int = 10,
    gt_prob: float = 0.7,
    gauss_sxy: float = 3,
    gauss_compat: float = 3,
    bi_sxy: float = 50,
    bi_srgb: float = 5,
    bi_compat: float = 10,
) -> np.ndarray:
    """Refine a hard label map with a fully connected CRF (IRN ``imutils.crf_inference_label``).

    The unary comes from the labels alone (``pydensecrf.utils.unary_from_labels`` with
    ``zero_unsure=False``: energy ``-log gt_prob`` for the given label and
    ``-log((1 - gt_prob) / (n_labels - 1))`` for the others; label 0 is an ordinary label). The
    pairwise terms are a Gaussian smoothness kernel and a bilateral appearance kernel on ``img``;
    ``t`` mean-field iterations, then the arg-max.

    Args:
        img: ``(H, W, 3)`` uint8 RGB image.
        labels: ``(H, W)`` integer labels in ``[0, n_labels)``.
        n_labels: Number of labels.
        t: Mean-field iterations.
        gt_prob: Confidence given to ``labels`` (in ``(0, 1)``).
        gauss_sxy, gauss_compat: Gaussian kernel width (pixels) and weight.
        bi_sxy, bi_srgb, bi_compat: Bilateral kernel widths (pixels, intensity) and weight.

    Returns:
        ``(H, W)`` int64 labels in ``[0, n_labels)``.
    """
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_labels

    img = np.asarray(img)
    labels = np.asarray(labels)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"img must be (H, W, 3) uint8, got {img.dtype} {img.shape}")
    if labels.shape != img.shape[:2] or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"labels must be integer {img.shape[:2]}, got {labels.dtype} {labels.shape}"
        )
    if n_labels < 1:
        raise ValueError(f"n_labels must be >= 1, got {n_labels}")
    if labels.size and (labels.min() < 0 or labels.max() >= n_labels):
        raise ValueError(
            f"labels must lie in [0, n_labels={n_labels}), got {labels.min()}..{labels.max()}"
        )
    h, w = labels.shape
    if n_labels == 1:  # one label: nothing to decide (and unary_from_labels would divide by 0)
        return np.zeros((h, w), np.int64)
    crf = dcrf.DenseCRF2D(w, h, n_labels)
    unary = unary_from_labels(labels, n_labels, gt_prob=gt_prob, zero_unsure=False)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=gauss_sxy, compat=gauss_compat)
    rgb = np.array(img, order="C", copy=True)  # pydensecrf wants a writable C-contiguous buffer
    crf.addPairwiseBilateral(sxy=bi_sxy, srgb=bi_srgb, rgbim=rgb, compat=bi_compat)
    q = np.asarray(crf.inference(t), dtype=np.float32).reshape(n_labels, h, w)
    return np.argmax(q, axis=0)


def _check_thresholds(conf_fg: float, conf_bg: float) -> None:
    IrnSettings(conf_fg=conf_fg, conf_bg=conf_bg)  # raises ConfigError naming both


def crf_pass(img: np.ndarray, high_res: np.ndarray, keys1: np.ndarray, thres: float,
               crf: dict | None = None):  # fmt: skip
    """One pass: [thres plane; CAMs] -> argmax -> CRF -> mask labels (0 bg, keys + 1)."""
    scores = np.concatenate([np.full((1, *high_res.shape[1:]), thres, np.float32), high_res])
    pred = crf_inference_label(img, np.argmax(scores, axis=0), n_labels=keys1.size,
                               **(crf or {}))  # fmt: skip
    return keys1[pred]


def seed_classes(img: np.ndarray, seed: dict) -> tuple[np.ndarray, np.ndarray]:
    """A seed's label ids and CAMs, checked against the image.

    Returns:
        ``keys1`` ``(n + 1,)`` uint8 ``[0, keys + 1]`` (background first) and ``high_res``
        ``(n, H, W)`` float32.

    Raises:
        ValueError: ``high_res`` does not match the keys and the image, or a key is out of range.
    """
    keys = np.asarray(seed["keys"], dtype=np.int64).reshape(-1)
    high_res = np.asarray(seed["high_res"], dtype=np.float32)
    h, w = np.shape(img)[:2]
    if high_res.shape != (keys.size, h, w):
        raise ValueError(
            f"seed high_res has shape {high_res.shape}, expected ({keys.size}, {h}, {w}) "
            "to match its keys and the image"
        )
    if keys.size and (keys.min() < 0 or keys.max() >= IGNORE - 1):
        raise ValueError(f"seed keys must lie in [0, {IGNORE - 1}), got {keys.tolist()}")
    return np.concatenate([[0], keys + 1]).astype(np.uint8), high_res


def ir_label(
    img: np.ndarray, seed: dict, *, conf_fg: float = IRN.conf_fg, conf_bg: float = IRN.conf_bg,
    crf: dict | None = None,
) -> np.ndarray:  # fmt: skip
    """IR label of one image (IRN ``cam_to_ir_label``).

    ``fg_conf`` = CRF of argmax ``[conf_fg; CAMs]``, ``bg_conf`` = CRF of argmax
    ``[conf_bg; CAMs]`` (both mapped through ``[0, keys + 1]``); the result is ``fg_conf`` where
    it is a class, 0 where both passes say background, and 255 where only ``bg_conf`` says a class.

    Args:
        img: ``(H, W, 3)`` uint8 RGB image.
        seed: A seed (:func:`c2am_bench.cams.load_seed`): ``keys`` ``(n,)`` 0-based class ids and
            ``high_res`` ``(n, H, W)`` CAMs in ``[0, 1]``.
        conf_fg: Background score of the foreground pass (IRN ``conf_fg_thres``, 0.30).
        conf_bg: Background score of the background pass (IRN ``conf_bg_thres``, 0.05).
        crf: Keyword overrides of :func:`crf_inference_label` (e.g. ``bi_sxy``, ``gauss_sxy``:
            kernel widths scaled to small images); IRN's values when ``None``.

    Returns:
        ``(H, W)`` uint8: 0 background, ``1..K`` classes, 255 ignore.

    Raises:
        ConfigError: Unless ``0 <= conf_bg < conf_fg <= 1``.
    """
    _check_thresholds(conf_fg, conf_bg)
    keys1, high_res = seed_classes(img, seed)
    if keys1.size == 1:  # no class: both passes are all background
        return np.zeros(high_res.shape[1:], np.uint8)
    fg_conf = crf_pass(img, high_res, keys1, conf_fg, crf)
    bg_conf = crf_pass(img, high_res, keys1, conf_bg, crf)
    out = fg_conf.copy()
    out[fg_conf == 0] = IGNORE
    out[(fg_conf == 0) & (bg_conf == 0)] = 0
    return out


# --------------------------------------------------------------------------- whole split


def save_label_png(path: str | os.PathLike, label: np.ndarray) -> None:
    """Write an ``(H, W)`` uint8 label map as an indexed PNG with the VOC palette (viewable; the
    pixel values are the labels, as in VOC's ``SegmentationClass``)."""
    from PIL import Image

    from .datasets.voc_meta import flat_palette

    im = Image.fromarray(np.ascontiguousarray(label, dtype=np.uint8))
    im.putpalette(flat_palette())  # 'L' -> 'P', indices unchanged
    im.save(path, format="PNG")


def _worker_init() -> None:
    # Workers use numpy, PIL and pydensecrf only; keep any library thread pool (torch, inherited
    # through fork, or OpenMP/BLAS) at one thread so N workers use N cores, not N x cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _one(task: tuple[Callable[..., np.ndarray], str, str, str, dict]):
    """Worker: image + seed -> label PNG (``label(img, seed, **kwargs)``). Errors come back as
    values (DataError's signature does not survive pickling)."""
    from .cams import load_seed
    from .datasets.voc import load_image

    label, image_path, seed_path, out_path, kwargs = task
    try:
        img = load_image(image_path)
        seed = load_seed(seed_path)
        if seed["high_res"].shape[1:] != img.shape[:2]:
            raise DataError(
                seed_path,
                f"high_res is {seed['high_res'].shape[1:]} but image {image_path} is "
                f"{img.shape[:2]}",
            )
        save_label_png(out_path, label(img, seed, **kwargs))
    except DataError as err:
        return (err.path, err.problem)
    return None


def _run(tasks: list, workers: int, progress: bool, desc: str) -> None:
    from tqdm import tqdm

    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not progress)
    pool: Executor | None = None
    try:
        if workers == 1:
            results: Iterable = map(_one, tasks)
        else:
            pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init
            )
            chunk = max(1, min(16, len(tasks) // (4 * workers)))
            results = pool.map(_one, tasks, chunksize=chunk)
        for err in results:
            if err is not None:
                raise DataError(*err)
            bar.update()
    finally:
        bar.close()
        if pool is not None:  # wait for running tasks so none writes after the caller's cleanup
            pool.shutdown(wait=True, cancel_futures=True)


def make_ir_labels(
    data_root: str | os.PathLike,
    cams_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str = "train_aug",
    conf_fg: float = IRN.conf_fg,
    conf_bg: float = IRN.conf_bg,
    crf: dict | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Write ``out_dir/ir_labels/<id>.png`` for every image of ``split``.

    The PNGs are indexed (mode ``P``, VOC palette) with values 0 (bg), ``1..K`` and 255 (ignore).
    The folder appears atomically: labels are written into a temp dir beside it, renamed at the
    end, and the temp dir is removed on any error.

    Args:
        data_root: VOC-layout dataset root (images).
        cams_dir: Folder of seeds ``<id>.npz`` (:func:`c2am_bench.cams.save_seed`).
        out_dir: Where ``ir_labels/`` and ``ir_labels.json`` go; ``ir_labels/`` must not exist.
        split: Image ids to process (IRN: ``train_aug``).
        conf_fg, conf_bg: Thresholds of :func:`ir_label`.
        crf: CRF overrides of :func:`ir_label` (``None``: IRN's).
        workers: Processes (default: :func:`~c2am_bench.environment.cpu_budget`, every core unless
            ``--threads`` says fewer); 1 runs in this process. Outputs do not
            depend on it.
        progress: Show a tqdm bar.

    Returns:
        Summary (also written to ``out_dir/ir_labels.json``): ``n_images``, ``seconds``,
        ``seconds_per_image``, ``workers``, ``conf_fg``, ``conf_bg``, ``split``, ``data_root``,
        ``cams_dir``.

    Raises:
        ConfigError: Bad thresholds or worker count, or ``ir_labels/`` already exists.
        DataError: A seed is missing or unreadable (names the file), or an image is.
    """
    _check_thresholds(conf_fg, conf_bg)
    crf = dict(crf) if crf else None
    summary = label_split(
        ir_label, dict(conf_fg=conf_fg, conf_bg=conf_bg, crf=crf), data_root, cams_dir,
        Path(out_dir) / IR_LABEL_DIR, split=split, workers=workers, progress=progress,
        what="IR labels",
    )  # fmt: skip
    summary = {**summary, "conf_fg": conf_fg, "conf_bg": conf_bg, "crf": dict(crf or {}),
               "split": split, "data_root": str(data_root), "cams_dir": str(cams_dir)}  # fmt: skip
    write_json(Path(out_dir) / IR_SUMMARY_FILE, summary)
    return summary


def label_split(
    label: Callable[..., np.ndarray],
    kwargs: dict,
    data_root: str | os.PathLike,
    cams_dir: str | os.PathLike,
    final: str | os.PathLike,
    *,
    split: str,
    workers: int | None = None,
    progress: bool = True,
    what: str = "labels",
) -> dict:
    """``final/<id>.png`` = ``label(image, seed, **kwargs)`` for every image of ``split``.

    The folder appears atomically: PNGs are written into a temp dir beside ``final``, renamed at
    the end, and the temp dir is removed on any error. ``label`` must be a module-level function
    (the worker processes receive it by reference).

    Returns:
        ``n_images``, ``seconds``, ``seconds_per_image``, ``workers``.

    Raises:
        ConfigError: Bad worker count, or ``final`` already exists.
        DataError: A seed is missing or unreadable (names the file), or an image is.
    """
    from .datasets import voc

    workers = cpu_budget() if workers is None else workers
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    final, cams_dir = Path(final), Path(cams_dir)
    if final.exists():
        raise ConfigError(f"{final}: already exists; remove it to regenerate the {what}")
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split)
    for id_ in ids:  # fail before any work if a seed is missing
        if not (cams_dir / f"{id_}.npz").is_file():
            raise DataError(cams_dir / f"{id_}.npz", f"seed of {split!r} image {id_} is missing")
    workers = min(workers, len(ids))

    def fill(tmp: Path) -> None:
        tasks = [(label, str(tree.image_path(i)), str(cams_dir / f"{i}.npz"),
                  str(tmp / f"{i}.png"), kwargs) for i in ids]  # fmt: skip
        _run(tasks, workers, progress, f"{what} {split}")

    start = time.perf_counter()
    fill_dir(final, fill, what=what)
    seconds = time.perf_counter() - start
    logger.info("%s: %d images in %.1f s (%d workers)", what, len(ids), seconds, workers)
    return {"n_images": len(ids), "seconds": round(seconds, 3),
            "seconds_per_image": round(seconds / len(ids), 5), "workers": workers}  # fmt: skip


# --------------------------------------------------------------------------- quality


def _ratio(num: int, den: int) -> float | None:
    return float(num) / float(den) if den else None


def ir_label_quality(
    data_root: str | os.PathLike, ir_dir: str | os.PathLike, *, split: str = "train"
) -> dict:
    """How much of the image IR labels cover and how often they are right, against GT masks.

    Over the ids of ``split`` that have an IR label, on pixels whose GT is not void (255):

    * ``fg_share`` / ``bg_share`` / ``ignore_share``: share of pixels labelled a class / 0 / 255;
    * ``precision``: share of confident (non-255) pixels whose label equals the GT;
      ``fg_precision`` / ``bg_precision``: the same over confident-fg / confident-bg pixels;
    * ``fg_recall``: share of GT-foreground pixels labelled with their GT class;
      ``bg_recall``: share of GT-background pixels labelled 0.

    Ratios with an empty denominator are ``None``. These are plain pixel counts, not IoUs.

    Args:
        data_root: VOC-layout dataset root (GT masks).
        ir_dir: The ``ir_labels/`` folder of PNGs, or the output dir holding it.
        split: Ids to evaluate (``train``: the subset of ``train_aug`` with GT masks).

    Returns:
        The ratios above plus ``n_images`` and ``n_pixels`` (non-void GT pixels).

    Raises:
        DataError: No id of ``split`` has an IR label; a GT mask is missing; shapes differ.
    """
    from .datasets import voc

    ir_dir = Path(ir_dir)
    if (ir_dir / IR_LABEL_DIR).is_dir():
        ir_dir = ir_dir / IR_LABEL_DIR
    tree = voc.open_tree(data_root)
    k = tree.num_classes
    ids = [i for i in tree.read_split(split) if (ir_dir / f"{i}.png").is_file()]
    if not ids:
        raise DataError(ir_dir, f"no IR label for any image of split {split!r}")
    # Joint counts of (label, gt) with 255 folded to k + 1 -> a (k + 2, k + 2) table.
    table = np.zeros((k + 2, k + 2), np.int64)
    for id_ in ids:
        gt_path = tree.mask_path(id_)
        if gt_path is None:
            raise DataError(tree.root, f"no GT mask for {split!r} image {id_}")
        gt = voc.load_mask(gt_path, k)
        pred = voc.load_mask(ir_dir / f"{id_}.png", k)
        if pred.shape != gt.shape:
            raise DataError(ir_dir / f"{id_}.png", f"shape {pred.shape} != GT {gt.shape}")
        valid = gt != IGNORE
        p = np.minimum(pred[valid].astype(np.int64), k + 1)
        g = gt[valid].astype(np.int64)
        table += np.bincount(p * (k + 2) + g, minlength=(k + 2) ** 2).reshape(k + 2, k + 2)
    n = int(table.sum())
    pred_fg, pred_bg, pred_ign = table[1 : k + 1].sum(), table[0].sum(), table[k + 1].sum()
    diag = np.diag(table)
    fg_correct, bg_correct = int(diag[1 : k + 1].sum()), int(diag[0])
    return {
        "n_images": len(ids),
        "n_pixels": n,
        "fg_share": _ratio(pred_fg, n),
        "bg_share": _ratio(pred_bg, n),
        "ignore_share": _ratio(pred_ign, n),
        "precision": _ratio(fg_correct + bg_correct, pred_fg + pred_bg),
        "fg_precision": _ratio(fg_correct, pred_fg),
        "bg_precision": _ratio(bg_correct, pred_bg),
        "fg_recall": _ratio(fg_correct, table[:, 1 : k + 1].sum()),
        "bg_recall": _ratio(bg_correct, table[:, 0].sum()),
    }
