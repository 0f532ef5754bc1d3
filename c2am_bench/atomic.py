"""Files and folders written whole or not at all: a temp sibling, then a rename.

Every output of the package is written this way, so a killed run never leaves a half-written
file that a later run trusts: stage folders in the cache (:class:`~c2am_bench.stage_cache.
StageCache` fills a temp folder and renames it), and the files and folders the stage-by-stage
commands write where the user asks (seeds, IR labels, boundary maps, weights, metrics, figures,
results). The standard library has no atomic write; this module is its one home here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from .errors import ConfigError

__all__ = ["fill_dir", "write_file", "write_json", "write_path", "write_text"]


def _temp_beside(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # the temp name ends like the target: writers that choose a format by the name
    # (mmengine's Config.dump, torch.save callers) write the same bytes
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                               dir=path.parent)  # fmt: skip
    os.close(fd)
    os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are readable like open() makes them
    return Path(tmp)


def write_path(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` writes a file (``torch.save``, ``Config.dump``, ...), then it becomes
    ``path``; nothing is left behind when ``write`` fails or the process is interrupted.

    Raises:
        ConfigError: the folder cannot be written (naming ``path``).
    """
    path = Path(path)
    try:
        tmp = _temp_beside(path)
    except OSError as err:
        raise ConfigError(f"{path}: cannot write ({err.strerror or err})") from None
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_file(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """``write(f)`` on a binary file object (``np.savez``, ``fig.savefig``), atomically."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            write(f)

    return write_path(path, to_file)


def write_text(path: str | os.PathLike, text: str) -> Path:
    """``text`` into ``path``, atomically."""
    return write_path(path, lambda tmp: tmp.write_text(text))


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """``data`` as indented JSON (one trailing newline) into ``path``, atomically."""
    return write_text(path, json.dumps(data, indent=1, default=str) + "\n")


def fill_dir(final: str | os.PathLike, fill: Callable[[Path], Any], *, what: str = "") -> Path:
    """``fill(tmp)`` fills a temp folder beside ``final``, which then becomes ``final``.

    Raises:
        ConfigError: ``final`` exists already, or appeared while ``fill`` ran (a rename would
            silently replace an empty folder made meanwhile); nothing is overwritten.
    """
    final = Path(final)
    if final.exists():
        raise ConfigError(f"{final}: already exists; remove it to recompute")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        fill(tmp)
        if final.exists():
            raise ConfigError(f"{final}: appeared while the {what or final.name} were being made")
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final
