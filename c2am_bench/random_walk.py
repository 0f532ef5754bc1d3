"""Inter-pixel relations: path indices, affinities from a boundary map and the random walk.

Pure torch/numpy re-derivation (from the prose of the design notes, b.6/b.7) of IRN's
``misc/indexing.py`` (``PathIndex``, ``edge_to_affinity``, ``to_transition_matrix``,
``propagate_to_edge``), ``voc12/dataloader.py::GetAffinityLabelFromIndices`` and the pseudo-mask
step of ``step/make_sem_seg_labels.py``.

The walk has two implementations with the same maths:

* :func:`propagate_dense` -- IRN's: a dense ``(hw, hw)`` affinity matrix, column-normalised and
  squared ``exp_times`` times (``T^(2^exp_times)``, 0.55 GB per matrix on a 125x94 grid);
* :func:`propagate` -- a sparse CSR transition operator (~69 non-zeros per row at radius 5)
  applied ``2^exp_times`` times to the ``(hw, C)`` seeds. ``x T^256`` is the same number whether
  ``T`` is squared eight times or applied 256 times; only float rounding differs.

References:
    * Ahn et al., "Weakly Supervised Learning of Instance Segmentation with Inter-pixel
      Relations", CVPR 2019, https://arxiv.org/abs/1904.05044 (IRN).
    * Ahn & Kwak, "Learning Pixel-level Semantic Affinity with Image-level Supervision",
      CVPR 2018, https://arxiv.org/abs/1803.10464 (the ``T^beta``/``t``-step walk).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    "PathIndex",
    "affinity_labels",
    "affinity_loss",
    "dense_affinity",
    "edge_to_affinity",
    "path_pixels",
    "propagate",
    "propagate_dense",
    "pseudo_mask",
    "pseudo_mask_from_upsampled",
    "radius_floor",
    "search_directions",
    "transition_matrix",
    "transition_operator",
    "upsample_normalised",
]

#: Added inside the logs of the affinity loss and to its denominators, as IRN does.
LOSS_EPS = 1e-5

# --------------------------------------------------------------------------- geometry


def radius_floor(radius: int) -> int:
    """Largest coordinate offset of a search direction: ``ceil(radius) - 1``."""
    return int(math.ceil(radius) - 1)


def _check_radius(radius: int) -> None:
    if int(radius) != radius or radius < 2:
        raise ValueError(f"radius={radius!r}: must be an integer >= 2")


def _enumerate_directions(radius: int) -> list[tuple[int, int]]:
    # Enumeration order before the sort: the row dy = 0 left to right, then dy = 1, 2, ...
    # each from dx = -(radius - 1) to radius - 1. One direction per unordered pixel pair.
    dirs = [(0, dx) for dx in range(1, radius)]
    for dy in range(1, radius):
        for dx in range(-radius + 1, radius):
            if dx * dx + dy * dy < radius * radius:
                dirs.append((dy, dx))
    return dirs


def path_pixels(dy: int, dx: int) -> list[tuple[int, int]]:
    """Grid points on the segment from ``(0, 0)`` to ``(dy, dx)`` (IRN's search path).

    A point ``(y, x)`` of the bounding box of the segment belongs to the path iff its
    perpendicular distance to the line through both endpoints is below 1, i.e.
    ``(dy * x - dx * y)^2 < dy^2 + dx^2`` (exact in integers). Both endpoints are included.

    Args:
        dy: Row offset of the destination.
        dx: Column offset of the destination.

    Returns:
        ``(y, x)`` offsets ordered as IRN: by decreasing ``|y| + |x|`` (stable), so the
        destination comes first and the source ``(0, 0)`` last.
    """
    if dy == 0 and dx == 0:
        raise ValueError("path_pixels: (dy, dx) must not be (0, 0)")
    length_sq = dy * dy + dx * dx
    pts = [
        (y, x)
        for y in range(min(0, dy), max(0, dy) + 1)
        for x in range(min(0, dx), max(0, dx) + 1)
        if (dy * x - dx * y) ** 2 < length_sq
    ]
    pts.sort(key=lambda p: -abs(p[0]) - abs(p[1]))
    return pts


def search_directions(radius: int) -> list[tuple[int, int]]:
    """Search directions of IRN's ``PathIndex``, in IRN's order.

    The set: ``(0, dx)`` with ``1 <= dx < radius`` and ``(dy, dx)`` with ``1 <= dy < radius``,
    ``|dx| < radius`` and ``dx^2 + dy^2 < radius^2`` (a half disc, so every unordered pixel pair
    appears once). The order: directions are grouped by the number of pixels on their path
    (:func:`path_pixels`), shortest first; within a group they keep the enumeration order (row
    ``dy = 0`` left to right, then ``dy = 1, 2, ...``, each from ``dx = -(radius - 1)`` upwards).
    It is neither a sort by Euclidean length ((1, -1) comes after (0, 2)) nor a raster order;
    it gives (0,1), (1,0), (0,2), (2,0), (0,3), (1,-1), ... for radius 10 (152 directions) and
    radius 5 (34 directions), as IRN.

    Args:
        radius: Search radius (IRN trains with 10 and walks with 5).

    Returns:
        ``[(dy, dx), ...]``.
    """
    _check_radius(radius)
    dirs = _enumerate_directions(int(radius))
    return sorted(dirs, key=lambda d: len(path_pixels(*d)))  # sorted() is stable


class PathIndex:
    """Source pixels, destinations and search paths on an ``(h, w)`` grid (IRN ``PathIndex``).

    Sources are the pixels whose every destination stays inside the grid: rows
    ``0 .. h - rf - 1`` and columns ``rf .. w - rf - 1`` with ``rf = radius_floor(radius)``
    (directions point down or right, so no margin is needed at the top). For radius 10 on
    128x128 that is the 119x110 interior, 13,090 sources. Sources are flattened row-major, and
    ``dst[d, s]`` is the destination of source ``s`` along direction ``d``.

    Paths are grouped by length as in IRN, so the maximum of a map along every path is one
    gather and one reduction per group. Instead of IRN's ``(n_paths, length, n_src)`` flat index
    arrays (≈180 MB of int64 at radius 10 on 128x128), each path pixel is stored as its position
    in the ``(rf + 1) x (2 rf + 1)`` window below/around a source; ``F.unfold`` with that window
    yields every source's window in the same row-major source order (see
    :func:`edge_to_affinity`). :meth:`path_indices` builds IRN's flat layout when needed.

    Args:
        radius: Search radius (integer >= 2).
        size: Grid size ``(h, w)``; needs ``h > rf`` and ``w > 2 rf``.

    Attributes:
        radius, radius_floor, size: As given / derived.
        directions: ``(n_dirs, 2)`` int64 ``(dy, dx)`` in :func:`search_directions` order.
        paths: Per path-length group, ``(n_g, L_g, 2)`` int64 path offsets, destination first.
        src_size: ``(h - rf, w - 2 rf)``, the source grid.
        src: ``(n_src,)`` int64 flat indices of the sources in the ``(h, w)`` grid.
        dst: ``(n_dirs, n_src)`` int64 flat indices of the destinations.
        window_tables: Per group, ``(n_g, L_g)`` int64 positions of the path pixels in the
            flattened unfold window.
    """

    def __init__(self, radius: int, size: tuple[int, int]) -> None:
        _check_radius(radius)
        self.radius = int(radius)
        self.radius_floor = rf = radius_floor(self.radius)
        h, w = (int(s) for s in size)
        if h <= rf or w <= 2 * rf:
            raise ValueError(
                f"size={tuple(size)}: need h > {rf} and w > {2 * rf} for radius {radius}"
            )
        self.size = (h, w)
        self.window_shape = (rf + 1, 2 * rf + 1)

        groups: dict[int, list[list[tuple[int, int]]]] = {}
        for d in search_directions(self.radius):
            p = path_pixels(*d)
            groups.setdefault(len(p), []).append(p)
        self.paths = [np.asarray(groups[n], dtype=np.int64) for n in sorted(groups)]
        self.directions = np.concatenate([p[:, 0] for p in self.paths], axis=0)
        win_w = self.window_shape[1]
        self.window_tables = [p[..., 0] * win_w + (p[..., 1] + rf) for p in self.paths]

        self.src_size = (h - rf, w - 2 * rf)
        full = np.arange(h * w, dtype=np.int64).reshape(h, w)
        self.src = full[: h - rf, rf : w - rf].reshape(-1)
        self.dst = self.src[None, :] + self.directions[:, :1] * w + self.directions[:, 1:]
        self._tables_on: dict[torch.device, list[torch.Tensor]] = {}

    @property
    def n_dirs(self) -> int:
        """Number of search directions."""
        return int(self.directions.shape[0])

    @property
    def n_src(self) -> int:
        """Number of source pixels."""
        return int(self.src.size)

    def path_indices(self) -> list[np.ndarray]:
        """IRN's layout: per group, ``(n_g, L_g, n_src)`` flat indices of the path pixels."""
        w = self.size[1]
        return [self.src[None, None, :] + (p[..., :1] * w + p[..., 1:]) for p in self.paths]

    def tables(self, device: torch.device | str) -> list[torch.Tensor]:
        """:attr:`window_tables` as tensors on ``device`` (cached per device)."""
        device = torch.device(device)
        if device not in self._tables_on:
            self._tables_on[device] = [
                torch.as_tensor(t, device=device) for t in self.window_tables
            ]
        return self._tables_on[device]


