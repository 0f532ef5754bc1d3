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
import datetime as dt
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, from any working dir
from _common import machine_info, write_readme_section  # noqa: E402
from bench_channels_last import MODELS, _build, _forward_fn, _median_ms, _step_fn, _timed  # noqa: E402

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
        med, fwd = _median_ms(times), _median_ms(fwd_times)
        results[name] = {
            "config": config, "batch": batch, "median_ms": med,
            "ratio": med["bfloat16"] / med["float32"],
            "inference_batch": 16, "inference_median_ms": fwd,
            "inference_ratio": fwd["bfloat16"] / fwd["float32"],
            "max_relative_diff": diff, "raw_s": times, "inference_raw_s": fwd_times,
        }  # fmt: skip
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": info, "repeats": args.repeats, "results": results}  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    rows = "\n".join(
        f"| {n} | {r['batch']} | {r['median_ms']['float32']:.0f} "
        f"| {r['median_ms']['bfloat16']:.0f} | **{r['ratio']:.2f}** "
        f"| {r['inference_median_ms']['float32']:.0f} | {r['inference_median_ms']['bfloat16']:.0f} "
        f"| **{r['inference_ratio']:.2f}** | {100 * r['max_relative_diff']:.1f} % |"
        for n, r in results.items()
    )
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
