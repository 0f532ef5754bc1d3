"""The boundary stages: IRN's boundary net trained on IR labels (``boundary_net``) and its
boundary maps with their quality against the ground-truth edges (``boundary``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..stage_cache import stage_key
from .base import EVAL_SPLIT, SEED_SPLIT
from .classifier import WEIGHTS_FILE as CLASSIFIER_WEIGHTS
from .classifier import baseline

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline


def boundary_net(pipe: Pipeline, seed: int, label_dir: Path,
                 options: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
    """IRN's boundary net trained on the IR labels in ``label_dir`` (PNG per image).

    ``options``: the variant's boundary-net config options (a study's ``irn_net.*`` keys).
    """
    from .. import irn_stage

    # IRN's backbone is ImageNet's; here it is the baseline classifier of the same seed.
    opts = {
        "train_dataloader.dataset.data_root": str(pipe.data_root),
        "train_dataloader.dataset.data_prefix.seg_map_path": str(label_dir),
        "model.backbone_checkpoint": str(baseline(pipe, seed) / CLASSIFIER_WEIGHTS),
        "randomness.seed": seed,
        **pipe.prof.boundary_net_options,
        **pipe.stage_options["boundary_net"],
        **(options or {}),
    }
    scheduled = any(k.startswith("param_scheduler") for k in opts)
    if "train_cfg.max_epochs" in opts and not scheduled:
        # the poly schedule's end is fixed when the config file is read; keep it on the
        # (shortened or lengthened) training, or the LR would hit 0 early or never decay
        opts["param_scheduler.0.end"] = opts["train_cfg.max_epochs"]
    return pipe.train("boundary_net", pipe.prof.boundary_net_config, opts,
                      irn_stage.WEIGHTS_FILE)  # fmt: skip


def boundary_maps(pipe: Pipeline, net: Path, split: str = SEED_SPLIT) -> Path:
    """The net's boundary maps on ``split`` and their quality against the GT edges."""
    from .. import irn_stage
    from ..oracle import evaluate_boundaries

    def fill(tmp: Path) -> dict:
        info = irn_stage.make_boundaries(net, pipe.data_root, tmp, split=split,
                                         progress=pipe.progress)  # fmt: skip
        evaluate_boundaries(tmp / irn_stage.BOUNDARY_DIR, pipe.data_root,
                            tmp / "boundary_eval", split=EVAL_SPLIT)  # fmt: skip
        return info

    return pipe.cache.build("boundary", stage_key("boundary", net.name, split), fill,
                            split=split)  # fmt: skip
