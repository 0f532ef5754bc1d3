"""Mixed precision on CPU: bfloat16 autocast for the CPU-default trainings.

mmengine's ``AmpOptimWrapper`` refuses to build without a GPU (it asserts CUDA / NPU / MLU /
MUSA), so the CPU default cannot use it; :class:`CpuAutocastOptimWrapper` is the same idea for
CPU: the forward and the loss of each training step run under ``torch.autocast('cpu',
dtype=bfloat16)`` (mmengine's :func:`~mmengine.runner.amp.autocast`), the weights, gradients
and optimizer state stay float32, and bfloat16 needs no loss scaling (float32's exponent range).

It pays only where the CPU computes in bfloat16 natively (AVX512-BF16 or AMX); elsewhere oneDNN
emulates it and a step gets slower, so the wrapper then trains in float32 and logs why. The
speed-up and its effect on the metrics are measured in ``benchmarks/README.md`` ("bfloat16
autocast").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

from .errors import ConfigError

__all__ = ["CpuAutocastOptimWrapper", "cast_dtype", "cpu_autocast", "cpu_bf16_native"]

_DTYPES = {"bfloat16": torch.bfloat16, "float32": None, None: None}


def cpu_bf16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX tiles)."""
    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def cast_dtype(dtype: str | None) -> torch.dtype | None:
    """``'bfloat16'`` -> ``torch.bfloat16``; ``'float32'`` / ``None`` -> ``None`` (no autocast)."""
    if dtype not in _DTYPES:
        raise ConfigError(
            f"optim_wrapper.dtype={dtype!r}: expected one of 'bfloat16', 'float32' or None"
        )
    return _DTYPES[dtype]


@contextlib.contextmanager
def cpu_autocast(dtype: str | None, device: torch.device | str = "cpu") -> Iterator[bool]:
    """Run the block under CPU bfloat16 autocast when ``dtype`` asks for it and it pays here.

    A no-op (yields ``False``) for ``dtype`` ``'float32'`` / ``None``, on a non-CPU ``device``,
    or on a CPU without native bfloat16; else yields ``True`` inside the autocast.
    """
    cast = cast_dtype(dtype)
    if cast is None or torch.device(device).type != "cpu" or not cpu_bf16_native():
        yield False
        return
    from mmengine.runner.amp import autocast

    with autocast(device_type="cpu", dtype=cast):
        yield True


@OPTIM_WRAPPERS.register_module()
class CpuAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` autocasts to ``dtype`` on a CPU that has it.

    Args:
        dtype: ``'bfloat16'`` (autocast where the CPU computes it natively, float32 elsewhere)
            or ``'float32'`` / ``None`` (plain float32, as ``OptimWrapper``).
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: str | None = "bfloat16", **kwargs) -> None:
        super().__init__(**kwargs)
        self.dtype = dtype
        cast_dtype(dtype)  # a bad value fails when the Runner builds the wrapper, not mid-run
        self._told = False

    @contextlib.contextmanager
    def optim_context(self, model: torch.nn.Module):
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        with super().optim_context(model), cpu_autocast(self.dtype, device) as on:
            if not self._told:
                self._told = True
                print_log(self._describe(on, device), logger="current")  # into the run's log
            yield

    def _describe(self, on: bool, device: torch.device) -> str:
        if on:
            return f"training under {self.dtype} autocast (CPU with native bfloat16)"
        if cast_dtype(self.dtype) is None:
            return "training in float32 (optim_wrapper.dtype)"
        if device.type != "cpu":
            return f"training in float32: autocast here is for CPU, the model is on {device}"
        return "training in float32: this CPU has no native bfloat16 (AVX512-BF16 / AMX)"
