"""Shared test setup."""

from __future__ import annotations

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
