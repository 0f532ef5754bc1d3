"""Named ablation studies: YAML files in ``studies/`` run as Optuna studies on the stage cache.

A study file names a question, a base ``method``, a search ``space`` and the ``objective`` (a
``runs.csv`` column: ``seed_miou``, ``pseudo_miou`` or ``seg_miou``). Space keys route by prefix:
``irn.*`` to the IRN settings, ``data.*`` to the SynthVOC generator, anything else to the
classifier config (``--cfg-options`` syntax). A list is a categorical axis; ``{low, high[, log]}``
is a float range. All-categorical spaces run on ``GridSampler`` with the reference point first;
others on a seeded TPE with the reference point enqueued first. Every trial runs the variant and
the baseline CAM for each seed (paired deltas), both through the shared cache.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import socket
import subprocess
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

logger = logging.getLogger(__name__)

STUDY_ROOT = Path(__file__).resolve().parent.parent / "studies"
OBJECTIVES = {"seed_miou": "seeds", "pseudo_miou": "masks", "seg_miou": "seg"}
# ``<metric>_gain``: the variant's metric minus the baseline's on the same seed (and data)
OBJECTIVES.update({f"{k}_gain": v for k, v in list(OBJECTIVES.items())})
# ``irn_lift``: pseudo-mask mIoU minus seed mIoU of the same run (what IRN adds; calibration)
OBJECTIVES["irn_lift"] = "masks"
# ``heldout_pseudo_miou``: pseudo-mask mIoU at the trial's sem_seg_bg on held-out train_aug images
# (c2am_bench.heldout), so a threshold study does not tune on the split it reports
OBJECTIVES["heldout_pseudo_miou"] = "masks"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEYS = {"name", "question", "method", "objective", "space", "default", "fixed", "profiles",
         "n_trials", "seeds", "notes"}  # fmt: skip


def check_name(name: str, what: str = "study name") -> str:
    """A name that is safe as one path component (no separators, no ``..``)."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ConfigError(f"{what} {name!r}: use letters, digits, '.', '-', '_' "
                          "(no path separators, no '..', at most 64 characters)")  # fmt: skip
    return name


@dataclass(frozen=True)
class StudySpec:
    """A parsed ``studies/<name>.yaml``."""

    name: str
    question: str
    method: str
    objective: str
    space: dict[str, Any]
    default: dict[str, Any]
    fixed: dict[str, Any] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()  # the profiles it runs with (empty: any)
    n_trials: int | None = None
    seeds: tuple[int, ...] = (0,)
    path: str = ""

    @property
    def is_grid(self) -> bool:
        plain = all(":" not in k for k in self.space)  # conditional keys need TPE
        return plain and all(isinstance(v, list) for v in self.space.values())

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.space.values()) if self.is_grid else 0

    def describe_space(self) -> str:
        parts = []
        for key, dom in self.space.items():
            if isinstance(dom, list):
                parts.append(f"{key} in {{{', '.join(map(str, dom))}}}")
            else:
                scale = " (log)" if dom.get("log") else ""
                parts.append(f"{key} in [{dom['low']}, {dom['high']}]{scale}")
        return "; ".join(parts)


def _fail(path: Path, problem: str) -> ConfigError:
    return ConfigError(f"{path}: {problem}")


