"""DeepLabV2 data-parallel training under torchrun on the CPU (gloo), two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from c2am_bench.datasets import synthvoc

pytestmark = pytest.mark.slow


def test_deeplabv2_two_processes(tmp_path):
    data = tmp_path / "data"
    synthvoc.generate(synthvoc.make_config("smoke"), data, progress=False)
    loaders = ("train_dataloader", "val_dataloader", "test_dataloader")
    classes = "[background,a,b,c,d]"
    opts = [
        *(f"{k}.dataset.data_root={data}" for k in loaders),
        *(f"{k}.dataset.metainfo.classes={classes}" for k in loaders),
        *(f"{k}.num_workers=0" for k in loaders),
        *(f"{k}.persistent_workers=False" for k in loaders),
        "train_dataloader.dataset.data_prefix.seg_map_path=SegmentationClassAug",
        "model.decode_head.num_classes=5", "train_cfg.max_iters=4", "train_cfg.val_interval=4",
    ]  # fmt: skip
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29562", "-m", "c2am_bench.cli", "-q", "seg", "train",
           "mm_configs/seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py",
           "--work-dir", str(tmp_path / "seg"), "--launcher", "pytorch",
           "--cfg-options", *opts]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("trained ") == 1  # only rank 0 reports
    metrics = json.loads((tmp_path / "seg" / "metrics.json").read_text())
    assert metrics["iterations"] == 4
    assert 0.0 <= metrics["seg/mIoU"] <= 100.0 and "test/seg/mIoU" in metrics
    assert (tmp_path / "seg" / "segmentor.pth").is_file()
