"""``compare --dry-run`` and the per-stage ``--cls/irn/seg-options`` of ``compare``.

The paper test builds what a VOC user has: a VOC2012-layout tree (20 classes, images of 500x375
and other sizes, ``SegmentationClassAug``, ``train`` / ``val`` / ``train_aug``) and ImageNet-shaped
backbones saved in torchvision's key format at the configs' checkpoint paths (random init: no
weights can be downloaded here), and dry-runs the ``paper`` profile on them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c2am_bench.cli import main

pytestmark = pytest.mark.slow

CHAIN = ("classifier", "seeds", "ir_labels", "boundary_net", "boundary", "walk", "masks",
         "segmentor", "seg_eval")  # fmt: skip
SIZES = ((500, 375), (375, 500), (500, 333), (486, 500), (500, 281))


def _verdicts(work: Path, name: str) -> tuple[dict, dict]:
    report = json.loads((work / "runs" / f"{name}-dry-run" / "dry_run.json").read_text())
    table = {(v["method"], v["stage"]): v for v in report["verdicts"]}
    return report, table


def test_smoke_dry_run_checks_every_stage_and_leaves_nothing_behind(smoke_data, tmp_path, capsys):
    work = tmp_path / "work"
    code = main(["compare", "--profile", "smoke", "--data", str(smoke_data), "--dry-run",
                 "--methods", "cam,cam_constant", "--oracle", "cam", "--work-dir", str(work),
                 "--seg-options", "train_cfg.max_iters=30"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    report, table = _verdicts(work, "compare-smoke")
    for method in ("cam", "cam_constant"):
        for stage in CHAIN:
            v = table[(method, stage)]
            assert v["status"] == "ok", v
            assert v["seconds"] is not None and v["seconds"] >= 0
            assert v["projected_seconds"] is not None and v["projected_seconds"] >= 0, v
    # the ladder's own stages were checked too
    assert table[("cam", "oracle: oracle_boundary")]["status"] == "ok"
    assert table[("cam", "oracle: segmentor")]["status"] == "ok"
    # the subset and the full split sizes are what the tree has
    assert report["images"] == {"train": [4, 12], "val": [4, 16], "train_aug": [8, 48]}
    # the DeepLabV2 projection follows the user's --seg-options (30 iterations), the dry run ran 4
    seg = table[("cam", "segmentor")]
    assert "4 it. at batch 2 -> 30 iterations" in seg["note"], seg
    assert "verdict: every stage ran" in out and "projected full run" in out
    # throw-away: no dry tree or cache left, the real cache never made
    assert not list(work.glob(".dry-run-*")) and not (work / "cache").exists()
    assert not (work / "runs" / "compare-smoke").exists()


def _voc_tree(root: Path, n_train: int = 6, n_val: int = 4, n_aug: int = 4) -> Path:
    """A VOC2012 + SBD layout with the 20 classes: rectangles of 1-2 classes per image."""
    from c2am_bench.datasets.voc_meta import flat_palette

    rng = np.random.default_rng(0)
    for d in ("JPEGImages", "SegmentationClass", "SegmentationClassAug", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True, exist_ok=True)
    ids = [f"2007_{i:06d}" for i in range(n_train + n_val + n_aug)]
    for n, id_ in enumerate(ids):
        w, h = SIZES[n % len(SIZES)]
        image = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        mask = np.zeros((h, w), np.uint8)
        for c in rng.choice(20, size=1 + n % 2, replace=False):
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            mask[y : y + h // 3, x : x + w // 3] = c + 1
            image[y : y + h // 3, x : x + w // 3] = (37 * c) % 255
        Image.fromarray(image).save(root / "JPEGImages" / f"{id_}.jpg", quality=90)
        for folder in ("SegmentationClass", "SegmentationClassAug"):
            png = Image.fromarray(mask, mode="P")
            png.putpalette(flat_palette())
            png.save(root / folder / f"{id_}.png")
    train, val, aug = ids[:n_train], ids[n_train : n_train + n_val], ids[n_train + n_val :]
    for split, members in (("train", train), ("val", val), ("train_aug", train + aug)):
        (root / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(members) + "\n")
    return root


def _torchvision_weights(where: Path) -> None:
    """Random-init ResNet-50 / -101 in torchvision's key format at the configs' paths.

    ``zero_init_residual``: each block starts as the identity, so activations stay bounded under
    the configs' frozen BatchNorm (``norm_eval``, running stats 0 / 1 at random init); plain
    random init grows them through 50 blocks until the scores overflow to NaN (the guard refuses
    that, correctly), which ImageNet weights never do.
    """
    import torch
    import torchvision

    (where / "checkpoints").mkdir()
    torch.manual_seed(0)
    for depth in (50, 101):
        model = getattr(torchvision.models, f"resnet{depth}")(weights=None, zero_init_residual=True)
        torch.save(model.state_dict(), where / "checkpoints" / f"resnet{depth}-torchvision.pth")


def test_paper_dry_run_on_a_voc_tree(tmp_path, capsys, monkeypatch):
    root = _voc_tree(tmp_path / "VOCdevkit" / "VOC2012")
    _torchvision_weights(tmp_path)
    monkeypatch.chdir(tmp_path)  # the configs name checkpoints/... relative to the working dir
    code = main(["compare", "--profile", "paper", "--data", str(root), "--dry-run",
                 "--oracle", "none", "--dry-images", "2", "--dry-iters", "2",
                 "--work-dir", "work"])  # fmt: skip
    out = capsys.readouterr().out
    report, table = _verdicts(tmp_path / "work", "compare-paper")
    assert code == 0, out[-4000:]
    assert report["images"] == {"train": [2, 6], "val": [2, 4], "train_aug": [4, 10]}
    for method in ("cam", "cam_constant"):
        for stage in CHAIN:
            assert table[(method, stage)]["status"] == "ok", table[(method, stage)]
    # 4 train_aug images cannot show all 20 classes: C2AM's Global CAM has all-zero classes,
    # which a real run refuses; the dry run says how far it got and goes on
    c2am = table[("c2am", "classifier")]
    assert c2am["status"] == "checked" and "all zero for class" in c2am["note"], c2am
    assert all(table[("c2am", s)]["status"] == "not run" for s in CHAIN[1:])
    # the projection scales the paper schedule: 5 epochs over the 10 train_aug images
    assert "-> 5 epochs x 10 images" in table[("cam", "classifier")]["note"]
    assert "-> 30,000 iterations x batch 10" in table[("cam", "segmentor")]["note"]
    assert not (tmp_path / "work" / "cache").exists()
    assert os.listdir(tmp_path / "checkpoints")  # the user's weights are untouched
