"""IRN: IR labels -> boundary net -> boundary maps -> random walk -> pseudo-masks."""

from __future__ import annotations

from pathlib import Path

from ..run_results import add, pct, read_json
from .boundary import boundary_maps, boundary_net
from .ir_labels import ir_labels
from .pseudo_masks import PSEUDO_MASKS, PseudoMaskMethod
from .walk import walk_masks


@PSEUDO_MASKS.register_module(name="irn")
class IRNMasks(PseudoMaskMethod):
    """IRN's pseudo-masks (Ahn et al., CVPR 2019), each step a cached stage."""

    folders = ("ir_labels", "boundary_net", "boundary", "walk", "masks")

    def build(self, pipe, variant, seed: int, seeds_dir: Path) -> dict[str, Path]:
        ir_dir = ir_labels(pipe, variant, seeds_dir)
        net = boundary_net(pipe, seed, ir_dir / "ir_labels", variant.boundary_net)
        bdir = boundary_maps(pipe, net)
        wdir, mdir = walk_masks(pipe, variant, seeds_dir, bdir)
        return {"ir_labels": ir_dir, "boundary_net": net, "boundary": bdir, "walk": wdir,
                "masks": mdir}  # fmt: skip

    def summarise(self, pipe, plan, dirs, out) -> None:
        q = read_json(dirs["ir_labels"] / "ir_label_quality.json")
        ignore = q.get("ignore_share")
        b = read_json(dirs["boundary"] / "boundary_eval" / "metrics.json")
        seconds = {k: read_json(dirs[k] / "stage.json") for k in self.folders}
        out.row.update({
            "ir_fg_precision": pct(q.get("fg_precision")),
            "ir_bg_precision": pct(q.get("bg_precision")),
            "ir_fg_share": pct(q.get("fg_share")),
            "ir_ignore_share": pct(ignore),
            "ir_coverage": pct(None if ignore is None else 1.0 - ignore),
            "seconds_ir_labels": seconds["ir_labels"].get("seconds"),
            "seconds_boundary": add(seconds["boundary_net"].get("train_seconds"),
                                    seconds["boundary"].get("seconds")),
            "seconds_walk": add(seconds["walk"].get("seconds"), seconds["masks"].get("seconds")),
            "seconds_pseudo_masks": None,
            "boundary_f": pct(b.get("f_score")), "boundary_precision": pct(b.get("precision")),
            "boundary_recall": pct(b.get("recall")), "boundary_threshold": b.get("threshold"),
        })  # fmt: skip
