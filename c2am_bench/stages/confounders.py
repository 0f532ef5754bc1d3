"""The confounders stage: where the CAM mass lies, on the object's body, its discriminative part,
its context band or elsewhere (SynthVOC's ``SegmentationConfounders/`` maps; issue 12)."""

from __future__ import annotations

from pathlib import Path

from ..run_results import pct, read_json
from ..stage_cache import stage_key
from .base import EVAL_SPLIT, STAGES, Stage

REGIONS = ("body", "part", "context", "elsewhere")


def confounders(pipe, seeds_dir: Path) -> Path | None:
    """CAM mass shares on body / part / context (data with confounder maps only, else ``None``)."""
    from ..confounder_shares import evaluate_confounder_shares, has_confounder_maps

    if not has_confounder_maps(pipe.data_root):
        return None
    key = stage_key("confounders", seeds_dir.name, EVAL_SPLIT, pipe.data_key)
    return pipe.cache.build("confounders", key, lambda tmp: evaluate_confounder_shares(
        seeds_dir / "cams", pipe.data_root, tmp, split=EVAL_SPLIT) and None)  # fmt: skip


@STAGES.register_module(name="confounders")
class ConfoundersStage(Stage):
    """Mean CAM mass shares into the row; per class and region into ``confounders.csv``."""

    reads = ("seeds",)
    folders = ("confounders",)

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        return {"confounders": confounders(pipe, dirs["seeds"])}

    def summarise(self, pipe, plan, dirs, out) -> None:
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
