"""IR labels: dense CRF, the two-threshold combination, the split writer and its quality counts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from c2am_bench.errors import ConfigError, DataError
from c2am_bench.ir_labels import (
    crf_inference_label,
    ir_label,
    ir_label_quality,
    make_ir_labels,
    save_label_png,
)

# --------------------------------------------------------------------------- helpers


def _two_regions(h: int = 40, w: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dark left half and a bright right half (+ a little noise) and its true region map."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((h, w), np.int64)
    truth[:, w // 2 :] = 1
    img = np.where(truth[..., None] == 1, 200, 40) + rng.integers(-5, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8), truth


# --------------------------------------------------------------------------- CRF


def test_crf_cleans_noisy_labels():
    img, truth = _two_regions()
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(truth.shape) < 0.2, 1 - truth, truth)
    out = crf_inference_label(img, noisy, n_labels=2)
    assert out.shape == truth.shape and np.issubdtype(out.dtype, np.integer)
    before, after = (noisy == truth).mean(), (out == truth).mean()
    assert before < 0.85 and after > 0.97, (before, after)


def test_crf_rejects_labels_out_of_range():
    img, truth = _two_regions(8, 8)
    with pytest.raises(ValueError, match="n_labels"):
        crf_inference_label(img, truth + 1, n_labels=2)


# --------------------------------------------------------------------------- ir_label


@pytest.mark.parametrize("key", [0, 2])
def test_ir_label_square_ring_background(key, square_seed):
    img, seed = square_seed(key)
    out = ir_label(img, seed, conf_fg=0.3, conf_bg=0.05)
    assert out.shape == (48, 48) and out.dtype == np.uint8
    assert set(np.unique(out)) == {0, key + 1, 255}
    assert (out[18:30, 18:30] == key + 1).all()  # square interior: confident class
    ring = np.zeros((48, 48), bool)
    ring[10:38, 10:38] = True
    ring[14:34, 14:34] = False
    assert (out[ring] == 255).all()  # 0.1 is fg at 0.05 but bg at 0.3: ignore
    far = np.ones((48, 48), bool)
    far[6:42, 6:42] = False
    assert (out[far] == 0).all()  # far background: confident bg


def test_ir_label_no_class_is_background(square_seed):
    img, _ = square_seed()
    seed = {"keys": np.zeros(0, np.int64), "high_res": np.zeros((0, 48, 48), np.float32)}
    out = ir_label(img, seed)
    assert out.dtype == np.uint8 and out.shape == (48, 48) and (out == 0).all()


@pytest.mark.parametrize(("fg", "bg"), [(0.3, 0.3), (0.1, 0.2), (1.2, 0.05), (0.3, -0.1)])
def test_ir_label_rejects_bad_thresholds(fg, bg, square_seed):
    img, seed = square_seed()
    with pytest.raises(ConfigError, match=r"conf_fg=.*conf_bg="):
        ir_label(img, seed, conf_fg=fg, conf_bg=bg)


# --------------------------------------------------------------------------- make_ir_labels


def test_make_ir_labels_writes_one_png_per_id(gt_seeds, tmp_path):
    root, cams, ids, k = gt_seeds
    summary = make_ir_labels(root, cams, tmp_path / "a", workers=1, progress=False)
    files = sorted(p.name for p in (tmp_path / "a" / "ir_labels").iterdir())
    assert files == sorted(f"{i}.png" for i in ids)
    assert summary["n_images"] == len(ids) and summary["workers"] == 1
    assert (tmp_path / "a" / "ir_labels.json").is_file()
    values = set()
    for name in files:
        with Image.open(tmp_path / "a" / "ir_labels" / name) as im:
            assert im.mode == "P"
            values |= set(np.unique(np.array(im)).tolist())
    assert values <= set(range(k + 1)) | {255}
    assert {0, 255} <= values and values & set(range(1, k + 1))
    # Workers do not change a byte; a second run refuses to overwrite.
    make_ir_labels(root, cams, tmp_path / "b", workers=2, progress=False)
    for name in files:
        a = (tmp_path / "a" / "ir_labels" / name).read_bytes()
        assert a == (tmp_path / "b" / "ir_labels" / name).read_bytes(), name
    with pytest.raises(ConfigError, match="already exists"):
        make_ir_labels(root, cams, tmp_path / "a", workers=1, progress=False)


@pytest.mark.parametrize("workers", [1, 2])
def test_make_ir_labels_missing_or_bad_seed(gt_seeds, tmp_path, workers):
    root, cams, ids, _ = gt_seeds
    partial = tmp_path / "cams"
    partial.mkdir()
    for id_ in ids[:-1]:
        (partial / f"{id_}.npz").symlink_to(cams / f"{id_}.npz")
    out = tmp_path / "out"
    with pytest.raises(DataError, match=f"{ids[-1]}.npz"):
        make_ir_labels(root, partial, out, workers=workers, progress=False)
    (partial / f"{ids[-1]}.npz").write_bytes(b"not a zip")  # fails inside a worker
    with pytest.raises(DataError, match=f"{ids[-1]}.npz"):
        make_ir_labels(root, partial, out, workers=workers, progress=False)
    assert not out.exists() or list(out.iterdir()) == []  # no temp dir, no ir_labels/


# --------------------------------------------------------------------------- quality


def test_ir_label_quality_counts(tmp_path):
    import json

    root = tmp_path / "data"
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True)
    (root / "synthvoc.json").write_text(json.dumps({"class_names": ["a", "b"]}))
    (root / "ImageSets/Segmentation/train.txt").write_text("x\ny\n")  # y has no IR label
    h, w = 6, 5
    gt = np.full((h, w), 2, np.uint8)  # 1 void, 4 bg, 4 class 1, 21 class 2
    gt.flat[0] = 255
    gt.flat[1:5] = 0
    gt.flat[5:9] = 1
    pred = np.full((h, w), 255, np.uint8)
    pred.flat[0] = 1  # on void GT: not counted
    pred.flat[1:4] = 0  # 3 correct bg
    pred.flat[4] = 1  # bg labelled class 1: wrong fg
    pred.flat[5:7] = 1  # 2 correct class 1
    pred.flat[7] = 0  # class 1 labelled bg: wrong bg
    pred.flat[9:19] = 2  # 10 correct class 2
    save_label_png(root / "SegmentationClass/x.png", gt)
    save_label_png(root / "SegmentationClass/y.png", gt)
    ir_dir = tmp_path / "out" / "ir_labels"
    ir_dir.mkdir(parents=True)
    save_label_png(ir_dir / "x.png", pred)
    q = ir_label_quality(root, tmp_path / "out", split="train")
    assert q == ir_label_quality(root, ir_dir, split="train")
    n = h * w - 1
    assert q["n_images"] == 1 and q["n_pixels"] == n
    assert q["fg_share"] == pytest.approx(13 / n)
    assert q["bg_share"] == pytest.approx(4 / n)
    assert q["ignore_share"] == pytest.approx((n - 17) / n)
    assert q["precision"] == pytest.approx(15 / 17)
    assert q["fg_precision"] == pytest.approx(12 / 13)
    assert q["bg_precision"] == pytest.approx(3 / 4)
    assert q["fg_recall"] == pytest.approx(12 / 25)
    assert q["bg_recall"] == pytest.approx(3 / 4)
    with pytest.raises(DataError, match="no IR label"):
        ir_label_quality(root, tmp_path / "nowhere", split="train")
