"""The IR-labels stage: dense CRF of the seeds at ``conf_fg`` / ``conf_bg`` (IRN's
``cam_to_ir_label``), and the labels' quality against the ground truth."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..stage_cache import stage_key
from .base import EVAL_SPLIT, SEED_SPLIT

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant


def ir_labels(pipe: Pipeline, variant: Variant, seeds_dir: Path) -> Path:
    """IR labels of ``seeds_dir``'s CAMs (``ir_labels/<id>.png``) and ``ir_label_quality.json``."""
    from ..ir_labels import ir_label_quality, make_ir_labels

    t = variant.irn_settings(pipe.irn_base)
    crf = {"bi_sxy": t["crf_bi_sxy"], "gauss_sxy": t["crf_gauss_sxy"]}
    key = stage_key("ir_labels", seeds_dir.name, t["conf_fg"], t["conf_bg"], crf, SEED_SPLIT)

    def fill(tmp: Path) -> dict:
        make_ir_labels(pipe.data_root, seeds_dir / "cams", tmp, split=SEED_SPLIT,
                       conf_fg=t["conf_fg"], conf_bg=t["conf_bg"], crf=crf,
                       progress=pipe.progress)  # fmt: skip
        quality = ir_label_quality(pipe.data_root, tmp / "ir_labels", split=EVAL_SPLIT)
        (tmp / "ir_label_quality.json").write_text(json.dumps(quality, indent=1) + "\n")
        return {"seeds": seeds_dir.name, "conf_fg": t["conf_fg"], "conf_bg": t["conf_bg"],
                "crf": crf}  # fmt: skip

    return pipe.cache.build("ir_labels", key, fill)