def load_spec(path: str | os.PathLike, *, check_pseudo: bool = True) -> StudySpec:
    """Parse and validate one study file (one-line :class:`ConfigError` naming the key).

    ``check_pseudo``: check its ``pseudo`` values against the registered pseudo-mask methods;
    ``study list`` does not, since a profile's ``custom_imports`` may register the method the
    study names (``study run`` checks, after reading the profile).
    """
    import yaml

    from .pipeline import METHODS
    from .stages import pseudo_methods

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise _fail(path, f"cannot read study ({type(err).__name__})") from None
    if not isinstance(raw, dict):
        raise _fail(path, "a study file is a YAML mapping")
    unknown = set(raw) - _KEYS
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    for key in ("name", "question", "method", "objective", "space"):
        if key not in raw:
            raise _fail(path, f"missing key '{key}'")
    try:
        check_name(raw["name"])
    except ConfigError as err:
        raise _fail(path, str(err)) from None
    if raw["method"] not in METHODS:
        raise _fail(path, f"method {raw['method']!r}: choose from {', '.join(METHODS)}")
    if raw["objective"] not in OBJECTIVES:
        raise _fail(path, f"objective {raw['objective']!r}: choose from {', '.join(OBJECTIVES)}")
    space = raw["space"]
    if not isinstance(space, dict) or not space:
        raise _fail(path, "space: a non-empty mapping of parameter -> list or {low, high}")
    for key, dom in space.items():
        if isinstance(dom, list):
            if not dom:
                raise _fail(path, f"space.{key}: empty list")
        elif isinstance(dom, dict) and {"low", "high"} <= set(dom) <= {"low", "high", "log"}:
            if not float(dom["low"]) < float(dom["high"]):
                raise _fail(path, f"space.{key}: need low < high")
            if dom.get("log") and float(dom["low"]) <= 0:
                raise _fail(path, f"space.{key}: a log range needs low > 0")
        else:
            raise _fail(path, f"space.{key}: a list of values or {{low, high[, log]}}")
    pseudo = {"space": space.get("pseudo"), "fixed": (raw.get("fixed") or {}).get("pseudo")}
    for where, value in pseudo.items():
        values = value if isinstance(value, list) else [] if value is None else [value]
        if not all(isinstance(v, str) and v for v in values):
            raise _fail(path, f"{where}.pseudo: a pseudo-mask method's name")
        if check_pseudo and not set(values) <= set(pseudo_methods()):
            raise _fail(path, f"{where}.pseudo: choose from {', '.join(pseudo_methods())}")
    default = raw.get("default") or {}
    for key in space:
        method, _, rest = key.rpartition(":")
        if key == "method" and not set(space[key]) <= set(METHODS):
            raise _fail(path, f"space.method: choose from {', '.join(METHODS)}")
        if method and (method not in METHODS or "method" not in space):
            raise _fail(path, f"space.{key}: 'METHOD:key' needs METHOD in space.method")
    needed = {k for k in space if ":" not in k}
    needed |= {k for k in space if k.startswith(f"{default.get('method', raw['method'])}:")}
    if set(default) != needed:
        raise _fail(path, f"default must give exactly the keys {sorted(needed)}")
    for key, value in default.items():
        dom = space[key]
        inside = value in dom if isinstance(dom, list) else dom["low"] <= value <= dom["high"]
        if not inside:
            raise _fail(path, f"default.{key}={value!r} is outside space.{key}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not all(isinstance(s, int) and s >= 0 for s in seeds):
        raise _fail(path, "seeds: a list of non-negative integers")
    n_trials = raw.get("n_trials")
    if n_trials is not None and (not isinstance(n_trials, int) or n_trials < 1):
        raise _fail(path, "n_trials: a positive integer")
    profiles = tuple(raw.get("profiles") or ())
    return StudySpec(
        name=raw["name"], question=" ".join(str(raw["question"]).split()), method=raw["method"],
        objective=raw["objective"], space=dict(space), default=dict(default),
        fixed=dict(raw.get("fixed") or {}), profiles=profiles, n_trials=n_trials,
        seeds=tuple(seeds), path=str(path),
    )  # fmt: skip


def list_specs(root: str | os.PathLike = STUDY_ROOT) -> list[StudySpec]:
    """Every study file of ``root`` (``pseudo`` values unchecked: see :func:`load_spec`)."""
    return [load_spec(p, check_pseudo=False) for p in sorted(Path(root).glob("*.yaml"))]


def find_spec(name: str, root: str | os.PathLike = STUDY_ROOT) -> StudySpec:
    check_name(name)
    path = Path(root) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(s.stem for s in sorted(Path(root).glob("*.yaml")))
        raise ConfigError(f"unknown study {name!r}; known: {known}")
    spec = load_spec(path)
    if spec.name != name:
        raise _fail(path, f"name {spec.name!r} differs from the file name {name!r}")
    return spec


def short_name(key: str) -> str:
    return key.rsplit(".", 1)[-1] if not key.startswith(("irn.", "data.", "irn_net.")) else key


def build_variant(spec: StudySpec, params: dict[str, Any]):
    """A study point -> (:class:`~c2am_bench.pipeline.Variant`, SynthVOC data overrides)."""
    from .pipeline import Variant

    options, irn, data, net = {}, {}, {}, {}
    method = params.get("method", spec.method)
    merged = {**spec.fixed, **params}
    pseudo = str(merged.get("pseudo", "irn"))  # the pseudo-mask method (irn or crf)
    for key, value in merged.items():
        key = key.rpartition(":")[2]
        if key in ("method", "pseudo"):
            continue
        if key.startswith("irn."):
            irn[key[4:]] = value
        elif key.startswith("data."):
            data[key[5:]] = value
        elif key.startswith("irn_net."):
            net[key[8:]] = value
        else:
            options[key] = value
    tag = ",".join(
        f"{short_name(k.rpartition(':')[2])}={_fmt(v)}"
        for k, v in sorted(params.items())
        if k != "method"
    )
    variant = Variant(name=f"{method}[{tag}]", method=method, options=options, irn=irn,
                      boundary_net=net, pseudo=pseudo)  # fmt: skip
    return variant, data


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# -- storage --------------------------------------------------------------------------------------
def redact(url: str | None) -> str | None:
    """A storage URL with any password replaced by ``***`` (safe for logs, reports, attrs)."""
    if url is None:
        return None
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


# Optuna creates its tables, enum types and ``alembic_version`` row without a lock of its own
# (optuna/optuna#1092): workers started at the same instant on a fresh database race, and the
# losers die on a unique violation (``alembic_version_pkc``, ``CREATE TYPE studydirection``).
# The harness serialises that creation itself: a PostgreSQL advisory lock, a retry elsewhere.
_PG_LOCK_KEY = 0x6332616D_62656E63  # b"c2ambenc": one fixed key for every c2am-bench process
_RETRIES, _BACKOFF_S = 3, 0.05  # retried 3 times, after 0.05, 0.1, 0.2 s (x 1-2, jittered)


def _is_postgres(url: str) -> bool:
    return url.split("://", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


@contextlib.contextmanager
def storage_creation_lock(url: str):
    """Serialise Optuna's schema and study creation on ``url`` across processes and machines.

    PostgreSQL: a session-level ``pg_advisory_lock`` (scoped to the database) on a separate
    short-lived connection, held for the body and released in a ``finally``
    (``pg_advisory_unlock``, then closing the connection); a worker that dies holding it
    releases it with its connection. Other URLs: no lock (SQLite has no such primitive across
    processes; ``journal:`` storages lock their file themselves); see :func:`_created_safely`.
    Connection errors propagate (the caller turns them into a one-line :class:`ConfigError`).
    """
    if not _is_postgres(url):
        yield
        return
    import sqlalchemy

    engine = sqlalchemy.create_engine(url, poolclass=sqlalchemy.pool.NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            try:
                yield
            finally:
                try:
                    conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"),
                                 {"k": _PG_LOCK_KEY})  # fmt: skip
                except sqlalchemy.exc.SQLAlchemyError:  # closing the connection releases it
                    pass
    finally:
        engine.dispose()


def _created_safely(url: str, create):
    """``create()`` under :func:`storage_creation_lock`; for non-PostgreSQL URLs (SQLite, MySQL:
    no lock here) retried a few times with backoff when a simultaneous creator got in first
    (IntegrityError, "table already exists", "database is locked"). Returns its result."""
    import random
    import time

    import sqlalchemy.exc
    from optuna.exceptions import StorageInternalError

    racy = (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError,
            sqlalchemy.exc.ProgrammingError, StorageInternalError)  # fmt: skip
    for attempt in range(_RETRIES + 1):
        try:
            with storage_creation_lock(url):
                return create()
        except racy:
            if _is_postgres(url) or attempt == _RETRIES:  # under the lock: a real error
                raise
            time.sleep(_BACKOFF_S * 2**attempt * (1 + random.random()))


def open_storage(url: str, *, heartbeat: int | None = 60):
    """An Optuna storage from a URL: RDB (``sqlite:///``, ``postgresql://``, ...) with heartbeats
    and retry of a dead worker's trial, or ``journal:PATH`` (several processes, one file system).

    Creating the schema of a fresh RDB is safe when several workers start at once
    (:func:`storage_creation_lock`).
    """
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        path = Path(url[len("journal:") :])
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if "://" not in url:
        raise ConfigError(f"--storage {redact(url)!r}: not a storage URL (sqlite:///FILE, "
                          "postgresql://USER@HOST/DB, journal:FILE)")  # fmt: skip
    kwargs = {}
    if heartbeat:  # a worker silent for 3 intervals is dead: its trial is FAILed and re-queued
        kwargs = dict(
            heartbeat_interval=heartbeat,
            grace_period=3 * heartbeat,
            heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=3),
        )
    try:
        return _created_safely(
            url, lambda: RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **kwargs)
        )
    except (ImportError, ModuleNotFoundError) as err:
        raise ConfigError(f"--storage {redact(url)!r}: driver missing ({err})") from None
    except Exception as err:  # noqa: BLE001 - sqlalchemy raises many kinds for a bad URL/server
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"--storage {redact(url)!r}: cannot open ({redact(msg)})") from None


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            timeout=5,
            check=False,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# -- samplers -------------------------------------------------------------------------------------
