"""Path indices, affinities, the affinity loss, the random walk and pseudo-masks (IRN b.6/b.7)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2am_bench.random_walk import (
    PathIndex,
    affinity_labels,
    affinity_loss,
    dense_affinity,
    edge_to_affinity,
    path_pixels,
    propagate,
    propagate_dense,
    pseudo_mask,
    pseudo_mask_from_upsampled,
    radius_floor,
    search_directions,
    transition_matrix,
    transition_operator,
    upsample_normalised,
)

# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize(("radius", "n_dirs", "rf"), [(10, 152, 9), (5, 34, 4)])
def test_golden_direction_counts(radius, n_dirs, rf):
    dirs = search_directions(radius)
    assert len(dirs) == n_dirs
    assert len(set(dirs)) == n_dirs
    assert radius_floor(radius) == rf
    assert PathIndex(radius, (30, 30)).radius_floor == rf


@pytest.mark.parametrize("radius", [10, 5])
def test_golden_first_directions(radius):
    assert search_directions(radius)[:6] == [(0, 1), (1, 0), (0, 2), (2, 0), (0, 3), (1, -1)]


def test_directions_sorted_by_path_length_and_cover_half_disc():
    dirs = search_directions(5)
    lengths = [len(path_pixels(*d)) for d in dirs]
    assert lengths == sorted(lengths)
    expected = {(0, x) for x in range(1, 5)} | {
        (y, x) for y in range(1, 5) for x in range(-4, 5) if x * x + y * y < 25
    }
    assert set(dirs) == expected


def test_golden_training_sources():
    pi = PathIndex(10, (128, 128))
    assert pi.n_src == 13_090
    assert pi.src_size == (119, 110)
    assert pi.dst.shape == (152, 13_090)
    # first source: row 0, column 9; last: row 118, column 118
    assert divmod(int(pi.src[0]), 128) == (0, 9)
    assert divmod(int(pi.src[-1]), 128) == (118, 118)
    assert pi.dst.min() >= 0 and pi.dst.max() < 128 * 128


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        ((0, 1), {(0, 0), (0, 1)}),
        ((0, 3), {(0, 0), (0, 1), (0, 2), (0, 3)}),
        ((1, -1), {(0, 0), (0, -1), (1, 0), (1, -1)}),
        ((1, 1), {(0, 0), (0, 1), (1, 0), (1, 1)}),
        # (2, 1): distance^2 = (2x - y)^2 / 5 <= 4/5 on the whole bounding box
        ((2, 1), {(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)}),
        # (1, 3): distance^2 = (x - 3y)^2 / 10: the corners (0, 3) and (1, 0) have 9/10 -> in
        ((1, 3), {(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)}),
        # (3, 1): distance^2 = (3x - y)^2 / 10: the corners (0, 1) and (3, 0) have 9/10 -> in
        ((3, 1), {(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (2, 1), (3, 1)}),
    ],
)
def test_path_pixels_hand_checked(d, expected):
    p = path_pixels(*d)
    assert set(p) == expected
    assert p[0] == d and p[-1] == (0, 0)  # destination first, source last


def test_path_pixels_excludes_far_points():
    # (2, 4): (0, 2) is at distance^2 (2*2)^2/20 = 0.8 -> in; (1, 0) at 16/20 -> in;
    # (0, 3) at 36/20 -> out; (2, 0) at 64/20 -> out.
    p = set(path_pixels(2, 4))
    assert {(0, 2), (1, 0), (1, 2), (2, 4)} <= p
    assert (0, 3) not in p and (2, 0) not in p and (0, 4) not in p


def test_edge_to_affinity_matches_flat_path_indices():
    g = torch.Generator().manual_seed(0)
    pi = PathIndex(5, (17, 21))
    b = torch.rand(2, 17, 21, generator=g)
    aff = edge_to_affinity(b, pi)
    assert aff.shape == (2, pi.n_dirs, pi.n_src)
    for k in range(2):
        flat = b[k].reshape(-1)
        ref = torch.cat([1 - flat[torch.as_tensor(ix)].amax(dim=1) for ix in pi.path_indices()])
        torch.testing.assert_close(aff[k], ref, rtol=0, atol=0)
    # unbatched input gives the same
    torch.testing.assert_close(edge_to_affinity(b[1], pi), aff[1], rtol=0, atol=0)


def test_edge_to_affinity_direct_pair():
    pi = PathIndex(5, (10, 12))
    b = torch.zeros(10, 12)
    b[3, 6] = 0.7  # on the path from (3, 5) to (3, 7) along (0, 2), not on (0, 1) from (3, 4)
    aff = edge_to_affinity(b, pi)
    d02 = [tuple(d) for d in pi.directions].index((0, 2))
    d01 = [tuple(d) for d in pi.directions].index((0, 1))
    s = int(np.flatnonzero(pi.src == 3 * 12 + 5)[0])
    s4 = int(np.flatnonzero(pi.src == 3 * 12 + 4)[0])
    assert aff[d02, s].item() == pytest.approx(0.3)
    assert aff[d01, s4].item() == 1.0
    assert int(pi.dst[d02, s]) == 3 * 12 + 7


def test_affinity_loss_gradient_is_reproducible_with_threads():
    """The boundary net's loss gradient is bit-identical call after call on a multi-threaded CPU
    (advanced-indexing backward accumulated with atomic adds made every call differ)."""
    import hashlib

    pi = PathIndex(10, (32, 32))
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 3, (32, 32)).astype(np.uint8)
    lab[rng.random((32, 32)) < 0.3] = 255
    bg, fg, neg = (torch.as_tensor(np.stack([t] * 8)) for t in affinity_labels(lab, pi))
    x0 = torch.rand(8, 32, 32, generator=torch.Generator().manual_seed(0))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        digests = set()
        for _ in range(6):
            x = x0.clone().requires_grad_(True)
            # one image at a time, as BoundaryNet.loss calls it
            aff = torch.stack([edge_to_affinity(x[b], pi) for b in range(8)])
            out = affinity_loss(aff, bg, fg, neg)
            (out["pos"] + out["neg"]).backward()
            digests.add(hashlib.sha256(x.grad.numpy().tobytes()).hexdigest())
    finally:
        torch.set_num_threads(threads)
    assert len(digests) == 1


def test_edge_to_affinity_has_gradient():
    pi = PathIndex(5, (9, 11))
    b = torch.rand(9, 11, generator=torch.Generator().manual_seed(1), requires_grad=True)
    edge_to_affinity(b, pi).sum().backward()
    assert b.grad is not None and b.grad.abs().sum() > 0


# --------------------------------------------------------------------------- labels and loss


def test_affinity_labels_two_regions():
    pi = PathIndex(5, (8, 12))
    lab = np.zeros((8, 12), dtype=np.uint8)
    lab[:, 6:] = 3  # left half background, right half class 3
    lab[7, 0] = 255  # one ignored pixel
    bg_pos, fg_pos, neg = affinity_labels(lab, pi)
    assert bg_pos.shape == fg_pos.shape == neg.shape == (34, pi.n_src)
    assert bg_pos.dtype == np.float32
    w = 12
    sy, sx = np.divmod(pi.src[None, :], w)
    dy, dx = np.divmod(pi.dst, w)
    left_s, left_d = sx < 6, dx < 6
    ign = ((sy == 7) & (sx == 0)) | ((dy == 7) & (dx == 0))
    np.testing.assert_array_equal(bg_pos, (left_s & left_d & ~ign).astype(np.float32))
    np.testing.assert_array_equal(fg_pos, (~left_s & ~left_d & ~ign).astype(np.float32))
    np.testing.assert_array_equal(neg, ((left_s != left_d) & ~ign).astype(np.float32))
    # every pair is exactly one of the three kinds or ignored
    assert np.all(bg_pos + fg_pos + neg <= 1)
    assert neg.sum() > 0 and fg_pos.sum() > 0 and bg_pos.sum() > 0


def test_affinity_labels_ignore_everywhere():
    pi = PathIndex(5, (8, 12))
    out = affinity_labels(np.full((8, 12), 255, np.uint8), pi)
    assert all(t.sum() == 0 for t in out)


def test_affinity_loss_equals_direct_computation():
    g = torch.Generator().manual_seed(3)
    aff = torch.rand(2, 6, 40, generator=g)
    lab = torch.randint(0, 4, (2, 6, 40), generator=g)
    bg, fg, ng = ((lab == k).float() for k in (1, 2, 3))
    out = affinity_loss(aff, bg, fg, ng)
    a, bgn, fgn, nn_ = aff.double().numpy(), bg.double().numpy(), fg.double().numpy(), ng.numpy()
    pos = -np.log(a + 1e-5)
    neg = -np.log(1 + 1e-5 - a)
    l_pos = 0.5 * (bgn * pos).sum() / (bgn.sum() + 1e-5) + 0.5 * (fgn * pos).sum() / (
        fgn.sum() + 1e-5
    )
    l_neg = (nn_ * neg).sum() / (nn_.sum() + 1e-5)
    assert out["pos"].item() == pytest.approx(l_pos, rel=1e-5)
    assert out["neg"].item() == pytest.approx(l_neg, rel=1e-5)
    assert out["total"].item() == pytest.approx((l_pos + l_neg) / 2, rel=1e-5)


def test_affinity_loss_rewards_correct_affinities():
    pos_lbl = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    neg_lbl = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
    zero = torch.zeros_like(pos_lbl)
    good = affinity_loss(torch.tensor([[0.99, 0.99, 0.01, 0.01]]), pos_lbl, zero, neg_lbl)
    bad = affinity_loss(torch.tensor([[0.01, 0.01, 0.99, 0.99]]), pos_lbl, zero, neg_lbl)
    assert good["total"] < 0.05 < bad["total"]


# --------------------------------------------------------------------------- the random walk


def _inputs(h, w, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    seeds = torch.rand(c, h, w, generator=g)
    seeds[seeds < 0.5] = 0  # sparse-ish seeds, as CAMs
    boundary = torch.rand(h, w, generator=g) ** 3
    return seeds, boundary


@pytest.mark.parametrize("size", [(7, 9), (12, 10), (5, 6)])
@pytest.mark.parametrize("exp_times", [8, 3, 0])
def test_propagate_equals_dense_float64(size, exp_times):
    seeds, boundary = _inputs(*size)
    sparse = propagate(seeds, boundary, beta=10, exp_times=exp_times, dtype=torch.float64)
    dense = propagate_dense(seeds, boundary, beta=10, exp_times=exp_times, dtype=torch.float64)
    torch.testing.assert_close(sparse, dense, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("size", [(7, 9), (12, 10)])
@pytest.mark.parametrize("exp_times", [8, 3])
def test_propagate_equals_dense_float32(size, exp_times):
    seeds, boundary = _inputs(*size, seed=1)
    sparse = propagate(seeds, boundary, beta=10, exp_times=exp_times)
    dense = propagate_dense(seeds, boundary, beta=10, exp_times=exp_times)
    assert sparse.dtype == dense.dtype == torch.float32
    assert sparse.shape == (3, *size)
    # 256 float32 products vs 8 float32 squarings: rounding differs at ~1e-5 of the peak
    torch.testing.assert_close(sparse, dense, rtol=1e-4, atol=1e-4 * dense.abs().max().item())


def test_propagate_radius_and_beta_matter():
    seeds, boundary = _inputs(9, 11, seed=2)
    base = propagate_dense(seeds, boundary, beta=3, exp_times=2, radius=3)
    torch.testing.assert_close(
        propagate(seeds, boundary, beta=3, exp_times=2, radius=3), base, rtol=1e-4, atol=1e-6
    )
    assert not torch.allclose(propagate(seeds, boundary, beta=3, exp_times=2, radius=5), base)


def test_transition_matrix_columns_sum_to_one():
    _, boundary = _inputs(8, 7)
    a = dense_affinity(boundary, 5)
    assert a.shape == (56, 56)
    torch.testing.assert_close(a, a.T)
    assert torch.all(a.diagonal() == 1)
    t = transition_matrix(a, beta=10, exp_times=0)
    torch.testing.assert_close(t.sum(0), torch.ones(56))
    # the sparse operator is the transpose of the same matrix
    m = transition_operator(boundary, beta=10, radius=5).to_dense()
    torch.testing.assert_close(m.T, t, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(transition_matrix(a, 10, 2).sum(0), torch.ones(56))


def test_padding_is_block_diagonal():
    # Pairs touching the 1.0 padding have affinity 0, so cropping before or after normalising
    # gives the same interior block.
    _, boundary = _inputs(6, 7)
    r = 5
    full = dense_affinity(boundary, r, crop=False).view(6 + r, 7 + 2 * r, 6 + r, 7 + 2 * r)
    inside = torch.zeros(6 + r, 7 + 2 * r, dtype=torch.bool)
    inside[:6, r:-r] = True
    inside = inside.reshape(-1)
    flat = full.reshape(inside.numel(), inside.numel())
    assert torch.all(flat[inside][:, ~inside] == 0)
    assert torch.all(flat[~inside][:, inside] == 0)


def test_closed_wall_blocks_mass():
    h, w = 10, 12
    boundary = torch.zeros(h, w)
    boundary[:, 5] = 1.0  # vertical wall
    seeds = torch.zeros(2, h, w)
    seeds[0, 3, 1] = 1.0
    seeds[1, :, :5] = torch.rand(h, 5, generator=torch.Generator().manual_seed(0))
    out = propagate(seeds, boundary, exp_times=8)
    assert torch.all(out[:, :, 5:] == 0)
    assert torch.all(out[:, :, :5] > 0)
    dense = propagate_dense(seeds, boundary, exp_times=8)
    assert torch.all(dense[:, :, 5:] == 0)


def test_uniform_boundary_spreads():
    h = w = 31
    seeds = torch.zeros(1, h, w)
    seeds[0, 15, 15] = 1.0
    short = propagate(seeds, torch.zeros(h, w), exp_times=1)[0]
    # two steps of length < 5 reach distance < 10 only, near pixels get more than far ones
    assert short[15, 15] > short[15, 19] > short[15, 23] > 0
    assert short[15, 25] == 0 and short[0, 0] == 0
    long = propagate(seeds, torch.zeros(h, w), exp_times=8)[0]
    assert torch.all(long > 0)  # 256 steps reach every pixel
    assert long[15, 15] < 0.1 * short[15, 15]
    assert long[0, 0] > 0.1 * long[15, 15]


def test_propagate_no_classes_and_bad_inputs():
    out = propagate(torch.zeros(0, 4, 5), torch.zeros(4, 5))
    assert out.shape == (0, 4, 5)
    with pytest.raises(ValueError, match="seeds shape"):
        propagate(torch.zeros(2, 4, 5), torch.zeros(4, 6))
    with pytest.raises(ValueError, match="beta"):
        propagate(torch.zeros(2, 4, 5), torch.zeros(4, 5), beta=0)
    with pytest.raises(ValueError, match="radius"):
        propagate(torch.zeros(2, 4, 5), torch.zeros(4, 5), radius=1)


# --------------------------------------------------------------------------- pseudo-masks


def test_pseudo_mask_background_wins_where_scores_are_low():
    scores = np.zeros((1, 4, 4), np.float32)
    scores[0, :2] = 1.0  # top half strong
    scores[0, 2:] = 0.1  # bottom half weak (0.1 / 1.0 < 0.25)
    mask = pseudo_mask(scores, [6], (16, 16), sem_seg_bg=0.25)
    assert mask.dtype == np.uint8 and mask.shape == (16, 16)
    assert np.all(mask[:6] == 7)  # class id 6 -> label 7
    assert np.all(mask[11:] == 0)


def test_pseudo_mask_keys_mapping_and_crop():
    scores = np.zeros((2, 3, 4), np.float32)
    scores[0, :, :2] = 1.0
    scores[1, :, 2:] = 0.9
    mask = pseudo_mask(scores, [0, 14], (10, 13), sem_seg_bg=0.25)
    assert mask.shape == (10, 13)
    assert set(np.unique(mask)) == {1, 15}
    assert np.all(mask[:, :3] == 1) and np.all(mask[:, 9:] == 15)


def test_pseudo_mask_uses_global_max():
    # class b is uniformly weak; per-class normalisation would lift it to 1 and beat background
    scores = np.zeros((2, 4, 4), np.float32)
    scores[0, :, :2] = 1.0
    scores[1, :, 2:] = 0.2
    mask = pseudo_mask(scores, [2, 5], (16, 16), sem_seg_bg=0.25)
    assert np.all(mask[:, 10:] == 0)
    assert 6 not in np.unique(mask)
    norm = upsample_normalised(torch.from_numpy(scores), (16, 16))
    assert norm.max().item() == pytest.approx(1.0)
    assert norm[1].max().item() == pytest.approx(0.2)
    # lowering the background below 0.2 lets class 5 win there
    assert np.all(pseudo_mask_from_upsampled(norm, [2, 5], 0.1)[:, 10:] == 6)


def test_upsample_matches_bilinear_and_zero_guard():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(2, 5, 6, generator=g) * 3
    norm = upsample_normalised(s, (18, 22))
    ref = torch.nn.functional.interpolate(
        s[:, None], size=(20, 24), mode="bilinear", align_corners=False
    )[:, 0, :18, :22]
    torch.testing.assert_close(norm, ref / ref.max())
    zero = upsample_normalised(np.zeros((1, 3, 3), np.float32), (12, 12))
    assert torch.all(zero == 0)
    assert np.all(pseudo_mask(np.zeros((1, 3, 3), np.float32), [4], (12, 12)) == 0)
    assert np.all(pseudo_mask(np.zeros((0, 3, 3), np.float32), [], (12, 12)) == 0)
    with pytest.raises(ValueError, match="image_size"):
        upsample_normalised(s, (21, 22))
