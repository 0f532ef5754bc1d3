"""The walk stages: IRN's random walk of the seeds over boundary maps (``walk``) and the
pseudo-masks at ``sem_seg_bg`` with their evaluation (``masks``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..stage_cache import stage_key
from .base import EVAL_SPLIT, SEED_SPLIT

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant


def walk_masks(pipe: Pipeline, variant: Variant, seeds_dir: Path, bdir: Path,
               split: str = SEED_SPLIT) -> tuple[Path, Path]:  # fmt: skip
    """Random walk of the seeds over ``bdir``'s maps, pseudo-masks at ``sem_seg_bg``, and
    their evaluation on ``train``. Returns ``(walk_dir, masks_dir)``."""
    from .. import irn_stage

    t = variant.irn_settings(pipe.irn_base)
    radius = int(t["walk_radius"])
    wkey = stage_key("walk", seeds_dir.name, bdir.name, t["beta"], t["exp_times"], radius,
                     split)  # fmt: skip
    wdir = pipe.cache.build("walk", wkey, lambda tmp: irn_stage.make_walk(
        seeds_dir / "cams", bdir / irn_stage.BOUNDARY_DIR, pipe.data_root, tmp,
        split=split, beta=t["beta"], exp_times=int(t["exp_times"]), radius=radius,
        progress=pipe.progress), split=split)  # fmt: skip
    mkey = stage_key("masks", wdir.name, t["sem_seg_bg"])

    def fill_masks(tmp: Path) -> dict:
        summary = irn_stage.masks_from_walk(wdir / irn_stage.RW_DIR, pipe.data_root, tmp,
                                            split=split, sem_seg_bg=t["sem_seg_bg"],
                                            progress=pipe.progress)  # fmt: skip
        irn_stage.evaluate_pseudo_masks(tmp, pipe.data_root, split=EVAL_SPLIT,
                                        sem_seg_bg=t["sem_seg_bg"],
                                        rw_dir=wdir / irn_stage.RW_DIR)  # fmt: skip
        return {"walk": wdir.name, **summary}

    return wdir, pipe.cache.build("masks", mkey, fill_masks, split=split)
