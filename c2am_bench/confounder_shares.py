"""Where a CAM's mass lies: on the object's body, its discriminative part, its context, elsewhere.

SynthVOC writes, per image, a confounder map (``SegmentationConfounders/<id>.png``, see
:func:`c2am_bench.datasets.synthvoc.confounder_code`) that says which pixels are an object's body,
its discriminative part, and which are a context band. For each class present in an image, the
share of that class's (max-normalised, full-size) CAM mass on

* ``body``: the class's own object pixels outside the part,
* ``part``: the class's discriminative part,
* ``context``: the class's context band (background in the ground truth),
* ``elsewhere``: everything else (plain background, other classes' objects and contexts),

makes the causal claim of C2AM measurable: the front-door adjustment should move mass from the
context (a confounder) to the body. The same regions' *area* shares (of the image) are reported
beside, so ``mass / area`` reads as how much a CAM concentrates on a region.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .errors import DataError

logger = logging.getLogger(__name__)

REGIONS = ("body", "part", "context", "elsewhere")


def cam_mass_shares(
    cam: np.ndarray, keys: np.ndarray, confounders: np.ndarray, context_of: dict[int, int]
) -> list[dict]:
    """Per-class mass and area shares of one image's CAMs.

    Args:
        cam: ``(n, H, W)`` non-negative CAMs (one per key), at the confounder map's size.
        keys: ``(n,)`` 0-based class ids of the channels.
        confounders: ``(H, W)`` uint8 confounder map (``64 * kind + index``).
        context_of: 0-based class id -> its context's index in the map (1-based).

    Returns:
        One dict per key with ``class`` (0-based id), ``mass_<region>`` and ``area_<region>``
        for every region of :data:`REGIONS` (each set of four sums to 1). A channel with no mass
        gets NaN mass shares.
    """
    from .datasets.synthvoc import BODY, CONTEXT, PART, decode_confounders

    kind, index = decode_confounders(confounders)
    if cam.shape[1:] != confounders.shape:
        raise ValueError(f"cam {cam.shape[1:]} and confounder map {confounders.shape} differ")
    out = []
    for channel, k in zip(cam, np.asarray(keys).reshape(-1), strict=True):
        k = int(k)
        masks = {
            "body": (kind == BODY) & (index == k + 1),
            "part": (kind == PART) & (index == k + 1),
            "context": (kind == CONTEXT) & (index == context_of.get(k, -1)),
        }
        total = float(np.clip(channel, 0, None).sum(dtype=np.float64))
        row: dict = {"class": k}
        for name, m in masks.items():
            row[f"mass_{name}"] = (
                float(np.clip(channel[m], 0, None).sum(dtype=np.float64)) / total
                if total > 0
                else float("nan")
            )
            row[f"area_{name}"] = float(m.mean())
        row["mass_elsewhere"] = 1.0 - sum(row[f"mass_{r}"] for r in masks)
        row["area_elsewhere"] = 1.0 - sum(row[f"area_{r}"] for r in masks)
        out.append(row)
    return out


def _mean_finite(values: list[float]) -> float:
    """Mean of the finite values (a CAM with no mass has NaN shares); NaN when none is."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def has_confounder_maps(data_root: str | os.PathLike) -> bool:
    """True for a SynthVOC tree that carries confounder maps (format 2 and later)."""
    from .datasets.synthvoc import CONFOUNDER_DIR
    from .datasets.voc_meta import SYNTH_META

    root = Path(data_root)
    return (root / SYNTH_META).is_file() and (root / CONFOUNDER_DIR).is_dir()


def context_index(data_root: Path) -> dict[int, int]:
    """0-based class id -> its context's index in the confounder maps (1-based), from the
    tree's ``synthvoc.json``."""
    from .datasets.voc_meta import SYNTH_META

    meta = json.loads((data_root / SYNTH_META).read_text())
    contexts = meta["confounder_maps"]["contexts"]
    return {int(c["index"]): contexts.index(c["context"]) + 1 for c in meta["confounders"]}


def evaluate_confounder_shares(
    cams_dir: str | os.PathLike, data_root: str | os.PathLike, out_dir: str | os.PathLike, *,
    split: str = "train",
) -> dict:  # fmt: skip
    """CAM mass shares over ``split``, per class and macro-averaged: ``out_dir/metrics.json``.

    Each class's shares are the mean over the images that contain it; ``mean`` is the mean over
    classes (as mIoU averages classes). Fractions in [0, 1].

    Raises:
        DataError: no confounder map for an image, or its size differs from the CAM's.
    """
    from PIL import Image

    from .cams import load_seed
    from .datasets import voc
    from .datasets.synthvoc import CONFOUNDER_DIR

    root = Path(data_root)
    tree = voc.open_tree(root)
    context_of = context_index(root)
    rows = []
    for id_ in tree.read_split(split):
        path = root / CONFOUNDER_DIR / f"{id_}.png"
        if not path.is_file():
            raise DataError(path, "no confounder map for this image")
        with Image.open(path) as im:
            conf = np.asarray(im)
        seed = load_seed(Path(cams_dir) / f"{id_}.npz")
        if seed["high_res"].shape[1:] != conf.shape:
            raise DataError(path, f"size {conf.shape} != the CAM's {seed['high_res'].shape[1:]}")
        rows += cam_mass_shares(seed["high_res"], seed["keys"], conf, context_of)
    names = tree.class_names
    per_class = {}
    for k, name in enumerate(names):
        mine = [r for r in rows if r["class"] == k]
        if mine:
            per_class[name] = {
                f"{w}_{r}": _mean_finite([m[f"{w}_{r}"] for m in mine])
                for w in ("mass", "area")
                for r in REGIONS
            } | {"n": len(mine)}
    keys = [f"{w}_{r}" for w in ("mass", "area") for r in REGIONS]
    mean = {key: _mean_finite([v[key] for v in per_class.values()]) for key in keys}
    metrics = {"split": split, "n_instances": len(rows), "mean": mean, "per_class": per_class}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics
