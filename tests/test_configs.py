"""Every config under mm_configs/ loads and builds its model on the CPU (pretrained weights off)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmseg.registry import MODELS

import c2am_bench.models  # noqa: F401 - registers the classifier and heads

ROOT = Path(__file__).resolve().parent.parent / "mm_configs"
CONFIGS = sorted(p for p in ROOT.rglob("*.py") if not {"_base_", "profiles"} & set(p.parts))


def test_there_are_configs():
    assert len(CONFIGS) >= 6


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_builds_its_model(path):
    cfg = Config.fromfile(str(path))
    assert cfg.default_scope == "mmseg"
    model_cfg = cfg.model.copy()
    model_cfg.backbone = {**model_cfg.backbone, "init_cfg": None}
    if model_cfg.type == "EncoderDecoder":  # DeepLabV2, output stride 8
        model = MODELS.build(model_cfg).eval()
        with torch.no_grad():
            logits = model(torch.randn(1, 3, 65, 97), mode="tensor")
        assert logits.shape == (1, model_cfg.decode_head.num_classes, 9, 13)
        return
    if model_cfg.type == "BoundaryNet":
        model = MODELS.build({**model_cfg, "backbone_checkpoint": None}).eval()
        with torch.no_grad():
            boundary = model(torch.randn(2, 3, 64, 96), mode="tensor")
        assert boundary.shape == (2, 16, 24)  # stride 4
        assert (boundary >= 0).all() and (boundary <= 1).all()
        return
    k = model_cfg.head.num_classes
    if model_cfg.head.type == "C2AMHead":
        model_cfg.head = {**model_cfg.head, "global_cam": np.full((k, 8, 8), 0.5, np.float32)}
    model = MODELS.build(model_cfg).eval()
    with torch.no_grad():
        logits = model(torch.randn(1, 3, 65, 97), mode="tensor")
        cams = model.cam(torch.randn(1, 3, 65, 97))
    assert logits.shape == (1, k)
    assert cams.shape == (1, k, 5, 7)  # output stride 16, ceil
    assert (cams >= 0).all()
