"""Training through mmengine's Runner: the classifier, IRN's boundary net and DeepLabV2.

Configs are loaded with :func:`~c2am_bench.config_loading.load_config` (re-exported here). A
training run writes, in its work dir: mmengine's checkpoints and logs, ``config.py`` (the merged
config), ``classifier.pth`` (a plain ``state_dict``, loadable with ``weights_only=True``, used to
start fine-tunes and to make CAMs; with an ``EMAHook`` in the config, its average:
:func:`adopt_average`) and ``metrics.json`` (final validation metrics + timings).

Every training runs :class:`~c2am_bench.hooks.FiniteLossHook`: a loss that becomes NaN or infinite
stops it at once with :class:`~c2am_bench.errors.TrainingDiverged`; its work dir keeps the log but
gets no weights file and no ``metrics.json``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from .atomic import write_path, write_text
from .config_loading import load_config
from .errors import C2AMError, CheckpointError, ConfigError, TrainingDiverged

__all__ = ["METRICS_FILE", "WEIGHTS_FILE", "load_config", "release_loader_workers", "train"]

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "classifier.pth"
METRICS_FILE = "metrics.json"


def _check_dataset_matches(cfg) -> None:
    """The head's class count must equal the dataset's (a silent mismatch trains garbage)."""
    from .datasets import voc

    if "head" not in cfg.model:
        return
    root = cfg.train_dataloader.dataset.get("data_root")
    tree = voc.open_tree(root)
    k = cfg.model.head.get("num_classes")
    if k != tree.num_classes:
        raise ConfigError(
            f"model.head.num_classes={k} but {root} has {tree.num_classes} classes; "
            f"pass --cfg-options model.head.num_classes={tree.num_classes}"
        )


def _check_c2am_inputs(cfg) -> None:
    head = cfg.model.get("head", {})
    if head.get("type") == "C2AMHead" and head.get("global_cam") is None:
        raise ConfigError(
            "model.head.global_cam is not set: pass --cfg-options "
            "model.head.global_cam=<baseline work dir>/global_cam.npz"
        )
    load_from = cfg.get("load_from")
    if load_from and not Path(load_from).is_file():
        raise ConfigError(f"load_from={load_from}: file not found")


def _check_model(cfg, resume: bool) -> None:
    """Build the model once before anything is written, so a bad component value (e.g.
    ``model.head.gamma=0``, a Global CAM with NaN) or a ``load_from`` checkpoint that does not fit
    is refused with one line instead of failing inside the Runner after it made the work dir.

    mmengine loads ``load_from`` non-strictly (a wrong ``num_classes`` only logs a warning and
    trains from scratch), so here it must fit the model exactly.
    """
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    from .checkpoints import load_into

    with DefaultScope.overwrite_default_scope(cfg.get("default_scope") or "mmseg"):
        name = Path(cfg.filename).name if cfg.filename else "config"
        try:
            model = MODELS.build(cfg.model)
        except C2AMError as err:
            # keep a ConfigError's kind (an UndertrainedError is what a dry run tolerates)
            kind = type(err) if isinstance(err, ConfigError) else ConfigError
            raise kind(f"{name}: model: {err}") from None
        except (KeyError, TypeError, ValueError, AssertionError) as err:
            # registry misses, unknown or ill-typed arguments: the config's fault
            first = str(err.args[0] if err.args else err).strip().splitlines()
            raise ConfigError(f"{name}: model: {first[0] if first else err!r}") from None
    load_from = cfg.get("load_from")
    if load_from and not resume:
        try:
            load_into(model, load_from, strict=True)
        except CheckpointError as err:
            raise CheckpointError(f"load_from={err}") from None


def _prepare_runtime(cfg, launcher: str) -> None:
    import torch

    cfg.launcher = launcher
    if not torch.cuda.is_available():
        cfg.env_cfg.setdefault("dist_cfg", {})["backend"] = "gloo"
        if launcher == "pytorch" and not torch.distributed.is_initialized():
            # mmengine 0.10.7's init_dist calls torch.cuda.set_device unconditionally, so on a
            # CPU-only machine we start the gloo process group ourselves (torchrun's env://);
            # the Runner then finds it initialised and skips its own init.
            torch.distributed.init_process_group(backend="gloo")
        if launcher == "pytorch" and cfg.get("model_wrapper_cfg") is None:
            # and its default DDP wrapper passes device_ids=[LOCAL_RANK], which CPU modules reject
            cfg.model_wrapper_cfg = dict(
                type="MMDistributedDataParallel", device_ids=None, broadcast_buffers=False
            )


def _unbind_console(logger, sink) -> None:
    """Remove ``logger``'s console handlers bound to ``sink``.

    mmengine keeps a finished Runner's logger as its current instance, and later messages
    (a registry's warning, say) go through it: a handler on the closed ``/dev/null`` sink would
    print a "Logging error" traceback instead. The work dir's file handler stays.
    """
    for handler in list(logger.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream is sink:
            logger.removeHandler(handler)


def train(
    cfg,
    *,
    resume: bool = False,
    launcher: str = "none",
    weights_name: str = WEIGHTS_FILE,
    quiet_console: bool = False,
    stage: str | None = None,
    hooks: Sequence = (),
) -> dict:
    """Train ``cfg`` with mmengine's Runner, then validate and write the run's outputs.

    Args:
        cfg: an mmengine ``Config`` from :func:`load_config`.
        resume: continue from the last checkpoint in the work dir (mmengine ``resume=True``).
        launcher: ``'none'`` or ``'pytorch'`` (torchrun; gloo on CPU, NCCL on GPU).
        weights_name: file name of the final plain ``state_dict`` in the work dir.
        quiet_console: keep mmengine's log off the console (the log file in
            the work dir keeps everything).
        stage: what is trained, named by a divergence message (default ``'training'``).
        hooks: mmengine ``Hook`` objects registered on the Runner beside the config's (for hooks
            that hold live objects, e.g. :class:`~c2am_bench.hooks.OptunaPruningHook`).

    Returns:
        The metrics written to ``metrics.json``.

    Raises:
        TrainingDiverged: the loss (or the validation scores) became NaN or infinite; the work
            dir keeps its log, and no weights file or ``metrics.json`` is written.
    """
    import torch
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    from .checkpoints import trust_work_dir

    _check_dataset_matches(cfg)
    _check_c2am_inputs(cfg)
    _check_model(cfg, resume)
    _prepare_runtime(cfg, launcher)
    stage = stage or "training"
    name = Path(cfg.filename).name if cfg.filename else "config"
    _add_finite_loss_hook(cfg, stage, name)
    work_dir = Path(cfg.work_dir)
    # the outermost folder this call creates: removed again if the input turns out bad
    made = next((p for p in (*reversed(work_dir.parents), work_dir) if not p.exists()), None)
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        probe = work_dir / f".write-test-{os.getpid()}"  # per process: ranks share the dir
        probe.write_text("")
        probe.unlink(missing_ok=True)
    except OSError as err:
        _remove_made(work_dir, made)
        raise ConfigError(f"{work_dir}: work dir is not writable ({err.strerror})") from None
    if not resume and (work_dir / weights_name).exists():
        raise ConfigError(
            f"{work_dir}: already holds a finished run ({weights_name}); pass --resume to "
            "continue it or choose another --work-dir"
        )
    trust_work_dir(work_dir)
    cfg.resume = resume
    start = time.perf_counter()
    try:
        runner = None
        with contextlib.ExitStack() as stack:
            if quiet_console:
                # mmengine's logger binds its console handler to sys.stdout when the Runner builds
                # it; binding it to /dev/null keeps the console clean and the work-dir log whole.
                sink = stack.enter_context(open(os.devnull, "w"))
                stack.enter_context(contextlib.redirect_stdout(sink))
            try:
                runner = Runner.from_cfg(cfg)
                for hook in hooks:
                    runner.register_hook(hook)
                runner.train()
                adopt_average(runner)
                val = _final_metrics(runner, cfg)
            finally:
                if runner is not None:
                    release_loader_workers(runner)
                    if quiet_console:  # the sink closes here; mmengine keeps the logger
                        _unbind_console(runner.logger, sink)
    except FileNotFoundError:
        raise
    except TrainingDiverged as err:
        # the evidence: the log stays (no weights, no metrics.json: nothing looks finished)
        if err.log_dir is None and runner is not None:  # found by a metric: say where and when
            raise TrainingDiverged(f"{stage}: {err} after iteration {runner.iter} of {name}; "
                                   f"stopped; log kept in {runner.log_dir}",
                                   log_dir=runner.log_dir) from None  # fmt: skip
        raise
    except C2AMError:
        # bad input met inside the Runner: leave no half-made run behind (a crash for any other
        # reason keeps its logs and checkpoints for --resume)
        _remove_made(work_dir, made)
        raise
    except KeyError as err:  # registry misses: "X is not in the mmseg::model registry"
        raise ConfigError(f"{cfg.filename}: {err.args[0] if err.args else err}") from None
    seconds = time.perf_counter() - start
    metrics = {
        "config": Path(cfg.filename).name if cfg.filename else None,
        "epochs": int(runner.epoch),
        "iterations": int(runner.iter),
        "train_seconds": round(seconds, 2),
        "iter_seconds": _mean_iter_seconds(runner),
        **{k: float(v) for k, v in val.items()},
    }
    if get_rank() == 0:
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        write_path(work_dir / weights_name, lambda p: torch.save(model.state_dict(), p))
        write_path(work_dir / "config.py", lambda p: cfg.dump(str(p)))
        text = json.dumps(metrics, indent=1) + "\n"
        write_text(work_dir / METRICS_FILE, text)
    if torch.distributed.is_initialized():
        # every rank returns only once rank 0's files exist (a caller may read them next)
        torch.distributed.barrier()
    return metrics


def _add_finite_loss_hook(cfg, stage: str, config: str) -> None:
    """Append :class:`~c2am_bench.hooks.FiniteLossHook` to ``cfg.custom_hooks`` unless there."""
    from .hooks import FiniteLossHook  # also registers it

    def is_it(hook) -> bool:
        if isinstance(hook, dict):
            return hook.get("type") in ("FiniteLossHook", FiniteLossHook)
        return isinstance(hook, FiniteLossHook)

    custom = list(cfg.get("custom_hooks") or [])
    if not any(is_it(h) for h in custom):
        cfg.custom_hooks = [*custom, dict(type="FiniteLossHook", stage=stage, config=config)]


def _remove_made(work_dir: Path, made: Path | None) -> None:
    """Undo the folders this call created: ``work_dir`` with its contents, then its new parents
    up to ``made`` only while empty (another run may have started in one meanwhile)."""
    if made is None:
        return
    shutil.rmtree(work_dir, ignore_errors=True)
    for parent in work_dir.parents:
        if parent == made.parent:
            break
        try:
            parent.rmdir()
        except OSError:
            break


def release_loader_workers(runner) -> None:
    """Stop the worker processes of the Runner's data loaders now, while the Runner is alive.

    Why: with ``persistent_workers=True`` each loop's DataLoader keeps its workers until the
    DataLoader is freed. A finished Runner sits in reference cycles, so that happens in a later
    ``gc.collect()`` (mmengine's dataset init runs one). There CPython calls the worker queues'
    weakref finalizers, which stop their feeder threads, before the iterator's ``__del__`` posts
    each worker's stop signal; the signal is never sent, so every worker sits out torch's 5-s join
    timeout and is then killed. That cost 164 s of a 1,064-s default ``compare`` (py-spy). torch
    has no public call to stop persistent workers; dropping the iterator is what
    ``DataLoader.__del__`` would do.
    """
    for name in ("_train_loop", "_val_loop", "_test_loop"):
        loader = getattr(getattr(runner, name, None), "dataloader", None)
        iterator = getattr(loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
            loader._iterator = None


def _mean_iter_seconds(runner) -> float | None:
    """Mean seconds of a training iteration (data + step) from mmengine's ``IterTimerHook``
    history, the first (warm-up) iteration left out when there are more; ``None`` without it."""
    import numpy as np

    try:
        values = np.asarray(runner.message_hub.get_scalar("train/time").data[0], float)
    except (KeyError, AttributeError, IndexError):
        return None
    values = values[1:] if values.size > 1 else values
    return round(float(values.mean()), 4) if values.size else None


def adopt_average(runner) -> bool:
    """Load an ``EMAHook``'s averaged weights into the trained model and drop the hook.

    mmengine's hook swaps the average in only for the validation *inside* training and into the
    checkpoints it saves; a later ``runner.val()`` or ``runner.test()`` calls ``before_run``
    again, which rebuilds the average from the current (last) weights. So after training the
    average becomes the model itself: the final metrics, the weights file and every later use
    then see the same weights. Buffers (BN statistics) are the trained model's (the hook copies
    them), or their average with ``update_buffers=True``. Returns whether there was an average.
    """
    from mmengine.hooks import EMAHook

    for hook in list(runner.hooks):
        if isinstance(hook, EMAHook) and hasattr(hook, "ema_model"):
            hook.src_model.load_state_dict(hook.ema_model.module.state_dict())
            runner.hooks.remove(hook)  # the Runner's own list
            return True
    return False


def _final_metrics(runner, cfg) -> dict:
    """Validate the final model; also run the test loop when the config has one (e.g. the
    segmentation model scored on ``train`` against ground truth), its keys prefixed ``test/``."""
    metrics = dict(runner.val() or {}) if cfg.get("val_dataloader") else {}
    if cfg.get("test_dataloader"):
        metrics.update({f"test/{k}": v for k, v in (runner.test() or {}).items()})
    return metrics
