"""Tests for c2am_bench.cam_figures: every figure writes a real PNG; the maths is exact."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from c2am_bench import cam_figures as cf
from c2am_bench.cams import GlobalCAMAccumulator, load_global_cam, save_seed, strided_size
from c2am_bench.datasets import voc
from c2am_bench.datasets.synthvoc import generate, make_config
from c2am_bench.errors import DataError

METHODS = ("CAM", "C2AM")
AUG = "train_aug"  # the smoke tree's train split holds only 2 ids; train_aug (a superset) 8


@pytest.fixture(scope="module")
def tree_dir(tmp_path_factory):
    """A SynthVOC smoke tree, fake seeds of its train_aug ids for two methods, a fake Global CAM."""
    base = tmp_path_factory.mktemp("cam_figures")
    root = base / "data"
    generate(make_config("smoke", n_train=8, n_val=2), root, progress=False)
    tree = voc.open_tree(root)
    ids = tree.read_split(AUG)
    labels = voc.image_labels(tree, ids)
    rng = np.random.default_rng(0)
    for method in METHODS:
        for id_, lab in zip(ids, labels, strict=True):
            h, w = voc.load_image(tree.image_path(id_)).shape[:2]
            keys = np.flatnonzero(lab)
            seed = {
                "keys": keys,
                "cam": rng.random((keys.size, *strided_size((h, w), 4)), dtype=np.float32),
                "high_res": rng.random((keys.size, h, w), dtype=np.float32),
            }
            save_seed(base / method / "cams" / f"{id_}.npz", seed)
    acc = GlobalCAMAccumulator(tree.num_classes, size=16, class_names=tree.class_names)
    gen = torch.Generator().manual_seed(0)
    for lab in labels:
        cams = [torch.rand(tree.num_classes, s, s, generator=gen) for s in (3, 5)]
        acc.add(cams, lab)
    acc.save(base / "global_cam.npz")
    return base


def _cams_dirs(base):
    return {m: base / m / "cams" for m in METHODS}


def _check_png(path, min_w=300, min_h=200):
    assert path.is_file() and path.stat().st_size > 5_000
    with Image.open(path) as im:
        im.load()
        assert im.format == "PNG"
        assert im.width > min_w and im.height > min_h
        return im.size, dict(im.info)


def test_overlays_png_and_rows(tree_dir, tmp_path):
    out = cf.plot_cam_overlays(tree_dir / "data", _cams_dirs(tree_dir), tmp_path / "sub" / "o.png")
    assert out == tmp_path / "sub" / "o.png"
    _, info = _check_png(out, 600, 300)
    train = voc.open_tree(tree_dir / "data").read_split("train")
    assert info["Description"] == "ids: " + ", ".join(train)  # default split, fewer than n
    assert not list(out.parent.glob(".*tmp*"))  # the atomic write left no temp file


def test_overlays_skip_ids_missing_in_one_dir(tree_dir, tmp_path):
    ids = voc.open_tree(tree_dir / "data").read_split(AUG)
    kw = dict(split=AUG, n=3)
    full = cf.plot_cam_overlays(tree_dir / "data", _cams_dirs(tree_dir), tmp_path / "a.png", **kw)
    (_, h_full), info = _check_png(full)
    assert info["Description"] == f"ids: {ids[0]}, {ids[1]}, {ids[2]}"
    partial = tmp_path / "C2AM"
    partial.mkdir()
    for id_ in (ids[0], ids[2], ids[3]):
        src = tree_dir / "C2AM" / "cams" / f"{id_}.npz"
        (partial / f"{id_}.npz").write_bytes(src.read_bytes())
    dirs = {"CAM": tree_dir / "CAM" / "cams", "C2AM": partial}
    out = cf.plot_cam_overlays(tree_dir / "data", dirs, tmp_path / "b.png", **kw)
    (_, h_part), info = _check_png(out)
    assert info["Description"] == f"ids: {ids[0]}, {ids[2]}, {ids[3]}"
    partial.joinpath(f"{ids[3]}.npz").unlink()
    out = cf.plot_cam_overlays(tree_dir / "data", dirs, tmp_path / "c.png", **kw)
    (_, h_two), info = _check_png(out)
    assert info["Description"] == f"ids: {ids[0]}, {ids[2]}"
    assert h_two < h_part == h_full


def test_overlays_missing_dir_raises(tree_dir, tmp_path):
    missing = tmp_path / "nowhere" / "cams"
    dirs = {"CAM": tree_dir / "CAM" / "cams", "C2AM": missing}
    with pytest.raises(DataError, match=re.escape(str(missing))):
        cf.plot_cam_overlays(tree_dir / "data", dirs, tmp_path / "o.png")
    assert not (tmp_path / "o.png").exists()


def test_overlays_no_common_id_raises(tree_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no id of split 'train'"):
        cf.plot_cam_overlays(tree_dir / "data", {"CAM": empty}, tmp_path / "o.png")


@pytest.mark.parametrize("gamma", [1.0, 0.5, 2.0])
def test_global_cam_frame_values(tree_dir, gamma):
    g = load_global_cam(tree_dir / "global_cam.npz")
    names = voc.open_tree(tree_dir / "data").class_names
    frame = cf.global_cam_frame(g, names, gamma=gamma)
    assert list(frame.columns) == ["class", "aggregation", "M", "c", "count"]
    assert len(frame) == 2 * len(names)
    for agg in ("all", "by_class"):
        sub = frame[frame["aggregation"] == agg]
        assert sub["class"].tolist() == list(names)
        np.testing.assert_allclose(sub["M"], g[agg].mean(axis=(1, 2)), rtol=1e-6)
        np.testing.assert_allclose(sub["c"], gamma * g[agg].mean(axis=(1, 2)), rtol=1e-6)
        np.testing.assert_array_equal(sub["count"], g["counts"])


def test_global_cam_frame_rejects_wrong_names(tree_dir):
    g = load_global_cam(tree_dir / "global_cam.npz")
    with pytest.raises(ValueError, match="class_names"):
        cf.global_cam_frame(g, ["only_one"])


def test_plot_global_cam_and_constants(tree_dir, tmp_path):
    names = voc.open_tree(tree_dir / "data").class_names
    _check_png(cf.plot_global_cam(tree_dir / "global_cam.npz", names, tmp_path / "g.png"))
    _check_png(cf.save_class_constants(tree_dir / "global_cam.npz", names, tmp_path / "c.png"))


def test_plot_class_constants_bars(tree_dir):
    g = load_global_cam(tree_dir / "global_cam.npz")
    names = voc.open_tree(tree_dir / "data").class_names
    frame = cf.global_cam_frame(g, names)
    ax = cf.plot_class_constants(frame)
    assert len(ax.containers) == 2
    for container, agg in zip(ax.containers, ("all", "by_class"), strict=True):
        heights = [bar.get_height() for bar in container]
        np.testing.assert_allclose(heights, frame[frame["aggregation"] == agg]["M"], rtol=1e-6)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(names)


@pytest.mark.parametrize("positive", [True, False])
@pytest.mark.parametrize("s, c", [(0.0, 1.0), (3.0, 0.2), (-4.0, 0.31), (8.0, 1.0), (-30.0, 2.0)])
def test_logit_gradient_matches_autograd(s, c, positive):
    x = torch.tensor(s, dtype=torch.float64, requires_grad=True)
    y = torch.tensor(1.0 if positive else 0.0, dtype=torch.float64)
    torch.nn.functional.binary_cross_entropy_with_logits(c * x, y).backward()
    assert cf.logit_gradient(s, c, positive) == pytest.approx(x.grad.item(), rel=1e-9, abs=1e-12)


def test_logit_gradient_vectorised_and_finite_difference():
    s = np.linspace(-10, 10, 41)
    c, eps = 0.2, 1e-6

    def loss(v, y):
        z = c * v
        return np.logaddexp(0.0, z) - y * z  # BCE-with-logits

    for positive in (True, False):
        y = 1.0 if positive else 0.0
        fd = (loss(s + eps, y) - loss(s - eps, y)) / (2 * eps)
        np.testing.assert_allclose(cf.logit_gradient(s, c, positive), fd, atol=1e-8)
    # A smaller c keeps the positive-label gradient alive at large logits (paper Fig. 4).
    assert abs(cf.logit_gradient(8.0, 0.2, True)) > abs(cf.logit_gradient(8.0, 1.0, True))


def test_plot_gradient_curves(tmp_path):
    consts = {"CAM (c=1)": 1.0, "CAM+Constant (c=0.2)": 0.2, "C2AM x (c=0.31)": 0.31}
    out = cf.plot_gradient_curves(consts, tmp_path / "deep" / "grad.png", s_range=(-5, 5))
    (w, h), _ = _check_png(out, 800, 300)
    assert w > h


def _curve(peak, offset=0.0, start=0.05):
    t = np.round(np.arange(start, 0.61, 0.01), 2)
    m = 0.5 - (t - peak) ** 2 + offset
    return pd.DataFrame({"threshold": t, "mIoU": m, "mPrecision": m, "mRecall": m, "aAcc": m})


def test_seed_curves_png_from_paths_and_frames(tmp_path):
    path = tmp_path / "cam" / "curve.csv"
    path.parent.mkdir()
    _curve(0.3).to_csv(path, index=False)
    out = cf.plot_seed_curves({"CAM": path, "C2AM": _curve(0.4, 0.01)}, tmp_path / "s.png")
    _check_png(out)


def test_draw_seed_curves_legend_and_best_points():
    # C2AM's curve starts at a lower threshold; the legend still follows the dict order.
    frame = cf.seed_curve_frame({"CAM": _curve(0.3, start=0.1), "C2AM": _curve(0.4, 0.01)})
    assert frame["method"].unique().tolist() == ["CAM", "C2AM"]
    ax = cf.draw_seed_curves(frame, fixed=0.15)
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["CAM (best 0.500 @ 0.30)", "C2AM (best 0.510 @ 0.40)", "fixed t=0.15"]
    xs = {round(float(line.get_xdata()[0]), 2) for line in ax.lines if line.get_marker() == "o"}
    assert xs == {0.3, 0.4}


def test_seed_curves_bad_input_names_file(tmp_path):
    bad = tmp_path / "curve.csv"
    pd.DataFrame({"thr": [0.1], "mIoU": [0.2]}).to_csv(bad, index=False)
    with pytest.raises(DataError, match=r"curve\.csv.*threshold"):
        cf.seed_curve_frame({"CAM": bad})
    with pytest.raises(DataError, match="nope.csv"):
        cf.seed_curve_frame({"CAM": tmp_path / "nope.csv"})
