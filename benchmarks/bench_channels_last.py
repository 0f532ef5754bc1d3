"""Channels-last (NHWC) weights vs the default NCHW: one training step of each CPU-default model.

What :class:`c2am_bench.hooks.ChannelsLastHook` changes, measured in one process: each model is
built twice from its CPU-default config (same seed, so the same weights), one copy converted with
``model.to(memory_format=torch.channels_last)`` as the hook does; the two copies then take
training steps on the same random batch, alternated every repeat, and the median step time of
each is reported. A step is forward, a loss, backward and an SGD step:

* classifier: ``cam_r18lite`` (half-width ResNet-18 at stride 16 + CAM head), batch 16, 128 px,
  multi-label soft-margin loss on the logits;
* boundary net: ``irn_r18lite`` (frozen backbone, trained edge branch), batch 16, 128 px, the
  mean of the boundary logits (the affinity loss is not a convolution, so it is left out);
* DeepLabV2: ``deeplabv2_r18lite-d8`` (stride 8, ASPP), batch 8, 128 px, cross-entropy.

Also reports the largest difference between the two copies' first outputs (float rounding).
Writes ``benchmarks/results/channels_last.json`` and the ``channels_last`` section of
``benchmarks/README.md``. Usage: ``python benchmarks/bench_channels_last.py [--repeats R]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, from any working dir
from _common import machine_info, write_readme_section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "benchmarks" / "results" / "channels_last.json"
README = REPO / "benchmarks" / "README.md"
BEGIN, END = "<!-- channels_last:begin -->", "<!-- channels_last:end -->"
SIZE = 128

MODELS = {  # name: (config, batch size, num classes of the target)
    "classifier": ("mm_configs/cam/cam_r18lite_15e_synthvoc-128.py", 16, 6),
    "boundary net": ("mm_configs/irn/irn_r18lite_5e_synthvoc-128.py", 16, 0),
    "DeepLabV2": ("mm_configs/seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py", 8, 7),
}


def _build(config: str, channels_last: bool) -> torch.nn.Module:
    from mmengine.config import Config
    from mmengine.utils import import_modules_from_strings
    from mmseg.registry import MODELS as REGISTRY

    cfg = Config.fromfile(REPO / config)
    import_modules_from_strings(**cfg.get("custom_imports", {"imports": []}))
    torch.manual_seed(0)
    model = REGISTRY.build(cfg.model)
    model.train()
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model


def _step_fn(name: str, model: torch.nn.Module, batch: int, classes: int):
    """A closure running one training step; returns the output of its forward."""
    x = torch.randn(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9)
    if name == "classifier":
        y = (torch.rand(batch, classes, generator=torch.Generator().manual_seed(2)) > 0.7).float()

        def loss_of():
            out = model(x, mode="tensor")
            return out, F.multilabel_soft_margin_loss(out, y)
    elif name == "boundary net":

        def loss_of():
            out = model.boundary_logits(x)
            return out, out.mean()
    else:
        y = torch.randint(
            0, classes, (batch, SIZE, SIZE), generator=torch.Generator().manual_seed(2)
        )

        def loss_of():
            out = model.decode_head(model.backbone(x))
            up = F.interpolate(out, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
            return out, F.cross_entropy(up, y)

    def step():
        opt.zero_grad(set_to_none=True)
        out, loss = loss_of()
        loss.backward()
        opt.step()
        return out.detach()

    return step


def _forward_fn(name: str, model: torch.nn.Module, batch: int):
    """A closure running one inference forward (eval mode, no grad), as seeds / maps / eval do."""
    x = torch.randn(batch, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))

    @torch.no_grad()
    def forward():
        if name == "classifier":
            return model.cam(x)
        if name == "boundary net":
            return model.boundary_logits(x)
        return model.decode_head(model.backbone(x))

    return forward


def _timed(fns: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds of each closure, the variants alternated every repeat."""
    times = {v: [] for v in fns}
    for _ in range(repeats):
        for v, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[v].append(time.perf_counter() - t0)
    return times