def make_sampler(spec: StudySpec, seed: int = 0):
    """``GridSampler`` with the default point first (grids), else a seeded TPE."""
    import optuna

    if not spec.is_grid:
        return optuna.samplers.TPESampler(seed=seed)

    class DefaultFirstGridSampler(optuna.samplers.GridSampler):
        # GridSampler shuffles its grid by seed and has no way to put a point first; enqueueing
        # the default would run it twice (enqueued trials get no grid id), so we reorder its
        # (private, optuna 5.x) grid list instead: trial 0 takes grid 0 = the reference point.
        def __init__(self, search_space, seed, first):
            super().__init__(search_space, seed)
            point = tuple(first[k] for k in self._param_names)
            self._all_grids.remove(point)
            self._all_grids.insert(0, point)

    return DefaultFirstGridSampler(spec.space, seed, spec.default)


def suggest(trial, spec: StudySpec) -> dict[str, Any]:
    """Sample a point; ``METHOD:key`` parameters exist only when ``method`` is METHOD."""
    params = {}
    order = sorted(spec.space, key=lambda k: k != "method")  # method first: others depend on it
    for key in order:
        dom = spec.space[key]
        method, _, _ = key.rpartition(":")
        if method and method != params.get("method"):
            continue
        if isinstance(dom, list):
            params[key] = trial.suggest_categorical(key, dom)
        else:
            params[key] = trial.suggest_float(key, float(dom["low"]), float(dom["high"]),
                                              log=bool(dom.get("log")))  # fmt: skip
    return params


