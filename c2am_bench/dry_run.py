"""``compare --dry-run``: every stage on a handful of images and a few iterations, then a verdict
per stage and its time projected to the full run.

A VOC user's first question is whether a 10-hour run will get through. The dry run answers it in
minutes on the user's own data, weights and options:

* :func:`subset_tree` links a few images per split of the user's tree into a throw-away
  VOC-layout tree (symlinks: no image is copied or changed);
* :func:`shrink` is the :class:`~c2am_bench.pipeline.Pipeline`'s ``shrink`` hook: each training runs
  one epoch of the subset (epoch-based configs) or ``iters`` iterations (iteration-based), batch
  2, no loader workers; everything else (crop sizes, scales, CRF, walk, TTA) is the real config;
* :func:`run_dry` runs each method's chain in a throw-away stage cache, catching a stage's failure
  so the other stages and methods still get checked, and :func:`verdicts` turns the cache's
  records into one :class:`StageVerdict` per stage.

A failure that only a short run causes (an :class:`~c2am_bench.errors.UndertrainedError`, e.g. a
Global CAM with all-zero classes after a few iterations on 8 images, which C2AM rightly refuses in
a real run) is reported as ``checked`` with the reason; the stages after it are ``not run`` and
name it. Every other failure is ``FAILED`` with its first line; the traceback goes to the log.

Projection (same machine, same device): a training's mean iteration time (mmengine's
``IterTimerHook``) / dry batch x images the full schedule sees (epochs x split size, or
iterations x batch), plus the dry run's fixed cost (model build, checkpoint load); a per-image
stage's dry seconds x full images / dry images. Validation passes inside trainings are not
projected. It is a first-order estimate: state it with its machine.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import C2AMError, UndertrainedError

logger = logging.getLogger(__name__)

DRY_BATCH = 2
# mask / label folders linked into the subset when the user's tree has them
_LINKED_DIRS = ("SegmentationClass", "SegmentationClassAug", "SegmentationConfounders")
_META_FILES = ("synthvoc.json", "image_labels.json")
# the chain of a method's stages for each --until, in the order they run
CHAINS = {
    "seeds": ("classifier", "seeds"),
    "masks": ("classifier", "seeds", "ir_labels", "boundary_net", "boundary", "walk", "masks"),
    "seg": ("classifier", "seeds", "ir_labels", "boundary_net", "boundary", "walk", "masks",
            "segmentor", "seg_eval"),
}  # fmt: skip
TRAININGS = ("classifier", "boundary_net", "segmentor")
# the split a per-image stage works on when its stage.json does not say
_STAGE_SPLIT = {"seeds": "train_aug", "ir_labels": "train_aug", "seg_eval": "val",
                "confounders": "train", "context_errors": "train",
                "oracle_boundary": "train"}  # fmt: skip


@dataclass
class StageVerdict:
    """One stage of one method in a dry run.

    ``status``: ``ok`` (ran), ``shared`` (made by an earlier method, same key), ``checked`` (got
    as far as a short run allows; ``note`` says why), ``FAILED`` (``note``: the error's first
    line) or ``not run`` (``note``: which earlier stage stopped the chain).
    """

    method: str
    stage: str
    status: str
    seconds: float | None = None
    projected_seconds: float | None = None
    note: str = ""


@dataclass
class DryRunReport:
    """What :func:`run_dry` found: the verdicts, the subset's and the full tree's split sizes."""

    verdicts: list[StageVerdict] = field(default_factory=list)
    images: dict[str, tuple[int, int]] = field(default_factory=dict)  # split -> (dry, full)
    seconds: float = 0.0
    log: str | None = None

    @property
    def failed(self) -> list[StageVerdict]:
        return [v for v in self.verdicts if v.status == "FAILED"]

    @property
    def projected_seconds(self) -> float:
        return sum(v.projected_seconds or 0.0 for v in self.verdicts if v.status == "ok")

    def projected_for(self, n_seeds: int, ladder_every_seed: bool = False) -> float:
        """The projected time of ``n_seeds`` seeds: one seed's stages ``n_seeds`` times, the
        oracle ladder's (``oracle: ...``) once unless ``ladder_every_seed``."""
        ladder = sum(v.projected_seconds or 0.0 for v in self.verdicts
                     if v.status == "ok" and v.stage.startswith("oracle: "))  # fmt: skip
        per_seed = self.projected_seconds - (0.0 if ladder_every_seed else ladder)
        return self.projected_seconds + (n_seeds - 1) * per_seed

    def to_dict(self) -> dict:
        return {"verdicts": [asdict(v) for v in self.verdicts],
                "images": {k: list(v) for k, v in self.images.items()},
                "seconds": round(self.seconds, 2),
                "projected_seconds": round(self.projected_seconds, 1),
                "failed": len(self.failed), "log": self.log}  # fmt: skip