def _median_ms(times: dict[str, list[float]]) -> dict[str, float]:
    return {v: statistics.median(t[2:]) * 1000 for v, t in times.items()}  # 2 warm-up


def pair_result(
    config: str, batch: int, times: dict, fwd_times: dict, base: str, new: str, **extra
) -> dict:
    """One model's record: median step / forward ms of variants ``base`` and ``new``, their
    ratios (new / base), ``extra`` figures and the raw seconds."""
    med, fwd = _median_ms(times), _median_ms(fwd_times)
    return {
        "config": config, "batch": batch, "median_ms": med, "ratio": med[new] / med[base],
        "inference_batch": 16, "inference_median_ms": fwd,
        "inference_ratio": fwd[new] / fwd[base], **extra,
        "raw_s": times, "inference_raw_s": fwd_times,
    }  # fmt: skip


def save_record(out: Path, info: dict, repeats: int, results: dict) -> dict:
    """Write the run's JSON record to ``out`` (date, machine, repeats, results); return it."""
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": info, "repeats": repeats, "results": results}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


def table_rows(results: dict, base: str, new: str, last) -> str:
    """Markdown rows: model, batch, step ms of ``base`` / ``new``, ratio, forward ms, ratio, and
    ``last(result)`` in the last column."""
    return "\n".join(
        f"| {n} | {r['batch']} | {r['median_ms'][base]:.0f} | {r['median_ms'][new]:.0f} "
        f"| **{r['ratio']:.2f}** | {r['inference_median_ms'][base]:.0f} "
        f"| {r['inference_median_ms'][new]:.0f} | **{r['inference_ratio']:.2f}** | {last(r)} |"
        for n, r in results.items()
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=12, help="steps per variant (2 are warm-up)")
    args = ap.parse_args(argv)
    from mmseg.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    info = machine_info(with_torch=True)
    results = {}
    for name, (config, batch, classes) in MODELS.items():
        models = {v: _build(config, v == "NHWC") for v in ("NCHW", "NHWC")}
        steps = {v: _step_fn(name, m, batch, classes) for v, m in models.items()}
        first = {v: s() for v, s in steps.items()}
        times = _timed(steps, args.repeats)
        for m in models.values():
            m.eval()
        fwd_times = _timed({v: _forward_fn(name, m, 16) for v, m in models.items()}, args.repeats)
        diff = float((first["NCHW"] - first["NHWC"]).abs().max())
        results[name] = pair_result(config, batch, times, fwd_times, "NCHW", "NHWC",
                                    max_abs_diff=diff)  # fmt: skip
    record = save_record(OUT, info, args.repeats, results)
    rows = table_rows(results, "NCHW", "NHWC", lambda r: f"{r['max_abs_diff']:.1e}")
    section = f"""{BEGIN}
## Channels-last weights (`bench_channels_last.py`)

Each CPU-default model at 128 px with NCHW weights against channels-last (NHWC) weights, as
`ChannelsLastHook` (training) and `load_model` (inference) set them: one training step (forward,
loss, backward, SGD) at the training batch, and one inference forward (eval mode, no grad) of a
batch of 16. Medians of {args.repeats - 2} alternated repeats; machine: {info["cpu"]}
({info["cores"]} cores), torch {info["torch"]}, {info["torch_threads"]} threads,
{record["date"][:10]}.

| model | batch | step NCHW ms | step NHWC ms | step ratio | forward NCHW ms | forward NHWC ms \
| forward ratio | largest output difference |
|---|---:|---:|---:|---:|---:|---:|---:|---:|
{rows}

Adopted for the CPU-default configs (`mm_configs/_base_/cpu_runtime.py`); the paper (GPU)
configs keep NCHW, not measured on a GPU.

Raw figures: `benchmarks/results/channels_last.json`.
{END}"""
    write_readme_section(README, BEGIN, END, section)
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
