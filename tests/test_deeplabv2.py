"""DeepLabV2 head, balanced CE, per-class IoU metric and the CPU segmentation config."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmseg.registry import METRICS, MODELS
from mmseg.structures import SegDataSample

import c2am_bench.models.deeplabv2  # noqa: F401 - registers DeepLabV2Head, BalancedCrossEntropyLoss
import c2am_bench.seg_metric  # noqa: F401 - registers PerClassIoUMetric
from c2am_bench.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CPU_CFG = ROOT / "mm_configs/seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py"
VOC_CFG = ROOT / "mm_configs/seg/deeplabv2_r101-d8_30k_voc12aug-321.py"


def _cpu_model():
    cfg = Config.fromfile(str(CPU_CFG))
    torch.manual_seed(0)
    return MODELS.build(cfg.model)


def _samples(labels: torch.Tensor) -> list[SegDataSample]:
    out = []
    for label in labels:
        s = SegDataSample(metainfo=dict(img_shape=label.shape, ori_shape=label.shape))
        s.gt_sem_seg = PixelData(data=label[None])
        out.append(s)
    return out


@pytest.mark.parametrize("path", [CPU_CFG, VOC_CFG], ids=["cpu", "voc"])
def test_head_builds_from_config(path):
    cfg = Config.fromfile(str(path))
    assert "c2am_bench.models.deeplabv2" in cfg.custom_imports.imports
    assert "c2am_bench.seg_metric" in cfg.custom_imports.imports
    head = MODELS.build(cfg.model.decode_head)
    head.init_weights()  # fails if init_cfg still names the deleted conv_seg
    assert not hasattr(head, "conv_seg")
    assert [b.dilation for b in head.branches] == [(d, d) for d in (6, 12, 18, 24)]
    c, k = cfg.model.decode_head.in_channels, cfg.model.decode_head.num_classes
    for b in head.branches:
        assert b.in_channels == c and b.out_channels == k and b.bias is not None
        assert b.weight.std().item() == pytest.approx(0.01, rel=0.2)
        assert torch.all(b.bias == 0)
    feats = torch.randn(2, c, 9, 13)
    out = head((feats,))
    assert out.shape == (2, k, 9, 13)
    summed = sum(F.conv2d(feats, b.weight, b.bias, padding=d, dilation=d)
                 for b, d in zip(head.branches, (6, 12, 18, 24), strict=True))  # fmt: skip
    torch.testing.assert_close(out, summed)


def test_head_rejects_bad_dilations():
    with pytest.raises(ConfigError, match="dilations"):
        MODELS.build(dict(type="DeepLabV2Head", in_channels=8, num_classes=3, dilations=(6, 0)))


def test_encoder_decoder_predicts_at_input_size_for_odd_sizes():
    model = _cpu_model().eval()
    x = torch.randn(1, 3, 65, 97)
    with torch.no_grad():
        logits = model(x, mode="tensor")
        (pred,) = model.predict(x, [SegDataSample(metainfo=dict(img_shape=(65, 97),
                                                                ori_shape=(65, 97)))])  # fmt: skip
    assert logits.shape == (1, 7, 9, 13)  # output stride 8, ceil
    assert pred.seg_logits.data.shape == (7, 65, 97)
    assert pred.pred_sem_seg.data.shape == (1, 65, 97)


def test_schedule_gives_head_10x_and_head_biases_20x_without_decay():
    from mmengine.optim import build_optim_wrapper

    cfg = Config.fromfile(str(VOC_CFG))
    model = _cpu_model()  # same parameter names as the R-101 model, much smaller
    groups = build_optim_wrapper(model, cfg.optim_wrapper).optimizer.param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    base = cfg.optim_wrapper.optimizer
    for g in groups:
        (p,) = g["params"]
        name = names[id(p)]
        if name.startswith("decode_head") and name.endswith("bias"):
            assert (g["lr"], g["weight_decay"]) == pytest.approx((20 * base.lr, 0.0))
        elif name.startswith("decode_head"):
            assert (g["lr"], g["weight_decay"]) == pytest.approx((10 * base.lr, base.weight_decay))
        else:
            assert g["lr"] == pytest.approx(base.lr)


def test_head_loss_ignores_255_pixels():
    torch.manual_seed(0)
    head = MODELS.build(dict(type="DeepLabV2Head", in_channels=8, num_classes=4,
                             loss_decode=dict(type="BalancedCrossEntropyLoss")))  # fmt: skip
    labels = torch.randint(0, 4, (2, 6, 7))
    labels[:, :2] = 255
    logits = torch.randn(2, 4, 6, 7)
    loss = head.loss_by_feat(logits, _samples(labels))["loss_balanced_ce"]
    changed = logits.clone()
    changed[(labels == 255)[:, None].expand_as(logits)] = 100.0
    assert head.loss_by_feat(changed, _samples(labels))["loss_balanced_ce"] == pytest.approx(
        loss.item()
    )
    assert torch.isfinite(loss)


def test_balanced_ce_equals_its_definition():
    loss_fn = MODELS.build(dict(type="BalancedCrossEntropyLoss", loss_weight=2.0))
    assert loss_fn.loss_name == "loss_balanced_ce"
    torch.manual_seed(1)
    logits = torch.randn(2, 3, 4, 5, requires_grad=True)
    labels = torch.tensor([0, 0, 0, 0, 1, 2, 255, 0, 0, 0] * 4).view(2, 4, 5)
    flat_logits = logits.permute(0, 2, 3, 1).reshape(-1, 3)
    flat = labels.reshape(-1)
    bg = F.cross_entropy(flat_logits[flat == 0], flat[flat == 0])
    fg_mask = (flat > 0) & (flat != 255)
    fg = F.cross_entropy(flat_logits[fg_mask], flat[fg_mask])
    loss = loss_fn(logits, labels, ignore_index=255)
    assert loss.item() == pytest.approx(2.0 * (0.5 * bg.item() + 0.5 * fg.item()), rel=1e-6)
    loss.backward()
    assert logits.grad.abs().sum() > 0

    only_bg = torch.where(labels == 255, labels, torch.zeros_like(labels))  # no fg: bg weighs 1
    bg_all = F.cross_entropy(logits, only_bg, ignore_index=255)
    assert loss_fn(logits, only_bg).item() == pytest.approx(2.0 * bg_all.item(), rel=1e-6)
    all_ignored = torch.full_like(labels, 255)
    assert loss_fn(logits, all_ignored).item() == 0.0
    with pytest.raises(ConfigError, match="sampler"):
        loss_fn(logits, labels, weight=torch.ones(2, 4, 5))


def test_per_class_iou_metric_on_two_images():
    metric = METRICS.build(dict(type="PerClassIoUMetric", iou_metrics=["mIoU"]))
    metric.dataset_meta = dict(classes=("bg", "cat", "dog"))
    preds = [np.array([[0, 0, 1], [1, 1, 2]]), np.array([[0, 1, 1], [0, 0, 0]])]
    gts = [np.array([[0, 1, 1], [1, 255, 2]]), np.array([[0, 1, 0], [0, 0, 255]])]
    for p, g in zip(preds, gts, strict=True):
        metric.process({}, [dict(pred_sem_seg=dict(data=torch.from_numpy(p)[None]),
                                 gt_sem_seg=dict(data=torch.from_numpy(g)[None]))])  # fmt: skip
    out = metric.evaluate(2)
    # Hand count over the non-255 pixels of both images.
    inter = np.zeros(3)
    union = np.zeros(3)
    for p, g in zip(preds, gts, strict=True):
        v = g != 255
        for c in range(3):
            inter[c] += ((p == c) & (g == c) & v).sum()
            union[c] += (((p == c) | (g == c)) & v).sum()
    expected = 100 * inter / union  # bg 4/6, cat 3/5, dog 1/1
    for c, name in enumerate(("bg", "cat", "dog")):
        assert out[f"seg/IoU.{name}"] == pytest.approx(round(expected[c], 2))
        assert isinstance(out[f"seg/IoU.{name}"], float)
    assert out["seg/mIoU"] == pytest.approx(round(expected.mean(), 2))
    json.dumps(out)


class _KeepMetrics(Hook):
    def __init__(self) -> None:
        self.metrics: dict | None = None

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.metrics = metrics


@pytest.mark.slow
def test_cpu_config_trains_and_validates_on_smoke_synthvoc(tmp_path):
    from c2am_bench.datasets.synthvoc import generate, make_config

    root = tmp_path / "synthvoc-smoke"
    meta = generate(make_config("smoke"), root, progress=False)
    classes = ("background", *meta["class_names"])
    assert len(classes) == 5
    cfg = Config.fromfile(str(CPU_CFG))
    cfg.work_dir = str(tmp_path / "work")
    cfg.experiment_name = f"test_deeplabv2_{tmp_path.name}"
    cfg.visualizer.name = f"vis_{tmp_path.name}"
    cfg.env_cfg.dist_cfg.backend = "gloo"
    cfg.log_level = "WARNING"
    loader = dict(num_workers=0, persistent_workers=False)
    cfg.merge_from_dict({
        "model.decode_head.num_classes": len(classes),
        "train_dataloader": {**loader, "batch_size": 2},
        "val_dataloader": loader,
        "train_dataloader.dataset.data_root": str(root),
        "train_dataloader.dataset.metainfo.classes": classes,
        "train_dataloader.dataset.data_prefix.seg_map_path": "SegmentationClassAug",
        "val_dataloader.dataset.data_root": str(root),
        "val_dataloader.dataset.metainfo.classes": classes,
        "train_cfg.max_iters": 4,
        "train_cfg.val_interval": 4,
        "param_scheduler.0.end": 4,
    })  # fmt: skip
    runner = Runner.from_cfg(cfg)
    keep = _KeepMetrics()
    runner.register_hook(keep)
    runner.train()
    assert keep.metrics is not None
    assert 0.0 <= keep.metrics["seg/mIoU"] <= 100.0
    assert {f"seg/IoU.{c}" for c in classes} <= set(keep.metrics)
    assert math.isfinite(runner.message_hub.get_scalar("train/loss").current())