def edge_to_affinity(boundary: torch.Tensor, path_index: PathIndex) -> torch.Tensor:
    """Affinity ``a = 1 - max(boundary along the path)`` for every (direction, source).

    Differentiable w.r.t. ``boundary`` (the gradient of each maximum goes to one pixel, as with
    IRN's ``max_pool2d``).

    Args:
        boundary: ``(h, w)`` or ``(B, h, w)`` boundary probabilities in ``[0, 1]`` on the
            ``path_index.size`` grid.
        path_index: The grid's :class:`PathIndex`.

    Returns:
        ``(n_dirs, n_src)`` or ``(B, n_dirs, n_src)`` affinities in ``[0, 1]``.
    """
    b = torch.as_tensor(boundary)
    if not b.is_floating_point():
        b = b.float()
    if b.ndim not in (2, 3) or tuple(b.shape[-2:]) != path_index.size:
        raise ValueError(
            f"boundary shape {tuple(b.shape)} must be (h, w) or (B, h, w) with (h, w) = "
            f"{path_index.size}"
        )
    batched = b.ndim == 3
    b4 = b.reshape(-1, 1, *path_index.size)
    windows = F.unfold(b4, kernel_size=path_index.window_shape)  # (B, K, n_src), row-major src
    # index_select, not windows[:, t]: the backward of advanced indexing accumulates with parallel
    # atomic adds on a multi-threaded CPU, so the same batch gave a different gradient on every
    # call and no two boundary-net trainings matched; index_select's backward is deterministic.
    affs = [
        1 - windows.index_select(1, t.reshape(-1)).unflatten(1, tuple(t.shape)).max(dim=2).values
        for t in path_index.tables(b.device)
    ]
    aff = torch.cat(affs, dim=1)
    return aff if batched else aff[0]


