"""A run with mmengine's ``EMAHook`` in its config ends as its averaged model: the final metrics and
the weights file both come from the average (the hook alone swaps it in only for the validation
inside training and into its checkpoints; a later ``runner.val()`` rebuilds it from the last
weights)."""

from __future__ import annotations

import torch
from mmengine.hooks import Hook

from c2am_bench.train import WEIGHTS_FILE, train


class _Scores(Hook):
    def __init__(self):
        self.scores = []

    def after_val_epoch(self, runner, metrics=None) -> None:
        self.scores.append(dict(metrics))


def test_an_ema_run_ends_as_its_averaged_model(one_epoch_classifier, tmp_path):
    cfg = one_epoch_classifier
    # a large momentum: the average moves, but stays clearly apart from the last weights
    cfg.custom_hooks = [*cfg.custom_hooks, dict(type="EMAHook", momentum=0.5)]
    scores = _Scores()
    metrics = train(cfg, resume=False, stage="classifier", quiet_console=True, hooks=[scores])
    saved = torch.load(tmp_path / "run" / WEIGHTS_FILE, weights_only=True)
    (ckpt_path,) = (p for p in (tmp_path / "run").glob("*.pth") if p.name != WEIGHTS_FILE)
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    averaged = ckpt["state_dict"]  # EMAHook swaps the average in here ...
    last = {k.removeprefix("module."): v for k, v in ckpt["ema_state_dict"].items()}  # ... and out
    assert saved.keys() == averaged.keys()
    for name, value in saved.items():
        assert torch.equal(value, averaged[name]), name
    floats = [n for n, v in saved.items() if v.is_floating_point() and "running" not in n]
    assert any(not torch.equal(saved[n], last[n]) for n in floats), "the average never moved"
    # the validation inside training (the hook's average) and the final one agree
    assert len(scores.scores) == 2
    assert scores.scores[0] == scores.scores[1]
    assert {k: v for k, v in metrics.items() if k in scores.scores[0]} == scores.scores[0]
