"""mmengine hooks of the harness: exact resume (reseeding), Optuna pruning on validation, and
stopping a training whose loss became NaN or infinite.

optuna-integration has no mmengine module (ecosystem.md 4.4), so this follows its Ignite/Lightning
handlers: report the monitored metric after each validation (``step = runner.iter``, which also
works for iteration-based loops) and, when the pruner says so, stop the loop through its
``stop_training`` flag (as mmengine's EarlyStoppingHook does) so checkpoints and logs close
cleanly. The caller raises ``optuna.TrialPruned`` after ``runner.train()`` returns.
"""

from __future__ import annotations

import inspect
import logging
import math
import random
from pathlib import Path

import numpy as np
import torch
from mmengine.hooks import Hook
from mmseg.registry import HOOKS

from .errors import TrainingDiverged

logger = logging.getLogger(__name__)


@HOOKS.register_module()
class OptunaPruningHook(Hook):
    """Report ``monitor`` to ``trial`` after each validation; stop the loop if it is pruned.

    A live trial cannot travel through a config file, so the hook is made with it and handed to
    :func:`c2am_bench.train.train` (``hooks=``), which registers it on the Runner.

    Args:
        trial: the ``optuna.Trial`` to report to (``None``: the hook does nothing).
        monitor: metric key from the val loop, e.g. ``seg/mIoU``.
        step_offset: added to ``runner.iter``, so steps keep increasing across trainings.
    """

    priority = "LOW"

    def __init__(self, trial=None, monitor: str = "seg/mIoU", step_offset: int = 0) -> None:
        self.trial, self.monitor, self.step_offset = trial, monitor, step_offset
        self.pruned = False

    def after_val_epoch(self, runner, metrics=None) -> None:
        trial = self.trial
        if trial is None or not metrics or self.monitor not in metrics:
            return
        step = self.step_offset + runner.iter
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


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop a training at the first iteration whose loss (or a loss part) is NaN or infinite.

    mmengine has no such hook (mmdet's ``CheckInvalidLossHook`` is the model) and would otherwise
    train on, validate NaN scores and save NaN weights as a finished run. Every iteration is
    checked: it is one ``torch.isfinite`` over the few logged loss scalars, which mmengine's
    ``RuntimeInfoHook`` has just read back (``.item()``) anyway, so it costs no extra wait on the
    device (plus one scalar ``all_reduce`` when distributed, so that every rank stops at the same
    iteration). ``VERY_HIGH`` priority: it runs right after the optimizer step (and
    ``RuntimeInfoHook``), before the logger, parameter-scheduler and checkpoint hooks, so this
    iteration's weights are never saved as a checkpoint.

    Raises :class:`~c2am_bench.errors.TrainingDiverged` with one line naming the stage, the
    iteration (1-based), the config file, the value, the current lr and the log folder (kept).

    Args:
        stage: what is trained, for the message (``'classifier'``, ``'cam train'``, ...).
        config: the config file name; default: the Runner's ``cfg.filename``.
    """

    priority = "VERY_HIGH"

    def __init__(self, stage: str = "training", config: str | None = None) -> None:
        self.stage = stage
        self.config = config

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        # mmengine's rule for what a loss is: the keys containing 'loss' ('loss' is their sum)
        losses = {k: v for k, v in (outputs or {}).items() if "loss" in k}
        if not losses:
            return
        values = torch.stack([torch.as_tensor(v, dtype=torch.float32).detach().reshape(-1).sum()
                              for v in losses.values()])  # fmt: skip
        bad = (~torch.isfinite(values)).any().float()
        from mmengine.dist import all_reduce, get_world_size

        if get_world_size() > 1:
            all_reduce(bad, op="max")
        if not bad.item():
            return
        found = {k: float(v) for k, v in zip(losses, values.tolist(), strict=True)
                 if not math.isfinite(v)}  # fmt: skip
        if found:
            key = "loss" if "loss" in found else next(iter(found))
            what = f"{key} became {found[key]}"
        else:
            what = "the loss became non-finite on another rank"
        message = (f"{self.stage}: {what} at iteration {runner.iter + 1} of {self._config(runner)}"
                   f"{self._lr(runner)}; stopped; log kept in {runner.log_dir}")  # fmt: skip
        # into the log file only: the console gets the CLI's one `error:` line
        line = inspect.currentframe().f_lineno
        record = runner.logger.makeRecord(runner.logger.name, logging.ERROR, __file__, line,
                                          message, None, None, "after_train_iter")  # fmt: skip
        for handler in runner.logger.handlers:
            if isinstance(handler, logging.FileHandler):
                handler.handle(record)
        raise TrainingDiverged(message, log_dir=runner.log_dir)

    def _config(self, runner) -> str:
        if self.config:
            return self.config
        filename = getattr(getattr(runner, "cfg", None), "filename", None)
        return Path(filename).name if filename else "the config"

    @staticmethod
    def _lr(runner) -> str:
        """`` (lr 0.1)``: the first parameter group's current lr, or nothing if unreadable."""
        try:
            lrs = runner.optim_wrapper.get_lr()
            key = next(k for k in lrs if k.endswith("lr") and not k.endswith("base_lr"))
            return f" (lr {lrs[key][0]:g})"
        except Exception:  # noqa: BLE001 - the lr only decorates the message
            return ""


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Store the model's 4-D weights channels-last (NHWC) for the whole training.

    On CPU, oneDNN's convolutions run on NHWC without reordering, and PyTorch gives a convolution
    with an NHWC weight an NHWC output, so the format carries through the network and the
    data preprocessor's NCHW batches need no conversion. mmengine has no such switch (its AMP
    wrapper covers precision, not layout). Converting in ``before_run`` keeps every Parameter
    object (``Module.to`` swaps ``.data``), so the optimizer built just before still holds them,
    and the weight init / checkpoint load that follow copy into the NHWC storage. Results equal
    NCHW up to float rounding; the speed-up is measured in ``benchmarks/README.md``.
    """

    priority = "VERY_HIGH"

    def before_run(self, runner) -> None:
        runner.model.to(memory_format=torch.channels_last)
