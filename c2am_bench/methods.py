"""CAM methods as data: what each classifier is trained from, declared once.

A method is a classifier config plus two facts the runner needs: whether it fine-tunes the
baseline CAM classifier of the same seed (``from_baseline``: ``load_from`` is set to it), and
whether its head reads the baseline's Global CAM (``global_cam``: ``model.head.global_cam`` is
set to the baseline seeds' ``global_cam.npz``). The built-in methods are :data:`BUILTIN`; a
user's method is a config file that declares the same facts in a top-level ``c2am_method`` dict
and registers its head through ``custom_imports`` (README, "Extending")::

    _base_ = ['/path/to/c2am-bench/mm_configs/cam/cam-constant_r18lite_ft6e_synthvoc-128.py']
    custom_imports = dict(imports=['c2am_bench.models', 'my_head'], allow_failed_imports=False)
    model = dict(head=dict(type='MyHead'))
    c2am_method = dict(from_baseline=True, global_cam=False)

The config's folder is put on ``sys.path`` so a module beside it imports by its bare name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

#: The top-level config key a user's method config declares itself with.
DECLARATION = "c2am_method"


@dataclass(frozen=True)
class MethodSpec:
    """What the runner needs to know about a CAM method.

    Attributes:
        label: the name tables and figures show.
        from_baseline: fine-tunes the baseline CAM classifier of the same seed.
        global_cam: its head reads the baseline seeds' Global CAM.
    """

    label: str
    from_baseline: bool = False
    global_cam: bool = False


BUILTIN: dict[str, MethodSpec] = {
    "cam": MethodSpec("CAM"),
    "cam_constant": MethodSpec("CAM+Constant", from_baseline=True),
    "c2am": MethodSpec("C2AM", from_baseline=True, global_cam=True),
}


def use_config_folder(path: str | Path) -> None:
    """Put a user config's folder on ``sys.path`` (its ``custom_imports`` may name a module
    beside it, as mmseg's ``projects/`` name theirs from the repository root)."""
    folder = str(Path(path).resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)


def read_declaration(path: str | Path, name: str) -> MethodSpec:
    """The :class:`MethodSpec` a user's method config declares in ``c2am_method``.

    Raises:
        ConfigError: the file is missing or unreadable, or the declaration has unknown keys or
            values that are not booleans.
    """
    from .config_loading import load_config

    use_config_folder(path)
    cfg = load_config(path)
    raw = cfg.get(DECLARATION) or {}
    unknown = sorted(set(raw) - {"from_baseline", "global_cam"})
    if unknown:
        raise ConfigError(f"{path}: {DECLARATION} has unknown key(s) {unknown}; "
                          "choose from from_baseline, global_cam")  # fmt: skip
    for key, value in raw.items():
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: {DECLARATION}.{key}={value!r} must be True or False")
    if raw.get("global_cam") and not raw.get("from_baseline"):
        raise ConfigError(f"{path}: {DECLARATION}.global_cam needs from_baseline=True (the "
                          "Global CAM comes from the baseline of the same seed)")  # fmt: skip
    return MethodSpec(label=name, **raw)


def custom_sources(cfg) -> str:
    """Hash of the source files of the config's ``custom_imports`` outside this package.

    Stage keys hash configs, not code; a user's head module is code the config names, so a
    change to it must give a new classifier key (the package's own modules are versioned by
    :data:`c2am_bench.stage_cache.CODE_VERSIONS` instead). Empty when there are none.
    """
    imports = (cfg.get("custom_imports") or {}).get("imports") or []
    h = hashlib.sha256()
    found = False
    for module in sorted(imports):
        if module == "c2am_bench" or module.startswith("c2am_bench."):
            continue
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None or not Path(spec.origin).is_file():
            continue
        h.update(module.encode() + Path(spec.origin).read_bytes())
        found = True
    return h.hexdigest()[:16] if found else ""
