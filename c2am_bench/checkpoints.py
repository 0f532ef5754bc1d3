"""Safe checkpoint loading under torch's ``weights_only=True`` default.

Two kinds of checkpoint reach this project:

* **User checkpoints** (ImageNet weights, a baseline classifier someone trained elsewhere): loaded
  with :func:`load_state_dict`, always ``weights_only=True`` -- tensors and plain containers only,
  no code is ever unpickled. A file that needs more is refused with a one-line error.
* **Our own mmengine checkpoints** (``epoch_N.pth`` that a run of this project wrote in its work
  dir) pickle mmengine's ``HistoryBuffer`` -- including bound methods, i.e. ``getattr`` -- and numpy
  arrays in ``message_hub``. mmengine 0.10.7 resumes them with a bare ``torch.load``, which fails
  under torch >= 2.6 (fixed only on unreleased mmengine main, PR #1670). Allow-listing ``getattr``
  globally would re-open code execution for every file, so instead :func:`trust_work_dir`
  re-registers mmengine's local-file checkpoint loader: files *inside a work dir this process is
  running* load in full, every other path stays ``weights_only=True``. We deliberately do not set
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, which would switch the protection off for user files too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .errors import CheckpointError

_TRUSTED_DIRS: list[Path] = []


def _load_local(filename: str, map_location=None):
    """mmengine ``CheckpointLoader`` scheme for local paths (replaces ``load_from_local``)."""
    import torch

    path = Path(filename).expanduser().resolve()
    if not path.is_file():
        raise FileNotFoundError(f"{filename} can not be found.")
    trusted = any(path.is_relative_to(d) for d in _TRUSTED_DIRS)
    return torch.load(path, map_location=map_location, weights_only=not trusted)


def trust_work_dir(work_dir: str | os.PathLike) -> None:
    """Let mmengine fully load (resume) checkpoints that this project's run wrote in ``work_dir``.

    Checkpoints anywhere else (``load_from``, ``init_cfg`` pretrained paths a user gives) are still
    loaded with ``weights_only=True``. Idempotent.
    """
    from mmengine.runner.checkpoint import CheckpointLoader

    resolved = Path(work_dir).expanduser().resolve()
    if resolved not in _TRUSTED_DIRS:
        _TRUSTED_DIRS.append(resolved)
    CheckpointLoader.register_scheme(prefixes="", loader=_load_local, force=True)


def load_state_dict(path: str | os.PathLike, *, key: str | None = None) -> dict:
    """Load a model ``state_dict`` from a user-supplied file without executing any code.

    Accepts a bare state dict or a wrapper dict with ``state_dict`` / ``model`` (e.g. mmengine's
    checkpoints); ``key`` picks the wrapper key explicitly. A ``module.`` prefix (DataParallel) is
    stripped.

    Raises:
        CheckpointError: the file is missing, is not a torch checkpoint, would need to unpickle
            code (refused), or holds no state dict.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else "unsupported object"
        raise CheckpointError(
            f"{path}: refused to load: it contains pickled objects other than tensors "
            f"({first[:160]}); only weights-only checkpoints are accepted"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        # torch's messages run to several sentences and lines; the first says what failed
        first = str(err).strip().split(". ")[0].splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint ({first[:160] or type(err).__name__})"
        ) from None
    if isinstance(obj, Mapping) and key is not None:
        if key not in obj:
            raise CheckpointError(f"{path}: has no key {key!r} (keys: {sorted(obj)[:8]})")
        obj = obj[key]
    elif isinstance(obj, Mapping):
        for wrapper in ("state_dict", "model"):
            if wrapper in obj and isinstance(obj[wrapper], Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not any(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_into(model, path: str | os.PathLike, *, strict: bool = True, key: str | None = None):
    """Load a user checkpoint into ``model``; mismatches become one :class:`CheckpointError`.

    Returns:
        torch's ``_IncompatibleKeys`` (empty when ``strict``).
    """
    state = load_state_dict(path, key=key)
    try:
        return model.load_state_dict(state, strict=strict)
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: does not match {type(model).__name__} "
            f"({_mismatch(model.state_dict(), state, strict) or str(err).strip()[:300]})"
        ) from None


def _mismatch(expected: Mapping, given: Mapping, strict: bool) -> str:
    """One line on how a state dict differs from a model's: shapes, missing and extra keys."""
    parts = []
    shapes = [k for k in expected if k in given and given[k].shape != expected[k].shape]
    if shapes:
        k = shapes[0]
        parts.append(f"{len(shapes)} shape mismatch(es), e.g. {k!r}: checkpoint "
                     f"{tuple(given[k].shape)} vs model {tuple(expected[k].shape)}")  # fmt: skip
    for what, keys in (
        ("missing", [k for k in expected if k not in given]),
        ("unexpected", [k for k in given if k not in expected] if strict else []),
    ):
        if keys:
            parts.append(f"{len(keys)} {what} key(s), e.g. {keys[0]!r}")
    return "; ".join(parts)
