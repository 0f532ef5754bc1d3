"""What this machine runs: library versions, compiled ops and devices (for logs and reports)."""

from __future__ import annotations

import importlib.metadata as md
import platform


def _version(dist: str) -> str:
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, str]:
    """Versions of the stack, whether mmcv's compiled ops load, and the devices torch sees."""
    info = {"python": platform.python_version(), "platform": platform.platform(terse=True)}
    for dist in ("c2am-bench", "torch", "torchvision", "mmengine", "mmcv", "mmsegmentation",
                 "optuna", "pandas", "seaborn", "pydensecrf2", "numpy"):  # fmt: skip
        info[dist] = _version(dist)
    try:
        import mmcv.ops  # noqa: F401

        info["mmcv ops"] = "compiled ops load"
    except Exception as err:  # noqa: BLE001 - any failure here is worth reporting verbatim
        info["mmcv ops"] = f"unavailable ({type(err).__name__}: {err})"
    try:
        import torch

        cuda = torch.cuda.is_available()
        info["device"] = (
            f"cuda x{torch.cuda.device_count()} ({torch.cuda.get_device_name(0)})"
            if cuda
            else "cpu"
        )
        info["cpu threads"] = str(torch.get_num_threads())
    except Exception as err:  # noqa: BLE001
        info["device"] = f"torch unavailable ({err})"
    return info
