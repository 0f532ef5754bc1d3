"""CRF: one dense-CRF pass over each seed (:mod:`c2am_bench.crf_masks`), no boundary net."""

from __future__ import annotations

from pathlib import Path

from ..stage_cache import stage_key
from .base import EVAL_SPLIT, SEED_SPLIT
from .pseudo_masks import PSEUDO_MASKS, PseudoMaskMethod


@PSEUDO_MASKS.register_module(name="crf")
class CRFMasks(PseudoMaskMethod):
    """The CAM + CRF baseline at ``crf_mask_bg`` with the IR labels' CRF kernels."""

    folders = ("crf_masks",)

    def build(self, pipe, variant, seed: int, seeds_dir: Path) -> dict[str, Path]:
        from ..crf_masks import evaluate_masks, make_crf_masks

        t = variant.irn_settings(pipe.irn_base)
        crf = {"bi_sxy": t["crf_bi_sxy"], "gauss_sxy": t["crf_gauss_sxy"]}
        key = stage_key("crf_masks", seeds_dir.name, t["crf_mask_bg"], crf, SEED_SPLIT)

        def fill(tmp: Path) -> dict:
            info = make_crf_masks(
                pipe.data_root, seeds_dir / "cams", tmp, split=SEED_SPLIT,
                bg=t["crf_mask_bg"], crf=crf, progress=pipe.progress,
            )  # fmt: skip
            evaluate_masks(tmp, pipe.data_root, split=EVAL_SPLIT)
            return {"seeds": seeds_dir.name, **info}

        return {"masks": pipe.cache.build("crf_masks", key, fill, split=SEED_SPLIT)}
