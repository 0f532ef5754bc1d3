"""The segmentation stages: DeepLabV2 trained on pseudo-masks (``segmentor``) and its ``val``
evaluations, plain and, where the profile or ``--seg-eval`` asks, TTA and CRF (``seg_eval``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..run_results import mm_pct, pct, read_json
from ..seg_eval import WEIGHTS_FILE  # segmentor.pth
from ..stage_cache import stage_key
from .base import EVAL_SPLIT, STAGES, Stage
from .classifier import WEIGHTS_FILE as CLASSIFIER_WEIGHTS
from .classifier import baseline

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline

LOADERS = ("train_dataloader", "val_dataloader", "test_dataloader")


def segmentor(pipe: Pipeline, seed: int, label_dir: Path,
              modes: tuple[str, ...] | None = None) -> tuple[Path, Path]:  # fmt: skip
    """DeepLabV2 trained on the masks in ``label_dir`` and its val evaluations.

    ``modes``: evaluations beside the plain one (``"tta"``, ``"crf"``; default the pipeline's).
    Returns ``(segmentor_dir, seg_eval_dir)``.
    """
    from ..seg_eval import evaluate_segmentor

    names = ["background", *pipe.tree.class_names]
    opts = {
        **pipe.loader_options(LOADERS),
        **{f"{k}.dataset.metainfo.classes": names for k in LOADERS},
        "train_dataloader.dataset.data_prefix.seg_map_path": str(label_dir),
        "model.decode_head.num_classes": len(names),
        # The test loop scores the segmentation model on `train` against the ground truth, so
        # seeds -> pseudo-masks -> segmentation read on the same images.
        "test_dataloader.dataset.ann_file": f"ImageSets/Segmentation/{EVAL_SPLIT}.txt",
        "randomness.seed": seed,
        **pipe.prof.segmentor_options,
        **pipe.stage_options["segmentor"],
    }
    if pipe.prof.backbone_from_classifier:
        clf = baseline(pipe, seed) / CLASSIFIER_WEIGHTS
        init = {"type": "Pretrained", "checkpoint": str(clf), "prefix": "backbone."}
        opts["model.backbone.init_cfg"] = {"_delete_": True, **init}
    seg = pipe.train("segmentor", pipe.prof.segmentor_config, opts, WEIGHTS_FILE)
    modes = ("plain", *(pipe.seg_modes if modes is None else modes))
    key = stage_key("seg_eval", seg.name, modes, "val")

    def fill(tmp: Path) -> dict:
        for mode in modes:
            evaluate_segmentor(seg, pipe.data_root, split="val", tta=mode == "tta",
                               crf=mode == "crf", out_dir=tmp / mode)  # fmt: skip
        return {"segmentor": seg.name, "modes": list(modes)}

    return seg, pipe.cache.build("seg_eval", key, fill)


@STAGES.register_module(name="segmentor")
class SegmentorStage(Stage):
    """DeepLabV2 on the run's pseudo-masks, scored on ``val`` (and ``train``)."""

    reads = ("masks",)
    folders = ("segmentor", "seg_eval")

    def run(self, pipe, plan, dirs) -> dict[str, Path | None]:
        seg, ev = segmentor(pipe, plan.seed, dirs["masks"] / "pseudo_masks")
        return {"segmentor": seg, "seg_eval": ev}

    def summarise(self, pipe, plan, dirs, out) -> None:
        s = read_json(dirs["segmentor"] / "metrics.json")
        out.row.update(seg_miou=mm_pct(s.get("seg/mIoU")),
                       seg_train_miou=mm_pct(s.get("test/seg/mIoU")),
                       seconds_seg=read_json(dirs["segmentor"] / "stage.json").get("train_seconds"),
                       seg_dir=str(dirs["segmentor"]))  # fmt: skip
        ev_dir = dirs["seg_eval"]
        plain = read_json(ev_dir / "plain" / "metrics.json")
        out.row.update(seg_fg_precision=pct(plain.get("fg_precision")),
                       seg_fg_recall=pct(plain.get("fg_recall")))  # fmt: skip
        for mode in ("tta", "crf"):
            out.row[f"seg_{mode}_miou"] = pct(read_json(ev_dir / mode / "metrics.json").get("miou"))
        per_class = plain.get("per_class_iou") or {
            k.split("IoU.", 1)[1]: v / 100 for k, v in s.items() if k.startswith("seg/IoU.")
        }
        out.per_class("seg", per_class)
