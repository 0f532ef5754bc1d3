"""The jobs users run, as library calls: ``compare`` and ``study run``, from a request to written
results and a rendered report.

The CLI (:mod:`c2am_bench.cli_runs`) parses the command line into a :class:`CompareJob` or a
:class:`StudyJob`, calls :meth:`~CompareJob.plan` (every check that needs no work: a bad method,
seed, option or name fails here, before anything is written) and :meth:`~CompareJob.run`, and
prints what comes back. A script or notebook does the same without the CLI::

    job = CompareJob(methods="cam,c2am", seeds=(0, 1, 2), profile="smoke")
    outcome = job.run(job.plan())
    outcome.results.runs  # one row per method x seed
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import C2AMError, ConfigError

DEFAULT_WORK = Path("work_dirs")
Say = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


# -- data, context, storage ------------------------------------------------------------------
@dataclass(frozen=True)
class DataChoice:
    """The dataset a job runs on.

    Attributes:
        root: the VOC-layout root.
        note: how it was obtained (``dataset: SynthVOC (default profile) at ... [reused]``), or
            ``None`` for the user's ``--data``.
        summary: :func:`c2am_bench.datasets.voc.check_tree`'s summary (it validated the tree).
    """

    root: Path
    note: str | None
    summary: Any


def resolve_data(data: Path | None, profile: str, *, progress: bool = False) -> DataChoice:
    """``data``, or the profile's SynthVOC (generated on first use), validated.

    Raises:
        ConfigError: no ``data`` and a profile that generates no SynthVOC (``paper``).
        DataError: a tree that fails validation (naming the file).
    """
    from .datasets import synthvoc, voc
    from .profiles import load_profile

    note, root = None, data
    if root is None:
        prof = load_profile(profile)
        if prof.synthvoc is None:
            raise ConfigError(f"--profile {prof.name} needs --data pointing at VOCdevkit/VOC2012")
        root = synthvoc.default_root(prof.synthvoc)
        state = synthvoc.ensure(synthvoc.make_config(prof.synthvoc), root, progress=progress)
        note = f"dataset: SynthVOC ({prof.synthvoc} profile) at {root} [{state}]"
    summary = voc.check_tree(root, progress=progress)
    return DataChoice(Path(root), note, summary)


def run_context(*, kind: str, name: str, profile: str, data_root: Path, against: str,
                seeds: tuple[int, ...], pseudo: str = "irn", objective: str | None = None,
                storage: str | None = None, notes: tuple[str, ...] = ()) -> dict:  # fmt: skip
    """``context.json`` of a run: what ran, on which data, machine and commit (the report's
    header)."""
    from .datasets import voc
    from .environment import describe
    from .pipeline import data_fingerprint
    from .profiles import load_profile
    from .studies import git_commit, redact

    env = describe()
    env["git commit"] = git_commit()
    prof = load_profile(profile)
    return {
        "title": name, "kind": kind, "name": name, "against": against, "profile": prof.name,
        "profile_file": prof.path, "pseudo": pseudo, "data_root": str(data_root.resolve()),
        "data_fingerprint": data_fingerprint(data_root),
        "class_names": voc.open_tree(data_root).class_names, "objective": objective,
        "environment": env, "storage": redact(storage), "seeds": list(seeds), "notes": list(notes),
    }  # fmt: skip


def run_dir(work_dir: Path, name: str) -> Path:
    """``<work_dir>/runs/<name>``, the name checked (no path tricks)."""
    from .studies import check_name

    return work_dir / "runs" / check_name(name, "run name")


def oracle_methods(spec: str | None, names: list[str], against: str) -> tuple[str, ...]:
    """``--oracle`` (names, ``all``, ``none``; default the baseline) -> the methods that climb
    the ladder."""
    if spec is None:
        return (against,)
    spec = spec.strip()
    if spec == "none":
        return ()
    if spec == "all":
        return tuple(names)
    chosen = tuple(m.strip() for m in spec.split(",") if m.strip())
    unknown = [m for m in chosen if m not in names]
    if unknown or not chosen:
        raise ConfigError(f"--oracle {spec!r}: {', '.join(unknown) or 'empty'} not among "
                          f"--methods {names} (or write 'all' / 'none')")  # fmt: skip
    return chosen


def check_storage(url: str | None) -> None:
    """A bad storage URL or an unreachable server fails before anything is written."""
    if url:
        from .studies import open_storage

        open_storage(url, heartbeat=None)


# -- what every job shares ---------------------------------------------------------------------
@dataclass
class JobSettings:
    """The settings ``compare`` and ``study run`` share (the CLI's common options).

    ``plan()`` checks them (and keeps the stage options in their checked, per-stage form);
    ``run()`` limits the threads, resolves the data and runs.
    """

    profile: str = "default"
    data: Path | None = None
    seeds: tuple[int, ...] | None = (0,)
    work_dir: Path = DEFAULT_WORK
    report_dir: Path | None = None
    storage: str | None = None
    force: str = ""
    seg_eval: tuple[str, ...] | None = None
    stage_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    progress: bool = False
    verbose: bool = False
    threads: int | None = None  # environment.limit_threads: cores this process keeps busy
    on_event: Callable[[str, str, str, str], None] | None = None
    say: Say = _quiet

    def _check_common(self) -> list[str]:
        """The profile (first: its ``custom_imports`` may register components), ``--force`` and
        the stage options, checked before any work."""
        from .pipeline import check_stage_options
        from .profiles import load_profile
        from .stage_cache import check_force

        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"--threads {self.threads}: must be >= 1")
        load_profile(self.profile)
        force = check_force(self.force)
        self.stage_options = check_stage_options(self.profile, self.stage_options)
        return force

    def _data(self) -> DataChoice:
        from .environment import limit_threads

        limit_threads(self.threads)  # before any torch work of this job
        choice = resolve_data(self.data, self.profile, progress=self.progress)
        if choice.note:
            self.say(choice.note)
        from .datasets import voc

        self.say(voc.format_summary(choice.summary))
        return choice

    def _pipeline(self, root: Path, cache):
        from .pipeline import Pipeline

        return Pipeline(root, cache, profile=self.profile, progress=self.progress,
                        verbose=self.verbose, on_event=self.on_event,
                        stage_options=self.stage_options, seg_eval=self.seg_eval)  # fmt: skip


# -- compare -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparePlan:
    """A checked compare: its variants, the methods that climb the oracle ladder, and where
    results and report go."""

    variants: list
    oracle: tuple[str, ...]
    name: str
    run_dir: Path
    report_dir: Path
    force: list[str]


@dataclass(frozen=True)
class CompareOutcome:
    results: Any  # RunResults
    run_dir: Path
    report_dir: Path  # where index.html was written
    wall_seconds: float


@dataclass
class CompareJob(JobSettings):
    """``compare``: methods x seeds through every stage, results written, report rendered."""

    seeds: tuple[int, ...] | None = None  # None: the profile's compare_seeds (default: 0,1,2)
    methods: str = "cam,cam_constant,c2am"
    pseudo: str = "irn"
    against: str = "cam"
    until: str = "seg"
    oracle: str | None = None
    oracle_seeds: str = "first"
    name: str | None = None
    jobs: int = 1  # worker processes for the method x seed runs (c2am_bench.parallel)

    def plan(self) -> ComparePlan:
        """Every check that needs no work (one-line errors naming the option at fault)."""
        from .pipeline import parse_method
        from .profiles import load_profile

        force = self._check_common()
        if self.seeds is None:
            self.seeds = load_profile(self.profile).compare_seeds
        if self.jobs < 1:
            raise ConfigError(f"--jobs {self.jobs}: must be >= 1")
        variants = [parse_method(m, self.pseudo) for m in self.methods.split(",") if m.strip()]
        if not variants:
            raise ConfigError("--methods: name at least one method")
        names = [v.name for v in variants]
        if self.against not in names:
            raise ConfigError(f"--against {self.against!r} is not among --methods {names}")
        oracle = oracle_methods(self.oracle, names, self.against)
        name = self.name or f"compare-{load_profile(self.profile).name}"
        return ComparePlan(variants, oracle, name, run_dir(self.work_dir, name),
                           self.report_dir or Path("reports") / name, force)  # fmt: skip

    def run(self, plan: ComparePlan) -> CompareOutcome:
        """Run the compare of ``plan``; write its results, record it (``storage``) and render
        its report."""
        from .pipeline import compare, write_results
        from .report import render_report
        from .stage_cache import StageCache

        root = self._data().root
        start = time.perf_counter()
        pipe = self._pipeline(root, StageCache(self.work_dir / "cache", force=plan.force))
        results = compare(pipe, plan.variants, list(self.seeds), until=self.until,
                          against=self.against, oracle=plan.oracle,
                          oracle_seeds=self.oracle_seeds, jobs=self.jobs)  # fmt: skip
        wall = time.perf_counter() - start
        note = (f"wall time of this invocation: {wall:.0f} s (stages reused from the cache cost "
                "nothing here; runs.csv has each stage's own time)")  # fmt: skip
        context = run_context(kind="compare", name=plan.name, profile=self.profile,
                              data_root=root, against=self.against, seeds=tuple(self.seeds),
                              pseudo=self.pseudo, storage=self.storage, notes=(note,))  # fmt: skip
        write_results(results, context, plan.run_dir)
        if self.storage:
            from .studies import record_compare

            record_compare(self.storage, plan.name, results)
        written = render_report(plan.run_dir, plan.report_dir)
        return CompareOutcome(results, plan.run_dir, Path(written), wall)

    def dry_run(self, plan: ComparePlan, *, images: int, iters: int):
        """``compare --dry-run``: every stage on a handful of images, a verdict per stage.

        Returns ``(report, machine, out_dir)``; ``out_dir/dry_run.json`` is written.
        """
        from .atomic import write_json
        from .dry_run import run_dry
        from .environment import machine
        from .profiles import load_profile

        root = self._data().root
        self.say(
            f"dry run: every stage on {images} images per split ({2 * images} train_aug), "
            f"trainings 1 epoch or {iters} iterations at batch 2; throw-away cache"
        )
        out = plan.run_dir.with_name(plan.run_dir.name + "-dry-run")
        report = run_dry(root, plan.variants, profile=self.profile, seed=self.seeds[0],
                         work_dir=self.work_dir, stage_options=self.stage_options,
                         oracle=plan.oracle, until=self.until, images=images, iters=iters,
                         on_event=self.on_event, log_path=out / "errors.log",
                         seg_eval=self.seg_eval)  # fmt: skip
        where = machine()
        all_seeds = report.projected_for(len(self.seeds), self.oracle_seeds == "all")
        write_json(out / "dry_run.json", {**report.to_dict(), "machine": where,
                                          "seeds": list(self.seeds),
                                          "projected_seconds_all_seeds": round(all_seeds, 1),
                                          "profile": load_profile(self.profile).name,
                                          "data_root": str(root.resolve())})  # fmt: skip
        return report, where, out


# -- study run ---------------------------------------------------------------------------------
class PipelineFactory:
    """One :class:`~c2am_bench.pipeline.Pipeline` per dataset a study's trials ask for: the
    given one, or a SynthVOC regenerated with a trial's ``data.*`` parameters (cached)."""

    def __init__(self, job: JobSettings, spec_name: str, root: Path, cache) -> None:
        self.job, self.spec_name, self.root, self.cache = job, spec_name, root, cache
        self._made: dict[str, Any] = {}

    def __call__(self, data: Mapping[str, Any]):
        from .pipeline import synth_data

        key = json.dumps(dict(data), sort_keys=True)
        if key not in self._made:
            root = self.root
            if data:
                if self.job.data is not None:
                    raise ConfigError(f"study {self.spec_name!r} regenerates SynthVOC (data.* "
                                      "parameters); it cannot run on --data")  # fmt: skip
                root = synth_data(self.cache, self.job.profile, data, progress=self.job.progress)
            self._made[key] = self.job._pipeline(root, self.cache)
        return self._made[key]


@dataclass(frozen=True)
class StudyPlan:
    spec: Any  # studies.StudySpec
    name: str
    run_dir: Path
    report_dir: Path
    storage: str
    force: list[str]


@dataclass(frozen=True)
class StudyOutcome:
    study: Any  # optuna.Study
    results: Any  # RunResults (empty when this worker completed nothing)
    report_dir: Path | None
    wall_seconds: float
    busy: tuple[int, ...] = ()  # trials running in other workers when nothing was left here


@dataclass
class StudyJob(JobSettings):
    """``study run NAME``: an Optuna study of ``studies/NAME.yaml`` (or continue it)."""

    study: str = ""
    n_trials: int | None = None
    objective: str | None = None
    heartbeat: int = 60
    seeds: tuple[int, ...] | None = None  # default: the study file's
    on_trial: Callable[[Any], None] | None = None

    def plan(self) -> StudyPlan:
        from .profiles import load_profile
        from .studies import find_spec

        force = self._check_common()
        pname = load_profile(self.profile).name
        spec = find_spec(self.study)
        if spec.profiles and pname not in spec.profiles:
            raise ConfigError(f"study {spec.name!r} runs with profile(s) "
                              f"{', '.join(spec.profiles)}")  # fmt: skip
        if self.n_trials is not None and self.n_trials < 1:
            raise ConfigError(f"--n-trials {self.n_trials}: must be >= 1")
        name = f"study-{spec.name}-{pname}"
        storage = self.storage or f"sqlite:///{(self.work_dir / 'studies.db').resolve()}"
        check_storage(self.storage)
        return StudyPlan(spec, name, run_dir(self.work_dir, name),
                         self.report_dir or Path("reports") / name, storage, force)  # fmt: skip

    def run(self, plan: StudyPlan) -> StudyOutcome:
        from optuna.trial import TrialState

        from .pipeline import write_results
        from .profiles import load_profile
        from .report import render_report
        from .stage_cache import StageCache
        from .studies import run_study, study_results

        spec, seeds = plan.spec, tuple(self.seeds or plan.spec.seeds)
        root = self._data().root
        self.work_dir.mkdir(parents=True, exist_ok=True)
        cache = StageCache(self.work_dir / "cache", force=plan.force)
        start = time.perf_counter()
        study = run_study(spec, PipelineFactory(self, spec.name, root, cache),
                          storage_url=plan.storage, profile=load_profile(self.profile).name,
                          seeds=seeds, n_trials=self.n_trials,
                          work_dir=str(self.work_dir.resolve()), objective=self.objective,
                          on_trial=self.on_trial, heartbeat=self.heartbeat)  # fmt: skip
        results = study_results(study)
        wall = time.perf_counter() - start
        if not results.runs:
            # A surplus worker (more workers than points left): its trial found its point held
            # by another worker (PRUNED, see studies._twin) and nothing is COMPLETE yet.
            running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            busy = tuple(t.number for t in running)
            if not busy:
                raise C2AMError(f"study {spec.name!r}: no completed trial to report yet")
            return StudyOutcome(study, results, None, wall, busy)
        context = run_context(kind="study", name=plan.name, profile=self.profile,
                              data_root=root, against="cam", seeds=seeds,
                              objective=self.objective or spec.objective, storage=plan.storage,
                              notes=(spec.question,))  # fmt: skip
        context.update(
            study=study.study_name,
            question=spec.question,
            space=spec.describe_space(),
            default_storage=self.storage is None,
        )
        write_results(results, context, plan.run_dir)
        written = render_report(plan.run_dir, plan.report_dir, study=study)
        return StudyOutcome(study, results, Path(written), wall)


# -- report ------------------------------------------------------------------------------------
def render_run(run: str, *, work_dir: Path = DEFAULT_WORK, out: Path | None = None,
               storage: str | None = None) -> Path:  # fmt: skip
    """Render the report of a finished compare or study (``run``: a name under
    ``<work_dir>/runs`` or a results folder) into ``out`` (default ``reports/<name>``); a
    study's Optuna figures come from ``storage`` (default: the work dir's SQLite, where the
    study used it)."""
    from .report import render_report

    candidate = Path(run)
    folder = candidate if (candidate / "runs.csv").is_file() else run_dir(work_dir, run)
    if not (folder / "runs.csv").is_file():
        raise ConfigError(f"{run!r}: neither a results directory (runs.csv) nor a run in "
                          f"{work_dir / 'runs'}")  # fmt: skip
    context = json.loads((folder / "context.json").read_text())
    study = None
    if context.get("study"):
        default = f"sqlite:///{(work_dir / 'studies.db').resolve()}"
        url = storage or (default if context.get("default_storage") else None)
        if url:
            import optuna

            from .studies import open_storage

            study = optuna.load_study(study_name=context["study"],
                                      storage=open_storage(url, heartbeat=None))  # fmt: skip
    target = out or Path("reports") / context.get("name", folder.name)
    return Path(render_report(folder, target, study=study))
