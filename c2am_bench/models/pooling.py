"""Spatial pooling of class maps ``(B, K, H, W) -> (B, K)`` for the C2AM objective.

These are the aggregations the reference C2AM code tried (yiping-wang/c2am ``misc/torchutils.py``:
``mean_agg``, ``max_agg``, ``lse_agg``), plus a top-k mean. All are pure torch and differentiable.
"""

from __future__ import annotations

import math
from numbers import Real

import torch

from ..errors import ConfigError

POOLINGS = ("mean", "max", "lse", "topk")


def mean_pool(x: torch.Tensor) -> torch.Tensor:
    """Spatial mean. ``(B, K, H, W) -> (B, K)``."""
    return x.mean(dim=(-2, -1))


def max_pool(x: torch.Tensor) -> torch.Tensor:
    """Spatial max. ``(B, K, H, W) -> (B, K)``."""
    return x.flatten(-2).amax(dim=-1)


def lse_pool(x: torch.Tensor, r: float) -> torch.Tensor:
    """Log-sum-exp pooling ``(1/r) log sum_{h,w} exp(r x)``. ``(B, K, H, W) -> (B, K)``.

    As the reference ``lse_agg`` there is no ``- log(HW)`` term, so the result is ``>= max`` and
    tends to the max as ``r -> inf``. Computed with ``torch.logsumexp`` (no overflow).

    Raises:
        ConfigError: ``r`` (config key ``lse_r``) is not a positive finite number.
    """
    if not (math.isfinite(r) and r > 0):
        raise ConfigError(f"lse_r must be a positive finite number, got {r!r}")
    return torch.logsumexp(r * x.flatten(-2), dim=-1) / r


def topk_pool(x: torch.Tensor, fraction: float) -> torch.Tensor:
    """Mean of the ``ceil(fraction * H * W)`` largest values per map. ``(B, K, H, W) -> (B, K)``.

    ``fraction = 1`` is the mean; a fraction below ``1 / (H W)`` is the max.

    Raises:
        ConfigError: ``fraction`` (config key ``topk``) is not in ``(0, 1]``.
    """
    if not 0 < fraction <= 1:
        raise ConfigError(f"topk must be a fraction in (0, 1], got {fraction!r}")
    flat = x.flatten(-2)
    n = flat.shape[-1]
    # round() first so that e.g. 0.07 * 100 = 7.000000000000001 keeps 7 values, not 8.
    k = min(n, max(1, math.ceil(round(fraction * n, 6))))
    return flat.topk(k, dim=-1).values.mean(dim=-1)


def check_pooling(name: str, *, lse_r: float = 1.0, topk: float = 0.1) -> None:
    """Validate a pooling name and its parameters up front (at model build time).

    Raises:
        ConfigError: naming ``pooling``, ``lse_r`` or ``topk``.
    """
    if name not in POOLINGS:
        raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}; got {name!r}")
    if name == "lse" and not (isinstance(lse_r, Real) and math.isfinite(lse_r) and lse_r > 0):
        raise ConfigError(f"lse_r must be a positive finite number, got {lse_r!r}")
    if name == "topk" and not (isinstance(topk, Real) and 0 < topk <= 1):
        raise ConfigError(f"topk must be a fraction in (0, 1], got {topk!r}")


def pool(x: torch.Tensor, name: str, *, lse_r: float = 1.0, topk: float = 0.1) -> torch.Tensor:
    """Pool ``(B, K, H, W) -> (B, K)`` with the pooling called ``name`` (one of :data:`POOLINGS`).

    Args:
        x: Class maps ``(B, K, H, W)``.
        name: ``'mean'``, ``'max'``, ``'lse'`` or ``'topk'``.
        lse_r: Sharpness ``r`` of ``'lse'``.
        topk: Fraction of pixels averaged by ``'topk'``.

    Raises:
        ConfigError: unknown ``name`` (the message lists the valid ones) or bad parameter.
    """
    if name == "mean":
        return mean_pool(x)
    if name == "max":
        return max_pool(x)
    if name == "lse":
        return lse_pool(x, lse_r)
    if name == "topk":
        return topk_pool(x, topk)
    raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}; got {name!r}")
