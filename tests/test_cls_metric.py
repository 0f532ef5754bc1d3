"""Multi-label mAP / F1 against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from c2am_bench.cls_metric import MultiLabelMetric, average_precision, f1_scores


def test_average_precision_hand_example():
    # Class 0: ranking pos, neg, pos -> precisions at hits 1/1, 2/3 -> AP = (1 + 2/3) / 2.
    # Class 1: no positive -> NaN. Class 2: perfect ranking -> 1.
    scores = np.array([[0.9, 0.1, 0.2], [0.8, 0.2, 0.1], [0.7, 0.3, 0.9]])
    labels = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 1]])
    ap = average_precision(scores, labels)
    assert ap[0] == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(ap[1])
    assert ap[2] == pytest.approx(1.0)


def test_f1_micro_and_macro():
    scores = np.array([[0.9, 0.6], [0.2, 0.4], [0.7, 0.1]])
    labels = np.array([[1, 0], [1, 1], [1, 0]])
    f1 = f1_scores(scores, labels, 0.5)
    # tp: class0 2, class1 0; fp: class1 1; fn: class0 1, class1 1.
    assert f1["f1_micro"] == pytest.approx(2 * 2 / (2 * 2 + 1 + 2))
    assert f1["f1_macro"] == pytest.approx((2 * 2 / (4 + 1) + 0.0) / 2)


def test_metric_on_data_samples():
    metric = MultiLabelMetric()
    metric.dataset_meta = {"classes": ("a", "b")}
    samples = []
    for score, label in (([0.9, 0.2], [1, 0]), ([0.3, 0.8], [0, 1]), ([0.6, 0.4], [1, 1])):
        s = BaseDataElement()
        s.pred_score, s.gt_label = torch.tensor(score), torch.tensor(label, dtype=torch.float32)
        samples.append(s)
    metric.process({}, samples)
    out = metric.evaluate(3)
    assert out["cls/AP/a"] == pytest.approx(1.0)
    assert out["cls/AP/b"] == pytest.approx(1.0)
    assert out["cls/mAP"] == pytest.approx(1.0)
    assert out["cls/f1_micro"] == pytest.approx(2 * 3 / (2 * 3 + 0 + 1))