# -- the subset -----------------------------------------------------------------------------------
def subset_tree(
    root: Path,
    out: Path,
    n: int,
    *,
    seed_split: str = "train_aug",
    eval_split: str = "train",
    val_split: str = "val",
) -> dict[str, tuple[int, int]]:
    """Link ``n`` images of ``eval_split`` and ``val_split`` and ``2n`` of ``seed_split`` (the
    ``eval_split`` ones first, as VOC's ``train_aug`` holds ``train``) into a VOC tree at ``out``.

    Images and masks are symlinks to the user's files; split lists and metadata are new files.

    Returns:
        ``{split: (images in the subset, images in the user's split)}``.

    Raises:
        DataError: a split file the pipeline needs is missing or empty.
    """
    from .datasets import voc
    from .datasets.voc_meta import IMAGE_DIR, SPLIT_DIR
    from .errors import DataError

    tree = voc.open_tree(root)
    full = {s: tree.read_split(s) for s in (seed_split, eval_split, val_split)}
    for split, ids in full.items():
        if not ids:
            raise DataError(tree.split_file(split), "empty split: a dry run needs images in it")
    picked = {eval_split: full[eval_split][:n], val_split: full[val_split][:n]}
    first = [i for i in picked[eval_split] if i in set(full[seed_split])]
    rest = [i for i in full[seed_split] if i not in set(first)]
    picked[seed_split] = (first + rest)[: 2 * n]
    (out / SPLIT_DIR).mkdir(parents=True)
    for split, ids in picked.items():
        (out / SPLIT_DIR / f"{split}.txt").write_text("".join(f"{i}\n" for i in ids))
    ids = sorted({i for split in picked.values() for i in split})
    (out / IMAGE_DIR).mkdir()
    for id_ in ids:
        image = tree.image_path(id_)
        os.symlink(image.resolve(), out / IMAGE_DIR / image.name)
    for folder in _LINKED_DIRS:
        if not (root / folder).is_dir():
            continue
        (out / folder).mkdir()
        for id_ in ids:
            mask = root / folder / f"{id_}.png"
            if mask.is_file():
                os.symlink(mask.resolve(), out / folder / mask.name)
    for name in _META_FILES:
        if (root / name).is_file():
            shutil.copy2(root / name, out / name)
    return {split: (len(picked[split]), len(full[split])) for split in picked}


# -- the Pipeline's shrink hook -------------------------------------------------------------------
def shrink(iters: int, batch: int = DRY_BATCH) -> Callable[[str, Any], dict]:
    """``(stage, full_cfg) -> options`` for :class:`~c2am_bench.pipeline.Pipeline`: one epoch
    (epoch-based) or ``iters`` iterations (iteration-based), batch ``batch``, no loader workers,
    one validation at the end."""

    def options(stage: str, cfg) -> dict:
        out: dict[str, Any] = {}
        if "max_epochs" in cfg.train_cfg:
            out.update({"train_cfg.max_epochs": 1, "train_cfg.val_interval": 1})
        else:
            out.update({"train_cfg.max_iters": iters, "train_cfg.val_interval": iters})
        for name in ("train_dataloader", "val_dataloader", "test_dataloader"):
            if cfg.get(name):
                out[f"{name}.num_workers"] = 0
                out[f"{name}.persistent_workers"] = False
        out["train_dataloader.batch_size"] = min(batch, int(cfg.train_dataloader.batch_size))
        return out

    return options


# -- the run --------------------------------------------------------------------------------------
class _Recorder:
    """Stage events of the cache -> ordered ``(scope, stage, key, what)`` records."""

    def __init__(self, forward=None) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self.forward = forward

    def __call__(self, scope: str, stage: str, key: str, what: str) -> None:
        self.events.append((scope, stage, key, what))
        if self.forward is not None:
            self.forward(scope, stage, key, what)


