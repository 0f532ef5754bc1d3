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
        from .precision import cpu_bf16_native

        info["cpu bfloat16"] = (
            "native: the CPU-default trainings autocast to bfloat16"
            if cpu_bf16_native()
            else "not native: the CPU-default trainings run in float32"
        )
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


_THREADS: int | None = None  # this process's CPU budget (limit_threads), None: every core


def cpu_budget() -> int:
    """How many cores this process may keep busy: :func:`limit_threads`'s, else every core."""
    import os

    return _THREADS or os.cpu_count() or 1


def limit_threads(threads: int | None) -> None:
    """Keep this process to ``threads`` cores: torch's intra-op threads, OpenMP/BLAS in the
    processes it starts, and the CRF labellers' process pool (:func:`cpu_budget`).

    For several workers on one machine (study workers, or runs side by side): give each
    ``cores / workers``. Measured on a 2-core AMD EPYC (``benchmarks/bench_threads.py``): two
    DeepLabV2 trainings at once with one thread each finish 1.27x faster than one after the
    other with two; with two threads each, 3.7x slower (the threads fight over the cores).
    ``None`` leaves torch's default (every core).
    """
    global _THREADS
    import os

    if threads is None:
        return
    if threads < 1:
        from .errors import ConfigError

        raise ConfigError(f"--threads {threads}: must be >= 1")
    import torch

    _THREADS = int(threads)
    torch.set_num_threads(_THREADS)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(_THREADS)
