"""Content-keyed stage cache shared by ``compare`` and every study trial.

A stage output lives in ``<root>/<stage>/<key>/``, ``key`` being the hash of what the stage reads:
its own settings (for a training stage, the merged mmengine config text) and the keys of the
stages it consumes. Two trials that differ only in IRN thresholds therefore share the
classifier, the Global CAM and the seeds; one that changes only ``sem_seg_bg`` shares the walk.

A directory is finished when it holds ``stage.json`` (written last). How each kind is written:

* computed stages (seeds, IR labels, walk, masks, ...) fill a temporary sibling
  ``.<key>.tmp-*`` and rename it into place, so a killed run never leaves a directory that a
  later run trusts;
* training stages run mmengine's Runner in ``<key>/`` itself, so a killed training resumes from
  its ``last_checkpoint``; only the final ``stage.json`` marks it done.

Each key is computed under an exclusive ``fcntl`` lock on ``<stage>/.<key>.lock``, so several
worker processes of one study (one machine or a shared file system with POSIX locks) never
compute the same output twice; a lock dies with its process, so a SIGKILLed worker blocks no one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

from .atomic import write_json
from .errors import ConfigError

logger = logging.getLogger(__name__)

DONE_FILE = "stage.json"
# Keys hash configs and inputs, not code: a stage whose code changed what it computes gets a
# version here, so outputs cached by the old code are not reused -- nor anything built on them,
# since later stages key on the folder name. boundary_net 2: deterministic loss gradient
# (random_walk.edge_to_affinity, 2026-11-24).
CODE_VERSIONS = {"boundary_net": 2}


def check_force(force: str | Iterable[str]) -> list[str]:
    """``--force``: stage-cache folder names (a comma-separated string or a list), each one a
    registered stage or pseudo-mask method writes (:func:`c2am_bench.stages.cache_folders`).

    Raises:
        ConfigError: an unknown name, with the choices.
    """
    from .stages import cache_folders

    names = [s.strip() for s in (force.split(",") if isinstance(force, str) else force)]
    names = [s for s in names if s]
    known = cache_folders()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"--force: unknown stage(s) {unknown}; choose from {', '.join(known)}")
    return names


def stage_key(stage: str, *parts: object) -> str:
    """16-hex-digit key of ``stage`` over JSON-serialisable ``parts`` (dict order ignored)."""
    text = json.dumps([stage, *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class StageCache:
    """Directories of finished stage outputs under ``root``.

    Args:
        root: cache root (created).
        force: stage names to recompute once in this process even when finished.
        on_event: called with ``(stage, key, what)`` where ``what`` is ``'reused'``,
            ``'computing'``, ``'resuming'`` or ``'done'`` (the CLI prints these).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        force: Iterable[str] = (),
        on_event: Callable[[str, str, str], None] | None = None,
    ) -> None:
        force = set(check_force(force))
        self.root = Path(root).resolve()
        self.force = force
        self._forced: set[tuple[str, str]] = set()
        self._listeners: list[Callable[[str, str, str], None]] = [on_event] if on_event else []
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise ConfigError(
                f"{self.root}: cannot create the stage cache ({err.strerror})"
            ) from None
        if not os.access(self.root, os.W_OK):
            raise ConfigError(f"{self.root}: stage cache is not writable")

    @contextmanager
    def listening(self, callback: Callable[[str, str, str], None]):
        """Also send this cache's events to ``callback`` while the block runs (the pipeline's
        runner adds which method and seed they belong to)."""
        self._listeners.append(callback)
        try:
            yield self
        finally:
            self._listeners.remove(callback)

    def _on_event(self, stage: str, key: str, what: str) -> None:
        for listener in list(self._listeners):
            listener(stage, key, what)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    @staticmethod
    def versioned(stage: str, key: str) -> str:
        """``key`` salted with the stage's :data:`CODE_VERSIONS` entry (unchanged without one)."""
        version = CODE_VERSIONS.get(stage)
        return key if version is None else stage_key(stage, version, key)

    def is_done(self, stage: str, key: str) -> bool:
        return (self.path(stage, key) / DONE_FILE).is_file()

    def info(self, stage: str, key: str) -> dict:
        """The ``stage.json`` of a finished stage (its inputs, settings and wall seconds)."""
        return json.loads((self.path(stage, key) / DONE_FILE).read_text())

    @contextmanager
    def _lock(self, stage: str, key: str):
        folder = self.root / stage
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f".{key}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _take_force(self, stage: str, key: str) -> bool:
        """True the first time this process meets a forced ``(stage, key)``."""
        if stage in self.force and (stage, key) not in self._forced:
            self._forced.add((stage, key))
            return True
        return False

    def _reusable(self, stage: str, key: str) -> bool:
        """True (and a 'reused' event) when ``<stage>/<key>`` is finished and not forced."""
        forced = self._take_force(stage, key)
        if self.is_done(stage, key) and not forced:
            self._on_event(stage, key, "reused")
            return True
        return False

    def _finish(self, folder: Path, stage: str, key: str, seconds: float, meta: dict) -> None:
        info = {"stage": stage, "key": key, "seconds": round(seconds, 2),
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), **meta}  # fmt: skip
        write_json(folder / DONE_FILE, info)

    def build(self, stage: str, key: str, fill: Callable[[Path], dict | None], **meta) -> Path:
        """Return the finished ``<stage>/<key>``; compute it atomically with ``fill`` if needed.

        ``fill(tmp_dir)`` writes the outputs into an empty temporary directory and may return a
        dict that is stored in ``stage.json`` beside ``meta`` (the stage's inputs and settings).
        """
        key = self.versioned(stage, key)
        final = self.path(stage, key)
        with self._lock(stage, key):
            if self._reusable(stage, key):
                return final
            for stale in final.parent.glob(f".{key}.tmp-*"):  # left by a killed run
                shutil.rmtree(stale, ignore_errors=True)
            self._on_event(stage, key, "computing")
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}.tmp-", dir=final.parent))
            try:
                start = time.perf_counter()
                extra = fill(tmp) or {}
                self._finish(tmp, stage, key, time.perf_counter() - start, {**meta, **extra})
                if final.exists():  # forced, or a directory that never finished
                    shutil.rmtree(final)
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        self._on_event(stage, key, "done")
        return final

    def train(self, stage: str, key: str, run: Callable[[Path, bool], dict | None], **meta) -> Path:
        """Return the finished training ``<stage>/<key>``; run or resume ``run(dir, resume)``.

        ``run`` trains with ``dir`` as its mmengine work dir; ``resume`` is True when a killed
        earlier run left a ``last_checkpoint`` there.
        """
        key = self.versioned(stage, key)
        final = self.path(stage, key)
        with self._lock(stage, key):
            if self._reusable(stage, key):
                return final
            if stage in self.force and final.exists():  # forced: start from nothing
                shutil.rmtree(final)
            resume = (final / "last_checkpoint").is_file()
            self._on_event(stage, key, "resuming" if resume else "computing")
            final.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            extra = run(final, resume) or {}
            self._finish(final, stage, key, time.perf_counter() - start, {**meta, **extra})
        self._on_event(stage, key, "done")
        return final
