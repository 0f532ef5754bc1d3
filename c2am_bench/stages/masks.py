"""The masks stage: the variant's pseudo-mask method (:data:`PSEUDO_MASKS`) and the masks'
evaluation on ``train``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..run_results import pct, read_json
from .base import STAGES, Stage
from .pseudo_masks import build_pseudo_mask_method

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant

_NAN = float("nan")
# The columns of every masks row, in runs.csv's order; a method fills those it has (the CRF
# method has no IR labels, boundary net or walk).
_METHOD_COLUMNS = {
    "ir_fg_precision": _NAN, "ir_bg_precision": _NAN, "ir_fg_share": _NAN,
    "ir_ignore_share": _NAN, "ir_coverage": _NAN,
}  # fmt: skip
_TIMING_COLUMNS = {"seconds_ir_labels": None, "seconds_boundary": None, "seconds_walk": None,
                   "seconds_pseudo_masks": None}  # fmt: skip
_BOUNDARY_COLUMNS = {"boundary_f": _NAN, "boundary_precision": _NAN, "boundary_recall": _NAN,
                     "boundary_threshold": None}  # fmt: skip


def masks(pipe: Pipeline, variant: Variant, seed: int, seeds_dir: Path) -> dict[str, Path]:
    """The variant's pseudo-mask method (``irn``, ``crf`` or a registered one of the user's),
    its stages cached and evaluated; the folders by name, ``"masks"`` among them."""
    method = build_pseudo_mask_method(variant.pseudo)
    dirs = method.build(pipe, variant, seed, seeds_dir)
    if "masks" not in dirs:
        raise ConfigError(f"pseudo-mask method {variant.pseudo!r} returned no 'masks' folder")
    return dirs


@STAGES.register_module(name="masks")
class MasksStage(Stage):
    """Seeds -> pseudo-masks by the variant's method (``Variant.pseudo``)."""

    reads = ("seeds",)

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        return dict(masks(pipe, plan.variant, plan.seed, dirs["seeds"]))

    def summarise(self, pipe, plan, dirs, out) -> None:
        m = read_json(dirs["masks"] / "mask_eval" / "metrics.json")
        out.row.update(_METHOD_COLUMNS)
        out.row.update({
            "pseudo_miou": pct(m.get("mIoU")), "pseudo_miou_best": pct(m.get("best_miou")),
            "sem_seg_bg": m.get("sem_seg_bg"), "best_sem_seg_bg": m.get("best_sem_seg_bg"),
            "pseudo_fg_precision": pct(m.get("fg_precision")),
            "pseudo_fg_recall": pct(m.get("fg_recall")),
            **_TIMING_COLUMNS, "masks_dir": str(dirs["masks"]), **_BOUNDARY_COLUMNS,
        })  # fmt: skip
        build_pseudo_mask_method(plan.variant.pseudo).summarise(pipe, plan, dirs, out)
        out.per_class("pseudo", m.get("per_class_iou"))
        out.curve(dirs["masks"] / "mask_eval" / "curve.csv", "sem_seg_bg", "pseudo")
