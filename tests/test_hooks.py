"""OptunaPruningHook: reports after validation, stops the loop when the pruner says so."""

from __future__ import annotations

from types import SimpleNamespace

import optuna

from c2am_bench.hooks import OptunaPruningHook, active_trial


def _runner(iteration):
    return SimpleNamespace(iter=iteration, train_loop=SimpleNamespace(stop_training=False))


def test_reports_and_stops_a_trial_worse_than_the_median():
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=1))  # fmt: skip
    good = study.ask()
    with active_trial(good, step_offset=100):
        hook, runner = OptunaPruningHook("seg/mIoU"), _runner(8)
        hook.after_val_epoch(runner, {"seg/mIoU": 50.0})
    assert good.storage.get_trial(good._trial_id).intermediate_values == {108: 50.0}
    assert not runner.train_loop.stop_training and not hook.pruned
    study.tell(good, 50.0)
    bad = study.ask()
    with active_trial(bad, step_offset=100):
        hook, runner = OptunaPruningHook("seg/mIoU"), _runner(8)
        hook.after_val_epoch(runner, {"seg/mIoU": 10.0})
    assert runner.train_loop.stop_training and hook.pruned


def test_does_nothing_outside_a_study_or_without_the_metric():
    hook, runner = OptunaPruningHook("seg/mIoU"), _runner(8)
    hook.after_val_epoch(runner, {"seg/mIoU": 1.0})  # no active trial
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with active_trial(trial):
        hook.after_val_epoch(runner, {"cls/mAP": 1.0})
    assert trial.storage.get_trial(trial._trial_id).intermediate_values == {}
    assert not runner.train_loop.stop_training
