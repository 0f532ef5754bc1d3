"""The ``crf`` pseudo-mask method: one dense-CRF pass per seed, chosen per method or per run."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from c2am_bench import pipeline, studies
from c2am_bench.crf_masks import PSEUDO_DIR, crf_label, evaluate_masks, make_crf_masks
from c2am_bench.errors import ConfigError, DataError
from c2am_bench.stage_cache import StageCache
from c2am_bench.stages.masks import masks


def test_the_background_score_decides_where_the_class_ends(square_seed):
    img, seed = square_seed(key=3)
    ring = np.zeros((48, 48), bool)
    ring[8:40, 8:40] = True
    ring[16:32, 16:32] = False
    # 0.15 > the ring's 0.1: the square is class 3 (label 4), the ring and outside background
    mask = crf_label(img, seed, bg=0.15)
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 4}  # nothing ignored
    assert (mask[16:32, 16:32] == 4).mean() > 0.95
    assert (mask[ring] == 0).mean() > 0.95 and (mask[:4] == 0).all()
    # 0.05 < 0.1: the ring joins the class
    low = crf_label(img, seed, bg=0.05)
    assert (low[ring] == 4).mean() > 0.95 and (low[:4] == 0).all()


def test_no_class_is_all_background_and_a_bad_score_is_named(square_seed):
    img, seed = square_seed()
    empty = {"keys": np.zeros(0, np.int64), "high_res": np.zeros((0, 48, 48), np.float32)}
    assert (crf_label(img, empty) == 0).all()
    with pytest.raises(ConfigError, match="crf_mask_bg=1.5"):
        crf_label(img, seed, bg=1.5)


def test_masks_of_a_split_are_written_once_and_scored(gt_seeds, tmp_path):
    root, cams, _, _ = gt_seeds
    info = make_crf_masks(root, cams, tmp_path, split="train_aug", workers=1, progress=False)
    pngs = sorted((tmp_path / PSEUDO_DIR).glob("*.png"))
    assert info["n_images"] == len(pngs) > 0 and info["bg"] == 0.15
    with Image.open(pngs[0]) as im:
        assert im.mode == "P" and 255 not in np.array(im)
    metrics = evaluate_masks(tmp_path, root, split="train")
    assert metrics["mIoU"] > 0.8  # seeds drawn from the ground truth
    assert (tmp_path / "mask_eval" / "metrics.json").is_file()
    with pytest.raises(ConfigError, match="already exists"):
        make_crf_masks(root, cams, tmp_path, split="train_aug", workers=1, progress=False)


def test_a_missing_seed_is_named_and_leaves_nothing(gt_seeds, tmp_path):
    root, cams, _, _ = gt_seeds
    partial = tmp_path / "cams"
    partial.mkdir()
    for path in sorted(cams.glob("*.npz"))[1:]:
        (partial / path.name).write_bytes(path.read_bytes())
    missing = sorted(cams.glob("*.npz"))[0].name
    with pytest.raises(DataError, match=missing):
        make_crf_masks(root, partial, tmp_path / "out", split="train_aug", progress=False)
    assert not (tmp_path / "out" / PSEUDO_DIR).exists()


def test_methods_choose_their_pseudo_masks():
    v = pipeline.parse_method("cam@crf")
    assert (v.name, v.method, v.pseudo, v.display) == ("cam@crf", "cam", "crf", "CAM (CRF masks)")
    v = pipeline.parse_method("c2am", pseudo="crf")  # --pseudo crf: every method, names kept
    assert (v.name, v.pseudo, v.display) == ("c2am", "crf", "C2AM")
    assert v.params()["pseudo"] == "crf"
    assert "pseudo" not in pipeline.parse_method("cam").params()  # IRN runs keep their params
    assert pipeline.parse_method("cam@irn", pseudo="crf").pseudo == "irn"
    with pytest.raises(ConfigError, match="METHOD@PSEUDO"):
        pipeline.parse_method("cam@affinitynet")
    with pytest.raises(ConfigError, match="--pseudo 'walk'"):
        pipeline.parse_method("cam", pseudo="walk")
    with pytest.raises(ConfigError, match="unknown pseudo-mask method 'x'"):
        pipeline.Variant("cam", "cam", pseudo="x")
    with pytest.raises(ConfigError, match="crf_mask_bg=-0.1"):
        pipeline.Variant("cam", "cam", irn={"crf_mask_bg": -0.1}).irn_settings()


def test_the_runner_dispatches_on_the_pseudo_mask_method(gt_seeds, tmp_path):
    root, cams, _, _ = gt_seeds
    seeds_dir = tmp_path / "seeds" / "s0"
    seeds_dir.mkdir(parents=True)
    (seeds_dir / "cams").symlink_to(cams)
    runner = pipeline.Pipeline(root, StageCache(tmp_path / "cache"), profile="smoke")
    dirs = masks(runner, pipeline.Variant("cam", "cam", pseudo="crf"), 0, seeds_dir)
    assert list(dirs) == ["masks"] and dirs["masks"].parent.name == "crf_masks"
    assert (dirs["masks"] / PSEUDO_DIR).is_dir()
    assert (dirs["masks"] / "mask_eval" / "metrics.json").is_file()
    # the key follows the background score; the same settings reuse the folder
    again = masks(runner, pipeline.Variant("cam@crf", "cam", pseudo="crf"), 0, seeds_dir)
    assert again == dirs
    other = masks(runner, pipeline.Variant("cam", "cam", pseudo="crf", irn={"crf_mask_bg": 0.3}),
                  0, seeds_dir)  # fmt: skip
    assert other["masks"] != dirs["masks"]


def test_a_study_can_fix_or_sweep_the_pseudo_mask_method(tmp_path):
    from dataclasses import replace

    pooling = studies.find_spec("pooling")
    spec = replace(pooling, fixed={**pooling.fixed, "pseudo": "crf"})
    variant, _ = studies.build_variant(spec, {"model.head.pooling": "max"})
    assert variant.pseudo == "crf" and variant.options == {"model.head.pooling": "max"}
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nquestion: q\nmethod: cam\nobjective: pseudo_miou\n"
                    "space: {pseudo: [irn, walk]}\ndefault: {pseudo: irn}\n")  # fmt: skip
    with pytest.raises(ConfigError, match="space.pseudo"):
        studies.load_spec(path)
