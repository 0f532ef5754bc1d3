"""The fair threshold protocol's pure parts: which images are held out, and the choice."""

from __future__ import annotations

import pandas as pd
import pytest

from c2am_bench.heldout import choose_threshold, heldout_ids


def _tree(root, splits: dict[str, list[str]]):
    from c2am_bench.datasets import voc

    (root / "JPEGImages").mkdir(parents=True)
    (root / "ImageSets/Segmentation").mkdir(parents=True)
    for split, ids in splits.items():
        (root / "ImageSets/Segmentation" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return voc.open_tree(root)


def test_heldout_ids_are_train_aug_outside_train_and_val_in_file_order(tmp_path):
    tree = _tree(tmp_path / "a", {"train_aug": ["a", "t1", "b", "v1", "c", "d"],
                                  "train": ["t1"], "val": ["v1"]})  # fmt: skip
    assert heldout_ids(tree) == ["a", "b", "c", "d"]
    assert heldout_ids(tree, n=2) == ["a", "b"]
    # no val file is fine; nothing outside train gives no held-out set
    assert heldout_ids(_tree(tmp_path / "b", {"train_aug": ["t1"], "train": ["t1"]})) == []


def test_choice_is_the_heldout_argmax_read_on_the_reported_curve():
    grid = [0.1, 0.2, 0.3, 0.4]
    heldout = pd.DataFrame({"threshold": grid, "mIoU": [0.30, 0.50, 0.45, float("nan")]})
    train = pd.DataFrame({"threshold": grid, "mIoU": [0.40, 0.42, 0.60, 0.55]})
    got = choose_threshold(heldout, train, "threshold")
    # held-out picks 0.2; train is read there (0.42), not at its own best (0.60 at 0.3)
    assert got == {"threshold": 0.2, "heldout_miou": 0.50, "miou": 0.42}
    with pytest.raises(ValueError, match="no finite"):
        choose_threshold(heldout.assign(mIoU=float("nan")), train, "threshold")
