"""An example CAM method from outside the package: a head trained on mixed average/max pooling.

Registered in mmseg's ``MODELS`` registry like the built-in heads; the config beside it names this
module in ``custom_imports`` and declares what the method loads from the baseline. Compare it with

    make compare ARGS="--methods cam,mixed=config:projects/mixed_pooling/mixed-pooling_r18lite_ft6e_synthvoc-128.py"
"""

from __future__ import annotations

import torch
from mmseg.registry import MODELS

from c2am_bench.models.heads import CAMHead


@MODELS.register_module()
class MixedPoolingCAMHead(CAMHead):
    """CAM head whose training score mixes global average and global max pooling of ``W * f``.

    ``s_hat = (1 - alpha) * GAP(W * f) + alpha * GMP(W * f)``; the CAM at inference is still
    ``ReLU(W * f)`` (one shared 1x1 classifier, so the baseline's checkpoint loads).

    Args:
        alpha: Weight of the max-pooled score in ``[0, 1]`` (0: the baseline CAM).
    """

    def __init__(self, in_channels: int, num_classes: int, alpha: float = 0.5,
                 init_cfg: dict | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, num_classes, init_cfg)
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
        self.alpha = float(alpha)

    def train_logits(self, feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w), (B, K) -> (B, K)``: the mixed score fed to BCE-with-logits."""
        gmp = self.activation_map(feats).amax(dim=(2, 3))
        return (1.0 - self.alpha) * logits + self.alpha * gmp
