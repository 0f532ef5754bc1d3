"""The fair threshold protocol (:mod:`c2am_bench.heldout`): ``t`` and ``sem_seg_bg`` chosen on
held-out ``train_aug`` images, and ``train``'s mIoU at that choice."""

from __future__ import annotations

import json
from pathlib import Path

from ..run_results import pct, read_json
from ..stage_cache import stage_key
from .base import EVAL_SPLIT, SEED_SPLIT, STAGES, Stage


def heldout(pipe, seeds_dir: Path, masks_dir: Path | None,
            walk_dir: Path | None) -> Path | None:  # fmt: skip
    """The held-out choice for the seeds (and the IRN masks, with their walk); ``None`` when
    ``train_aug`` has no image outside ``train`` and ``val``."""
    from .. import irn_stage
    from ..heldout import HELDOUT_NAME, choose_threshold, heldout_ids
    from ..seeds import evaluate_seeds

    ids = heldout_ids(pipe.tree, SEED_SPLIT, (EVAL_SPLIT, "val"))
    if not ids:
        return None
    parts = (seeds_dir.name, masks_dir.name if masks_dir else None, ids)
    key = stage_key("heldout", *parts, pipe.data_key)

    def fill(tmp: Path) -> dict:
        import pandas as pd

        evaluate_seeds(seeds_dir / "cams", pipe.data_root, tmp / "seeds", ids=ids,
                       split="held-out")  # fmt: skip
        out = {"heldout": HELDOUT_NAME, "n_images": len(ids)}
        out["seeds"] = choose_threshold(pd.read_csv(tmp / "seeds" / "curve.csv"),
                                        pd.read_csv(seeds_dir / "seed_eval" / "curve.csv"),
                                        "threshold")  # fmt: skip
        if masks_dir is not None and walk_dir is not None:
            info = json.loads((masks_dir / "stage.json").read_text())
            irn_stage.evaluate_pseudo_masks(masks_dir, pipe.data_root, split="held-out",
                                            sem_seg_bg=info["sem_seg_bg"], ids=ids,
                                            rw_dir=walk_dir / irn_stage.RW_DIR,
                                            eval_dir=tmp / "masks")  # fmt: skip
            held = pd.read_csv(tmp / "masks" / "curve.csv")
            train = pd.read_csv(masks_dir / "mask_eval" / "curve.csv")
            out["masks"] = choose_threshold(held, train, "sem_seg_bg")
            # the held-out images' mIoU at the configured sem_seg_bg: what a study that
            # tunes IRN's thresholds should maximise (objective heldout_pseudo_miou)
            at = (held["sem_seg_bg"] - info["sem_seg_bg"]).abs().idxmin()
            out["masks"]["heldout_miou_at_configured"] = float(held.loc[at, "mIoU"])
        (tmp / "metrics.json").write_text(json.dumps(out, indent=1) + "\n")
        return {"seeds": seeds_dir.name, "n_images": len(ids)}

    return pipe.cache.build("heldout", key, fill)


@STAGES.register_module(name="heldout")
class HeldoutStage(Stage):
    """Thresholds chosen on held-out images, beside the oracle-best and the fixed ones."""

    reads = ("seeds",)
    folders = ("heldout",)

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        return {"heldout": heldout(pipe, dirs["seeds"], dirs.get("masks"), dirs.get("walk"))}

    def summarise(self, pipe, plan, dirs, out) -> None:
        h = read_json(dirs["heldout"] / "metrics.json") if dirs.get("heldout") else {}
        seeds, masks = h.get("seeds") or {}, h.get("masks") or {}
        out.row["seed_miou_heldout"] = pct(seeds.get("miou"))
        out.row["seed_threshold_heldout"] = seeds.get("threshold")
        if "masks" in dirs:
            out.row["pseudo_miou_heldout"] = pct(masks.get("miou"))
            out.row["sem_seg_bg_heldout"] = masks.get("threshold")
            out.row["heldout_pseudo_miou"] = pct(masks.get("heldout_miou_at_configured"))
