"""IRN: IR labels -> boundary net -> boundary maps -> random walk -> pseudo-masks."""

from __future__ import annotations

from pathlib import Path

from .pseudo_masks import PSEUDO_MASKS, PseudoMaskMethod


@PSEUDO_MASKS.register_module(name="irn")
class IRNMasks(PseudoMaskMethod):
    """IRN's pseudo-masks (Ahn et al., CVPR 2019), each step a cached stage of the runner."""

    def build(self, runner, variant, seed: int, seeds_dir: Path) -> dict[str, Path]:
        ir_dir = runner.ir_labels(variant, seeds_dir)
        net = runner.boundary_net(seed, ir_dir / "ir_labels", variant.boundary_net)
        bdir = runner.boundary(net)
        wdir, mdir = runner.walk_masks(variant, seeds_dir, bdir)
        return {"ir_labels": ir_dir, "boundary_net": net, "boundary": bdir, "walk": wdir,
                "masks": mdir}  # fmt: skip
