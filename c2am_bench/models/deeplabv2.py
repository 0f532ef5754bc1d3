"""DeepLabV2's ASPP decode head and the class-balanced cross-entropy of the WSSS recipe.

mmseg 1.2.2 ships DeepLabV3 (``ASPPHead``) and V3+ but no DeepLabV2. The V2 head has no image
pooling, no BN, no bottleneck: four parallel 3x3 atrous convolutions map the backbone's last
stage straight to class scores and their outputs are *summed* (kazuto1011/deeplab-pytorch's
``_ASPP``, which IRN / ReCAM / AdvCAM / C2AM train on their pseudo-masks).

References:
    DeepLabV2: Chen et al., "DeepLab: Semantic Image Segmentation with Deep Convolutional Nets,
    Atrous Convolution, and Fully Connected CRFs", TPAMI 2018, https://arxiv.org/abs/1606.00915.
    Balanced CE: the C2AM fork of deeplab-pytorch (https://github.com/yiping-wang/c2am,
    ``segmentation/``), as AdvCAM states its recipe (AdvCAM issue #9).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor, nn

from ..errors import ConfigError

# mmseg 1.2's own BaseDecodeHead calls its deprecated build_loss for every head it builds; the
# warning is about mmseg's code, not the user's, and would print once per DeepLabV2 training.
warnings.filterwarnings("ignore", message="``build_loss`` would be deprecated soon",
                        category=UserWarning)  # fmt: skip


@MODELS.register_module()
class DeepLabV2Head(BaseDecodeHead):
    """DeepLabV2 ASPP: ``sum_d Conv3x3_dilation=d(x)``, each ``in_channels -> num_classes``.

    Args:
        in_channels: channels C of the selected backbone feature (2048 for ResNet-101).
        num_classes: K output classes (background included).
        dilations: one 3x3 branch per rate; DeepLabV2-ASPP-L uses (6, 12, 18, 24).
        channels: required by ``BaseDecodeHead`` (the width before its ``conv_seg``) but unused
            here, since the branches produce class scores directly; defaults to ``in_channels``.
        **kwargs: ``BaseDecodeHead`` options: ``in_index`` (default -1, the last stage),
            ``loss_decode``, ``ignore_index`` (255), ``align_corners``, ``dropout_ratio``
            (default 0 here: the ResNet DeepLabV2 has no dropout before the ASPP).

    Shapes:
        ``forward``: tuple of backbone features, the selected one ``(N, C, h, w)`` ->
        logits ``(N, K, h, w)``; ``predict`` upsamples them bilinearly to the (padded) input.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        dilations: Sequence[int] = (6, 12, 18, 24),
        channels: int | None = None,
        **kwargs,
    ) -> None:
        dilations = tuple(dilations)
        if not dilations or any(
            isinstance(d, bool) or not isinstance(d, int) or d <= 0 for d in dilations
        ):
            raise ConfigError(f"DeepLabV2Head: dilations must be positive ints, got {dilations!r}")
        # BaseDecodeHead's default init_cfg overrides the module named 'conv_seg', which we
        # delete: without this, init_weights() fails with "'NoneType' has no attribute 'apply'".
        # N(0, 0.01) weights and zero biases, as deeplab-pytorch initialises its ASPP.
        kwargs.setdefault("init_cfg", dict(type="Normal", std=0.01, override=dict(name="branches")))
        kwargs.setdefault("dropout_ratio", 0.0)
        super().__init__(
            in_channels,
            in_channels if channels is None else channels,
            num_classes=num_classes,
            **kwargs,
        )
        del self.conv_seg
        self.dilations = dilations
        self.branches = nn.ModuleList(
            nn.Conv2d(self.in_channels, self.out_channels, 3, padding=d, dilation=d, bias=True)
            for d in dilations
        )

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        """Backbone features -> class logits ``(N, K, h, w)`` at the feature's resolution."""
        x = self._transform_inputs(inputs)
        if self.dropout is not None:
            x = self.dropout(x)
        out = self.branches[0](x)
        for branch in self.branches[1:]:
            out = out + branch(x)
        return out


@MODELS.register_module()
class BalancedCrossEntropyLoss(nn.Module):
    """Class-balanced CE: ``1/2 mean CE(bg pixels) + 1/2 mean CE(fg pixels)``.

    Background is label 0, foreground every other label except ``ignore_index``; the means are
    over all such pixels of the batch. A batch with no background (or no foreground) pixel drops
    that half and the other weighs 1 (the reference would average an empty set, i.e. NaN); a
    batch with no valid pixel gives a zero loss that still backpropagates.

    Note: mmseg's ``BaseDecodeHead.loss_by_feat`` upsamples the logits to the label size before
    the loss, whereas deeplab-pytorch downsamples the labels (nearest) to the logit size.

    Args:
        loss_weight: multiplies the loss.
        loss_name: key in the loss dict; must start with ``loss_`` to be back-propagated.
    """

    def __init__(self, loss_weight: float = 1.0, loss_name: str = "loss_balanced_ce") -> None:
        super().__init__()
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    def forward(
        self,
        cls_score: Tensor,
        label: Tensor,
        weight: Tensor | None = None,
        ignore_index: int = 255,
        **kwargs,
    ) -> Tensor:
        """Loss of logits ``(N, K, H, W)`` against labels ``(N, H, W)`` (a scalar).

        ``weight`` (pixel weights from an mmseg pixel sampler) is not supported.
        """
        if weight is not None:
            raise ConfigError(
                "BalancedCrossEntropyLoss: pixel weights (decode_head.sampler) are not supported"
            )
        label = label.long()
        ce = F.cross_entropy(cls_score, label, reduction="none", ignore_index=ignore_index)
        valid = label != ignore_index
        halves = [
            ce[mask].mean() for mask in (valid & (label == 0), valid & (label != 0)) if mask.any()
        ]
        if not halves:
            return cls_score.sum() * 0.0
        return self.loss_weight * torch.stack(halves).mean()

    @property
    def loss_name(self) -> str:
        """Name of this loss item in the loss dict (mmseg loss interface)."""
        return self._loss_name
