"""End to end on the smoke SynthVOC: three methods trained, seeds + Global CAM, seed metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from c2am_bench import cams, pipeline
from c2am_bench.cli import main
from c2am_bench.datasets import synthvoc, voc
from c2am_bench.errors import ConfigError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data") / "synthvoc-smoke"
    synthvoc.generate(synthvoc.make_config("smoke"), root, progress=False)
    return root


@pytest.fixture(scope="module")
def compared(smoke_data, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    rows = pipeline.compare_methods(smoke_data, work, profile="smoke", progress=False)
    return work, rows


def test_three_methods_with_metrics(compared):
    work, rows = compared
    assert [r["method"] for r in rows] == ["cam", "cam_constant", "c2am"]
    for r in rows:
        assert 0.0 < r["seed_mIoU_fixed"] <= 1.0 and 0.0 < r["seed_mIoU_best"] <= 1.0
        assert r["seed_mIoU_best"] >= r["seed_mIoU_fixed"] - 1e-12
        assert 0.0 <= r["mAP"] <= 1.0
        metrics = json.loads((work / r["method"] / "seed_eval" / "metrics.json").read_text())
        assert metrics["best_miou"] == r["seed_mIoU_best"]
        assert (work / r["method"] / "seed_eval" / "curve.csv").is_file()


def test_seeds_cover_train_aug_with_reference_shapes(compared, smoke_data):
    work, _ = compared
    tree = voc.open_tree(smoke_data)
    ids = tree.read_split("train_aug")
    labels = voc.image_labels(tree, ids)
    for id_, label in list(zip(ids, labels, strict=True))[:10]:
        seed = cams.load_seed(work / "c2am" / "cams" / f"{id_}.npz")
        h, w = voc.load_image(tree.image_path(id_)).shape[:2]
        assert seed["keys"].tolist() == np.flatnonzero(label).tolist()
        assert seed["high_res"].shape == (len(seed["keys"]), h, w)
        assert seed["cam"].shape == (len(seed["keys"]), math.ceil(h / 4), math.ceil(w / 4))
        # per-class max-normalised (+1e-5): every map peaks just below 1 (or is all zero)
        peaks = seed["high_res"].reshape(len(seed["keys"]), -1).max(1)
        assert np.all((peaks > 0.99) | (peaks == 0))


def test_global_cam_only_from_the_baseline(compared, smoke_data):
    work, _ = compared
    g = cams.load_global_cam(work / "cam" / "global_cam.npz")
    k = voc.open_tree(smoke_data).num_classes
    assert g["all"].shape == g["by_class"].shape == (k, 128, 128)
    assert g["n_images"] == 48
    present = g["counts"] > 0
    ratio = g["counts"][present] / g["n_images"]
    np.testing.assert_allclose(
        g["all"][present], g["by_class"][present] * ratio[:, None, None], rtol=1e-5, atol=1e-7
    )
    assert not (work / "c2am" / "global_cam.npz").exists()
    c2am_cfg = (work / "c2am" / "config.py").read_text()
    assert str(work / "cam" / "global_cam.npz") in c2am_cfg


def test_rerun_reuses_and_other_settings_are_refused(compared, smoke_data):
    work, rows = compared
    stamp = (work / "c2am" / "classifier.pth").stat().st_mtime_ns
    again = pipeline.compare_methods(smoke_data, work, profile="smoke", progress=False)
    assert [r["seed_mIoU_best"] for r in again] == [r["seed_mIoU_best"] for r in rows]
    assert (work / "c2am" / "classifier.pth").stat().st_mtime_ns == stamp
    with pytest.raises(ConfigError, match="holds a run with other settings"):
        pipeline.compare_methods(smoke_data, work, profile="default", progress=False)


def test_cli_train_resume_continues(smoke_data, tmp_path, capsys):
    opts = [
        f"train_dataloader.dataset.data_root={smoke_data}",
        f"val_dataloader.dataset.data_root={smoke_data}",
        "model.head.num_classes=4", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "log_level=WARNING",
    ]  # fmt: skip
    cfg = "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py"
    work = tmp_path / "run"
    assert main(["cam", "train", cfg, "--work-dir", str(work), "--cfg-options", *opts,
                 "train_cfg.max_epochs=1"]) == 0  # fmt: skip
    assert json.loads((work / "metrics.json").read_text())["epochs"] == 1
    # A finished run is not overwritten without --resume ...
    assert main(["cam", "train", cfg, "--work-dir", str(work), "--cfg-options", *opts]) == 2
    # ... and --resume continues from epoch 1 to the new max_epochs.
    assert main(["cam", "train", cfg, "--work-dir", str(work), "--resume", "--cfg-options", *opts,
                 "train_cfg.max_epochs=2"]) == 0  # fmt: skip
    assert json.loads((work / "metrics.json").read_text())["epochs"] == 2


def test_irn_outputs_for_every_method(compared, smoke_data):
    from PIL import Image

    work, rows = compared
    tree = voc.open_tree(smoke_data)
    ids = tree.read_split("train_aug")
    for r in rows:
        run = work / r["method"]
        assert 0.0 <= r["mask_mIoU"] <= 1.0 and r["mask_mIoU_best"] >= r["mask_mIoU"] - 1e-12
        assert sorted(p.stem for p in (run / "ir_labels").glob("*.png")) == sorted(ids)
        for id_ in ids[:5]:
            h, w = voc.load_image(tree.image_path(id_)).shape[:2]
            mask = np.array(Image.open(run / "irn" / "pseudo_masks" / f"{id_}.png"))
            assert mask.shape == (h, w)
            assert set(np.unique(mask)) <= {0, *range(1, tree.num_classes + 1)}
            with np.load(run / "irn" / "rw" / f"{id_}.npz") as z:
                assert z["scores"].dtype == np.float16
                assert z["scores"].shape[1:] == (math.ceil(h / 4), math.ceil(w / 4))
            with np.load(run / "irn" / "boundary" / f"{id_}.npz") as z:
                b = z["boundary"].astype(np.float32)
                assert b.shape == (math.ceil(h / 4), math.ceil(w / 4))
                assert b.min() >= 0 and b.max() <= 1
        metrics = json.loads((run / "irn" / "mask_eval" / "metrics.json").read_text())
        assert metrics["mIoU"] == r["mask_mIoU"]


def test_irn_cli_steps_with_other_thresholds(compared, smoke_data, tmp_path, capsys):
    import shutil

    work, _ = compared
    run = tmp_path / "seeds"
    shutil.copytree(work / "cam" / "cams", run / "cams")
    shutil.copy(work / "cam" / "seeds.json", run / "seeds.json")
    assert main(["irn", "labels", str(run), "--conf-fg", "0.2", "--conf-bg", "0.1",
                 "--workers", "1"]) == 0  # fmt: skip
    assert "fg_precision" in capsys.readouterr().out
    assert json.loads((run / "ir_labels.json").read_text())["conf_fg"] == 0.2
    irn = tmp_path / "irn"
    opts = [
        f"train_dataloader.dataset.data_root={smoke_data}",
        f"train_dataloader.dataset.data_prefix.seg_map_path={run / 'ir_labels'}",
        f"model.backbone_checkpoint={work / 'cam' / 'classifier.pth'}",
        "train_cfg.max_epochs=1", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "train_dataloader.batch_size=8",
    ]  # fmt: skip
    cfg = "mm_configs/irn/irn_r18lite_3e_synthvoc-128.py"
    assert main(["irn", "train", cfg, "--work-dir", str(irn), "--cfg-options", *opts]) == 0
    assert main(["irn", "masks", str(irn), "--cams", str(run / "cams"), "--data",
                 str(smoke_data), "--sem-seg-bg", "0.3"]) == 0  # fmt: skip
    metrics = json.loads((irn / "mask_eval" / "metrics.json").read_text())
    assert metrics["sem_seg_bg"] == 0.3 and 0 <= metrics["mIoU"] <= 1
    # the seg_map_path is required
    assert main(["irn", "train", cfg, "--work-dir", str(tmp_path / "x")]) == 2


def test_data_parallel_training_on_cpu(smoke_data, tmp_path):
    """Two processes under torchrun (gloo): one run, one metrics.json, the data split in two."""
    import os
    import subprocess
    import sys

    opts = [
        f"train_dataloader.dataset.data_root={smoke_data}",
        f"val_dataloader.dataset.data_root={smoke_data}",
        "model.head.num_classes=4", "train_cfg.max_epochs=1", "train_dataloader.batch_size=8",
        "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False",
    ]  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                "--master_port=29561"]  # fmt: skip
    cmd = [*torchrun, "-m", "c2am_bench.cli", "-q", "cam", "train",
           "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py", "--work-dir", str(tmp_path / "ddp"),
           "--launcher", "pytorch", "--cfg-options", *opts]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained ") == 1  # rank 0 reports
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    # 48 train_aug images, batch 8 per process, 2 processes -> 3 iterations per epoch
    assert metrics["iterations"] == 3