def run_dry(
    data_root: Path,
    variants: Sequence,
    *,
    profile: str,
    seed: int,
    work_dir: Path,
    stage_options: dict | None = None,
    seg_eval: tuple[str, ...] | None = None,
    oracle: tuple[str, ...] = (),
    until: str = "seg",
    images: int = 4,
    iters: int = 4,
    on_event=None,
    log_path: Path | None = None,
    keep: Path | None = None,
) -> DryRunReport:
    """Every stage of every variant on a subset of ``data_root`` (see the module docstring).

    Args:
        variants: :class:`~c2am_bench.pipeline.Variant` s, the baseline first.
        work_dir: where the throw-away tree and cache go (a temporary folder inside it, removed
            at the end).
        seg_eval: DeepLabV2's extra val evaluations (default: the profile's).
        oracle: variant names that also climb the oracle ladder.
        log_path: where the tracebacks of failed stages are written.
        keep: put the subset tree and the cache in this (new) folder and keep them (for a look
            at what the short run made), instead of a temporary folder.

    Returns:
        The :class:`DryRunReport`.
    """
    from .pipeline import Pipeline
    from .stage_cache import StageCache

    if images < 1 or iters < 1:
        raise C2AMError(f"dry run: --dry-images {images} and --dry-iters {iters} must be >= 1")
    start = time.perf_counter()
    work_dir.mkdir(parents=True, exist_ok=True)
    if keep is not None:
        keep.mkdir(parents=True)  # a new folder: nothing of the user's is overwritten
    tmp = keep or Path(tempfile.mkdtemp(prefix=".dry-run-", dir=work_dir))
    report = DryRunReport(log=str(log_path) if log_path else None)
    errors: list[str] = []
    try:
        report.images = subset_tree(Path(data_root), tmp / "data", images)
        recorder = _Recorder(on_event)
        cache = StageCache(tmp / "cache")
        runner = Pipeline(tmp / "data", cache, profile=profile, on_event=recorder,
                        stage_options=stage_options, shrink=shrink(iters),
                        seg_eval=seg_eval)  # fmt: skip
        stopped: dict[str, tuple[str, str, str]] = {}  # method -> (stage, status, note)
        for variant in variants:
            try:
                runner.run(variant, seed, until, oracle=variant.name in oracle)
            except KeyboardInterrupt:
                raise
            except Exception as err:  # noqa: BLE001 - a dry run reports every stage's failure
                stage = _running_stage(recorder.events, f"{variant.name} seed {seed}")
                line = _first_line(err)
                status = "checked" if isinstance(err, UndertrainedError) else "FAILED"
                stopped[variant.name] = (stage, status, line)
                errors.append(f"== {variant.name} / {stage}: {line}\n{traceback.format_exc()}")
        report.verdicts = verdicts(recorder.events, cache, variants, seed, until, stopped,
                                   report.images)  # fmt: skip
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)
        if log_path is not None and errors:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_path.write_text("\n".join(errors))
    report.seconds = time.perf_counter() - start
    return report


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _running_stage(events, scope: str) -> str:
    """The stage of ``scope`` that started and did not finish (the one that failed)."""
    open_: list[str] = []
    for sc, stage, key, what in events:
        if sc != scope:
            continue
        if what in ("computing", "resuming"):
            open_.append(f"{stage}/{key}")
        elif what == "done" and f"{stage}/{key}" in open_:
            open_.remove(f"{stage}/{key}")
    return open_[-1].split("/")[0] if open_ else "start-up"


def verdicts(events, cache, variants, seed: int, until: str,
             stopped: dict[str, tuple[str, str, str]],
             images: dict[str, tuple[int, int]]) -> list[StageVerdict]:  # fmt: skip
    """One :class:`StageVerdict` per stage each method met (in order), then its stages that did
    not run."""
    out: list[StageVerdict] = []
    made: set[tuple[str, str]] = set()
    for variant in variants:
        scope = f"{variant.name} seed {seed}"
        seen: list[str] = []
        prefix = ""
        for sc, stage, key, what in events:
            if sc != scope or what not in ("done", "reused"):
                continue
            if stage == "oracle_boundary":
                prefix = "oracle: "  # the ladder's stages come after the method's chain
            elif stage == "confounders":
                prefix = ""
            if what == "done":
                info = cache.info(stage, key)
                made.add((stage, key))
                projected, note = project(stage, info, cache.path(stage, key), images)
                out.append(StageVerdict(variant.name, prefix + stage, "ok", info.get("seconds"),
                                        projected, note))  # fmt: skip
                seen.append(stage)
            elif prefix and (stage, key) in made and stage not in ("classifier", "seeds"):
                # a rung another method's ladder made (GT boundary, GT-label net, GT DeepLabV2);
                # the baseline stages a fine-tune reads are listed under the baseline
                note = "made for an earlier method (same inputs)"
                out.append(StageVerdict(variant.name, prefix + stage, "shared", note=note))
        if variant.name in stopped:
            stage, status, note = stopped[variant.name]
            out.append(StageVerdict(variant.name, stage, status, note=note))
            seen.append(stage)
            chain = CHAINS[until]
            after = chain[chain.index(stage) + 1 :] if stage in chain else ()
            why = (f"after {stage}: the same code as the baseline's, checked there"
                   if status == "checked" else f"{stage} failed")  # fmt: skip
            out += [StageVerdict(variant.name, s, "not run", note=why) for s in after
                    if s not in seen]  # fmt: skip
    return out


