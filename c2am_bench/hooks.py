"""mmengine hooks of the harness: exact resume (reseeding), Optuna pruning on validation.

optuna-integration has no mmengine module (ecosystem.md 4.4), so this follows its Ignite/Lightning
handlers: report the monitored metric after each validation (``step = runner.iter``, which also
works for iteration-based loops) and, when the pruner says so, stop the loop through its
``stop_training`` flag (as mmengine's EarlyStoppingHook does) so checkpoints and logs close
cleanly. The caller raises ``optuna.TrialPruned`` after ``runner.train()`` returns.
"""

from __future__ import annotations

import logging
import random
from contextlib import contextmanager

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

logger = logging.getLogger(__name__)

_ACTIVE: dict = {"trial": None, "offset": 0}


@contextmanager
def active_trial(trial, step_offset: int = 0):
    """Make ``trial`` the one :class:`OptunaPruningHook` reports to (a live object cannot go
    through a config file); ``step_offset`` keeps steps increasing across several trainings."""
    previous = dict(_ACTIVE)
    _ACTIVE.update(trial=trial, offset=step_offset)
    try:
        yield
    finally:
        _ACTIVE.update(previous)


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """Report ``monitor`` to the active Optuna trial after each validation; stop if pruned.

    Args:
        monitor: metric key from the val loop, e.g. ``seg/mIoU``.
    """

    priority = "LOW"

    def __init__(self, monitor: str = "seg/mIoU") -> None:
        self.monitor = monitor
        self.pruned = False

    def after_val_epoch(self, runner, metrics=None) -> None:
        trial = _ACTIVE["trial"]
        if trial is None or not metrics or self.monitor not in metrics:
            return
        step = _ACTIVE["offset"] + runner.iter
        trial.report(float(metrics[self.monitor]), step)
        if trial.should_prune():
            logger.info("trial %s pruned at step %d (%s=%.3f)", trial.number, step,
                        self.monitor, float(metrics[self.monitor]))  # fmt: skip
            self.pruned = True
            runner.train_loop.stop_training = True


@HOOKS.register_module()
class ReseedHook(Hook):
    """Reseed Python, NumPy and torch from ``(seed, epoch)`` / ``(seed, iteration)`` so a run
    resumed from a checkpoint draws the same random numbers as one that never stopped.

    mmengine restores weights, optimizer, schedulers and the sampler's ``(seed, epoch)`` order
    but not the global RNG state, so random augmentations (resize, flip, crop) after a resume
    differ from the uninterrupted run's. Reseeding before each epoch (before its data iterator is
    made) and each iteration makes every draw a function of the run's seed and position only.
    Data-loader *worker processes* keep their own RNG, seeded when they start: with
    ``num_workers > 0`` and ``persistent_workers=True`` a resumed run is not bit-identical.
    """

    priority = "VERY_HIGH"

    @staticmethod
    def _seed(value: int) -> None:
        value %= 2**32
        random.seed(value)
        np.random.seed(value)  # noqa: NPY002 - augmentations draw from the legacy global RNG
        torch.manual_seed(value)

    def before_train_epoch(self, runner) -> None:
        self._seed((runner.seed or 0) * 1_000_003 + 7919 * (runner.epoch + 1))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._seed((runner.seed or 0) * 1_000_003 + runner.iter)
