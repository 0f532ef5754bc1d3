"""The oracle ladder's pure pieces: GT boundary from a mask, boundary precision / recall / F."""

from __future__ import annotations

import numpy as np
import pytest

from c2am_bench import oracle


def test_gt_edges_hand_checked():
    # A 2x2 object (label 1) in a 6x6 background, with one void pixel (255) beside it.
    mask = np.zeros((6, 6), np.uint8)
    mask[2:4, 2:4] = 1
    mask[2, 4] = 255
    edges = oracle.gt_edges(mask)
    # Pixels whose 3x3 neighbourhood holds another label: the ring rows/cols 1..4 (void widens it
    # by one column to 5 on rows 1..3); the four corners of the 6x6 image stay clear.
    expected = np.zeros((6, 6), bool)
    expected[1:5, 1:5] = True
    expected[1:4, 5] = True  # neighbours of the void pixel at (2, 4)
    np.testing.assert_array_equal(edges, expected)
    assert not oracle.gt_edges(np.full((5, 7), 3, np.uint8)).any()  # one label: no edge


def test_gt_boundary_max_pools_to_stride_4_with_ceil():
    mask = np.zeros((9, 10), np.uint8)
    mask[8, 9] = 2  # one pixel in the last, partial cell
    b = oracle.gt_boundary(mask)
    assert b.shape == (3, 3) and b.dtype == np.float32
    expected = np.zeros((3, 3), np.float32)
    # edges at rows 7..8, cols 8..9: rows 4..7 are cell 1, row 8 cell 2; cols 8..9 cell 2
    expected[1, 2] = expected[2, 2] = 1.0
    np.testing.assert_array_equal(b, expected)


def test_boundary_counts_and_f_score_against_a_hand_count():
    gt = np.array([[1, 1, 0, 0], [0, 1, 0, 0]], bool)
    pred = np.array([[0.9, 0.2, 0.7, 0.0], [0.1, 0.6, 0.0, 0.4]], np.float32)
    counts = oracle.boundary_counts(pred, gt, thresholds=(0.5, 0.3))
    # t = 0.5: on = {0.9, 0.7, 0.6}: tp 2 (0.9, 0.6), fp 1 (0.7), fn 1 (0.2)
    # t = 0.3: on = {0.9, 0.7, 0.6, 0.4}: tp 2, fp 2, fn 1
    np.testing.assert_array_equal(counts, [[2, 1, 1], [2, 2, 1]])
    best = oracle.best_f_score(counts, thresholds=(0.5, 0.3))
    assert best["threshold"] == 0.5
    assert best["precision"] == pytest.approx(2 / 3) and best["recall"] == pytest.approx(2 / 3)
    assert best["f_score"] == pytest.approx(2 / 3)
    assert best["curve"][1]["precision"] == pytest.approx(0.5)


def test_boundary_of_the_gt_itself_scores_f_1():
    rng = np.random.default_rng(0)
    mask = np.zeros((40, 52), np.uint8)
    mask[5:30, 8:33] = 1
    mask[20:38, 30:50] = 2
    gt = oracle.gt_boundary(mask)
    noisy = np.clip(gt * 0.8 + rng.uniform(0, 0.15, gt.shape), 0, 1)
    best = oracle.best_f_score(oracle.boundary_counts(noisy, gt.astype(bool)))
    assert best["f_score"] == 1.0 and 0.15 <= best["threshold"] <= 0.8


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="differ"):
        oracle.boundary_counts(np.zeros((3, 4)), np.zeros((4, 3), bool))
