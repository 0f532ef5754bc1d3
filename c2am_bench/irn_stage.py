"""IRN stage after the boundary network is trained: boundary maps, random walk, pseudo-masks.

Per image (algorithms.md b.7): the flip-averaged boundary map at stride 4 is saved as
``boundary/<id>.npz`` so walks can be re-run without the network; the walk propagates the seed's
stride-4 ``cam`` and its scores are saved as ``rw/<id>.npz`` (float16), so a ``sem_seg_bg`` sweep
needs no new walk; the pseudo-mask is ``pseudo_masks/<id>.png`` (VOC palette).
Every output folder is written into a temp folder and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .atomic import fill_dir
from .errors import ConfigError, DataError
from .irn_settings import IRN, IrnSettings

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "boundary_net.pth"
BOUNDARY_DIR, RW_DIR, PSEUDO_DIR = "boundary", "rw", "pseudo_masks"


def _save_npz(path: Path, **arrays) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def load_boundary_net(run_dir: str | os.PathLike, device: str | None = None):
    """Rebuild a trained boundary net from ``config.py`` + ``boundary_net.pth`` (eval mode)."""
    from .runs import load_model

    return load_model(
        run_dir,
        WEIGHTS_FILE,
        what="boundary-net",
        adapt=lambda m: {**m, "backbone_checkpoint": None},
        device=device,
    )


def make_boundaries(
    run_dir, data_root, out_dir, *, split: str = "train_aug", batch_size: int = 8,
    progress: bool = True,
) -> dict:  # fmt: skip
    """Write ``out_dir/boundary/<id>.npz`` (key ``boundary``, (ceil(H/4), ceil(W/4)) float16)."""
    import torch
    from PIL import Image
    from tqdm import tqdm

    from .datasets import voc
    from .runs import normaliser

    tree = voc.open_tree(data_root)  # the cheap checks first: a bad --data names the data
    ids = tree.read_split(split)
    model, cfg = load_boundary_net(run_dir)
    normalise = normaliser(cfg)
    by_size: dict[tuple[int, int], list[str]] = defaultdict(list)
    for id_ in ids:
        with Image.open(tree.image_path(id_)) as im:
            by_size[im.size].append(id_)
    device = next(model.parameters()).device
    start = time.perf_counter()

    def fill(tmp: Path) -> None:
        bar = tqdm(total=len(ids), desc=f"boundary {split}", unit="img", disable=not progress)
        for group in by_size.values():
            for j in range(0, len(group), batch_size):
                batch = group[j : j + batch_size]
                rgbs = [voc.load_image(tree.image_path(i)) for i in batch]
                x = torch.stack([normalise(r) for r in rgbs])
                # Pad right/bottom to a multiple of 16 (IRN pads to 512) and crop back.
                h, w = x.shape[-2:]
                ph, pw = -h % 16, -w % 16
                with torch.no_grad():
                    bmap = model.boundary(torch.nn.functional.pad(x, (0, pw, 0, ph)).to(device))
                bmap = bmap[:, : -(-h // 4), : -(-w // 4)].cpu().numpy()
                for id_, m in zip(batch, bmap, strict=True):
                    _save_npz(tmp / f"{id_}.npz", boundary=m.astype(np.float16))
                bar.update(len(batch))
        bar.close()

    fill_dir(Path(out_dir) / BOUNDARY_DIR, fill)
    return {"n_images": len(ids), "seconds": round(time.perf_counter() - start, 2)}


def _load_boundary(path: Path) -> np.ndarray:
    if not path.is_file():
        raise DataError(path, "no boundary map; run the boundary stage for this image")
    with np.load(path) as z:
        b = z["boundary"].astype(np.float32)
    if not np.isfinite(b).all():
        raise DataError(path, "boundary map has NaN/Inf values")
    return b


def make_walk(
    cams_dir, boundary_dir, data_root, out_dir, *, split: str = "train_aug",
    beta: float = IRN.beta, exp_times: int = IRN.exp_times, radius: int = IRN.walk_radius,
    progress: bool = True,
) -> dict:  # fmt: skip
    """Random walk of every seed over its boundary map: ``out_dir/rw/<id>.npz``.

    Each file holds ``keys`` ``(C,)``, ``scores`` ``(C, h, w)`` float16 (the walk's output at
    stride 4) and ``size`` ``(2,)`` = the image's ``(H, W)``, all a pseudo-mask needs.
    """
    import torch
    from tqdm import tqdm

    from . import random_walk
    from .cams import load_seed
    from .datasets import voc

    IrnSettings(beta=beta, exp_times=exp_times, walk_radius=radius)  # checks the ranges
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split)
    cams_dir, boundary_dir, out_dir = Path(cams_dir), Path(boundary_dir), Path(out_dir)
    start = time.perf_counter()

    def fill(tmp_rw: Path) -> None:
        for id_ in tqdm(ids, desc=f"random walk {split}", unit="img", disable=not progress):
            seed = load_seed(cams_dir / f"{id_}.npz")
            boundary = _load_boundary(boundary_dir / f"{id_}.npz")
            cam = seed["cam"]
            if cam.shape[1:] != boundary.shape:
                raise DataError(
                    cams_dir / f"{id_}.npz",
                    f"seed cam {cam.shape[1:]} != boundary {boundary.shape}",
                )
            scores = random_walk.propagate(
                torch.from_numpy(cam), torch.from_numpy(boundary), beta=beta,
                exp_times=exp_times, radius=radius,
            ).numpy()  # fmt: skip
            _save_npz(tmp_rw / f"{id_}.npz", keys=seed["keys"], scores=scores.astype(np.float16),
                      size=np.asarray(seed["high_res"].shape[1:], dtype=np.int64))  # fmt: skip

    fill_dir(out_dir / RW_DIR, fill)
    return {"n_images": len(ids), "beta": beta, "exp_times": exp_times, "radius": radius,
            "seconds": round(time.perf_counter() - start, 2)}  # fmt: skip


def masks_from_walk(
    rw_dir, data_root, out_dir, *, split: str = "train_aug", sem_seg_bg: float = IRN.sem_seg_bg,
    progress: bool = True,
) -> dict:  # fmt: skip
    """``out_dir/pseudo_masks/<id>.png`` (VOC palette) from saved walk scores at ``sem_seg_bg``."""
    from PIL import Image
    from tqdm import tqdm

    from . import random_walk
    from .datasets import voc
    from .datasets.voc_meta import flat_palette

    IrnSettings(sem_seg_bg=sem_seg_bg)  # checks the range
    ids = voc.open_tree(data_root).read_split(split)
    rw_dir, palette = Path(rw_dir), flat_palette()
    start = time.perf_counter()

    def fill(tmp: Path) -> None:
        for id_ in tqdm(ids, desc=f"pseudo-masks {split}", unit="img", disable=not progress):
            path = rw_dir / f"{id_}.npz"
            if not path.is_file():
                raise DataError(path, "no random-walk scores; run the walk for this image")
            with np.load(path) as z:
                keys, scores, size = z["keys"], z["scores"].astype(np.float32), z["size"]
            mask = random_walk.pseudo_mask(scores, keys, (int(size[0]), int(size[1])), sem_seg_bg)
            img = Image.fromarray(mask.astype(np.uint8), mode="P")
            img.putpalette(palette)
            img.save(tmp / f"{id_}.png")

    fill_dir(Path(out_dir) / PSEUDO_DIR, fill)
    return {"n_images": len(ids), "sem_seg_bg": sem_seg_bg,
            "seconds": round(time.perf_counter() - start, 2)}  # fmt: skip


def make_pseudo_masks(
    cams_dir, boundary_dir, data_root, out_dir, *, split: str = "train_aug", beta: float = 10,
    exp_times: int = IRN.exp_times, radius: int = IRN.walk_radius,
    sem_seg_bg: float = IRN.sem_seg_bg, progress: bool = True,
) -> dict:  # fmt: skip
    """Random walk of every seed over its boundary map; ``rw/`` scores and ``pseudo_masks/``."""
    IrnSettings(sem_seg_bg=sem_seg_bg)  # checks the range
    out_dir = Path(out_dir)
    if (out_dir / PSEUDO_DIR).exists():
        raise ConfigError(f"{out_dir / PSEUDO_DIR}: already exists; remove it to recompute")
    walk = make_walk(cams_dir, boundary_dir, data_root, out_dir, split=split, beta=beta,
                     exp_times=exp_times, radius=radius, progress=progress)  # fmt: skip
    masks = masks_from_walk(out_dir / RW_DIR, data_root, out_dir, split=split,
                            sem_seg_bg=sem_seg_bg, progress=progress)  # fmt: skip
    summary = {**walk, "sem_seg_bg": sem_seg_bg, "walk_seconds": walk["seconds"],
               "seconds": round(walk["seconds"] + masks["seconds"], 2)}  # fmt: skip
    (out_dir / "pseudo_masks.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def evaluate_pseudo_masks(
    out_dir, data_root, *, split: str = "train", sem_seg_bg: float = IRN.sem_seg_bg,
    sweep: Sequence[float] | None = None, rw_dir=None, ids: Sequence[str] | None = None,
    eval_dir=None,
) -> dict:  # fmt: skip
    """Pseudo-mask mIoU on ``split`` (c.2) and the curve over ``sem_seg_bg`` from ``rw/`` scores.

    Reads ``out_dir/pseudo_masks/`` and the walk scores in ``rw_dir`` (default ``out_dir/rw``);
    writes ``metrics.json`` and ``curve.csv`` into ``eval_dir`` (default ``out_dir/mask_eval``).
    ``ids``: these images instead of ``split``'s (``split`` then only names them in messages).
    """
    import torch

    from . import random_walk
    from .datasets import voc
    from .evaluation import DEFAULT_THRESHOLDS, ThresholdCurve, evaluate_label_maps

    out_dir = Path(out_dir)
    rw_dir = Path(rw_dir) if rw_dir is not None else out_dir / RW_DIR
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split) if ids is None else list(ids)
    pairs = []
    thresholds = np.asarray(sweep if sweep is not None else DEFAULT_THRESHOLDS)
    if not np.isclose(thresholds, sem_seg_bg).any():
        thresholds = np.sort(np.append(thresholds, sem_seg_bg))
    curve = ThresholdCurve(tree.num_classes, thresholds=thresholds)
    from PIL import Image

    for id_ in ids:
        mask_path = tree.mask_path(id_)
        if mask_path is None:
            raise DataError(tree.image_path(id_), f"no ground-truth mask to evaluate {split}")
        gt = voc.load_mask(mask_path, tree.num_classes)
        with Image.open(out_dir / PSEUDO_DIR / f"{id_}.png") as im:
            pairs.append((np.array(im), gt))
        with np.load(rw_dir / f"{id_}.npz") as z:
            keys, scores = z["keys"], z["scores"].astype(np.float32)
        norm = random_walk.upsample_normalised(torch.from_numpy(scores), gt.shape)
        curve.add(norm, keys, gt)
    metrics = evaluate_label_maps(pairs, tree.num_classes, tree.class_names)
    sweep_metrics = curve.metrics(fixed=None, class_names=tree.class_names)
    metrics.update(
        split=split, sem_seg_bg=sem_seg_bg,
        best_sem_seg_bg=sweep_metrics["best_threshold"], best_miou=sweep_metrics["best_miou"],
    )  # fmt: skip
    eval_dir = out_dir / "mask_eval" if eval_dir is None else Path(eval_dir)
    eval_dir.mkdir(parents=True, exist_ok=True)
    curve.curve_frame().rename(columns={"threshold": "sem_seg_bg"}).to_csv(
        eval_dir / "curve.csv", index=False
    )
    (eval_dir / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