def _point(trial) -> str:
    grid_id = trial.system_attrs.get("grid_id")
    return f"grid:{grid_id}" if grid_id is not None else json.dumps(trial.params, sort_keys=True)


def retry_interrupted(study, max_retry: int = 3) -> int:
    """Re-queue FAILed trials (Ctrl-C, crash) whose point has no finished, running or queued copy.

    Uses Optuna's own retry callback, so the copy keeps its grid id and retry history.
    """
    from optuna.storages import RetryHeartbeatStaleTrialCallback as Retry
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {n for t in trials for n in Retry.retry_history(t)}
    alive = {
        _point(t)
        for t in trials
        if t.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    }
    callback, n = Retry(max_retry=max_retry), 0
    for t in trials:
        if t.state != TrialState.FAIL or t.number in retried or _point(t) in alive:
            continue
        if len(Retry.retry_history(t)) < max_retry:
            callback(study, t)
            alive.add(_point(t))
            n += 1
    return n


def run_study(
    spec: StudySpec,
    make_runner,
    *,
    storage_url: str,
    profile: str,
    seeds: tuple[int, ...],
    n_trials: int | None = None,
    work_dir: str = "",
    objective: str | None = None,
    against: str = "cam",
    on_trial=None,
    heartbeat: int = 60,
):
    """Run (or continue) ``spec`` as the Optuna study ``<name>-<profile>``.

    Args:
        make_runner: ``data_overrides -> Pipeline`` (a new dataset for ``data.*`` parameters).
        n_trials: trials to *complete* in total (grid default: the whole grid; TPE: the spec's
            ``n_trials`` or 20); finished trials of an earlier run count.
        on_trial: called with each finished ``FrozenTrial``.
        heartbeat: seconds between a worker's heartbeats (RDB storages); a trial whose worker
            missed three is FAILed and re-queued by the next worker that starts a trial.

    Returns:
        The ``optuna.Study``.
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    from .pipeline import Variant
    from .run_results import RunResults

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if spec.profiles and profile not in spec.profiles:
        raise ConfigError(f"study {spec.name!r} runs with profile(s) {', '.join(spec.profiles)}, "
                          f"not {profile!r}")  # fmt: skip
    objective = objective or spec.objective
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective!r}: choose from {', '.join(OBJECTIVES)}")
    until = OBJECTIVES[objective]
    storage = open_storage(storage_url, heartbeat=heartbeat)
    study = _created_safely(storage_url, lambda: optuna.create_study(  # once, even if all at once
        study_name=f"{spec.name}-{profile}", storage=storage, direction="maximize",
        sampler=make_sampler(spec), load_if_exists=True,
        # prunes DeepLabV2 trainings (seg objectives) on their intermediate val mIoU
        pruner=optuna.pruners.MedianPruner(n_startup_trials=4),
    ))  # fmt: skip
    study.set_user_attr("question", spec.question)
    study.set_user_attr("objective", objective)
    study.set_user_attr("profile", profile)
    optuna.storages.fail_stale_trials(study)  # a dead worker's trial: FAIL + retry callback
    retry_interrupted(study)
    if not spec.is_grid:
        study.enqueue_trial(spec.default, user_attrs={"source": "reference default"},
                            skip_if_exists=True)  # fmt: skip
    target = n_trials or spec.n_trials or (spec.grid_size if spec.is_grid else 20)
    if spec.is_grid:
        target = min(target, spec.grid_size)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    commit = git_commit()

    def run_trial(trial) -> float:
        params = suggest(trial, spec)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        twin = _twin(trial)
        if twin is not None:
            # GridSampler hands out a point already being run when the grid is used up while
            # other workers are still busy; running it again would count it twice.
            trial.set_user_attr("duplicate_of", twin)
            trial.study.stop()
            raise optuna.TrialPruned(f"grid point already run by trial {twin}")
        variant, data = build_variant(spec, params)
        runner = make_runner(data)
        results = RunResults()
        values = []
        for i, seed in enumerate(seeds):
            r = runner.run(
                variant,
                seed,
                until,
                study=spec.name,
                trial=trial.number,
                prune_with=trial if i == 0 else None,
            )  # the first seed's DeepLabV2
            results.extend(r)
            if objective == "irn_lift":
                value = r.runs[0]["pseudo_miou"] - r.runs[0]["seed_miou"]
            else:
                value = r.runs[0][objective.removesuffix("_gain")]
            # The baseline of the same seed, for paired gains and the report; a calibration of the
            # baseline itself (method = against, an unpaired objective) has no twin to run.
            if objective.endswith("_gain") or variant.method != against:
                b = runner.run(Variant(against, against), seed, until, study=spec.name,
                               trial=trial.number, is_baseline=True)  # fmt: skip
                if objective.endswith("_gain"):
                    value -= b.runs[0][objective.removesuffix("_gain")]
                results.extend(b)
            values.append(value)
        twin = _twin(trial)
        if twin is not None:
            # Checked again now that the work is done: two workers that took the same grid point
            # at once may each have checked before the other's parameters were stored. The
            # smaller trial number wins, so exactly one of them completes.
            trial.set_user_attr("duplicate_of", twin)
            raise optuna.TrialPruned(f"grid point also run by trial {twin}")
        value = sum(values) / len(values)
        if not math.isfinite(value):
            raise ConfigError(f"trial {trial.number}: objective {objective} is undefined (NaN)")
        trial.set_user_attr("variant", variant.name)
        trial.set_user_attr("config_hash", _hash(variant.params(runner.irn_base), runner.data_key))
        trial.set_user_attr("git_commit", commit)
        trial.set_user_attr("work_dir", work_dir)
        trial.set_user_attr("seeds", list(seeds))
        trial.set_user_attr("per_seed", values)
        trial.set_user_attr("results", json.dumps(results.__dict__))
        return value

    callbacks = [MaxTrialsCallback(target, states=(TrialState.COMPLETE,))]
    if on_trial is not None:
        callbacks.append(lambda study, trial: on_trial(trial))
    remaining = max(target - done, 0)
    if remaining:
        study.optimize(run_trial, n_trials=remaining, callbacks=callbacks, catch=())
    return study


def _twin(trial) -> int | None:
    """An earlier COMPLETE or RUNNING trial of the same point as ``trial``, if any.

    The point is the grid id where the sampler set one (stored when the trial is created, so a
    simultaneous twin is seen sooner than by its parameters, which its worker stores later), else
    the parameters.
    """
    from optuna.trial import TrialState

    trials = trial.study.get_trials(deepcopy=False)
    mine = next((t for t in trials if t.number == trial.number), None)
    me = _point(mine) if mine is not None else json.dumps(trial.params, sort_keys=True)
    for t in trials:
        if t.number == trial.number or _point(t) != me:
            continue
        if t.state == TrialState.COMPLETE or (
            t.state == TrialState.RUNNING and t.number < trial.number
        ):
            return t.number
    return None


def _hash(params: dict, data_key: str) -> str:
    import hashlib

    text = json.dumps([params, data_key], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def study_results(study):
    """The :class:`~c2am_bench.run_results.RunResults` of every COMPLETE trial (its user
    attrs)."""
    from optuna.trial import TrialState

    from .run_results import RunResults

    out = RunResults()
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        raw = t.user_attrs.get("results")
        if raw:
            d = json.loads(raw)
            out.extend(RunResults(runs=d["runs"], per_class=d["per_class"], curves=d["curves"]))
    return out


def record_compare(url: str, name: str, results) -> None:
    """Each (method, seed) of a compare as one Optuna trial of study ``name`` in ``url``, so
    optuna's CLI and dashboard read compares beside studies; a rerun adds only new pairs."""
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    study = optuna.create_study(study_name=name, storage=open_storage(url, heartbeat=None),
                                direction="maximize", load_if_exists=True)  # fmt: skip
    seen = {(t.params.get("variant"), t.params.get("seed")) for t in study.get_trials()}
    names = sorted({r["variant"] for r in results.runs})
    distributions = {"variant": CategoricalDistribution(names),
                     "seed": IntDistribution(0, 2**31 - 1)}  # fmt: skip
    for row in results.runs:
        if (row["variant"], row["seed"]) in seen:
            continue
        value = row.get("seg_miou", row.get("pseudo_miou", row["seed_miou"]))
        finite = value == value  # NaN: the run has no such stage
        study.add_trial(optuna.create_trial(
            params={"variant": row["variant"], "seed": row["seed"]},
            distributions=distributions, value=value if finite else None,
            state=optuna.trial.TrialState.COMPLETE if finite else optuna.trial.TrialState.FAIL,
            user_attrs={k: v for k, v in row.items() if isinstance(v, (int, float, str, bool))},
        ))  # fmt: skip
