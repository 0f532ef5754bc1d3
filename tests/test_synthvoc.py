"""SynthVOC generator: layout, determinism, confounding statistics, safety of writes."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from PIL import Image

from c2am_bench.datasets import synthvoc
from c2am_bench.datasets.voc_meta import flat_palette
from c2am_bench.errors import ConfigError


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("sv") / "smoke"
    meta = synthvoc.generate(synthvoc.make_config("smoke"), out, progress=False)
    return out, meta


def test_layout_matches_voc(smoke):
    root, meta = smoke
    k = len(meta["class_names"])
    splits = {s: (root / "ImageSets/Segmentation" / f"{s}.txt").read_text().split()
              for s in ("train", "train_aug", "val")}  # fmt: skip
    assert len(splits["train_aug"]) == 48 and len(splits["val"]) == 16
    assert set(splits["train"]) < set(splits["train_aug"])
    assert not set(splits["train_aug"]) & set(splits["val"])
    for id_ in splits["train"] + splits["val"]:
        img = Image.open(root / "JPEGImages" / f"{id_}.jpg")
        mask = Image.open(root / "SegmentationClass" / f"{id_}.png")
        aug = Image.open(root / "SegmentationClassAug" / f"{id_}.png")
        assert img.mode == "RGB" and mask.mode == "P" and aug.mode == "L"
        assert mask.getpalette()[: 3 * 256] == flat_palette()
        assert img.size == mask.size == aug.size
        m = np.array(mask)
        assert np.array_equal(m, np.array(aug))
        assert set(np.unique(m)) <= set(range(k + 1)) | {255}
    # Only train and val have SegmentationClass masks, as in VOC; all of train_aug has aug masks.
    extra = sorted(set(splits["train_aug"]) - set(splits["train"]))
    assert not (root / "SegmentationClass" / f"{extra[0]}.png").exists()
    assert (root / "SegmentationClassAug" / f"{extra[0]}.png").exists()


def test_metadata_records_generator_and_confounders(smoke):
    _, meta = smoke
    cfg = synthvoc.make_config("smoke")
    assert meta["generator"]["num_classes"] == cfg.num_classes == len(meta["confounders"])
    assert meta["seed"] == 0 and meta["palette"][1] == [128, 0, 0]
    assert {c["context"] for c in meta["confounders"]} <= set(synthvoc.draw.CONTEXTS)
    assert len(set(meta["class_names"])) == cfg.num_classes


def test_same_arguments_give_identical_bytes(tmp_path):
    cfg = synthvoc.make_config("smoke", n_train=8, n_val=4, seed=3)
    synthvoc.generate(cfg, tmp_path / "a", progress=False)
    synthvoc.generate(cfg, tmp_path / "b", progress=False)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    other = synthvoc.make_config("smoke", n_train=8, n_val=4, seed=4)
    synthvoc.generate(other, tmp_path / "c", progress=False)
    assert _digest(tmp_path / "a") != _digest(tmp_path / "c")


def _samples(cfg, n):
    specs = synthvoc.class_table(cfg)
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, 0, i]))
        yield specs, synthvoc.render_image(cfg, specs, rng)


def test_labels_are_exactly_the_drawn_and_visible_classes():
    cfg = synthvoc.make_config("smoke", image_size=64)
    for _, s in _samples(cfg, 60):
        visible = {int(v) - 1 for v in np.unique(s.mask) if 0 < v < 255}
        assert set(s.classes) == visible == set(s.drawn)
        assert 1 <= len(s.drawn) <= cfg.max_objects


def test_void_band_lies_on_label_boundaries():
    cfg = synthvoc.make_config("smoke", image_size=64)
    for _, s in _samples(cfg, 10):
        void = s.mask == 255
        assert void.any()
        # The band is at most 2 px wide: every void pixel has a non-void pixel within 2 px.
        padded = np.pad(s.mask.astype(int), 2, constant_values=-1)
        ys, xs = np.nonzero(void)
        for y, x in zip(ys, xs, strict=True):
            window = padded[y : y + 5, x : x + 5]
            labels = set(window[(window >= 0) & (window != 255)].ravel().tolist())
            assert labels, "a void pixel far from any label"
        # The band is thin: never more than a quarter of the image.
        assert void.mean() < 0.25


def test_confounding_statistics_follow_the_parameters():
    cfg = synthvoc.make_config(
        "smoke",
        n_train=400,
        image_size=40,
        p_context=0.8,
        p_context_absent=0.04,
        cooccur_strength=0.6,
    )
    stats = synthvoc._Stats(cfg.num_classes, synthvoc.class_table(cfg))
    for _, s in _samples(cfg, 400):
        stats.add("train_aug", s)
    real = stats.summary()
    present = np.array(real["p_context_given_present"])
    absent = np.array(real["p_context_given_absent"])
    assert np.all(np.abs(present - 0.8) < 0.12), present
    assert np.all(absent < 0.12), absent
    cooc = np.array(real["cooccurrence"])
    n = real["train_aug_images"]

    # P(b | a) vs P(b | not a): partnered classes (0, 1) co-occur far above chance; (0, 2) do not.
    def lift(a, b):
        return (cooc[a, b] / cooc[a, a]) / ((cooc[b, b] - cooc[a, b]) / (n - cooc[a, a]))

    assert lift(0, 1) > 2.0
    assert lift(0, 2) < 1.5


def test_no_context_when_p_context_is_zero():
    cfg = synthvoc.make_config("smoke", p_context=0.0, p_context_absent=0.0)
    for _, s in _samples(cfg, 30):
        assert s.contexts == []


@pytest.mark.parametrize(
    "override, key",
    [({"num_classes": 0}, "num_classes"), ({"num_classes": 21}, "num_classes"),
     ({"p_context": 1.5}, "p_context"), ({"image_size": 8}, "image_size"),
     ({"n_cooccur_pairs": 5}, "n_cooccur_pairs")],
)  # fmt: skip
def test_bad_parameters_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        synthvoc.make_config("smoke", **override)


def test_unknown_profile():
    with pytest.raises(ConfigError, match="profile 'huge'"):
        synthvoc.make_config("huge")


def test_never_overwrites_and_leaves_no_partial_output(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "precious.txt").write_text("user data")
    with pytest.raises(ConfigError, match="not empty"):
        synthvoc.generate(synthvoc.make_config("smoke"), out, progress=False)
    assert (out / "precious.txt").read_text() == "user data"
    with pytest.raises(ConfigError, match="not a SynthVOC"):
        synthvoc.ensure(synthvoc.make_config("smoke"), out, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_failed_generation_removes_its_temp_dir(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthvoc, "_save_jpeg", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        synthvoc.generate(synthvoc.make_config("smoke"), tmp_path / "out", progress=False)
    assert list(tmp_path.iterdir()) == []


def test_ensure_reuses_identical_and_rejects_different(tmp_path):
    cfg = synthvoc.make_config("smoke", n_train=4, n_val=2)
    assert synthvoc.ensure(cfg, tmp_path / "d", progress=False) == "generated"
    assert synthvoc.ensure(cfg, tmp_path / "d", progress=False) == "reused"
    other = synthvoc.make_config("smoke", n_train=4, n_val=2, seed=9)
    with pytest.raises(ConfigError, match="seed=0"):
        synthvoc.ensure(other, tmp_path / "d", progress=False)
    assert json.loads((tmp_path / "d" / "synthvoc.json").read_text())["seed"] == 0
