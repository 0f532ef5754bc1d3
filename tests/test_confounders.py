"""SynthVOC confounder maps against the generator's geometry, and the CAM mass shares."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from c2am_bench.confounder_shares import cam_mass_shares, evaluate_confounder_shares
from c2am_bench.datasets import synth_draw, synthvoc
from c2am_bench.datasets.synthvoc import BODY, CONTEXT, PART, decode_confounders


def _samples(n: int, **overrides):
    cfg = synthvoc.make_config("default", **overrides)
    specs = synthvoc.class_table(cfg)
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0, i]))
        yield cfg, specs, synthvoc.render_image(cfg, specs, rng)


def test_confounder_map_agrees_with_the_mask_and_the_drawing():
    seen_context = seen_part = 0
    for _, specs, s in _samples(30, part_contrast=1.0):
        kind, index = decode_confounders(s.confounders)
        obj = np.isin(kind, (BODY, PART))
        valid = s.mask != 255
        # every labelled pixel is the body or part of its own class, and only those are
        np.testing.assert_array_equal(obj[valid], s.mask[valid] > 0)
        np.testing.assert_array_equal(index[obj & valid], s.mask[obj & valid])
        # context pixels are background in the ground truth and belong to a drawn context
        ctx = kind == CONTEXT
        assert (s.mask[ctx & valid] == 0).all()
        names = {synth_draw.CONTEXTS[i - 1] for i in np.unique(index[ctx])}
        assert names <= set(s.contexts)
        seen_context += ctx.any()
        # the part is painted in its class's part colour (noise sigma 4 is added, clipped at 0 and
        # 255, which biases channels at the limits by up to ~1.6)
        for c in np.unique(index[kind == PART]):
            part = (kind == PART) & (index == c)
            colour = np.asarray(specs[c - 1].part_colour, np.float32)
            assert np.abs(s.image[part].astype(np.float32).mean(0) - colour).max() < 6
            seen_part += 1
    assert seen_context > 5 and seen_part > 10


def test_no_part_when_part_size_is_zero_and_no_context_when_p_is_zero():
    for _, _, s in _samples(10, part_size=0.0, p_context=0.0, p_context_absent=0.0):
        kind, _ = decode_confounders(s.confounders)
        assert not (kind == PART).any() and not (kind == CONTEXT).any()


def test_maps_are_written_and_documented(tmp_path):
    meta = synthvoc.generate(synthvoc.make_config("smoke"), tmp_path / "d", progress=False)
    assert meta["confounder_maps"]["folder"] == synthvoc.CONFOUNDER_DIR
    ids = (tmp_path / "d/ImageSets/Segmentation/train_aug.txt").read_text().split()
    for id_ in ids[:5]:
        conf = np.asarray(Image.open(tmp_path / "d" / synthvoc.CONFOUNDER_DIR / f"{id_}.png"))
        mask = np.asarray(Image.open(tmp_path / "d/SegmentationClassAug" / f"{id_}.png"))
        assert conf.shape == mask.shape and conf.dtype == np.uint8


def test_cam_mass_shares_hand_case():
    conf = np.zeros((2, 4), np.uint8)
    conf[0, 0] = synthvoc.confounder_code(BODY, 1)
    conf[0, 1] = synthvoc.confounder_code(PART, 1)
    conf[1, :] = synthvoc.confounder_code(CONTEXT, 3)  # class 0's context is number 3
    conf[0, 3] = synthvoc.confounder_code(BODY, 2)  # another class's object: "elsewhere"
    cam = np.array([[[1.0, 2.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]], np.float32)  # total 8
    (row,) = cam_mass_shares(cam, np.array([0]), conf, {0: 3})
    assert row["mass_body"] == pytest.approx(1 / 8) and row["mass_part"] == pytest.approx(2 / 8)
    assert row["mass_context"] == pytest.approx(4 / 8)
    assert row["mass_elsewhere"] == pytest.approx(1 / 8)
    assert row["area_context"] == pytest.approx(0.5) and row["area_body"] == pytest.approx(1 / 8)


def test_shares_over_a_split_with_gt_shaped_cams(tmp_path):
    """A CAM equal to the object's mask puts all its mass on body + part."""
    from c2am_bench.cams import save_seed
    from c2am_bench.datasets import voc

    root = tmp_path / "d"
    synthvoc.generate(synthvoc.make_config("smoke"), root, progress=False)
    tree = voc.open_tree(root)
    cams_dir = tmp_path / "cams"
    cams_dir.mkdir()
    for id_ in tree.read_split("train"):
        mask = voc.load_mask(tree.mask_path(id_, prefer_aug=True), tree.num_classes)
        keys = np.array([k for k in range(tree.num_classes) if (mask == k + 1).any()], np.int64)
        high = np.stack([(mask == k + 1).astype(np.float32) for k in keys])
        h, w = mask.shape
        save_seed(cams_dir / f"{id_}.npz", {"keys": keys, "high_res": high,
                                             "cam": np.zeros((len(keys), -(-h // 4), -(-w // 4)),
                                                             np.float32)})  # fmt: skip
    m = evaluate_confounder_shares(cams_dir, root, tmp_path / "out", split="train")
    assert m["mean"]["mass_body"] + m["mean"]["mass_part"] == pytest.approx(1.0)
    assert m["mean"]["mass_context"] == pytest.approx(0.0)
    assert (tmp_path / "out" / "metrics.json").is_file()


def test_part_contrast_blends_the_part_and_leaves_the_rest():
    """part_contrast a paints the part (1 - a) x body + a x part colour; nothing else moves, and
    at 1.0 the parameter is not written into the meta or the cache key (format 2 unchanged)."""
    full = list(_samples(6, part_contrast=1.0))
    half = list(_samples(6, part_contrast=0.5))
    none = list(_samples(6, part_contrast=0.0))
    seen = 0
    for (_, specs, f), (_, _, h), (_, _, z) in zip(full, half, none, strict=True):
        kind, index = decode_confounders(f.confounders)
        part = kind == PART
        np.testing.assert_array_equal(f.mask, h.mask)
        np.testing.assert_array_equal(f.confounders, z.confounders)  # the part is still marked
        # outside the parts the three images are identical (the same random draws)
        np.testing.assert_array_equal(f.image[~part], h.image[~part])
        np.testing.assert_array_equal(f.image[~part], z.image[~part])
        for c in np.unique(index[part]):
            px = part & (index == c)
            colour = np.asarray(specs[c - 1].part_colour, np.float32)
            body = z.image[px].astype(np.float32)  # a = 0: the body's own texture
            want = 0.5 * body + 0.5 * colour
            assert np.abs(h.image[px].astype(np.float32).mean(0) - want.mean(0)).max() < 4
            seen += 1
    assert seen >= 5
    assert "part_contrast" not in synthvoc.make_config("default", part_contrast=1.0).params()
    assert "part_contrast" not in synthvoc.make_config("smoke").params()
    assert synthvoc.make_config("default").params()["part_contrast"] == 0.65
