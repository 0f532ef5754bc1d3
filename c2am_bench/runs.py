"""A finished training run on disk (``config.py`` + plain weights): its model, for inference."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import ConfigError


def load_model(
    run_dir: str | os.PathLike,
    weights_name: str,
    *,
    what: str,
    adapt: Callable[[dict], dict] | None = None,
    device: str | None = None,
):
    """Build the run's model from ``config.py``, load ``weights_name`` (weights only), eval mode.

    Args:
        run_dir: the run's work dir.
        weights_name: e.g. ``classifier.pth``.
        what: a name for messages ("classifier", "boundary-net").
        adapt: edits the model config before building (e.g. drop pretrained init).
        device: default ``cuda`` when available, else ``cpu``.

    Returns:
        ``(model, cfg)``.
    """
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    from . import models  # noqa: F401 - registers our components
    from .checkpoints import load_into

    run_dir = Path(run_dir)
    cfg_path, weights = run_dir / "config.py", run_dir / weights_name
    for path in (cfg_path, weights):
        if not path.is_file():
            raise ConfigError(f"{path}: not found; is {run_dir} a finished {what} run?")
    cfg = Config.fromfile(str(cfg_path))
    init_default_scope("mmseg")
    model_cfg = cfg.model.copy()
    model = MODELS.build(adapt(model_cfg) if adapt else model_cfg)
    load_into(model, weights, strict=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if trained_channels_last(cfg):  # as in training: the CPU default's forwards run ~25 % faster
        model.to(memory_format=torch.channels_last)
    return model.to(device).eval(), cfg


def trained_channels_last(cfg) -> bool:
    """Whether the run's config trains with :class:`~c2am_bench.hooks.ChannelsLastHook`."""
    return any(isinstance(h, dict) and h.get("type") == "ChannelsLastHook"
               for h in cfg.get("custom_hooks") or [])  # fmt: skip


def normaliser(cfg) -> Callable:
    """The model's data-preprocessor maths: (H, W, 3) uint8 RGB -> (3, H, W) float32."""
    import torch

    pre = cfg.model.data_preprocessor
    mean = torch.tensor(pre.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(pre.std, dtype=torch.float32).view(3, 1, 1)

    def normalise(rgb: np.ndarray) -> torch.Tensor:
        return (torch.as_tensor(np.array(rgb)).permute(2, 0, 1).float() - mean) / std

    return normalise
