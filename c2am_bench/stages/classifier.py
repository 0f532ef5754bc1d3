"""The classifier stage: the baseline CAM trained, or a method fine-tuned from it (Table 2)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..train import WEIGHTS_FILE  # classifier.pth

if TYPE_CHECKING:  # pragma: no cover
    from ..pipeline import Pipeline, Variant


def classifier(pipe: Pipeline, variant: Variant, seed: int) -> Path:
    """The trained classifier of ``variant`` at ``seed`` (its cache folder).

    A method whose :class:`~c2am_bench.methods.MethodSpec` says ``from_baseline`` starts from the
    baseline's weights (``load_from``) for the profile's ``finetune_epochs``, and C2AM-like ones
    (``global_cam``) read the baseline seeds' Global CAM.
    """
    from .seeds import baseline_seeds

    opts = {
        **pipe.loader_options(),
        "model.head.num_classes": pipe.tree.num_classes,
        "randomness.seed": seed,
        **pipe.prof.classifier_options,
    }
    spec = variant.spec
    if spec.from_baseline:
        opts["load_from"] = str(baseline(pipe, seed) / WEIGHTS_FILE)
        if pipe.prof.finetune_epochs is not None:
            opts["train_cfg.max_epochs"] = pipe.prof.finetune_epochs
        if spec.global_cam:
            opts["model.head.global_cam"] = str(baseline_seeds(pipe, seed) / "global_cam.npz")
    opts.update(pipe.stage_options["classifier"])
    opts.update(variant.options)
    return pipe.train("classifier", variant.classifier_config(pipe.prof), opts, WEIGHTS_FILE)


def baseline(pipe: Pipeline, seed: int) -> Path:
    """The baseline CAM classifier of ``seed`` (every method's, boundary net's and DeepLabV2's
    starting point where no ImageNet weights exist)."""
    from ..pipeline import BASELINE

    return classifier(pipe, BASELINE, seed)
