"""``compare --jobs N``: a compare's method x seed runs in N worker processes side by side.

On a few cores, small models use torch's threads poorly: two DeepLabV2 trainings at one thread
each finish 1.27x faster than one after the other at two threads (2-core AMD EPYC,
``benchmarks/bench_threads.py``). The runs of a compare are independent once the baseline's
classifier and seeds exist (the fine-tuned methods start from that classifier, C2AM reads the
baseline's Global CAM), so ``jobs`` workers, each on ``cores // jobs`` threads, take:

1. the baseline up to its seeds, for every seed (queued first; with fewer seeds than workers,
   on the cores the idle workers leave);
2. every method x seed to the end, a seed's runs queued as soon as its baseline seeds exist.

The workers share the stage cache (its locks make one process compute a stage and the others
wait for it, as for study workers), so the runs reuse the baseline's stages. Each worker
rebuilds the pipeline from a :class:`WorkerSpec` (``spawn``: a fresh interpreter, no OpenMP
state inherited through ``fork``). Results come back in the sequential order (seed-major,
methods in order), so the report is laid out as with ``--jobs 1``; the numbers are not
bit-identical to it, because a training on fewer threads sums in a different order.

A worker's input or training error reaches the parent as one line naming the run (``c2am seed
0: ...``); a bug as a ``RuntimeError`` with the worker's traceback; a worker that dies (killed,
out of memory) as a ``RuntimeError`` naming what it was running (the baseline's classifier and
seeds, or every method x seed).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import pickle
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import C2AMError, ConfigError
from .run_results import RunResults

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import Pipeline, Variant


class WorkerFailed(C2AMError):
    """A run in a worker process failed with an input or training error (one line)."""


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker process needs to make the parent's pipeline again (all picklable)."""

    data_root: str
    cache_root: str
    profile: str
    verbose: bool
    seg_eval: tuple[str, ...]
    stage_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    on_event: Callable[[str, str, str, str], None] | None = None


def worker_spec(pipe: Pipeline) -> WorkerSpec:
    """The :class:`WorkerSpec` of ``pipe``; refuses what a worker could not reproduce."""
    if pipe.cache.force:
        raise ConfigError("--jobs > 1 with --force: recompute those stages with --jobs 1 "
                          "first, then run the compare with --jobs")  # fmt: skip
    on_event = pipe.on_event
    try:  # the CLI's EventLines travels; a closure or lambda cannot, so workers stay silent
        pickle.dumps(on_event)
    except (pickle.PicklingError, AttributeError, TypeError):
        on_event = None
    return WorkerSpec(data_root=str(pipe.data_root), cache_root=str(pipe.cache.root),
                      profile=str(pipe.prof.path), verbose=pipe.verbose,
                      seg_eval=tuple(pipe.seg_modes), stage_options=dict(pipe.stage_options),
                      on_event=on_event)  # fmt: skip


def _run(spec: WorkerSpec, variant: Variant, seed: int, until: str, is_baseline: bool,
         oracle: bool, threads: int) -> tuple[str, Any]:  # fmt: skip
    """One run in a worker on ``threads`` threads: ``("ok", RunResults)`` or ``("error", one
    line)``."""
    scope = f"{variant.name} seed {seed}"
    try:
        from .environment import limit_threads

        limit_threads(threads)
        from .pipeline import Pipeline
        from .stage_cache import StageCache

        pipe = Pipeline(spec.data_root, StageCache(spec.cache_root), profile=spec.profile,
                        verbose=spec.verbose, on_event=spec.on_event, seg_eval=spec.seg_eval,
                        stage_options=spec.stage_options)  # fmt: skip
        return "ok", pipe.run(variant, seed, until, is_baseline=is_baseline, oracle=oracle)
    except C2AMError as err:  # the user's kind of error: its one line, with the run it hit
        return "error", f"{scope}: {err}"
    except Exception as err:  # noqa: BLE001 - a bug: the parent shows the worker's traceback
        return "bug", f"{scope}: {type(err).__name__}: {err}\n{traceback.format_exc()}"


def _pool(workers: int) -> cf.ProcessPoolExecutor:
    # no initializer: each task sets its own threads (a lone baseline gets more, _run)
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))


def _collect(futures: list[cf.Future], phase: str) -> list:
    out = []
    try:
        for fut in futures:
            status, value = fut.result()
            if status == "error":
                raise WorkerFailed(value)
            if status == "bug":
                raise RuntimeError(f"compare --jobs, {phase}: a worker failed in {value}")
            out.append(value)
    except BrokenProcessPool:
        raise RuntimeError(f"compare --jobs, {phase}: a worker process died (killed or out "
                           "of memory?); rerun with --jobs 1 to see where") from None  # fmt: skip
    finally:
        for fut in futures:
            fut.cancel()
    return out


def run_parallel(pipe: Pipeline, tasks: list[tuple[Variant, int, bool, bool]],
                 baseline: Variant, seeds: list[int], until: str, jobs: int,
                 cores: int) -> RunResults:  # fmt: skip
    """Run ``tasks`` (``(variant, seed, is_baseline, oracle)``, in report order) to ``until``
    in ``jobs`` worker processes sharing ``cores``.

    One pool: the baseline's classifier and seeds of every seed are queued first; as each of
    them finishes, that seed's runs are queued behind them. So no core idles while a last seed's
    baseline trains (with three seeds on two workers, a phase barrier left one core idle for
    that seed's classifier and seeds: 212 of 444 s on a 2-core EPYC).
    """
    spec = worker_spec(pipe)
    threads = max(1, cores // jobs)
    # fewer seeds than workers: a baseline trains alone until its seeds exist, so it gets the
    # cores the idle workers would leave unused
    base_threads = max(1, cores // min(jobs, len(seeds)))
    by_seed: dict[int, list[int]] = {s: [] for s in seeds}
    for i, (_, seed, _, _) in enumerate(tasks):
        by_seed[seed].append(i)
    runs: dict[int, cf.Future] = {}
    with _pool(jobs) as pool:
        first = {pool.submit(_run, spec, baseline, s, "seeds", True, False, base_threads): s
                 for s in seeds}  # fmt: skip
        try:
            for fut in cf.as_completed(first):
                _collect([fut], "the baseline's classifier and seeds")
                for i in by_seed[first[fut]]:
                    variant, seed, base, oracle = tasks[i]
                    runs[i] = pool.submit(_run, spec, variant, seed, until, base, oracle,
                                          threads)  # fmt: skip
        except BaseException:
            for fut in [*first, *runs.values()]:
                fut.cancel()
            raise
        results = RunResults()
        for part in _collect([runs[i] for i in range(len(tasks))], "every method x seed"):
            results.extend(part)
    return results
