"""Final segmentation evaluation of a trained DeepLabV2: plain, multi-scale + flip, dense CRF.

The WSSS references (IRN / AdvCAM / C2AM, algorithms.md c.3) report the val mIoU of DeepLabV2
with multi-scale + flip inference and a dense CRF; the training stage's own validation
(``seg/mIoU`` in the run's ``metrics.json``) is single-scale without CRF. This module scores a
finished run (``config.py`` + ``segmentor.pth``) under any of the four settings:

* **plain**: the config's ``test_dataloader`` pipeline and the model's ``test_step`` (whole image);
* **TTA**: mmseg's own test-time augmentation, as ``tools/test.py --tta`` runs it: the config's
  ``tta_pipeline`` (``TestTimeAug`` over scales x flips) with the model wrapped in its
  ``tta_model`` (``SegTTAModel``: mean of the per-augmentation softmax at the original size);
* **CRF**: the (plain or TTA) softmax refined by :func:`c2am_bench.dense_crf.crf_refine_probs`
  with deeplab-pytorch's parameters :data:`~c2am_bench.dense_crf.DEEPLAB_CRF`, then the arg-max.

Scores are dataset-level over the split's ground truth (:func:`c2am_bench.evaluation.
evaluate_label_maps`, i.e. mmseg's ``IoUMetric`` areas; 255 ignored), as fractions in ``[0, 1]``.
The ground truth is read with the VOC reader (``SegmentationClass`` first, ``SegmentationClassAug``
as fallback), so any split of the tree can be scored.

Reference: Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,
Atrous Convolution, and Fully Connected CRFs", TPAMI 2018, https://arxiv.org/abs/1606.00915.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .atomic import write_json
from .errors import C2AMError, ConfigError, DataError

logger = logging.getLogger(__name__)

__all__ = ["METRICS_FILE", "WEIGHTS_FILE", "default_out_dir", "evaluate_segmentor",
           "load_segmentor"]  # fmt: skip

#: The plain ``state_dict`` a segmentation run writes (the segmentor stage names it the same).
WEIGHTS_FILE = "segmentor.pth"
METRICS_FILE = "metrics.json"
# Where the seg configs define tta_model / tta_pipeline; used for runs whose config.py predates
# them (the file has no _base_ and no custom imports, so it loads on its own).
_TTA_SOURCE = (Path(__file__).resolve().parent.parent / "mm_configs" / "_base_" / "datasets"
               / "synthvoc_seg-128.py")  # fmt: skip


def default_out_dir(run_dir: str | os.PathLike, split: str, *, tta: bool, crf: bool) -> Path:
    """``<run>/eval-<split>[-tta][-crf]``: where ``c2am-bench seg test`` writes by default."""
    return Path(run_dir) / ("eval-" + split + ("-tta" if tta else "") + ("-crf" if crf else ""))


def load_segmentor(run_dir: str | os.PathLike, device: str | None = None):
    """The run's segmentor (eval mode, weights from ``segmentor.pth``) and its config.

    Raises:
        ConfigError: ``config.py`` or ``segmentor.pth`` is missing, or the config does not build
            a segmentor.
        CheckpointError: The weights do not fit the model.
    """
    from .runs import load_model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: run folder not found")

    def no_pretrained(model_cfg: dict) -> dict:
        # the trained weights replace any ImageNet init, whose file need not exist here
        if "backbone" in model_cfg:
            model_cfg["backbone"] = {**model_cfg["backbone"], "init_cfg": None}
        return model_cfg

    try:
        model, cfg = load_model(run_dir, WEIGHTS_FILE, what="segmentation", adapt=no_pretrained,
                                device=device)  # fmt: skip
    except C2AMError:
        raise
    except Exception as err:  # noqa: BLE001 - mmengine raises many types for a bad config file
        first = (str(err).strip().splitlines() or [repr(err)])[0]
        raise ConfigError(f"{run_dir / 'config.py'}: cannot build the segmentor "
                          f"({type(err).__name__}: {first})") from None  # fmt: skip
    if not hasattr(model, "decode_head"):
        raise ConfigError(f"{run_dir / 'config.py'}: model {cfg.model.get('type')!r} is not a "
                          "segmentor (no decode_head); is this a `seg train` run?")  # fmt: skip
    return model, cfg


def _tta_settings(cfg, run_dir: Path) -> tuple[dict, list]:
    """``(tta_model, tta_pipeline)`` of the run's config, or of the seg configs for old runs."""
    if cfg.get("tta_model") is not None and cfg.get("tta_pipeline") is not None:
        return cfg.tta_model, cfg.tta_pipeline
    from mmengine.config import Config

    logger.warning("%s has no tta_model/tta_pipeline (trained before they were configured); "
                   "using those of %s", run_dir / "config.py", _TTA_SOURCE.name)  # fmt: skip
    source = Config.fromfile(str(_TTA_SOURCE))
    return source.tta_model, source.tta_pipeline


