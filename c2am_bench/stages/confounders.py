"""The confounders stage: where the CAM mass lies, on the object's body, its discriminative part,
its context band or elsewhere, and where the pseudo-masks' and DeepLabV2's foreground goes wrong
(on the class's context band, in an image without the class, on another object, on other
background) (SynthVOC's ``SegmentationConfounders/`` maps; issue 12)."""

from __future__ import annotations

from pathlib import Path

from ..atomic import write_json
from ..context_errors import ERRORS
from ..run_results import pct, read_json
from ..stage_cache import stage_key
from .base import EVAL_SPLIT, STAGES, Stage

#: DeepLabV2 is scored on val, its masks on EVAL_SPLIT (as their mIoU).
SEG_SPLIT = "val"

REGIONS = ("body", "part", "context", "elsewhere")


def confounders(pipe, seeds_dir: Path) -> Path | None:
    """CAM mass shares on body / part / context (data with confounder maps only, else ``None``)."""
    from ..confounder_shares import evaluate_confounder_shares, has_confounder_maps

    if not has_confounder_maps(pipe.data_root):
        return None
    key = stage_key("confounders", seeds_dir.name, EVAL_SPLIT, pipe.data_key)
    return pipe.cache.build("confounders", key, lambda tmp: evaluate_confounder_shares(
        seeds_dir / "cams", pipe.data_root, tmp, split=EVAL_SPLIT) and None)  # fmt: skip


def context_errors(pipe, masks_dir: Path | None, seg_dir: Path | None) -> Path | None:
    """Foreground error shares of the pseudo-masks (``train``) and of DeepLabV2 (``val``)
    (:mod:`c2am_bench.context_errors`); ``None`` without masks or confounder maps."""
    from ..confounder_shares import has_confounder_maps
    from ..context_errors import evaluate_context_errors, png_label_maps
    from ..seg_eval import predict_split

    if masks_dir is None or not has_confounder_maps(pipe.data_root):
        return None
    seg_name = seg_dir.name if seg_dir is not None else None
    key = stage_key("context_errors", masks_dir.name, seg_name, EVAL_SPLIT, SEG_SPLIT,
                    pipe.data_key)  # fmt: skip

    def fill(tmp: Path) -> None:
        ids = pipe.tree.read_split(EVAL_SPLIT)
        masks = png_label_maps(masks_dir / "pseudo_masks", ids)
        out = {"masks": evaluate_context_errors(masks, pipe.data_root, EVAL_SPLIT)}
        if seg_dir is not None:
            preds = predict_split(seg_dir, pipe.data_root, SEG_SPLIT)
            out["segmentor"] = evaluate_context_errors(preds, pipe.data_root, SEG_SPLIT)
        write_json(tmp / "metrics.json", out)

    return pipe.cache.build("context_errors", key, fill)


@STAGES.register_module(name="confounders")
class ConfoundersStage(Stage):
    """Mean CAM mass shares and the masks' and DeepLabV2's error shares into the row; per class
    and region into ``confounders.csv``."""

    reads = ("seeds",)
    folders = ("confounders", "context_errors")

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        return {"confounders": confounders(pipe, dirs["seeds"]),
                "context_errors": context_errors(pipe, dirs.get("masks"),
                                                 dirs.get("segmentor"))}  # fmt: skip

    def summarise(self, pipe, plan, dirs, out) -> None:
        if dirs.get("context_errors") is not None:
            e = read_json(dirs["context_errors"] / "metrics.json")
            for stage, prefix in (("masks", "pseudo"), ("segmentor", "seg")):
                errors = e.get(stage) or {}
                for error, value in errors.get("mean", {}).items():
                    if error != "correct":
                        out.row[f"{prefix}_err_{error}"] = pct(value)
                # per class beside the CAM mass shares: measure "<prefix>_error", region = error
                for name, shares in errors.get("per_class", {}).items():
                    for error in ERRORS:
                        out.results.confounders.append({
                            **out.tag, "class": name, "measure": f"{prefix}_error",
                            "region": error, "share": pct(shares[error])})  # fmt: skip
        if dirs.get("confounders") is None:
            return
        c = read_json(dirs["confounders"] / "metrics.json")
        for region, value in c.get("mean", {}).items():
            out.row[f"cam_{region}"] = pct(value)
        for name, shares in c.get("per_class", {}).items():
            for what in ("mass", "area"):
                for region in REGIONS:
                    out.results.confounders.append({
                        **out.tag, "class": name, "measure": what, "region": region,
                        "share": pct(shares[f"{what}_{region}"])})  # fmt: skip
