"""VOC reader/validator: summaries of a good tree and one named DataError per kind of damage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from c2am_bench.datasets import voc
from c2am_bench.datasets.voc_meta import flat_palette
from c2am_bench.errors import DataError

H, W = 24, 32
NAMES = ["cat", "dog", "cow"]
# Ids are strings: "000005" must not become 5.
IDS = ["2007_000032", "2007_000039", "000005", "2008_000100"]
CLASSES = {IDS[0]: [1], IDS[1]: [1, 2], IDS[2]: [2, 3], IDS[3]: []}


def _mask(classes):
    """Row 0 void (32 px); class c fills rows 4..7, columns 8c..8c+7 (32 px); rest background."""
    m = np.zeros((H, W), np.uint8)
    m[0] = 255
    for c in classes:
        m[4:8, 8 * c : 8 * c + 8] = c
    return m


def _save_mask(arr, path, mode="P"):
    im = Image.fromarray(arr, mode="L")
    if mode == "P":
        im = im.convert("P")  # 'L' -> 'P' keeps the values as palette indices
        im.putpalette(flat_palette())
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def make_tree(root, *, splits=None, mask_dir="SegmentationClass", mask_mode="P", meta=True):
    """A tiny VOC tree: 4 RGB JPEGs of 24x32, masks with values 0, 1..3, 255, K=3."""
    splits = splits or {"train": IDS[:3], "val": IDS[3:]}
    rng = np.random.default_rng(0)
    (root / "JPEGImages").mkdir(parents=True)
    for id_ in IDS:
        img = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
        Image.fromarray(img, mode="RGB").save(root / "JPEGImages" / f"{id_}.jpg", quality=90)
        if mask_dir:
            _save_mask(_mask(CLASSES[id_]), root / mask_dir / f"{id_}.png", mask_mode)
    (root / "ImageSets/Segmentation").mkdir(parents=True)
    for name, ids in splits.items():
        (root / "ImageSets/Segmentation" / f"{name}.txt").write_text("".join(f"{i}\n" for i in ids))
    if meta:
        (root / "synthvoc.json").write_text(json.dumps({"class_names": NAMES}))
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "voc")


def _raises(root, *needles, **kwargs):
    with pytest.raises(DataError) as info:
        voc.check_tree(root, progress=False, **kwargs)
    for needle in needles:
        assert needle in str(info.value), str(info.value)
    return str(info.value)


def test_good_tree_summary(tree):
    s = voc.check_tree(tree, progress=False)
    assert s.class_names == tuple(NAMES) and list(s.splits) == ["train", "val"]
    tr, va = s.splits["train"], s.splits["val"]
    assert (tr.n_images, tr.n_with_mask, va.n_images, va.n_with_mask) == (3, 3, 1, 1)
    np.testing.assert_array_equal(tr.label_hist, [2, 2, 1])
    np.testing.assert_array_equal(tr.cooccurrence, [[2, 1, 0], [1, 2, 1], [0, 1, 1]])
    np.testing.assert_array_equal(va.label_hist, [0, 0, 0])
    assert tr.mean_labels == pytest.approx(5 / 3) and va.mean_labels == 0
    assert tr.min_size == tr.max_size == (H, W)
    # 3 masks x 768 px: void 96, cat 64, dog 64, cow 32, background the rest.
    np.testing.assert_allclose(tr.pixel_fraction * 3 * H * W, [2048, 64, 64, 32, 96])
    assert s.main_split is tr
    text = voc.format_summary(s)
    assert "cat + dog: 1 images" in text and "co-occurrence in train" in text
    d = json.loads(json.dumps(voc.summary_to_dict(s)))
    assert d["splits"]["train"]["cooccurrence"][1] == [1, 2, 1]
    assert d["splits"]["val"]["pixel_fraction"]["void"] == pytest.approx(32 / 768)


def test_split_ids_are_strings_and_labels_from_masks(tree):
    t = voc.open_tree(tree)
    assert t.read_split("train") == IDS[:3]
    np.testing.assert_array_equal(
        voc.image_labels(t, IDS), [[1, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 0]]
    )
    np.testing.assert_array_equal(voc.labels_from_mask(_mask([3]), 3), [0, 0, 1])


def test_without_meta_uses_voc_classes(tmp_path):
    t = voc.open_tree(make_tree(tmp_path / "voc", meta=False))
    assert t.num_classes == 20 and t.class_names[0] == "aeroplane"


def test_real_voc_style_L_aug_masks_accepted(tmp_path):
    # mmseg's converter writes trainaug.txt; train_aug is its alias. Masks only in the aug folder.
    root = make_tree(tmp_path / "voc", splits={"trainaug": IDS}, mask_dir="SegmentationClassAug",
                     mask_mode="L")  # fmt: skip
    t = voc.open_tree(root)
    assert t.mask_path(IDS[0]).parent.name == "SegmentationClassAug"  # fallback
    assert Image.open(t.mask_path(IDS[0])).mode == "L"
    s = voc.check_tree(root, progress=False)
    assert list(s.splits) == ["train_aug"] and s.splits["train_aug"].n_with_mask == 4
    np.testing.assert_array_equal(s.splits["train_aug"].label_hist, [2, 2, 1])


def test_missing_root(tmp_path):
    _raises(tmp_path / "nowhere", "nowhere", "does not exist")


def test_missing_jpegimages(tree):
    (tree / "JPEGImages").rename(tree / "images")
    _raises(tree, "JPEGImages", "missing")


def test_missing_split_file(tree):
    msg = _raises(tree, "test.txt", "missing", splits=["test"])
    assert "train, val" in msg  # lists the splits present


def test_no_split_at_all(tree):
    for p in (tree / "ImageSets/Segmentation").iterdir():
        p.unlink()
    _raises(tree, "ImageSets/Segmentation", "no split file")


def test_image_listed_but_absent(tree):
    (tree / "JPEGImages" / f"{IDS[1]}.jpg").unlink()
    _raises(tree, f"{IDS[1]}.jpg", "listed in split 'train' but absent")


def test_corrupt_jpeg(tree):
    path = tree / "JPEGImages" / f"{IDS[2]}.jpg"
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 2000, dtype=np.uint8).tobytes())
    _raises(tree, f"{IDS[2]}.jpg", "corrupt")


def test_truncated_jpeg(tree):
    path = tree / "JPEGImages" / f"{IDS[0]}.jpg"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with Image.open(path) as im:  # the header alone still parses: only a full decode catches it
        assert im.size == (W, H)
    _raises(tree, f"{IDS[0]}.jpg", "truncated")


def test_mask_wrong_size(tree):
    _save_mask(np.zeros((H, W + 8), np.uint8), tree / "SegmentationClass" / f"{IDS[1]}.png")
    _raises(tree, f"SegmentationClass/{IDS[1]}.png", f"{H}x{W + 8}", f"{H}x{W}")


def test_mask_label_out_of_range(tree):
    m = _mask([1])
    m[10, 10] = 7
    _save_mask(m, tree / "SegmentationClass" / f"{IDS[0]}.png")
    _raises(tree, f"{IDS[0]}.png", "label value(s) 7 outside 0..3")


def test_rgb_mask(tree):
    rgb = np.zeros((H, W, 3), np.uint8)
    Image.fromarray(rgb, mode="RGB").save(tree / "SegmentationClass" / f"{IDS[2]}.png")
    _raises(tree, f"{IDS[2]}.png", "'RGB'", "convert colour masks to index masks")


def test_empty_split(tree):
    (tree / "ImageSets/Segmentation/val.txt").write_text("\n  \n")
    _raises(tree, "val.txt", "empty")


def test_duplicate_id(tree):
    (tree / "ImageSets/Segmentation/train.txt").write_text(f"{IDS[0]}\n{IDS[1]}\n{IDS[0]}\n")
    _raises(tree, "train.txt", f"duplicate id '{IDS[0]}'")


@pytest.mark.parametrize("text", ["{not json", '{"class_names": "cat"}', '{"classes": []}'])
def test_malformed_synthvoc_json(tree, text):
    (tree / "synthvoc.json").write_text(text)
    msg = _raises(tree, "synthvoc.json")
    assert "class_names" in msg or "JSON" in msg


def test_missing_mask_reported_for_earliest_id(tree):
    for id_ in (IDS[2], IDS[1]):  # two gaps; the earlier one in train.txt is reported
        (tree / "SegmentationClass" / f"{id_}.png").unlink()
    _raises(tree, f"{IDS[1]}.png", "mask missing", workers=4)


def test_image_labels_json_used_when_present(tmp_path):
    root = make_tree(tmp_path / "voc", splits={"train_aug": IDS[:3], "val": IDS[3:]})
    for id_ in IDS[:3]:
        (root / "SegmentationClass" / f"{id_}.png").unlink()  # train_aug has no masks at all
    _raises(root, "no mask for any id of split 'train_aug'", "image_labels.json")
    labels = {IDS[0]: [0, 2], IDS[1]: [1], IDS[2]: [], IDS[3]: [2]}
    (root / "image_labels.json").write_text(json.dumps(labels))
    t = voc.open_tree(root)
    np.testing.assert_array_equal(
        voc.image_labels(t, IDS), [[1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 1]]
    )
    s = voc.check_tree(root, progress=False)
    np.testing.assert_array_equal(s.splits["train_aug"].label_hist, [1, 1, 1])
    assert s.splits["train_aug"].n_with_mask == 0
    np.testing.assert_array_equal(s.splits["val"].label_hist, [0, 0, 1])  # json beats the mask


def test_image_labels_json_validated(tree):
    (tree / "image_labels.json").write_text(json.dumps({IDS[0]: [3]}))
    _raises(tree, "image_labels.json", IDS[0], "[0, 3)")


def test_synthvoc_tree_statistics_match_generator(tmp_path):
    from c2am_bench.datasets import synthvoc

    meta = synthvoc.generate(synthvoc.make_config("smoke"), tmp_path / "sv", progress=False)
    s = voc.check_tree(tmp_path / "sv", progress=False, workers=2)
    assert s.class_names == tuple(meta["class_names"])
    assert {k: v.n_images for k, v in s.splits.items()} == meta["splits"]
    aug = s.splits["train_aug"]
    np.testing.assert_array_equal(aug.cooccurrence, meta["realised"]["cooccurrence"])
    np.testing.assert_array_equal(aug.label_hist, meta["realised"]["images_per_class"])