def _keep_probs_tta(model, tta_cfg: dict, where: Path):
    """mmseg's ``SegTTAModel`` around ``model``, also keeping its merged softmax (for the CRF).

    ``SegTTAModel.merge_preds`` averages the per-augmentation softmax and stores only the
    arg-max; the subclass recomputes the same average (same order of operations, so its arg-max
    is mmseg's prediction) and attaches it as ``seg_probs``.
    """
    import torch
    from mmengine.structures import PixelData
    from mmseg.models.segmentors import SegTTAModel
    from mmseg.registry import MODELS

    cls = MODELS.get(tta_cfg.get("type", ""))
    if cls is not SegTTAModel:
        raise ConfigError(f"{where}: tta_model.type={tta_cfg.get('type')!r}; only mmseg's "
                          "SegTTAModel is supported")  # fmt: skip

    class KeepProbsSegTTAModel(SegTTAModel):
        def merge_preds(self, data_samples_list):
            merged = super().merge_preds(data_samples_list)
            for out, samples in zip(merged, data_samples_list, strict=True):
                probs = torch.zeros_like(samples[0].seg_logits.data)
                for sample in samples:
                    probs += sample.seg_logits.data.softmax(dim=0)
                probs /= len(samples)
                out.set_data({"seg_probs": PixelData(data=probs)})
            return merged

    extra = {k: v for k, v in tta_cfg.items() if k not in ("type", "module")}
    return KeepProbsSegTTAModel(module=model, **extra).eval()


def _predictor(model, cfg, run_dir: Path, tta: bool) -> Callable[[dict], np.ndarray]:
    """``info -> (C, H, W)`` float32 softmax at the original size, for a pipeline input dict."""
    import torch
    from mmengine.dataset import Compose, pseudo_collate

    if tta:
        tta_cfg, pipeline_cfg = _tta_settings(cfg, run_dir)
        net = _keep_probs_tta(model, tta_cfg, run_dir / "config.py")
    else:
        pipeline_cfg, net = cfg.test_dataloader.dataset.pipeline, model
    try:
        pipeline = Compose(pipeline_cfg)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"{run_dir / 'config.py'}: {'tta_pipeline' if tta else 'test pipeline'}"
                          f" does not build ({err})") from None  # fmt: skip

    def predict(info: dict) -> np.ndarray:
        with torch.no_grad(), warnings.catch_warnings():
            # SegTTAModel stores its (H, W) arg-max in a PixelData, which warns on every image
            warnings.filterwarnings("ignore", "The shape of value will convert", UserWarning)
            (sample,) = net.test_step(pseudo_collate([pipeline(dict(info))]))
        probs = sample.seg_probs.data if tta else sample.seg_logits.data.softmax(dim=0)
        return probs.float().cpu().numpy()

    return predict


def _inputs(tree, ids: list[str], split: str) -> list[dict]:
    """mmseg pipeline inputs (as ``BaseSegDataset.get_data_info``) for every id; checks files."""
    out = []
    for id_ in ids:
        img = tree.image_path(id_)
        if not img.is_file():
            raise DataError(img, f"listed in split {split!r} but absent")
        mask = tree.mask_path(id_)
        if mask is None:
            raise DataError(tree.root / "SegmentationClass" / f"{id_}.png",
                            f"ground truth of {split!r} image {id_} absent (also from "
                            "SegmentationClassAug)")  # fmt: skip
        out.append(dict(img_path=str(img), seg_map_path=str(mask), label_map=None,
                        reduce_zero_label=False, seg_fields=[]))  # fmt: skip
    return out


