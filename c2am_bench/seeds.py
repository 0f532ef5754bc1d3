"""CAM seeds and the Global CAM from a trained classifier run, and seed evaluation.

``make_seeds`` runs the classifier once per (image batch, scale) with flip TTA and derives, from
the same per-scale maps, both IRN's seeds (``cams/<id>.npz``: ``keys``, ``cam`` at stride 4,
``high_res`` at full resolution; float16 on disk) and -- for the baseline run -- C2AM's Global CAM
(``global_cam.npz``), so the Global CAM costs no second pass. ``evaluate_seeds`` sweeps the
background threshold over the ``high_res`` maps (algorithms.md c.1).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ConfigError, DataError, TrainingDiverged

logger = logging.getLogger(__name__)

REFERENCE_SCALES = (1.0, 0.5, 1.5, 2.0)
CAMS_DIR = "cams"
GLOBAL_CAM_FILE = "global_cam.npz"


def load_classifier(run_dir: str | os.PathLike, device: str | None = None):
    """Rebuild a run's classifier from ``config.py`` + ``classifier.pth`` for CAM inference.

    The head is rebuilt as a plain ``CAMHead``: CAMs use only the classifier weights and the
    features (no constant, no Global CAM), as in the reference ``make_cam``.

    Returns:
        ``(model, cfg)`` with the model in eval mode on ``device``.
    """
    from .runs import load_model
    from .train import WEIGHTS_FILE

    def adapt(model_cfg):
        head = model_cfg.head
        model_cfg.head = dict(
            type="CAMHead", in_channels=head.in_channels, num_classes=head.num_classes
        )
        model_cfg.backbone = {**model_cfg.backbone, "init_cfg": None}
        return model_cfg

    return load_model(run_dir, WEIGHTS_FILE, what="classifier", adapt=adapt, device=device)


def make_seeds(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    data_root: str | os.PathLike | None = None,
    split: str = "train_aug",
    scales: Sequence[float] = REFERENCE_SCALES,
    global_cam_size: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> dict:
    """Write ``out_dir/cams/<id>.npz`` for every image of ``split`` (and ``global_cam.npz``).

    Args:
        run_dir: a finished classifier run (``config.py``, ``classifier.pth``).
        out_dir: where ``cams/`` (and ``global_cam.npz``) go; ``cams/`` must not exist yet.
        data_root: dataset root; default: the run's training ``data_root``.
        split: images to process (``train_aug`` covers ``train``).
        scales: multi-scale inference factors (reference: 1.0, 0.5, 1.5, 2.0).
        global_cam_size: when set, also accumulate the Global CAM at this square size (128 in the
            reference) from the same forward passes.
        batch_size: images per forward (same-size images are batched together).

    Returns:
        Timing and count summary (also written to ``out_dir/seeds.json``).

    Raises:
        TrainingDiverged: a CAM is NaN or infinite (a diverged classifier); nothing is written,
            and the folders this call made are removed.
    """
    import torch
    from tqdm import tqdm

    from . import cams
    from .datasets import voc
    from .runs import normaliser
    from .train import WEIGHTS_FILE

    if not scales or any(s <= 0 for s in scales):
        raise ConfigError(f"scales={list(scales)}: need at least one scale, all > 0")
    if data_root is not None:  # a bad --data is named before the classifier is loaded
        voc.open_tree(data_root)
    model, cfg = load_classifier(run_dir)
    root = data_root or cfg.train_dataloader.dataset.data_root
    tree = voc.open_tree(root)
    if tree.num_classes != cfg.model.head.num_classes:
        raise ConfigError(
            f"{root} has {tree.num_classes} classes but the classifier in "
            f"{run_dir} predicts {cfg.model.head.num_classes}"
        )
    ids = tree.read_split(split)
    labels = voc.image_labels(tree, ids)
    out_dir = Path(out_dir)
    final = out_dir / CAMS_DIR
    if final.exists():
        raise ConfigError(f"{final}: already exists; remove it to regenerate the seeds")
    normalise = normaliser(cfg)
    device = next(model.parameters()).device
    acc = None
    if global_cam_size:
        acc = cams.GlobalCAMAccumulator(tree.num_classes, global_cam_size, tree.class_names)

    from PIL import Image

    images_by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, id_ in enumerate(ids):  # group by size (header read only) so a batch is one tensor
        path = tree.image_path(id_)
        try:
            with Image.open(path) as im:
                images_by_size[im.size].append(i)
        except OSError as err:
            raise DataError(path, f"unreadable image ({err})") from None
    batches = [idx[j : j + batch_size] for idx in images_by_size.values()
               for j in range(0, len(idx), batch_size)]  # fmt: skip
    # the outermost folder this call creates: removed again (if still empty) when it fails
    made = next((p for p in (*reversed(out_dir.parents), out_dir) if not p.exists()), None)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{CAMS_DIR}.tmp-", dir=out_dir))

    def cam_fn(x):
        return model.cam(x.to(device)).float().cpu()

    start = time.perf_counter()
    forward_seconds = 0.0
    try:
        bar = tqdm(total=len(ids), desc=f"CAMs {split}", unit="img", disable=not progress)
        for batch in batches:
            rgbs = [voc.load_image(tree.image_path(ids[i])) for i in batch]
            t0 = time.perf_counter()
            per_image = cams.multiscale_flip_cams_batched(
                cam_fn, [normalise(rgb) for rgb in rgbs], scales
            )
            forward_seconds += time.perf_counter() - t0
            for i, rgb, cams_per_scale in zip(batch, rgbs, per_image, strict=True):
                if not all(bool(torch.isfinite(c).all()) for c in cams_per_scale):
                    raise TrainingDiverged(
                        f"{Path(run_dir) / WEIGHTS_FILE}: the CAM of image {ids[i]} is NaN or "
                        "infinite: the classifier diverged; no seeds written"
                    )
                keys = np.flatnonzero(labels[i])
                seed = cams.make_seed(cams_per_scale, rgb.shape[:2], keys)
                cams.save_seed(tmp / f"{ids[i]}.npz", seed)
                if acc is not None:
                    acc.add(cams_per_scale, labels[i])
            bar.update(len(batch))
        bar.close()
        if acc is not None:
            acc.save(out_dir / GLOBAL_CAM_FILE)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        _remove_empty(out_dir, made)
        raise
    seconds = time.perf_counter() - start
    summary = {
        "run_dir": str(run_dir),
        "data_root": str(root),
        "split": split,
        "n_images": len(ids),
        "scales": [float(s) for s in scales],
        "global_cam_size": global_cam_size,
        "seconds": round(seconds, 2),
        "forward_seconds": round(forward_seconds, 2),
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
    }
    (out_dir / "seeds.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def _remove_empty(folder: Path, made: Path | None) -> None:
    """Remove ``folder`` and its parents up to ``made`` (the outermost one a call created) while
    they are empty; nothing when the call created none."""
    if made is None:
        return
    for path in (folder, *folder.parents):
        try:
            path.rmdir()
        except OSError:
            break
        if path == made:
            break


def evaluate_seeds(
    cams_dir: str | os.PathLike,
    data_root: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str = "train",
    fixed_threshold: float = 0.15,
    ids: Sequence[str] | None = None,
) -> dict:
    """Seed mIoU over the whole background-threshold curve on ``split`` (VOC: train, 1,464).

    Writes ``out_dir/metrics.json`` (mIoU at the fixed threshold, best threshold and its mIoU,
    per-class IoU / precision / recall at the best) and ``out_dir/curve.csv``. ``ids``: these
    images instead of ``split``'s (``split`` then only names them in messages).
    """
    from .cams import load_seed
    from .datasets import voc
    from .evaluation import ThresholdCurve

    tree = voc.open_tree(data_root)
    ids = tree.read_split(split) if ids is None else list(ids)
    cams_dir = Path(cams_dir)
    curve = ThresholdCurve(tree.num_classes)
    for id_ in ids:
        path = cams_dir / f"{id_}.npz"
        if not path.is_file():
            raise DataError(path, f"no CAM seed for {split} image {id_}; generate seeds for it")
        mask_path = tree.mask_path(id_)
        if mask_path is None:
            raise DataError(tree.image_path(id_), f"no ground-truth mask to evaluate {split}")
        seed = load_seed(path)
        curve.add(seed["high_res"], seed["keys"], voc.load_mask(mask_path, tree.num_classes))
    metrics = curve.metrics(fixed=fixed_threshold, class_names=tree.class_names)
    metrics["split"] = split
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curve.curve_frame().to_csv(out_dir / "curve.csv", index=False)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
