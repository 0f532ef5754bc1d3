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


def machine() -> str:
    """One phrase naming this machine, for every absolute time the harness prints, e.g.
    ``Intel(R) Xeon(R) Processor, 2 threads, cpu``."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle
                          if line.startswith("model name")), model)  # fmt: skip
    except OSError:
        pass
    info = describe()
    return f"{model}, {info.get('cpu threads', '?')} threads, {info.get('device', 'cpu')}"
