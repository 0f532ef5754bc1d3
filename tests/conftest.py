"""Shared test setup."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _mmseg_default_scope():
    """Registries resolve in mmseg's scope, whatever scope an earlier test's Runner left set."""
    from mmengine.registry import DefaultScope

    with DefaultScope.overwrite_default_scope("mmseg"):
        yield


def _box_blur(x: np.ndarray, r: int) -> np.ndarray:
    """Separable (2r+1)-box mean with edge padding."""
    k = np.ones(2 * r + 1) / (2 * r + 1)
    x = np.pad(x, r, mode="edge")
    x = np.apply_along_axis(np.convolve, 0, x, k, mode="valid")
    return np.apply_along_axis(np.convolve, 1, x, k, mode="valid")


@pytest.fixture(scope="session")
def gt_seeds(tmp_path_factory):
    """A small SynthVOC with seeds drawn from its ground truth: per GT class a blurred,
    max-normalised indicator. Returns ``(root, cams_dir, train_aug ids, num_classes)``."""
    from c2am_bench.cams import save_seed
    from c2am_bench.datasets import synthvoc, voc

    base = tmp_path_factory.mktemp("gt_seeds")
    root = base / "data"
    synthvoc.generate(synthvoc.make_config("smoke", n_train=8, n_val=2), root, progress=False)
    tree = voc.open_tree(root)
    cams = base / "cams"
    ids = tree.read_split("train_aug")
    for id_ in ids:
        gt = voc.load_mask(tree.mask_path(id_, prefer_aug=True), tree.num_classes)
        keys = np.flatnonzero(voc.labels_from_mask(gt, tree.num_classes))
        maps = [_box_blur((gt == k + 1).astype(np.float64), 2) for k in keys]
        high = np.stack([m / m.max() for m in maps]) if maps else np.zeros((0, *gt.shape))
        save_seed(cams / f"{id_}.npz", {"keys": keys, "cam": high[:, ::4, ::4], "high_res": high})
    return root, cams, ids, tree.num_classes


def _square_seed(key: int = 0) -> tuple[np.ndarray, dict]:
    """48x48 image; CAM 0.9 in a bright square (rows/cols 16..31), 0.1 in a mid ring (8..39),
    0 outside; the image's three regions have distinct grey levels."""
    cam = np.zeros((48, 48), np.float32)
    cam[8:40, 8:40] = 0.1
    cam[16:32, 16:32] = 0.9
    img = np.full((48, 48, 3), 30, np.uint8)
    img[8:40, 8:40] = 120
    img[16:32, 16:32] = 220
    return img, {"keys": np.array([key]), "cam": cam[None, ::4, ::4], "high_res": cam[None]}


@pytest.fixture
def square_seed():
    """``square_seed(key=0) -> (img, seed)``: a hand-checkable CAM with a square, a ring and
    background (see :func:`_square_seed`)."""
    return _square_seed


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory):
    """The smoke SynthVOC (48 train_aug images = 3 iterations of batch 16 per epoch), made once
    per test module."""
    from c2am_bench.datasets import synthvoc

    root = tmp_path_factory.mktemp("data") / "synthvoc-smoke"
    synthvoc.generate(synthvoc.make_config("smoke"), root, progress=False)
    return root


@pytest.fixture
def one_epoch_classifier(smoke_data, tmp_path):
    """The CPU-default baseline classifier's config for one epoch (3 iterations) on the smoke
    SynthVOC, loaders without workers, work dir ``tmp_path / "run"``."""
    from c2am_bench.train import load_config

    repo = Path(__file__).resolve().parent.parent
    options = {
        "train_dataloader.dataset.data_root": str(smoke_data),
        "val_dataloader.dataset.data_root": str(smoke_data), "model.head.num_classes": 4,
        "train_dataloader.num_workers": 0, "train_dataloader.persistent_workers": False,
        "val_dataloader.num_workers": 0, "val_dataloader.persistent_workers": False,
        "train_cfg.max_epochs": 1, "visualizer.name": f"vis_{tmp_path.name}",
    }  # fmt: skip
    return load_config(repo / "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py", options,
                       tmp_path / "run")  # fmt: skip
