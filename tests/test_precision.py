"""CPU bfloat16 autocast for the CPU-default trainings (``c2am_bench.precision``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from c2am_bench import precision
from c2am_bench.precision import CpuAutocastOptimWrapper, cpu_autocast

CONFIGS = Path(__file__).resolve().parent.parent / "mm_configs"


def _wrapper(dtype, model):
    return build_optim_wrapper(
        model,
        dict(type="CpuAutocastOptimWrapper", dtype=dtype, optimizer=dict(type="SGD", lr=0.1)),
    )


def _step(wrapper, model, x):
    """One step as mmengine's ``BaseModel.train_step`` takes it; the forward's output dtype."""
    with wrapper.optim_context(model):
        out = model(x)
        loss = out.float().square().mean()
    wrapper.backward(loss)
    grads = [p.grad.dtype for p in model.parameters()]
    wrapper.step()
    wrapper.zero_grad()
    return out.dtype, grads


@pytest.mark.parametrize(
    ("dtype", "native", "expected"),
    [
        ("bfloat16", True, torch.bfloat16),
        ("bfloat16", False, torch.float32),  # emulated bfloat16 is slower: train in float32
        ("float32", True, torch.float32),
        (None, True, torch.float32),
    ],
)
def test_the_forward_autocasts_only_where_asked_and_native(monkeypatch, dtype, native, expected):
    import c2am_bench  # noqa: F401 - registers the wrapper

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: native)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 1))
    wrapper = _wrapper(dtype, model)
    assert isinstance(wrapper, CpuAutocastOptimWrapper)
    before = [p.detach().clone() for p in model.parameters()]
    out_dtype, grads = _step(wrapper, model, torch.randn(2, 3, 8, 8))
    assert out_dtype == expected
    # the weights, their gradients and the update stay float32 whatever the forward ran in
    assert grads == [torch.float32] * len(before)
    for p, old in zip(model.parameters(), before, strict=True):
        assert p.dtype == torch.float32 and not torch.equal(p.detach(), old)
    # outside the step nothing is autocast
    assert model(torch.randn(1, 3, 8, 8)).dtype == torch.float32


def test_a_bad_dtype_is_refused_when_the_wrapper_is_built():
    model = torch.nn.Linear(2, 2)
    from c2am_bench.errors import ConfigError

    with pytest.raises(ConfigError, match=r"optim_wrapper.dtype='float16'"):
        _wrapper("float16", model)


def test_cpu_autocast_is_a_no_op_off_cpu_and_for_float32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    lin = torch.nn.Linear(4, 4)
    with cpu_autocast("bfloat16") as on:
        assert on and lin(torch.randn(1, 4)).dtype == torch.bfloat16
    with cpu_autocast("bfloat16", device="meta") as on:
        assert not on
    with cpu_autocast("float32") as on:
        assert not on and lin(torch.randn(1, 4)).dtype == torch.float32


def test_the_cpu_default_trains_under_it_and_the_paper_profile_does_not():
    """The CPU (SynthVOC) configs ask for bfloat16 autocast; the GPU (paper) ones stay float32."""
    cpu = sorted(CONFIGS.glob("*/*r18lite*.py"))
    paper = sorted(CONFIGS.glob("*/*r50*.py")) + sorted(CONFIGS.glob("*/*r101*.py"))
    assert len(cpu) == 5 and len(paper) == 5
    for path in cpu:
        wrapper = Config.fromfile(str(path)).optim_wrapper
        assert (wrapper.type, wrapper.dtype) == ("CpuAutocastOptimWrapper", "bfloat16"), path.name
    for path in paper:
        assert Config.fromfile(str(path)).optim_wrapper.type == "OptimWrapper", path.name


def test_the_boundary_loss_is_float32_under_autocast(monkeypatch):
    """The boundary net's affinity loss sees float32 boundaries (in bfloat16 it came out
    bfloat16). The classifier's BCE is not tested: autocast runs it in float32 anyway."""
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample

    import c2am_bench.models  # noqa: F401

    init_default_scope("mmseg")
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    cfg = Config.fromfile(str(CONFIGS / "irn/irn_r18lite_5e_synthvoc-128.py"))
    model = MODELS.build(cfg.model).train()
    samples = []
    for _ in range(2):
        sample = SegDataSample()
        label = torch.zeros(1, 64, 64, dtype=torch.long)
        label[:, 16:48, 16:48] = 1
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    with cpu_autocast("bfloat16"):
        losses = model.loss(torch.randn(2, 3, 64, 64), samples)
    for value in losses.values():
        assert value.dtype == torch.float32 and torch.isfinite(value)
