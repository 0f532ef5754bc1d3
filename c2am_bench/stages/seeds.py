"""The seeds stage: a method's classifier, its multi-scale + flip CAM seeds on ``train_aug`` (the
baseline's also the Global CAM), and their evaluation on ``train``; or a user's own seeds."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from ..run_results import pct, read_json
from ..stage_cache import stage_key
from .base import EVAL_SPLIT, SEED_SPLIT, STAGES, Stage
from .classifier import baseline, classifier

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant

GLOBAL_CAM_SIZE = 128  # side of the Global CAM's maps (the reference code's)


def seeds(pipe: Pipeline, variant: Variant, seed: int) -> Path:
    """``cams/`` seeds on ``train_aug`` (+ ``global_cam.npz`` for the baseline), evaluated."""
    from ..seeds import REFERENCE_SCALES, evaluate_seeds, make_seeds

    if variant.method == "external":
        return external_seeds(pipe, variant)
    clf = classifier(pipe, variant, seed)
    is_base = variant.method == "cam" and not variant.options
    size = GLOBAL_CAM_SIZE if is_base else None
    key = stage_key("seeds", clf.name, REFERENCE_SCALES, size, SEED_SPLIT, pipe.data_key)

    def fill(tmp: Path) -> dict:
        summary = make_seeds(clf, tmp, data_root=pipe.data_root, split=SEED_SPLIT,
                             global_cam_size=size, progress=pipe.progress)  # fmt: skip
        evaluate_seeds(tmp / "cams", pipe.data_root, tmp / "seed_eval", split=EVAL_SPLIT)
        return {"classifier": clf.name, "summary": summary}

    return pipe.cache.build("seeds", key, fill)


def baseline_seeds(pipe: Pipeline, seed: int) -> Path:
    """The baseline CAM's seeds of ``seed`` (with the Global CAM)."""
    from ..pipeline import BASELINE

    return seeds(pipe, BASELINE, seed)


def external_seeds(pipe: Pipeline, variant: Variant) -> Path:
    """Validated copies of a user's seeds (``cams/<id>.npz``), so later edits can't leak in."""
    from ..cams import load_seed
    from ..seeds import evaluate_seeds

    folder = Path(variant.external)
    ids = pipe.tree.read_split(SEED_SPLIT)
    h = hashlib.sha256()
    for id_ in ids:
        path = folder / f"{id_}.npz"
        if not path.is_file():
            raise DataError(path, f"external seeds of {variant.name!r}: no seed for "
                                  f"{SEED_SPLIT} image {id_}")  # fmt: skip
        h.update(path.read_bytes())
    key = stage_key("seeds", "external", h.hexdigest(), SEED_SPLIT, pipe.data_key)

    def fill(tmp: Path) -> dict:
        (tmp / "cams").mkdir()
        for id_ in ids:
            load_seed(folder / f"{id_}.npz")  # raises DataError naming a bad file
            shutil.copy2(folder / f"{id_}.npz", tmp / "cams" / f"{id_}.npz")
        evaluate_seeds(tmp / "cams", pipe.data_root, tmp / "seed_eval", split=EVAL_SPLIT)
        return {"external": str(folder)}

    return pipe.cache.build("seeds", key, fill)


@STAGES.register_module(name="seeds")
class SeedsStage(Stage):
    """``classifier`` + ``seeds`` (and, for a fine-tuned method, the baseline it started from)."""

    folders = ("classifier", "seeds")

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        out: dict[str, Path | None] = {"seeds": seeds(pipe, plan.variant, plan.seed)}
        info = read_json(out["seeds"] / "stage.json")
        if "classifier" in info:  # external seeds have none
            out["classifier"] = pipe.cache.root / "classifier" / info["classifier"]
        if plan.variant.spec.from_baseline:  # what it was fine-tuned from (provenance)
            out["baseline_classifier"] = baseline(pipe, plan.seed)
            out["baseline_seeds"] = baseline_seeds(pipe, plan.seed)
        return out

    def summarise(self, pipe, plan, dirs, out) -> None:
        clf, seeds_dir = dirs.get("classifier"), dirs["seeds"]
        ev = read_json(seeds_dir / "seed_eval" / "metrics.json")
        out.row.update({
            "cls_map": pct(read_json(clf / "metrics.json").get("cls/mAP")) if clf else float("nan"),
            "seed_miou": pct(ev.get("best_miou")),
            "seed_miou_fixed": pct(ev.get("miou_at_fixed")),
            "seed_threshold": ev.get("best_threshold"),
            "seed_fg_precision": pct(ev.get("fg_precision_at_best")),
            "seed_fg_recall": pct(ev.get("fg_recall_at_best")),
            "seconds_classifier": (read_json(clf / "stage.json").get("train_seconds")
                                   if clf else None),
            "seconds_seeds": read_json(seeds_dir / "stage.json").get("seconds"),
            "classifier_dir": str(clf or ""), "seeds_dir": str(seeds_dir),
        })  # fmt: skip
        out.per_class("seed", ev.get("per_class_iou_at_best"))
        out.curve(seeds_dir / "seed_eval" / "curve.csv", "threshold", "seed")