def predict_split(
    run_dir: str | os.PathLike, data_root: str | os.PathLike, split: str = "val"
) -> Iterator[tuple[str, np.ndarray]]:
    """``(id, (H, W) uint8 labels)`` of a finished DeepLabV2 run for every image of ``split``:
    plain inference (no TTA, no CRF), the arg-max of what :func:`evaluate_segmentor` scores.

    Raises:
        DataError / ConfigError / CheckpointError: as :func:`evaluate_segmentor`.
    """
    from .datasets import voc

    run_dir = Path(run_dir)
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split)
    infos = _inputs(tree, ids, split)
    model, cfg = load_segmentor(run_dir)
    predict = _predictor(model, cfg, run_dir, False)
    for id_, info in zip(ids, infos, strict=True):
        yield id_, np.argmax(predict(info), axis=0).astype(np.uint8)


def evaluate_segmentor(
    run_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    *,
    split: str = "val",
    tta: bool = False,
    crf: bool = False,
    out_dir: str | os.PathLike | None = None,
    progress: bool = False,
) -> dict:
    """Predict every image of ``split`` with a finished DeepLabV2 run and score it.

    Args:
        run_dir: The run's work dir, holding ``config.py`` and ``segmentor.pth``.
        data_root: VOC-layout tree with ``ImageSets/Segmentation/<split>.txt`` and ground truth.
        split: The split to predict and score.
        tta: Multi-scale + flip inference with the config's ``tta_model`` / ``tta_pipeline``.
        crf: Dense-CRF refinement of the softmax (:data:`~c2am_bench.dense_crf.DEEPLAB_CRF`).
        out_dir: When given, ``out_dir/metrics.json`` is written (atomically; overwritten).
        progress: Show a progress bar.

    Returns:
        ``miou``, ``aAcc``, ``per_class_iou`` (class name -> IoU, background first; ``None`` for
        a class absent from prediction and GT), ``fg_precision`` / ``fg_recall`` (class-aware:
        ``sum_c TP_c / sum_c pred_c`` and ``/ sum_c gt_c`` over foreground classes), all
        fractions in ``[0, 1]``; ``n_images``, ``tta``, ``crf``, ``split``, ``crf_params``
        (``None`` without CRF) and ``seconds``.

    Raises:
        DataError: ``data_root``, the split file, an image or a GT mask is missing or bad.
        ConfigError: The run is missing ``config.py`` / ``segmentor.pth``, or its class count
            differs from the data's.
        CheckpointError: ``segmentor.pth`` does not fit the run's model.
    """
    from tqdm import tqdm

    from .datasets import voc
    from .dense_crf import DEEPLAB_CRF, crf_refine_probs
    from .evaluation import evaluate_label_maps

    start = time.perf_counter()
    run_dir = Path(run_dir)
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split)
    infos = _inputs(tree, ids, split)
    model, cfg = load_segmentor(run_dir)
    n_out = model.decode_head.num_classes
    if n_out != tree.num_classes + 1:
        raise ConfigError(f"{run_dir / 'config.py'}: the segmentor predicts {n_out} classes but "
                          f"{tree.root} has {tree.num_classes + 1} (background + "
                          f"{tree.num_classes})")  # fmt: skip
    predict = _predictor(model, cfg, run_dir, tta)

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for id_, info in tqdm(list(zip(ids, infos, strict=True)), desc=f"seg {split}",
                              unit="img", disable=not progress):  # fmt: skip
            gt = voc.load_mask(info["seg_map_path"], tree.num_classes)
            probs = predict(info)
            if probs.shape[1:] != gt.shape:
                raise DataError(info["seg_map_path"], f"mask is {gt.shape[1]}x{gt.shape[0]} but "
                                f"image {id_} is {probs.shape[2]}x{probs.shape[1]}")  # fmt: skip
            if crf:
                rgb = voc.load_image(info["img_path"], split)
                probs = crf_refine_probs(rgb, probs, **DEEPLAB_CRF)
            yield np.argmax(probs, axis=0).astype(np.uint8), gt

    m = evaluate_label_maps(pairs(), tree.num_classes, tree.class_names)
    metrics = {
        "split": split,
        "tta": bool(tta),
        "crf": bool(crf),
        "n_images": m["n_images"],
        "miou": m["mIoU"],
        "aAcc": m["aAcc"],
        "fg_precision": m["fg_precision"],
        "fg_recall": m["fg_recall"],
        "per_class_iou": m["per_class_iou"],
        "crf_params": dict(DEEPLAB_CRF) if crf else None,
        "seconds": round(time.perf_counter() - start, 2),
    }
    if out_dir is not None:
        write_json(Path(out_dir) / METRICS_FILE, metrics)
    return metrics
