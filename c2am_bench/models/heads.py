"""Classification heads for CAM, CAM+Constant and Causal CAM (C2AM).

All three heads share one parameter, the bias-free 1x1 classifier ``W`` (``classifier.weight``,
``(K, C, 1, 1)``), so a checkpoint of any of them loads into any other. They differ only in the
score ``s_hat`` fed to the multi-label loss during training; the CAM used at inference is always
``ReLU(W * f)`` and never sees the global CAM or the constants.

References:
    CAM: Zhou et al., "Learning Deep Features for Discriminative Localization", CVPR 2016,
    https://arxiv.org/abs/1512.04150.
    C2AM: Wang et al., "Causal Class Activation Maps for Weakly-Supervised Semantic Segmentation",
    https://github.com/yiping-wang/c2am (code and technical report).
"""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmseg.registry import MODELS
from torch import nn

from ..errors import ConfigError, UndertrainedError
from .pooling import check_pooling, pool

AGGREGATIONS = {"all": "all", "class": "by_class"}  # config value -> array name in the .npz
FORMULATIONS = ("code", "paper", "spatial")
_EPS = 1e-6


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


def _positive_float(name: str, value: object) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, got {value!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return value


@MODELS.register_module()
class CAMHead(BaseModule):
    """Baseline CAM head: global average pooling, then a bias-free 1x1 classifier.

    Zhou et al., CVPR 2016 (https://arxiv.org/abs/1512.04150); the IRN/ReCAM ``Net`` head.
    Trained with BCE-with-logits (mean over ``B x K``) on the raw logits.

    Args:
        in_channels: Feature channels ``C`` of the backbone output.
        num_classes: Number of foreground classes ``K``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, in_channels: int, num_classes: int, init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        self.in_channels = _positive_int("in_channels", in_channels)
        self.num_classes = _positive_int("num_classes", num_classes)
        self.classifier = nn.Conv2d(in_channels, num_classes, 1, bias=False)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """Image-level logits ``s``: ``(B, C, h, w) -> (B, K)`` (GAP first, then the 1x1 conv)."""
        return self.classifier(feats.mean(dim=(2, 3), keepdim=True)).flatten(1)

    def activation_map(self, feats: torch.Tensor) -> torch.Tensor:
        """Class activation map before ReLU, ``W * f``: ``(B, C, h, w) -> (B, K, h, w)``."""
        return self.classifier(feats)

    def cam(self, feats: torch.Tensor) -> torch.Tensor:
        """The CAM used at inference, ``ReLU(W * f)``: ``(B, C, h, w) -> (B, K, h, w)``."""
        return F.relu(self.activation_map(feats))

    def train_logits(self, feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Scores ``s_hat`` ``(B, K)`` fed to BCE-with-logits; the identity for plain CAM."""
        return logits

    def loss(self, feats: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Multi-label loss.

        Args:
            feats: Backbone features ``(B, C, h, w)``.
            labels: Multi-hot image labels ``(B, K)`` in ``{0, 1}``.

        Returns:
            ``dict(loss_cls=...)``: BCE-with-logits on :meth:`train_logits`, mean over ``B x K``.
        """
        # float32 scores: under CPU bfloat16 autocast (c2am_bench.precision) the head computes
        # in bfloat16, and the loss needs the logits at full precision.
        scores = self.train_logits(feats, self(feats).float())
        return dict(loss_cls=F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype)))


@MODELS.register_module()
class ConstantCAMHead(CAMHead):
    """CAM+Constant: the logits are multiplied by one fixed scalar before the loss.

    ``s_hat = constant * s``. The control for C2AM (yiping-wang/c2am ``train_c3am.py``, constant
    0.2): C2AM with mean pooling is a per-class version of this scaling.

    Args:
        in_channels: Feature channels ``C``.
        num_classes: Number of classes ``K``.
        constant: The positive logit scale ``gamma``.
        init_cfg: mmengine initialisation config.
    """

    def __init__(self, in_channels: int, num_classes: int, constant: float = 0.2,
                 init_cfg: dict | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, num_classes, init_cfg)
        self.constant = _positive_float("constant", constant)

    def train_logits(self, feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """``constant * s``: ``(B, K)``."""
        return self.constant * logits


def load_global_cam(global_cam, aggregation: str = "all") -> torch.Tensor:
    """Read a Global CAM ``G`` ``(K, S, S)`` from an ``.npz`` path or take an array as is.

    Args:
        global_cam: Path to an ``.npz`` with arrays ``all`` and ``by_class`` (``(K, S, S)``), or a
            numpy array / tensor / nested list ``(K, S, S)`` (``aggregation`` is then ignored).
        aggregation: ``'all'`` (mean over all images) or ``'class'`` (mean over images that
            contain the class); picks the array of the ``.npz``.

    Raises:
        ConfigError: naming ``global_cam`` and the file when the file or array is missing/bad.
    """
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"aggregation must be one of {', '.join(AGGREGATIONS)}; "
                          f"got {aggregation!r}")  # fmt: skip
    source = "global_cam"
    if isinstance(global_cam, str | os.PathLike):
        path = Path(global_cam)
        source = f"global_cam file {path}"
        if not path.is_file():
            raise ConfigError(f"{source} does not exist")
        key = AGGREGATIONS[aggregation]
        try:
            with np.load(path, allow_pickle=False) as data:
                if key not in data.files:
                    raise ConfigError(f"{source} has no array {key!r} (needed by aggregation="
                                      f"{aggregation!r}); it has {sorted(data.files)}")  # fmt: skip
                array = data[key]
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{source} is not a readable .npz: {exc}") from None
    elif isinstance(global_cam, torch.Tensor):
        array = global_cam.detach().cpu().numpy()
    elif isinstance(global_cam, np.ndarray | list | tuple):
        array = global_cam
    else:
        raise ConfigError(f"global_cam must be an .npz path or a (K, S, S) array, "
                          f"got {type(global_cam).__name__}")  # fmt: skip
    try:
        g = torch.as_tensor(np.asarray(array, dtype=np.float32))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source} is not a numeric array: {exc}") from None
    if g.ndim != 3:
        raise ConfigError(f"{source} must have 3 dims (K, S, S), got shape {tuple(g.shape)}")
    if not torch.isfinite(g).all():
        raise ConfigError(f"{source} contains NaN or infinite values")
    if (g < 0).any():
        raise ConfigError(f"{source} contains negative values (min {g.min().item():.4g})")
    return g


def _global_cam_class_names(global_cam, num_classes: int) -> list[str] | None:
    """Class names from the ``<stem>.json`` summary written beside a Global CAM ``.npz``."""
    if not isinstance(global_cam, str | os.PathLike):
        return None
    try:
        names = json.loads(Path(global_cam).with_suffix(".json").read_text()).get("class_names")
    except (OSError, ValueError, AttributeError):
        return None
    ok = isinstance(names, list) and len(names) == num_classes
    return [str(n) for n in names] if ok else None


@MODELS.register_module()
class C2AMHead(CAMHead):
    """Causal CAM (C2AM) head: logits are intervened on with a Global CAM ``G`` before the loss.

    Wang et al., "Causal Class Activation Maps for Weakly-Supervised Semantic Segmentation"
    (https://github.com/yiping-wang/c2am). ``G`` ``(K, S, S)`` is fixed (built offline from a
    pre-trained CAM net). Three formulations of the training score:

    * ``'code'`` (default; what the reference trains): ``P = gamma * s_z * G_z`` ``(B, K, S, S)``,
      ``s_hat = Pool(P)``, BCE-with-logits. With mean pooling this is exactly the per-class logit
      scale ``s_hat_z = c_z * s_z``, ``c_z = gamma * mean(G_z)`` (:meth:`per_class_constant`), and
      for any pooling the spatial layout of ``G`` is irrelevant because ``s`` is spatially constant.
    * ``'paper'`` (Appendix B made runnable): ``q = clamp(Pool(gamma * sigmoid(s_z) * G_z))``,
      BCE on the probabilities ``q``.
    * ``'spatial'``: ``P = gamma * A * G`` with ``A`` the pre-ReLU activation map bilinearly
      resized to ``S x S``, ``s_hat = Pool(P)``, BCE-with-logits; here the layout of ``G`` matters.

    ``G`` is a *non-persistent* buffer: it is an input file, not a weight, so the state dict holds
    only ``classifier.weight`` and a fine-tuned C2AM checkpoint loads into a plain :class:`CAMHead`.

    Args:
        in_channels: Feature channels ``C``.
        num_classes: Number of classes ``K``.
        global_cam: ``.npz`` path (arrays ``all`` and ``by_class``) or array ``(K, S, S)``, >= 0.
        aggregation: ``'all'`` -> ``G^all``, ``'class'`` -> ``G^cls`` (ignored for an array).
        gamma: Positive scale ``gamma`` (the reference's ``agg_smooth_r`` / ``gamma``).
        pooling: ``'mean'``, ``'max'``, ``'lse'`` or ``'topk'`` (see :mod:`.pooling`).
        lse_r: Sharpness of ``'lse'`` pooling.
        topk: Pixel fraction of ``'topk'`` pooling.
        formulation: ``'code'``, ``'paper'`` or ``'spatial'``.
        init_cfg: mmengine initialisation config.

    Raises:
        ConfigError: a bad argument, or a class whose ``G_z`` is all zero (no training image of
            it): its ``c_z`` would be 0 and its weights would never train. The message names the
            class, from the ``<stem>.json`` written beside the ``.npz``.
    """

    def __init__(self, in_channels: int, num_classes: int, global_cam, *, aggregation: str = "all",
                 gamma: float = 1.0, pooling: str = "mean", lse_r: float = 1.0, topk: float = 0.1,
                 formulation: str = "code", init_cfg: dict | None = None) -> None:  # fmt: skip
        super().__init__(in_channels, num_classes, init_cfg)
        self.gamma = _positive_float("gamma", gamma)
        check_pooling(pooling, lse_r=lse_r, topk=topk)
        if formulation not in FORMULATIONS:
            raise ConfigError(f"formulation must be one of {', '.join(FORMULATIONS)}; "
                              f"got {formulation!r}")  # fmt: skip
        self.pooling, self.lse_r, self.topk, self.formulation = pooling, lse_r, topk, formulation
        self.aggregation = aggregation
        g = load_global_cam(global_cam, aggregation)
        if g.shape[0] != num_classes:
            raise ConfigError(f"global_cam has {g.shape[0]} classes (shape {tuple(g.shape)}) but "
                              f"num_classes is {num_classes}")  # fmt: skip
        empty = (g.flatten(1).amax(dim=1) == 0).nonzero().flatten().tolist()
        if empty:
            # Such a class gets c_z = 0: its loss is constant and its weights never train, so a
            # C2AM run would silently report a CAM-less class. Refuse, naming the class.
            names = _global_cam_class_names(global_cam, num_classes)
            shown = ", ".join(f"{names[z]!r} (index {z})" if names else f"index {z}"
                              for z in empty)  # fmt: skip
            is_file = isinstance(global_cam, str | os.PathLike)
            where = f"global_cam file {global_cam}" if is_file else "global_cam"
            raise UndertrainedError(
                f"{where} is all zero for class {shown}: no training image of it (or its CAM is "
                "zero on all of them), so C2AM cannot train it; build the Global CAM from a "
                "split where every class appears"
            )
        self.register_buffer("global_cam", g, persistent=False)

    def per_class_constant(self) -> torch.Tensor:
        """Effective per-class logit scale ``c_z = gamma * mean_{h,w} G_z``: ``(K,)``."""
        return self.gamma * self.global_cam.mean(dim=(1, 2))

    def _pool(self, maps: torch.Tensor) -> torch.Tensor:
        return pool(maps, self.pooling, lse_r=self.lse_r, topk=self.topk)

    def train_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """Paper formulation: ``q = Pool(gamma * sigmoid(s) * G)`` clamped to ``[1e-6, 1 - 1e-6]``.

        ``(B, K) -> (B, K)``.
        """
        g = self.global_cam.to(logits.dtype)
        q = self._pool(self.gamma * torch.sigmoid(logits)[:, :, None, None] * g)
        return q.clamp(_EPS, 1 - _EPS)

    def train_logits(self, feats: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """Intervened scores ``s_hat`` ``(B, K)`` (for ``'paper'``: ``logit(q)``, for monitoring).

        Args:
            feats: Backbone features ``(B, C, h, w)`` (used by ``'spatial'`` only).
            logits: Image-level logits ``s`` ``(B, K)`` from :meth:`forward`.
        """
        g = self.global_cam.to(logits.dtype)
        if self.formulation == "code":
            if self.pooling == "mean":  # exact shortcut: mean(gamma * s * G) = gamma * mean(G) * s
                return self.per_class_constant().to(logits.dtype) * logits
            return self._pool(self.gamma * logits[:, :, None, None] * g)
        if self.formulation == "spatial":
            amap = self.activation_map(feats)
            if amap.shape[-2:] != g.shape[-2:]:
                amap = F.interpolate(amap, size=g.shape[-2:], mode="bilinear", align_corners=False)
            return self._pool(self.gamma * amap * g)
        return torch.logit(self.train_probs(logits))

    def loss(self, feats: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """BCE-with-logits on :meth:`train_logits` (``'code'``, ``'spatial'``) or BCE on
        :meth:`train_probs` (``'paper'``), mean over ``B x K``. Returns ``dict(loss_cls=...)``."""
        if self.formulation != "paper":
            return super().loss(feats, labels)
        q = self.train_probs(self(feats).float())
        return dict(loss_cls=F.binary_cross_entropy(q, labels.to(q.dtype)))
