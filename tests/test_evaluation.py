"""Seed threshold curves and label-map mIoU against an explicit numpy confusion-matrix oracle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from c2am_bench import evaluation
from c2am_bench.evaluation import DEFAULT_THRESHOLDS, ThresholdCurve, evaluate_label_maps

K = 5


def _confusion(preds, gts, n):
    """The oracle: IRN/chainercv dataset-level confusion (rows GT, cols prediction), 255 ignored."""
    conf = np.zeros((n, n), np.int64)
    for pred, gt in zip(preds, gts, strict=True):
        keep = gt != 255
        for g, p in zip(gt[keep].ravel(), pred[keep].ravel(), strict=True):
            conf[g, p] += 1
    return conf


def _iou(conf):
    with np.errstate(divide="ignore", invalid="ignore"):
        diag = np.diag(conf).astype(np.float64)
        return diag / (conf.sum(0) + conf.sum(1) - diag)


def _ref_pred(high_res, keys, t):
    """IRN eval_cam: argmax over [t plane; cams] (float32, as np.pad casts t), keys + 1."""
    cams = np.pad(high_res.astype(np.float32), ((1, 0), (0, 0), (0, 0)), constant_values=t)
    lut = np.pad(np.asarray(keys) + 1, (1, 0))
    return lut[np.argmax(cams, axis=0)]


def _images(seed=0, n=3, k=K):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        h, w = 7 + i, 9 + 2 * i
        keys = np.sort(rng.choice(k, size=i, replace=False)) if i else np.zeros(0, np.int64)
        high = rng.random((keys.size, h, w)).astype(np.float32) * 0.7
        gt = rng.integers(0, k + 1, size=(h, w)).astype(np.uint8)
        gt[rng.random((h, w)) < 0.15] = 255
        out.append((high, keys, gt))
    return out


@pytest.mark.parametrize("thresholds", [DEFAULT_THRESHOLDS, np.round(np.linspace(0, 0.7, 150), 4)])
def test_curve_matches_confusion_oracle(thresholds):
    images = _images(k=20) if len(thresholds) == 150 else _images()
    k = 20 if len(thresholds) == 150 else K  # 150 x 21 bins forces several histc calls
    curve = ThresholdCurve(k, thresholds)
    for high, keys, gt in images:
        curve.add(high, keys, gt)
    assert curve.n_images == 3
    miou = curve.miou()
    for i in (0, 7, len(thresholds) // 2, len(thresholds) - 1):
        t = thresholds[i]
        conf = _confusion([_ref_pred(h, ks, t) for h, ks, _ in images], [g for *_, g in images],
                          k + 1)  # fmt: skip
        ref = _iou(conf)
        got = curve.area_intersect[i].numpy() / curve.area_union[i].numpy()
        np.testing.assert_allclose(got, ref, rtol=1e-12, equal_nan=True)
        assert miou[i] == pytest.approx(np.nanmean(ref), rel=1e-12)


def test_chunking_over_pixels_gives_same_areas(monkeypatch):
    images = _images(seed=4)
    whole = ThresholdCurve(K)
    for im in images:
        whole.add(*im)
    monkeypatch.setattr(evaluation, "_MAX_ELEMENTS_PER_CALL", 50)  # ~1 threshold per call
    chunked = ThresholdCurve(K)
    for im in images:
        chunked.add(*im)
    for a, b in ((whole.area_intersect, chunked.area_intersect),
                 (whole.area_union, chunked.area_union),
                 (whole.area_label, chunked.area_label)):  # fmt: skip
        assert np.array_equal(a.numpy(), b.numpy())


def test_metrics_best_fixed_precision_recall():
    images = _images(seed=1)
    curve = ThresholdCurve(K)
    for im in images:
        curve.add(*im)
    names = ["a", "b", "c", "d", "e"]
    m = curve.metrics(fixed=0.15, class_names=names)
    json.dumps(m, allow_nan=False)  # NaN became None
    frame = curve.curve_frame()
    assert list(frame.columns[:4]) == ["threshold", "mIoU", "mPrecision", "mRecall"]
    assert len(frame) == len(DEFAULT_THRESHOLDS) == len(m["miou_curve"])
    best = int(frame["mIoU"].to_numpy().argmax())
    assert m["best_threshold"] == pytest.approx(DEFAULT_THRESHOLDS[best])
    assert m["best_miou"] == pytest.approx(frame["mIoU"].max())
    assert m["best_miou"] >= max(v for v in m["miou_curve"] if v is not None)
    assert m["fixed_threshold"] == 0.15
    assert m["miou_at_fixed"] == pytest.approx(frame["mIoU"][10])
    assert list(m["per_class_iou_at_best"]) == ["background", *names]
    assert 0 <= m["best_miou"] <= 1

    t = m["best_threshold"]
    conf = _confusion([_ref_pred(h, ks, t) for h, ks, _ in images], [g for *_, g in images], K + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.diag(conf) / conf.sum(0)
        rec = np.diag(conf) / conf.sum(1)
    for z, name in enumerate(["background", *names]):
        for got, ref in ((m["per_class_precision_at_best"][name], prec[z]),
                         (m["per_class_recall_at_best"][name], rec[z])):  # fmt: skip
            if np.isnan(ref):
                assert got is None
            else:
                assert got == pytest.approx(ref)
    with pytest.raises(ValueError, match="not on the grid"):
        curve.metrics(fixed=0.155)


def test_tie_at_threshold_is_background():
    curve = ThresholdCurve(2, thresholds=[0.15, 0.2])
    high = np.array([[[0.15, 0.16, 0.2, 0.5]]], np.float32)  # (1, 1, 4), class id 1 -> label 2
    gt = np.array([[2, 2, 2, 2]], np.uint8)
    curve.add(high, np.array([1]), gt)
    # t = 0.15: 0.15 ties -> bg; 0.16, 0.2, 0.5 -> class.  t = 0.2: 0.2 ties -> bg, 0.5 -> class.
    assert curve.area_pred[0].tolist() == [1, 0, 3]
    assert curve.area_pred[1].tolist() == [3, 0, 1]
    assert curve.area_intersect[0, 2] == 3 and curve.area_intersect[1, 2] == 1
    assert _ref_pred(high, [1], 0.15).tolist() == [[0, 2, 2, 2]]  # the oracle agrees


def test_image_without_keys_and_fully_ignored():
    curve = ThresholdCurve(3, thresholds=[0.1])
    curve.add(np.zeros((0, 2, 3), np.float32), np.zeros(0), np.array([[0, 1, 255]] * 2, np.uint8))
    curve.add(np.ones((1, 2, 2), np.float32), np.array([0]), np.full((2, 2), 255, np.uint8))
    assert curve.n_images == 2
    assert curve.area_pred[0].tolist() == [4, 0, 0, 0]
    assert curve.area_label[0].tolist() == [2, 2, 0, 0]


def test_add_validates_inputs():
    curve = ThresholdCurve(3)
    with pytest.raises(ValueError, match="keys"):
        curve.add(np.zeros((1, 2, 2)), np.array([0, 1]), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="gt holds values"):
        curve.add(np.zeros((1, 2, 2)), np.array([0]), np.full((2, 2), 7, np.uint8))
    with pytest.raises(ValueError, match="add"):
        curve.metrics()


def test_label_maps_match_oracle_and_pred_255_is_background():
    rng = np.random.default_rng(3)
    preds, gts = [], []
    for i in range(3):
        gt = rng.integers(0, K + 1, size=(6 + i, 8)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.2] = 255
        pred = rng.integers(0, K + 1, size=gt.shape).astype(np.uint8)
        pred[rng.random(gt.shape) < 0.2] = 255
        preds.append(pred)
        gts.append(gt)
    res = evaluate_label_maps(zip(preds, gts, strict=True), K)
    conf = _confusion([np.where(p == 255, 0, p) for p in preds], gts, K + 1)
    ref = _iou(conf)
    assert res["n_images"] == 3
    assert res["mIoU"] == pytest.approx(np.nanmean(ref))
    assert res["aAcc"] == pytest.approx(np.trace(conf) / conf.sum())
    assert list(res["per_class_iou"].values()) == pytest.approx(list(ref))
    json.dumps(res, allow_nan=False)


def test_label_maps_perfect_and_ignored_prediction():
    gt = np.array([[0, 1, 2], [2, 255, 0]], np.uint8)
    assert evaluate_label_maps([(gt.copy(), gt)], 2)["mIoU"] == pytest.approx(1.0)
    pred = gt.copy()
    pred[0, 1] = 255  # scored as background: class 1 is missed, background gains a FP
    res = evaluate_label_maps([(pred, gt)], 2, class_names=["x", "y"])
    assert res["per_class_iou"] == {"background": pytest.approx(2 / 3), "x": 0.0, "y": 1.0}
    assert res["per_class_precision"]["background"] == pytest.approx(2 / 3)
    assert res["per_class_recall"]["x"] == 0.0
    with pytest.raises(ValueError, match="no"):
        evaluate_label_maps([], 2)
