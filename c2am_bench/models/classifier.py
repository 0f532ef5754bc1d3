"""The CAM classifier: a backbone (mmseg ``ResNet``) plus one of the CAM heads.

The paper's network (IRN / ReCAM / C2AM ``resnet50_cam.Net``) is ResNet-50 with strides
(2, 2, 2, 1) in IRN's notation -- conv1 stride 2, layer2-4 strides 2, 2, 1 -- i.e. output stride
16, frozen-statistics BatchNorm, conv1/bn1 frozen, global average pooling and a bias-free 1x1
classifier. In mmseg's ``ResNet`` that is ``strides=(1, 2, 2, 1)`` (stage strides after the stem),
``norm_eval=True`` (running statistics never updated, affine parameters trained, which is IRN's
``FixedBatchNorm``) and ``frozen_stages=0`` (stem frozen). The CPU default uses the same class at
depth 18 with half width, trained from scratch with ordinary BatchNorm.
"""

from __future__ import annotations

import torch
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from mmseg.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class CAMClassifier(BaseModel):
    """Multi-label image classifier whose head yields class activation maps.

    Args:
        backbone: mmseg backbone config; its last output (B, C, h, w) feeds the head.
        head: ``CAMHead`` / ``ConstantCAMHead`` / ``C2AMHead`` config (``in_channels`` and
            ``num_classes`` must match the backbone and the dataset).
        detach_after: name of a backbone child (e.g. ``'layer2'``) whose output is detached, as
            IRN's CAM net does after stage 2 (layers up to it then get no gradient). ``None``
            (C2AM / ReCAM fine-tuning, the default) trains every stage.
        data_preprocessor: mmengine ``ImgDataPreprocessor`` config (normalisation, BGR->RGB).
        init_cfg: mmengine init config.

    ``forward`` modes: ``'loss'`` -> dict of losses; ``'predict'`` -> data samples with
    ``pred_score`` (K,) sigmoid scores; ``'tensor'`` -> logits (B, K).
    """

    def __init__(
        self,
        backbone: dict,
        head: dict,
        detach_after: str | None = None,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.head = MODELS.build(head)
        self.detach_after = detach_after
        if detach_after is not None:
            getattr(self.backbone, detach_after).register_forward_hook(
                lambda module, args, output: output.detach()
            )

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, C, ceil(H/16), ceil(W/16)) features."""
        return self.backbone(inputs)[-1]

    def cam(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) normalised images -> (B, K, h, w) ReLU'd class activation maps."""
        return self.head.cam(self.extract_feat(inputs))

    def forward(
        self,
        inputs: Tensor,
        data_samples: list[BaseDataElement] | None = None,
        mode: str = "tensor",
    ):
        feats = self.extract_feat(inputs)
        if mode == "loss":
            labels = torch.stack([s.gt_label for s in data_samples]).to(feats.device)
            return self.head.loss(feats, labels)
        logits = self.head(feats)
        if mode == "tensor":
            return logits
        if mode == "predict":
            scores = logits.sigmoid()
            for sample, score in zip(data_samples, scores, strict=True):
                sample.pred_score = score.detach()
            return data_samples
        raise ValueError(f"CAMClassifier.forward: unknown mode {mode!r}")
