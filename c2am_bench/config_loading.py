"""Loading mmengine configs with ``--cfg-options``, refusing keys that would be ignored.

mmengine's ``Config.merge_from_dict`` adds an unknown key without a word, so a typo such as
``model.head.gammma=2`` would train with the default. :func:`load_config` checks every option key
against the config and against what the classes its ``type`` entries name accept.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

__all__ = ["load_config"]


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
        _check_option_keys(cfg, cfg_options, path)
        try:
            cfg.merge_from_dict(cfg_options)
        except (TypeError, KeyError, ValueError, AttributeError) as err:
            raise ConfigError(f"{path}: --cfg-options do not merge ({err})") from None
    wrapper = cfg.get("optim_wrapper")
    if isinstance(wrapper, dict) and wrapper.get("type") == "CpuAutocastOptimWrapper":
        from .precision import cast_dtype

        try:  # refused here, before any stage runs, not when the Runner builds the wrapper
            cast_dtype(wrapper.get("dtype", "bfloat16"))
        except ConfigError as err:
            raise ConfigError(f"{path.name}: {err}") from None
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif not cfg.get("work_dir"):
        cfg.work_dir = str(Path("work_dirs") / path.stem)
    return cfg


# Top-level keys mmengine's Runner reads (``Runner.from_cfg`` and its ``__init__`` arguments) that
# a config may leave out. Any other new top-level key would be ignored without a word.
_RUNNER_KEYS = frozenset({
    "model", "work_dir", "train_dataloader", "val_dataloader", "test_dataloader", "train_cfg",
    "val_cfg", "test_cfg", "auto_scale_lr", "optim_wrapper", "param_scheduler", "val_evaluator",
    "test_evaluator", "default_hooks", "custom_hooks", "data_preprocessor", "load_from", "resume",
    "launcher", "env_cfg", "log_processor", "log_level", "visualizer", "default_scope",
    "randomness", "experiment_name", "model_wrapper_cfg", "compile", "custom_imports",
    "runner_type",
})  # fmt: skip
# torch DataLoader's arguments, which mmengine passes on.
_LOADER_KEYS = frozenset({
    "dataset", "batch_size", "shuffle", "sampler", "batch_sampler", "num_workers", "collate_fn",
    "pin_memory", "drop_last", "timeout", "worker_init_fn", "multiprocessing_context", "generator",
    "prefetch_factor", "persistent_workers", "pin_memory_device", "in_order",
})  # fmt: skip
# Dicts without ``type`` that mmengine interprets itself, and the keys they take.
_TYPELESS_KEYS = {
    "randomness": {"seed", "diff_rank_seed", "deterministic"},
    "env_cfg": {"cudnn_benchmark", "mp_cfg", "dist_cfg", "resource_limit"},
    "env_cfg.mp_cfg": {"mp_start_method", "opencv_num_threads"},
    "auto_scale_lr": {"enable", "base_batch_size"},
    "log_processor": {"type", "window_size", "by_epoch", "custom_cfg", "num_digits",
                      "log_with_hierarchy", "mean_pattern"},
    "train_cfg": {"type", "by_epoch", "max_epochs", "max_iters", "val_begin", "val_interval",
                  "dynamic_intervals"},
    "val_cfg": {"type", "fp16"},
    "test_cfg": {"type", "fp16"},
    "optim_wrapper.paramwise_cfg": {"custom_keys", "bias_lr_mult", "bias_decay_mult",
                                    "norm_decay_mult", "dwconv_decay_mult", "flat_decay_mult",
                                    "dcn_offset_lr_mult", "bypass_duplicate"},
}  # fmt: skip
# Keys a typed dict takes beyond its class's arguments (popped by mmengine's builders).
_EXTRA_KEYS = {"optim_wrapper": {"constructor", "paramwise_cfg"}}
# Dicts whose keys are free names: hooks by name, metainfo fields, lr-mult patterns, the
# model's train/test settings, process-group arguments, init configs.
_OPEN_DICTS = frozenset({"default_hooks", "metainfo", "custom_keys", "train_cfg", "test_cfg",
                         "dist_cfg", "init_cfg"})  # fmt: skip


def _check_option_keys(cfg, options: dict, path: Path) -> None:
    """Refuse a ``--cfg-options`` key that the config neither has nor can take.

    mmengine's ``merge_from_dict`` adds unknown keys silently, so ``model.head.gammma=2`` would
    train with the default gamma. A key missing from the config is accepted only where it is
    legitimately new: a Runner setting at the top level (``load_from``, ``resume``, ...), an
    argument of the class a ``type`` names (e.g. ``model.head.lse_r`` for ``C2AMHead``), a key
    mmengine reads from a type-less dict (``randomness.deterministic``), or any key of a dict of
    free names (``default_hooks``, ``metainfo``); below such a key nothing is checked.

    Raises:
        ConfigError: naming the key, the config file and the closest existing key.
    """
    for key in options:
        node, parts = cfg, key.split(".")
        for depth, part in enumerate(parts):
            where = ".".join(parts[:depth])
            if isinstance(node, list | tuple):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--cfg-options {key}: {where} in {path.name} is a list of "
                                      f"{len(node)}; index {part!r} is out of range")  # fmt: skip
                node = node[int(part)]
                continue
            if not hasattr(node, "keys"):
                raise ConfigError(f"--cfg-options {key}: {where} is {node!r:.40} in {path.name}, "
                                  "not a dict of settings")  # fmt: skip
            if part in node:
                node = node[part]
                continue
            # a type the same options switch to (e.g. optim_wrapper.type=AmpOptimWrapper with
            # optim_wrapper.dtype=bfloat16) decides, not the config's
            retyped = options.get(f"{where}.type" if where else "type")
            typed = {**node, "type": retyped} if retyped and "type" in node else node
            accepted, owner = _accepted_keys(where, typed)
            if accepted is None or part in accepted or part in ("_delete_", "_scope_"):
                break
            import difflib

            close = difflib.get_close_matches(part, sorted({*node.keys(), *accepted}), n=1)
            what = owner or (f"{where} has no such key" if where else
                             f"{part!r} is neither a config key nor a Runner setting")  # fmt: skip
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"--cfg-options {key}: no such key in {path.name} ({what}{hint})")


def _accepted_keys(where: str, node) -> tuple[set | None, str | None]:
    """Keys ``node`` (the dict at dotted path ``where``) may gain, or ``None`` for any; and a
    description of its owner for the message."""
    last = where.rsplit(".", 1)[-1]
    if not where:
        return set(_RUNNER_KEYS), None
    if "type" in node:
        cls = _resolve_type(node["type"])
        params = _init_params(cls) if cls is not None else None
        if params is None:
            return None, None
        name = getattr(cls, "__name__", str(node["type"]))
        return params | _EXTRA_KEYS.get(where, set()), f"{name} at {where} takes no such argument"
    if where in _TYPELESS_KEYS:
        return set(_TYPELESS_KEYS[where]), None
    if "." not in where and where.endswith("_dataloader"):
        return set(_LOADER_KEYS), None
    if last in _OPEN_DICTS:
        return None, None
    return set(), None


def _resolve_type(type_) -> object | None:
    """The class (or function) a config's ``type`` names, from mmseg's registries (mmengine's
    through their parents), or ``None`` when no registry knows it."""
    if callable(type_):
        return type_
    import mmseg.registry as registries

    for name in dir(registries):
        registry = getattr(registries, name)
        if name.isupper() and hasattr(registry, "get"):
            try:
                found = registry.get(type_)
            except Exception:  # noqa: BLE001 - a bad scope prefix: this registry does not know it
                found = None
            if found is not None:
                return found
    return None


def _init_params(cls) -> set[str] | None:
    """Named arguments ``cls`` accepts, following ``**kwargs`` up the MRO while each
    ``__init__`` forwards them; ``None`` when the set is open-ended or cannot be read."""
    import inspect

    funcs = ([k.__dict__["__init__"] for k in inspect.getmro(cls)
              if k is not object and "__init__" in k.__dict__]
             if inspect.isclass(cls) else [cls])  # fmt: skip
    names: set[str] = set()
    for func in funcs:
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            return names - {"self"}
    return None
