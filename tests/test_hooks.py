"""OptunaPruningHook: reports after validation, stops the loop when the pruner says so."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest

from c2am_bench.hooks import OptunaPruningHook


def _runner(iteration):
    return SimpleNamespace(iter=iteration, train_loop=SimpleNamespace(stop_training=False))


def test_reports_and_stops_a_trial_worse_than_the_median():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1))  # fmt: skip
    good = study.ask()
    hook, runner = OptunaPruningHook(good, "seg/mIoU", step_offset=100), _runner(8)
    hook.after_val_epoch(runner, {"seg/mIoU": 50.0})
    assert good.storage.get_trial(good._trial_id).intermediate_values == {108: 50.0}
    assert not runner.train_loop.stop_training and not hook.pruned
    study.tell(good, 50.0)
    bad = study.ask()
    hook, runner = OptunaPruningHook(bad, "seg/mIoU", step_offset=100), _runner(8)
    hook.after_val_epoch(runner, {"seg/mIoU": 10.0})
    assert runner.train_loop.stop_training and hook.pruned


def test_does_nothing_outside_a_study_or_without_the_metric():
    hook, runner = OptunaPruningHook(None, "seg/mIoU"), _runner(8)
    hook.after_val_epoch(runner, {"seg/mIoU": 1.0})  # no trial
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    OptunaPruningHook(trial, "seg/mIoU").after_val_epoch(runner, {"cls/mAP": 1.0})
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}
    assert not runner.train_loop.stop_training


class _AlwaysPrune(optuna.pruners.BasePruner):
    def prune(self, study, trial) -> bool:
        return True


@pytest.mark.slow
def test_a_study_trial_prunes_deeplabv2_through_the_runner(tmp_path):
    """The trial reaches the segmentor's training as a hook object (no global): it gets DeepLabV2's
    intermediate val mIoU, stops the training, and the stage is not marked finished."""
    from c2am_bench import pipeline
    from c2am_bench.datasets import synthvoc
    from c2am_bench.stage_cache import StageCache

    data = tmp_path / "synthvoc-smoke"
    synthvoc.generate(synthvoc.make_config("smoke"), data, progress=False)
    events = []
    runner = pipeline.Pipeline(data, StageCache(tmp_path / "cache"), profile="smoke", seg_eval=(),
                             on_event=lambda *e: events.append(e))  # fmt: skip
    study = optuna.create_study(direction="maximize", pruner=_AlwaysPrune())
    trial = study.ask()
    with pytest.raises(optuna.TrialPruned, match="DeepLabV2 pruned at iteration 2"):
        runner.run(pipeline.Variant("cam", "cam"), 0, "seg", prune_with=trial)
    reported = study._storage.get_trial(trial._trial_id).intermediate_values
    assert list(reported) == [2] and 0.0 <= reported[2] <= 100.0, reported
    seg = [(stage, key) for scope, stage, key, what in events if stage == "segmentor"]
    assert seg and not (tmp_path / "cache" / "segmentor" / seg[0][1] / "stage.json").exists()
    assert all(scope == "cam seed 0" for scope, *_ in events)
    # without a trial the same runner trains DeepLabV2 to the end (no hook left behind)
    runner.run(pipeline.Variant("cam", "cam"), 0, "seg")
    assert (tmp_path / "cache" / "segmentor" / seg[0][1] / "stage.json").is_file()


def test_channels_last_hook_keeps_the_parameters_and_the_outputs():
    """Weights become NHWC in place: the optimizer's Parameters are the model's, outputs equal."""
    import torch

    from c2am_bench.hooks import ChannelsLastHook

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=2, dilation=2),
                                torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
                                torch.nn.Conv2d(8, 4, 1))  # fmt: skip
    x = torch.randn(2, 3, 9, 7)
    model.eval()
    before = model(x)
    params = list(model.parameters())
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    ChannelsLastHook().before_run(SimpleNamespace(model=model))
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[0].weight.is_contiguous()  # really converted, not NCHW as well
    assert all(a is b for a, b in zip(params, model.parameters(), strict=True))
    after = model(x)
    assert after.is_contiguous(memory_format=torch.channels_last)  # carried through, input NCHW
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-5)
    after.sum().backward()
    w0 = model[0].weight.detach().clone()
    opt.step()  # the optimizer built before the hook updates the converted weights
    assert not torch.equal(model[0].weight, w0)
    assert model[0].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("hooked", [True, False])
def test_a_run_trained_channels_last_is_loaded_channels_last(tmp_path, hooked):
    """``load_model`` follows the run's config: NHWC weights where it trained with the hook."""
    import torch
    from mmengine.config import Config

    from c2am_bench.runs import load_model

    repo = Path(__file__).resolve().parents[1]
    cfg = Config.fromfile(str(repo / "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py"))
    if not hooked:
        cfg.custom_hooks = [h for h in cfg.custom_hooks if h["type"] != "ChannelsLastHook"]
    cfg.dump(str(tmp_path / "config.py"))
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import c2am_bench.models  # noqa: F401 - registers the classifier

    init_default_scope("mmseg")
    torch.save(MODELS.build(cfg.model).state_dict(), tmp_path / "classifier.pth")
    model, _ = load_model(tmp_path, "classifier.pth", what="classifier", device="cpu")
    conv = model.backbone.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) == hooked
    assert conv.is_contiguous() == (not hooked)
