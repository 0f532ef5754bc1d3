"""Config loading and training through mmengine's Runner (classifier now; IRN and DeepLab later).

A training run writes, in its work dir: mmengine's checkpoints and logs, ``config.py`` (the merged
config), ``classifier.pth`` (a plain ``state_dict``, loadable with ``weights_only=True``, used to
start fine-tunes and to make CAMs) and ``metrics.json`` (final validation metrics + timings).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

from .errors import ConfigError, DataError

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "classifier.pth"
METRICS_FILE = "metrics.json"


def load_config(path: str | os.PathLike, cfg_options: dict | None = None, work_dir=None):
    """``Config.fromfile`` + ``--cfg-options`` merge + work dir, with one-line errors.

    The work dir defaults to ``work_dirs/<config stem>``.
    """
    from mmengine.config import Config

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        cfg = Config.fromfile(str(path))
    except Exception as err:  # noqa: BLE001 - mmengine raises many types for a bad file
        raise ConfigError(f"{path}: cannot load config ({type(err).__name__}: {err})") from None
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif not cfg.get("work_dir"):
        cfg.work_dir = str(Path("work_dirs") / path.stem)
    return cfg


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


def train(
    cfg,
    *,
    resume: bool = False,
    launcher: str = "none",
    weights_name: str = WEIGHTS_FILE,
    quiet_console: bool = False,
) -> dict:
    """Train ``cfg`` with mmengine's Runner, then validate and write the run's outputs.

    Args:
        cfg: an mmengine ``Config`` from :func:`load_config`.
        resume: continue from the last checkpoint in the work dir (mmengine ``resume=True``).
        launcher: ``'none'`` or ``'pytorch'`` (torchrun; gloo on CPU, NCCL on GPU).
        weights_name: file name of the final plain ``state_dict`` in the work dir.
        quiet_console: keep mmengine's log off the console (the log file in
            the work dir keeps everything).

    Returns:
        The metrics written to ``metrics.json``.
    """
    import torch
    from mmengine.dist import get_rank
    from mmengine.runner import Runner

    from .checkpoints import trust_work_dir

    _check_dataset_matches(cfg)
    _check_c2am_inputs(cfg)
    _prepare_runtime(cfg, launcher)
    work_dir = Path(cfg.work_dir)
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        probe = work_dir / f".write-test-{os.getpid()}"  # per process: ranks share the dir
        probe.write_text("")
        probe.unlink(missing_ok=True)
    except OSError as err:
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
        if quiet_console:
            # mmengine's logger binds its console handler to sys.stdout when the Runner builds
            # it; binding it to /dev/null keeps the console clean and the work-dir log complete.
            with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
                runner = Runner.from_cfg(cfg)
                runner.train()
                val = _final_metrics(runner, cfg)
        else:
            runner = Runner.from_cfg(cfg)
            runner.train()
            val = _final_metrics(runner, cfg)
    except (FileNotFoundError, DataError, ConfigError):
        raise
    except KeyError as err:  # registry misses: "X is not in the mmseg::model registry"
        raise ConfigError(f"{cfg.filename}: {err.args[0] if err.args else err}") from None
    seconds = time.perf_counter() - start
    metrics = {
        "config": Path(cfg.filename).name if cfg.filename else None,
        "epochs": int(runner.epoch),
        "iterations": int(runner.iter),
        "train_seconds": round(seconds, 2),
        **{k: float(v) for k, v in val.items()},
    }
    if get_rank() == 0:
        model = runner.model.module if hasattr(runner.model, "module") else runner.model
        _atomic_save(lambda p: torch.save(model.state_dict(), p), work_dir / weights_name)
        _atomic_save(lambda p: cfg.dump(str(p)), work_dir / "config.py")
        text = json.dumps(metrics, indent=1) + "\n"
        _atomic_save(lambda p: Path(p).write_text(text), work_dir / METRICS_FILE)
    return metrics


def _final_metrics(runner, cfg) -> dict:
    """Validate the final model; also run the test loop when the config has one (e.g. the
    segmentation model scored on ``train`` against ground truth), its keys prefixed ``test/``."""
    metrics = dict(runner.val() or {}) if cfg.get("val_dataloader") else {}
    if cfg.get("test_dataloader"):
        metrics.update({f"test/{k}": v for k, v in (runner.test() or {}).items()})
    return metrics


def _atomic_save(write, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)
