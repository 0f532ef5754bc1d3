"""IRN's boundary network (Ahn et al., "Weakly Supervised Learning of Instance Segmentation with
Inter-pixel Relations", CVPR 2019), semantic part only: frozen backbone + edge head + affinity loss.

The displacement branch is left out: the backbone is frozen and the two heads share no parameter, so
it does not change the boundary map (algorithms.md b.6).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmseg.registry import MODELS
from torch import Tensor, nn

from .. import random_walk


@MODELS.register_module()
class BoundaryNet(BaseModel):
    """Frozen backbone + IRN edge head, trained with the inter-pixel affinity loss.

    Edge head: for each of five backbone stages (stem /4, layer1 /4, layer2 /8, layer3 /16,
    layer4 /16) a 1x1 conv to 32 channels, GroupNorm(4), bilinear upsampling to stride 4, ReLU;
    the 160 concatenated channels go through a 1x1 conv (with bias) to one boundary logit map.

    Args:
        backbone: mmseg ``ResNet`` config (``out_indices=(0, 1, 2, 3)``, output stride 16).
        stage_channels: channels of (stem, layer1, layer2, layer3, layer4).
        backbone_checkpoint: optional weights for the backbone: a torchvision-format ImageNet
            ``state_dict`` (the reference), or a ``classifier.pth`` of a CAM run (its
            ``backbone.`` keys are used) -- the CPU default, which has no ImageNet weights.
        radius: path-index radius of the affinity loss (IRN: 10).
        data_preprocessor: mmseg ``SegDataPreProcessor`` config.

    The backbone is frozen (no gradients, BatchNorm in eval mode), as in IRN.
    """

    def __init__(
        self,
        backbone: dict,
        stage_channels: tuple[int, ...] = (64, 256, 512, 1024, 2048),
        backbone_checkpoint: str | None = None,
        radius: int = 10,
        data_preprocessor: dict | None = None,
        init_cfg: dict | None = None,
    ) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone)
        self.backbone_checkpoint = backbone_checkpoint
        self.radius = radius
        ups = (1, 1, 2, 4, 4)
        self.edge_convs = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c, 32, 1, bias=False),
                nn.GroupNorm(4, 32),
                nn.Upsample(scale_factor=u, mode="bilinear", align_corners=False)
                if u > 1
                else nn.Identity(),
                nn.ReLU(inplace=True),
            )
            for c, u in zip(stage_channels, ups, strict=True)
        )
        self.edge_out = nn.Conv2d(32 * len(stage_channels), 1, 1, bias=True)
        self._stem_out: Tensor | None = None
        self.backbone.maxpool.register_forward_hook(self._keep_stem)
        self._path_indices: dict[tuple[int, int], random_walk.PathIndex] = {}
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def _keep_stem(self, module, args, output) -> None:
        self._stem_out = output

    def init_weights(self) -> None:
        super().init_weights()
        if self.backbone_checkpoint:
            from ..checkpoints import load_state_dict

            state = load_state_dict(self.backbone_checkpoint)
            if any(k.startswith("backbone.") for k in state):
                state = {k[9:]: v for k, v in state.items() if k.startswith("backbone.")}
            missing, unexpected = self.backbone.load_state_dict(state, strict=False)
            if missing:
                from ..errors import CheckpointError

                raise CheckpointError(
                    f"{self.backbone_checkpoint}: does not match the boundary net's backbone "
                    f"(missing {missing[:4]}...)"
                )

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.eval()  # frozen statistics, as IRN
        return self

    def boundary_logits(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) normalised -> (B, 1, ceil(H/4), ceil(W/4)) boundary logits."""
        with torch.no_grad():
            stages = self.backbone(inputs)
        feats = [self._stem_out.detach(), *[s.detach() for s in stages]]
        self._stem_out = None
        h, w = feats[1].shape[-2:]
        maps = [conv(f)[..., :h, :w] for conv, f in zip(self.edge_convs, feats, strict=True)]
        return self.edge_out(torch.cat(maps, dim=1))

    def boundary(self, inputs: Tensor) -> Tensor:
        """Flip-averaged boundary probability at stride 4: (B, 3, H, W) -> (B, h, w) in [0, 1].

        ``sigmoid(0.5 * B(x) + 0.5 * hflip(B(hflip(x))))`` as IRN's ``EdgeDisplacement``.
        """
        both = self.boundary_logits(torch.cat([inputs, inputs.flip(-1)], dim=0))
        n = inputs.shape[0]
        return torch.sigmoid(0.5 * both[:n] + 0.5 * both[n:].flip(-1))[:, 0]

    def _path_index(self, size: tuple[int, int]) -> random_walk.PathIndex:
        if size not in self._path_indices:
            self._path_indices[size] = random_walk.PathIndex(self.radius, size)
        return self._path_indices[size]

    def loss(self, inputs: Tensor, data_samples) -> dict[str, Tensor]:
        """Affinity loss against labels from IR labels (0 bg, 1..K, 255 ignore) at stride 4."""
        # float32 from here on: under CPU bfloat16 autocast (c2am_bench.precision) the logits
        # come out bfloat16, and the affinity loss sums logs over many pairs.
        boundary = torch.sigmoid(self.boundary_logits(inputs).float())[:, 0]
        h, w = boundary.shape[-2:]
        pi = self._path_index((h, w))
        labels, affs = [], []
        for b, sample in enumerate(data_samples):
            full = sample.gt_sem_seg.data[0]
            # IRN downsizes the label by 1/4 with PIL nearest, i.e. it samples pixel 4i + 2.
            label = full[2::4, 2::4][:h, :w]
            if label.shape != (h, w):
                label = F.pad(label, (0, w - label.shape[1], 0, h - label.shape[0]), value=255)
            labels.append(random_walk.affinity_labels(label.cpu().numpy(), pi))
            affs.append(random_walk.edge_to_affinity(boundary[b], pi))
        aff = torch.stack(affs)
        bg_pos, fg_pos, neg = (
            torch.as_tensor(np.stack([lab[i] for lab in labels]), device=aff.device)
            for i in range(3)
        )
        # Sums run over the whole batch's pairs, as in IRN; total = (L_pos + L_neg) / 2.
        out = random_walk.affinity_loss(aff, bg_pos, fg_pos, neg)
        return {"loss_pos": out["pos"] / 2, "loss_neg": out["neg"] / 2}

    def forward(self, inputs: Tensor, data_samples=None, mode: str = "tensor"):
        if mode == "loss":
            return self.loss(inputs, data_samples)
        if mode == "tensor":
            return self.boundary(inputs)
        if mode == "predict":
            bmap = self.boundary(inputs)
            for sample, m in zip(data_samples, bmap, strict=True):
                sample.boundary = m
            return data_samples
        raise ValueError(f"BoundaryNet.forward: unknown mode {mode!r}")