def project(stage: str, info: dict, folder: Path,
            images: dict[str, tuple[int, int]]) -> tuple[float | None, str]:  # fmt: skip
    """Projected seconds of ``stage`` in the full run and a note saying how it was scaled."""
    seconds = info.get("seconds")
    if seconds is None:
        return None, ""
    if stage in TRAININGS or "full_schedule" in info:
        return _project_training(info, folder, images)
    split = info.get("split") or _STAGE_SPLIT.get(stage)
    dry, full = images.get(split, (0, 0))
    if not dry:
        return float(seconds), "not scaled"
    return seconds * full / dry, f"{dry} -> {full:,} {split} images"


def _project_training(info: dict, folder: Path,
                      images: dict[str, tuple[int, int]]) -> tuple[float | None, str]:  # fmt: skip
    full, dry = info.get("full_schedule"), info.get("schedule")
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    it_s, iterations = metrics.get("iter_seconds"), metrics.get("iterations")
    train_s = metrics.get("train_seconds") or info.get("seconds")
    if not (full and dry and it_s and iterations):
        return None, "no iteration timing"
    n_full = images.get(full["split"], (0, 0))[1] if full.get("split") else 0
    if full["by_epoch"]:
        if not n_full:
            return None, f"split {full['split']!r} unknown"
        seen = full["length"] * n_full
        what = f"{full['length']} epochs x {n_full:,} images"
    else:
        seen = full["length"] * full["batch"]
        what = f"{full['length']:,} iterations x batch {full['batch']}"
    fixed = max(float(train_s) - it_s * iterations, 0.0)
    per_image = it_s / max(dry["batch"], 1)
    projected = fixed + per_image * seen
    return projected, f"{iterations} it. at batch {dry['batch']} -> {what}"


def format_report(report: DryRunReport, machine: str, n_seeds: int = 1,
                  ladder_every_seed: bool = False) -> list[str]:  # fmt: skip
    """The terminal lines: one per stage (of the first seed), then the verdict and the projected
    total of ``n_seeds`` seeds (:meth:`DryRunReport.projected_for`)."""
    lines = [f"{'method':<14} {'stage':<22} {'verdict':<8} {'dry s':>7} {'full run':>10}  note"]
    for v in report.verdicts:
        dry = "" if v.seconds is None else f"{v.seconds:7.1f}"
        full = "" if v.projected_seconds is None else _duration(v.projected_seconds)
        lines.append(f"{v.method:<14} {v.stage:<22} {v.status:<8} {dry:>7} {full:>10}  {v.note}")
    checked = [v for v in report.verdicts if v.status == "checked"]
    sizes = ", ".join(f"{d} of {f:,} {s}" for s, (d, f) in report.images.items())
    lines.append(f"\nimages: {sizes}; dry run took {report.seconds:.0f} s on {machine}")
    if report.failed:
        where = ", ".join(f"{v.method}/{v.stage}" for v in report.failed)
        lines.append(f"verdict: {len(report.failed)} stage(s) FAILED ({where}); tracebacks in "
                     f"{report.log}")  # fmt: skip
    else:
        extra = f" ({len(checked)} as far as a short run allows)" if checked else ""
        total = _duration(report.projected_for(n_seeds, ladder_every_seed))
        seeds = ""
        if n_seeds > 1:
            ladder = "" if ladder_every_seed else ", the oracle ladder at the first only"
            seeds = f" for {n_seeds} seeds (one seed {_duration(report.projected_seconds)}{ladder})"
        lines.append(f"verdict: every stage ran{extra}; projected full run {total}{seeds} on "
                     "this machine (training iterations and per-image stages; validation "
                     "inside trainings not counted)")  # fmt: skip
    return lines


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"
