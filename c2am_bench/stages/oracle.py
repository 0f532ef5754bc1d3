"""The oracle ladder: ground truth substituted for one input at a time (issue 12).

* ``oracle_gt_boundary``: the seeds walked over the boundary drawn from the GT masks;
* ``oracle_gt_ir``: the seeds walked over the maps of a boundary net trained on GT IR labels
  (``SegmentationClassAug``: class inside, 0 outside, the void band ignored);
* ``oracle_seg_gt``: DeepLabV2 trained on the GT masks (the ceiling; runs that reach ``seg``).

The walks run on ``train`` only (what they are scored on). The GT boundary, the GT-label boundary
net and the GT DeepLabV2 depend on the data and the seed alone, so every method of a seed shares
them.
"""

from __future__ import annotations

from pathlib import Path

from ..run_results import mm_pct, pct, read_json
from ..stage_cache import stage_key
from .base import EVAL_SPLIT, STAGES, Stage
from .boundary import boundary_maps, boundary_net
from .segmentor import segmentor
from .walk import walk_masks

RUNGS = ("oracle_gt_boundary", "oracle_gt_ir")


def oracle(pipe, plan, seeds_dir: Path) -> dict[str, Path]:
    """Every rung's folders for ``plan``'s variant and seed, walking the seeds in ``seeds_dir``."""
    from .. import irn_stage
    from ..datasets.voc_meta import AUG_MASK_DIR
    from ..oracle import evaluate_boundaries, make_gt_boundaries

    variant, seed = plan.variant, plan.seed

    def fill_gt(tmp: Path) -> dict:
        info = make_gt_boundaries(pipe.data_root, tmp, split=EVAL_SPLIT)
        evaluate_boundaries(tmp / irn_stage.BOUNDARY_DIR, pipe.data_root,
                            tmp / "boundary_eval", split=EVAL_SPLIT)  # fmt: skip
        return info

    gkey = stage_key("oracle_boundary", pipe.data_key, EVAL_SPLIT, 4)
    gt_bdir = pipe.cache.build("oracle_boundary", gkey, fill_gt)
    out: dict[str, Path] = {"oracle_boundary": gt_bdir}
    out["oracle_gt_boundary_walk"], out["oracle_gt_boundary"] = walk_masks(
        pipe, variant, seeds_dir, gt_bdir, split=EVAL_SPLIT)  # fmt: skip
    net = boundary_net(pipe, seed, pipe.data_root / AUG_MASK_DIR, variant.boundary_net)
    out["oracle_gt_ir_net"] = net
    out["oracle_gt_ir_bdir"] = boundary_maps(pipe, net, split=EVAL_SPLIT)
    out["oracle_gt_ir_walk"], out["oracle_gt_ir"] = walk_masks(
        pipe, variant, seeds_dir, out["oracle_gt_ir_bdir"], split=EVAL_SPLIT)  # fmt: skip
    if plan.until == "seg":
        out["oracle_seg_gt"], out["oracle_seg_gt_eval"] = segmentor(
            pipe, seed, pipe.data_root / AUG_MASK_DIR, modes=())  # fmt: skip
    return out


@STAGES.register_module(name="oracle")
class OracleStage(Stage):
    """The ladder's rungs for a run that asked for them (``compare --oracle``)."""

    reads = ("seeds",)
    folders = ("oracle_boundary",)

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        return dict(oracle(pipe, plan, dirs["seeds"]))

    def summarise(self, pipe, plan, dirs, out) -> None:
        for rung in RUNGS:
            m = read_json(dirs[rung] / "mask_eval" / "metrics.json")
            out.row[f"{rung}_miou"] = pct(m.get("mIoU"))
            out.row[f"{rung}_miou_best"] = pct(m.get("best_miou"))
            out.per_class(rung, m.get("per_class_iou"))
        b = read_json(dirs["oracle_gt_ir_bdir"] / "boundary_eval" / "metrics.json")
        out.row["oracle_gt_ir_boundary_f"] = pct(b.get("f_score"))
        if "oracle_seg_gt" in dirs:
            s = read_json(dirs["oracle_seg_gt"] / "metrics.json")
            out.row["oracle_seg_gt_miou"] = mm_pct(s.get("seg/mIoU"))
            out.per_class("oracle_seg_gt", {k.split("IoU.", 1)[1]: v / 100 for k, v in s.items()
                                            if k.startswith("seg/IoU.")})  # fmt: skip