def affinity_labels(
    label_map, path_index: PathIndex, ignore_index: int = 255
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pair labels from an IR-label map (IRN ``GetAffinityLabelFromIndices``).

    A pair (source, destination) is valid iff neither label is ``ignore_index`` (IRN tests
    ``< 21``, the same for VOC maps whose values are 0..20 or 255).

    Args:
        label_map: ``(h, w)`` integer map on the ``path_index.size`` grid: 0 background,
            ``1..K`` classes, ``ignore_index`` unknown (numpy or torch).
        path_index: The grid's :class:`PathIndex`.
        ignore_index: Label of unknown pixels.

    Returns:
        ``(bg_pos, fg_pos, neg)``, each ``(n_dirs, n_src)`` float32 numpy in {0, 1}:
        same label and background; same label and foreground; different labels (both valid).
    """
    if isinstance(label_map, torch.Tensor):
        label_map = label_map.detach().cpu().numpy()
    lab = np.asarray(label_map)
    if lab.shape != path_index.size:
        raise ValueError(f"label_map shape {lab.shape} != path index size {path_index.size}")
    flat = lab.reshape(-1).astype(np.int64)
    frm = flat[path_index.src][None, :]
    to = flat[path_index.dst]
    valid = (frm != ignore_index) & (to != ignore_index)
    equal = (frm == to) & valid
    bg_pos = (equal & (frm == 0)).astype(np.float32)
    fg_pos = (equal & (frm != 0)).astype(np.float32)
    neg = (~(frm == to) & valid).astype(np.float32)
    return bg_pos, fg_pos, neg


def affinity_loss(
    aff: torch.Tensor, bg_pos: torch.Tensor, fg_pos: torch.Tensor, neg: torch.Tensor
) -> dict[str, torch.Tensor]:
    """IRN's class-balanced affinity loss (b.6), without the displacement branch.

    ``pos = -log(a + eps)``, ``neg = -log(1 + eps - a)``;
    ``L_pos = 1/2 sum(bg_pos pos) / (sum bg_pos + eps) + 1/2 sum(fg_pos pos) / (sum fg_pos + eps)``,
    ``L_neg = sum(neg_lbl neg) / (sum neg_lbl + eps)``, ``total = (L_pos + L_neg) / 2``, with
    ``eps = 1e-5`` and sums over every element (the whole batch, as IRN).

    Args:
        aff: Affinities ``(n_dirs, n_src)`` or ``(B, n_dirs, n_src)``.
        bg_pos, fg_pos, neg: Pair labels of the same shape (see :func:`affinity_labels`).

    Returns:
        ``{"pos": L_pos, "neg": L_neg, "total": (L_pos + L_neg) / 2}`` (scalars).
    """
    bg_pos, fg_pos, neg = (
        torch.as_tensor(t, dtype=aff.dtype, device=aff.device) for t in (bg_pos, fg_pos, neg)
    )
    for name, t in (("bg_pos", bg_pos), ("fg_pos", fg_pos), ("neg", neg)):
        if t.shape != aff.shape:
            raise ValueError(f"{name} shape {tuple(t.shape)} != aff shape {tuple(aff.shape)}")
    pos_term = -torch.log(aff + LOSS_EPS)
    neg_term = -torch.log(1.0 + LOSS_EPS - aff)
    bg = (bg_pos * pos_term).sum() / (bg_pos.sum() + LOSS_EPS)
    fg = (fg_pos * pos_term).sum() / (fg_pos.sum() + LOSS_EPS)
    l_pos = 0.5 * bg + 0.5 * fg
    l_neg = (neg * neg_term).sum() / (neg.sum() + LOSS_EPS)
    return {"pos": l_pos, "neg": l_neg, "total": (l_pos + l_neg) / 2}


# --------------------------------------------------------------------------- the random walk


@lru_cache(maxsize=8)
def _walk_plan(h: int, w: int, radius: int):
    """Everything of the walk on an ``(h, w)`` map that depends only on its size.

    Returns the padded grid's :class:`PathIndex` and the CSR structure of the one-step
    operator: the neighbour offsets of a node (``(0, 0)``, every direction ``d`` and ``-d``)
    sorted so that column indices increase along a row, the flat positions in the ``(n, K)``
    neighbour grid of the neighbours inside the map, and the int32 ``crow``/``col`` arrays.
    """
    r = radius
    pi = PathIndex(r, (h + r, w + 2 * r))
    offsets = np.concatenate([np.zeros((1, 2), np.int64), pi.directions, -pi.directions])
    order = np.lexsort((offsets[:, 1], offsets[:, 0]))  # by (dy, dx) = by flat offset
    offsets = offsets[order].astype(np.int32)
    if h * w * (len(order) + 1) >= 2**31:
        raise ValueError(f"map {(h, w)} too large for int32 sparse indices")
    y, x = np.divmod(np.arange(h * w, dtype=np.int32), np.int32(w))
    ny, nx = y[:, None] + offsets[:, 0], x[:, None] + offsets[:, 1]
    valid = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
    crow = np.zeros(h * w + 1, dtype=np.int32)
    np.cumsum(valid.sum(1, dtype=np.int32), out=crow[1:])
    ny *= np.int32(w)
    ny += nx
    cols = ny[valid]
    keep = np.flatnonzero(valid.reshape(-1)).astype(np.int32)  # CSR entries in the (n, K) grid
    return pi, order, keep, crow, cols


def _pad_boundary(boundary: torch.Tensor, radius: int) -> torch.Tensor:
    # IRN pads with 1.0: `radius` columns left and right, `radius` rows at the bottom, none at
    # the top (directions never point up). Every pair touching the pad then has affinity 0.
    return F.pad(boundary[None, None], (radius, radius, 0, radius), value=1.0)[0, 0]


def _check_walk_inputs(seeds, boundary, beta, exp_times, radius):
    seeds = torch.as_tensor(seeds)
    boundary = torch.as_tensor(boundary)
    if boundary.ndim != 2:
        raise ValueError(f"boundary shape {tuple(boundary.shape)} must be (h, w)")
    if seeds.ndim != 3 or seeds.shape[1:] != boundary.shape:
        raise ValueError(
            f"seeds shape {tuple(seeds.shape)} must be (C, h, w) with (h, w) = "
            f"{tuple(boundary.shape)} of the boundary"
        )
    if not beta > 0:
        raise ValueError(f"beta={beta!r}: must be > 0")
    if int(exp_times) != exp_times or exp_times < 0:
        raise ValueError(f"exp_times={exp_times!r}: must be an integer >= 0")
    _check_radius(radius)
    return seeds, boundary


def dense_affinity(boundary: torch.Tensor, radius: int = 5, *, crop: bool = True) -> torch.Tensor:
    """IRN's dense symmetric affinity matrix of the walk (``affinity_sparse2dense``).

    ``A_ij = A_ji = 1 - max(boundary along the path)`` for searched pairs on the padded grid,
    ``A_ii = 1``, 0 elsewhere; then (``crop=True``) cropped to the interior.

    Args:
        boundary: ``(h, w)`` boundary probabilities in ``[0, 1]``.
        radius: Search radius.
        crop: Crop to the ``h w`` interior nodes (IRN); ``False`` returns the padded matrix.

    Returns:
        ``(h w, h w)`` (or ``(hp wp, hp wp)``, ``hp = h + radius``, ``wp = w + 2 radius``).
    """
    b = torch.as_tensor(boundary)
    b = b if b.is_floating_point() else b.float()
    h, w = b.shape
    r = int(radius)
    hp, wp = h + r, w + 2 * r
    pi = PathIndex(r, (hp, wp))
    aff = edge_to_affinity(_pad_boundary(b, r), pi)
    src = torch.as_tensor(np.broadcast_to(pi.src[None, :], pi.dst.shape).reshape(-1))
    src, dst = src.to(aff.device), torch.as_tensor(pi.dst.reshape(-1), device=aff.device)
    n = hp * wp
    a = torch.zeros(n, n, dtype=aff.dtype, device=aff.device)
    a[src, dst] = aff.reshape(-1)
    a[dst, src] = aff.reshape(-1)
    a.diagonal().fill_(1.0)
    if not crop:
        return a
    a = a.view(hp, wp, hp, wp)[:-r, r:-r, :-r, r:-r]
    return a.reshape(h * w, h * w)


def transition_matrix(affinity: torch.Tensor, beta: float = 10, exp_times: int = 8) -> torch.Tensor:
    """IRN's ``to_transition_matrix``: ``T = A^beta`` column-normalised, squared ``exp_times``x.

    Args:
        affinity: ``(n, n)`` dense affinity (see :func:`dense_affinity`).
        beta: Elementwise exponent.
        exp_times: Number of squarings; returns ``T^(2^exp_times)``.

    Returns:
        ``(n, n)``; with ``exp_times = 0`` every column sums to 1.
    """
    t = torch.pow(affinity, beta)
    t = t / torch.sum(t, dim=0, keepdim=True)
    for _ in range(int(exp_times)):
        t = t @ t
    return t


def transition_operator(
    boundary: torch.Tensor, *, beta: float = 10, radius: int = 5, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The walk's one-step operator ``M = T^T`` as a sparse CSR matrix (``T`` as IRN's).

    ``T_ij = A_ij^beta / sum_k A_kj^beta`` is column-stochastic; ``M = T^T`` is row-stochastic
    (row ``j`` averages the neighbours of ``j`` with weights ``A_ij^beta``) and ``x T = (M x^T)^T``
    for a row vector ``x``. The sparsity pattern is fixed by the map size (every in-map pair
    within the radius and the diagonal, cached per size); weights that are 0 (e.g. across a
    boundary of 1) are stored as zeros. Built without any ``(hw)^2`` array: the weights are
    computed as a ``(K, h, w)`` stencil (``K = 2 n_dirs + 1``), normalised, and compacted.

    Args:
        boundary: ``(h, w)`` boundary probabilities in ``[0, 1]``.
        beta: Elementwise exponent of the affinities.
        radius: Search radius.
        dtype: Floating dtype of the values.

    Returns:
        ``(h w, h w)`` sparse CSR tensor in ``dtype`` on ``boundary``'s device.
    """
    b = torch.as_tensor(boundary).to(dtype)
    h, w = (int(v) for v in b.shape)
    r = int(radius)
    pi, order, keep, crow, cols = _walk_plan(h, w, r)
    dev = b.device
    with torch.no_grad():
        # Interior sources are rows 0..h-1, columns 1..w of the padded grid's (h+1, w+2) source
        # grid. p[d, y, x] = a^beta of the pair ((y, x), (y, x) + d); it is 0 when the
        # destination leaves the map (the pad's 1.0 is on the path), as in IRN.
        aff = edge_to_affinity(_pad_boundary(b, r), pi)
        p = torch.pow(aff.view(-1, h + 1, w + 2)[:, :h, 1 : w + 1], beta)
        # the same pairs seen from the destination: minus[d, y, x] = p[d, (y, x) - d]
        pp = F.pad(p, (r, r, r, r))
        minus = torch.stack(
            [
                pp[k, r - dy : r - dy + h, r - dx : r - dx + w]
                for k, (dy, dx) in enumerate(pi.directions.tolist())
            ]
        )
        stencil = torch.cat([torch.ones(1, h, w, dtype=p.dtype, device=dev), p, minus])
        del aff, p, pp, minus
        stencil = stencil[torch.as_tensor(order, device=dev)].reshape(len(order), h * w)
        # A is symmetric, so its column sums are its row sums: deg_j = sum_k A_kj^beta.
        stencil /= stencil.sum(0, keepdim=True)
        weights = stencil.t().contiguous()  # (n, K): row j of T^T in column order
        del stencil
        vals = weights.view(-1).index_select(0, torch.as_tensor(keep, device=dev))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            return torch.sparse_csr_tensor(
                torch.as_tensor(crow, device=dev),
                torch.as_tensor(cols, device=dev),
                vals,
                (h * w, h * w),
                check_invariants=False,
            )


def propagate(
    seeds: torch.Tensor,
    boundary: torch.Tensor,
    *,
    beta: float = 10,
    exp_times: int = 8,
    radius: int = 5,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Random walk of the seeds over the boundary map (IRN ``propagate_to_edge``), sparse.

    The maths of IRN (b.7): the boundary is padded with 1.0 (``radius`` columns left and right,
    ``radius`` rows at the bottom); pairs within ``radius`` on the padded grid (:class:`PathIndex`,
    34 directions at radius 5) get ``a_ij = 1 - max`` of the padded boundary along the path; ``A``
    is symmetric with unit diagonal, **cropped to the interior, then** raised to ``beta``
    elementwise and column-normalised (``T_ij = A_ij^beta / sum_k A_kj^beta``, the sum over
    interior nodes) -- our reading of "built on the padded grid, then cropped to the interior"
    followed by "Transition matrix: ...". The order does not change the result: a pair touching
    the pad has affinity exactly 0 (its path contains a pad pixel of value 1) and paths never
    leave the pair's bounding box, so ``A`` is block-diagonal between interior and pad and the
    padding has no effect at all. Seeds are multiplied by ``1 - boundary`` and
    ``r_c[j] = sum_i x_c[i] (T^(2^exp_times))_ij``.

    Here ``T^T`` is a sparse CSR matrix (:func:`transition_operator`) applied ``2^exp_times``
    times to the ``(h w, C)`` seeds instead of squaring a dense ``(h w)^2`` matrix: 256
    products with ~69 non-zeros per row instead of 8 dense ``O((hw)^3)`` squarings.

    Args:
        seeds: ``(C, h, w)`` non-negative seed scores (IRN: the strided ``cam`` of the image's
            classes, no background channel).
        boundary: ``(h, w)`` boundary probabilities in ``[0, 1]``.
        beta: Affinity exponent (IRN 10).
        exp_times: The walk has ``2^exp_times`` steps (IRN 8 -> 256).
        radius: Search radius (IRN 5).
        dtype: Computation dtype (float32 as IRN; float64 for a tight comparison).

    Returns:
        ``(C, h, w)`` propagated scores in ``dtype`` on the seeds' device.
    """
    seeds, boundary = _check_walk_inputs(seeds, boundary, beta, exp_times, radius)
    c, h, w = seeds.shape
    b = boundary.to(device=seeds.device, dtype=dtype)
    x = (seeds.to(dtype) * (1 - b)).reshape(c, h * w)
    if c == 0:
        return x.reshape(c, h, w)
    m = transition_operator(b, beta=beta, radius=radius, dtype=dtype)
    y = x.t().contiguous()  # (hw, C)
    with torch.no_grad():
        for _ in range(2 ** int(exp_times)):
            y = torch.sparse.mm(m, y)
    return y.t().reshape(c, h, w).contiguous()


def propagate_dense(
    seeds: torch.Tensor,
    boundary: torch.Tensor,
    *,
    beta: float = 10,
    exp_times: int = 8,
    radius: int = 5,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """IRN's dense random walk, literally: the oracle for :func:`propagate` (same maths).

    Builds :func:`dense_affinity` on the padded grid, crops it, then
    :func:`transition_matrix` (``A^beta``, column-normalise, square ``exp_times`` times) and
    ``r = (seeds (1 - boundary)) T^(2^exp_times)``. Memory ``O((hw)^2)``: 0.55 GB per matrix at
    125x94 in float32.

    Args:
        seeds: ``(C, h, w)`` non-negative seed scores.
        boundary: ``(h, w)`` boundary probabilities in ``[0, 1]``.
        beta: Affinity exponent.
        exp_times: Number of squarings of ``T``.
        radius: Search radius.
        dtype: Computation dtype (IRN: float32); float64 gives a tighter oracle.

    Returns:
        ``(C, h, w)`` propagated scores in ``dtype``.
    """
    seeds, boundary = _check_walk_inputs(seeds, boundary, beta, exp_times, radius)
    c, h, w = seeds.shape
    b = boundary.to(device=seeds.device, dtype=dtype)
    with torch.no_grad():
        a = dense_affinity(b, radius).to(dtype)
        t = transition_matrix(a, beta, exp_times)
        x = (seeds.to(dtype) * (1 - b)).reshape(c, h * w)
        return (x @ t).reshape(c, h, w)


# --------------------------------------------------------------------------- pseudo-masks


def upsample_normalised(scores, image_size: tuple[int, int]) -> torch.Tensor:
    """Walk scores to image resolution, divided by their global maximum (IRN b.7).

    Bilinear x4 (``align_corners=False``), cropped to ``image_size``, divided by the maximum
    over all classes and pixels (not per class); an all-zero input stays zero.

    Args:
        scores: ``(C, h, w)`` walk output at stride 4 (numpy or torch).
        image_size: ``(H, W)`` with ``H <= 4 h`` and ``W <= 4 w``.

    Returns:
        ``(C, H, W)`` float32 tensor in ``[0, 1]`` (for non-negative scores).
    """
    s = torch.as_tensor(np.asarray(scores) if not isinstance(scores, torch.Tensor) else scores)
    s = s.float()
    if s.ndim != 3:
        raise ValueError(f"scores shape {tuple(s.shape)} must be (C, h, w)")
    hh, ww = (int(v) for v in image_size)
    if hh > 4 * s.shape[1] or ww > 4 * s.shape[2]:
        raise ValueError(f"image_size {(hh, ww)} exceeds 4x the score map {tuple(s.shape[1:])}")
    if s.shape[0] == 0:
        return s.new_zeros((0, hh, ww))
    up = F.interpolate(s[None], scale_factor=4, mode="bilinear", align_corners=False)[0]
    up = up[:, :hh, :ww]
    peak = up.max()
    return up / peak if peak > 0 else up


def pseudo_mask_from_upsampled(norm, keys: Sequence[int], sem_seg_bg: float = 0.25) -> np.ndarray:
    """Label map from :func:`upsample_normalised` scores (reuse it to sweep ``sem_seg_bg``).

    Args:
        norm: ``(C, H, W)`` normalised scores of the classes ``keys`` (numpy or torch).
        keys: ``(C,)`` 0-based foreground class ids.
        sem_seg_bg: Constant background score prepended as plane 0.

    Returns:
        ``(H, W)`` uint8: argmax over ``[sem_seg_bg; norm]`` (first maximum on ties) mapped
        through ``[0, keys + 1]``.
    """
    if isinstance(norm, torch.Tensor):
        norm = norm.detach().cpu().numpy()
    norm = np.asarray(norm, dtype=np.float32)
    keys = np.asarray(keys, dtype=np.int64).reshape(-1)
    if norm.ndim != 3 or norm.shape[0] != keys.size:
        raise ValueError(f"scores shape {norm.shape} must be (C, H, W) with C = len(keys)")
    bg = np.full((1, *norm.shape[1:]), sem_seg_bg, dtype=np.float32)
    idx = np.argmax(np.concatenate([bg, norm], axis=0), axis=0)
    lut = np.concatenate([[0], keys + 1]).astype(np.uint8)
    return lut[idx]


def pseudo_mask(
    scores, keys: Sequence[int], image_size: tuple[int, int], sem_seg_bg: float = 0.25
) -> np.ndarray:
    """Pseudo-mask of one image from its walk scores (IRN ``make_sem_seg_labels``).

    Args:
        scores: ``(C, h, w)`` output of :func:`propagate` for the classes ``keys``.
        keys: ``(C,)`` 0-based foreground class ids.
        image_size: ``(H, W)`` of the image.
        sem_seg_bg: Background score (IRN 0.25).

    Returns:
        ``(H, W)`` uint8 labels: 0 background, ``k + 1`` for class ``k``.
    """
    return pseudo_mask_from_upsampled(upsample_normalised(scores, image_size), keys, sem_seg_bg)
