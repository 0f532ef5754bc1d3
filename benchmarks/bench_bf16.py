"""bfloat16 autocast vs float32 on CPU: one training step and one forward of each CPU-default model.

What :class:`c2am_bench.precision.CpuAutocastOptimWrapper` changes, measured in one process: each
model is built from its CPU-default config with channels-last weights (as the default trains it),
and the same step (forward, loss, backward, SGD; see ``bench_channels_last.py`` for the models,
batches and losses) runs as it is and under ``torch.autocast('cpu', dtype=torch.bfloat16)``,
alternated every repeat; the median step time of each is reported, and likewise an inference
forward (eval mode, no grad, batch 16). Also reports the largest relative difference between
the float32 and the bfloat16 forward outputs of the same weights (bfloat16 keeps 8 bits of
mantissa: about 0.4 % per rounding).

bfloat16 pays only on a CPU that computes it natively (AVX512-BF16 or AMX); the script says
whether this one does, and measures anyway. Writes ``benchmarks/results/bf16.json`` and the
``bf16`` section of ``benchmarks/README.md``. Usage: ``python benchmarks/bench_bf16.py
[--repeats R]``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, from any working dir
from _common import machine_info, write_readme_section  # noqa: E402
from bench_channels_last import (  # noqa: E402
    MODELS,
    _build,
    _forward_fn,
    _step_fn,
    _timed,
    pair_result,
    save_record,
    table_rows,
)

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "results" / "bf16.json"
README = REPO / "benchmarks" / "README.md"
BEGIN, END = "<!-- bf16:begin -->", "<!-- bf16:end -->"


def _autocast(fn):
    def run():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return fn()

    return run


def _relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest ``|a - b|`` over the largest ``|a|``: the rounding relative to the output's scale."""
    return float((a.float() - b.float()).abs().max() / a.float().abs().max().clamp_min(1e-12))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=12, help="steps per variant (2 are warm-up)")
    args = ap.parse_args(argv)
    from mmseg.utils import register_all_modules

    from c2am_bench.precision import cpu_bf16_native

    register_all_modules(init_default_scope=True)
    native = cpu_bf16_native()
    info = machine_info(with_torch=True, native_bf16=native)
    results = {}
    for name, (config, batch, classes) in MODELS.items():
        model = _build(config, channels_last=True)
        step = _step_fn(name, model, batch, classes)
        times = _timed({"float32": step, "bfloat16": _autocast(step)}, args.repeats)
        model.eval()
        forward = _forward_fn(name, model, 16)
        fwd_times = _timed({"float32": forward, "bfloat16": _autocast(forward)}, args.repeats)
        diff = _relative_difference(forward(), _autocast(forward)())
        results[name] = pair_result(config, batch, times, fwd_times, "float32", "bfloat16",
                                    max_relative_diff=diff)  # fmt: skip
    record = save_record(OUT, info, args.repeats, results)
    rows = table_rows(results, "float32", "bfloat16",
                      lambda r: f"{100 * r['max_relative_diff']:.1f} %")  # fmt: skip
    has = "has" if native else "has no"
    section = f"""{BEGIN}
## bfloat16 autocast (`bench_bf16.py`)

Each CPU-default model at 128 px with channels-last weights, in float32 and under CPU bfloat16
autocast (`CpuAutocastOptimWrapper` for training): one training step (forward, loss, backward,
SGD) at the training batch, and one inference forward (eval mode, no grad) of a batch of 16.
Medians of {args.repeats - 2} alternated repeats; machine: {info["cpu"]} ({info["cores"]} cores,
{has} native bfloat16), torch {info["torch"]}, {info["torch_threads"]} threads,
{record["date"][:10]}. The last column is the largest difference between the two forwards'
outputs relative to the output's largest value.

| model | batch | step fp32 ms | step bf16 ms | step ratio | forward fp32 ms | forward bf16 ms \
| forward ratio | largest difference |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Raw figures: `benchmarks/results/bf16.json`.
{END}"""
    write_readme_section(README, BEGIN, END, section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
