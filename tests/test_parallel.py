"""``compare --jobs``: method x seed runs in worker processes sharing the stage cache."""

from __future__ import annotations

import concurrent.futures as cf
import pickle
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from c2am_bench import parallel, pipeline
from c2am_bench.cli_runs import EventLines
from c2am_bench.errors import ConfigError
from c2am_bench.stage_cache import StageCache


def _done(value) -> cf.Future:
    fut = cf.Future()
    fut.set_result(value)
    return fut


def test_a_worker_error_is_one_line_naming_the_run_and_a_bug_keeps_its_traceback():
    ok = pipeline.RunResults(runs=[{"variant": "cam"}])
    assert parallel._collect([_done(("ok", ok))], "phase 2") == [ok]
    with pytest.raises(parallel.WorkerFailed, match=r"^c2am seed 1: bad key$"):
        parallel._collect([_done(("ok", ok)), _done(("error", "c2am seed 1: bad key"))], "p")
    with pytest.raises(RuntimeError, match=r"phase 2: a worker failed in cam seed 0: KeyError"):
        parallel._collect([_done(("bug", "cam seed 0: KeyError: 'x'\nTraceback ..."))], "phase 2")


def _fake_pool(monkeypatch, baseline_seconds: dict[int, float], fail_seed: int | None = None):
    """Threads instead of processes, and a fake run that logs when it starts and ends."""
    import threading
    import time

    from c2am_bench.run_results import RunResults

    log: list[tuple] = []
    lock = threading.Lock()

    def run(spec, variant, seed, until, is_baseline, oracle, threads):
        name = "baseline" if until == "seeds" else variant.name
        with lock:
            log.append(("start", name, seed))
            log.append(("threads", name, seed, threads))
        time.sleep(baseline_seconds.get(seed, 0.0) if until == "seeds" else 0.01)
        with lock:
            log.append(("end", name, seed))
        if until == "seeds" and seed == fail_seed:
            return "error", f"cam seed {seed}: bad input"
        return "ok", RunResults(runs=[{"variant": variant.name, "seed": seed}])

    monkeypatch.setattr(parallel, "_run", run)
    monkeypatch.setattr(parallel, "_pool", lambda workers: cf.ThreadPoolExecutor(workers))
    monkeypatch.setattr(parallel, "worker_spec", lambda pipe: None)
    return log


def test_a_seeds_runs_start_when_its_baseline_seeds_exist_not_after_every_seed(monkeypatch):
    # seed 2's baseline is slow: seed 0's and 1's runs must not wait for it (no phase barrier)
    log = _fake_pool(monkeypatch, {0: 0.0, 1: 0.0, 2: 0.5})
    cam, c2am = SimpleNamespace(name="cam"), SimpleNamespace(name="c2am")
    tasks = [(v, s, v is cam, False) for s in (0, 1, 2) for v in (cam, c2am)]
    results = parallel.run_parallel(None, tasks, cam, [0, 1, 2], "seg", jobs=2, cores=2)
    assert [(r["variant"], r["seed"]) for r in results.runs] == [
        (v.name, s) for v, s, _, _ in tasks
    ]  # report order, whatever order they finished in
    at = {event: i for i, event in enumerate(log)}
    for s in (0, 1, 2):  # a seed's runs only after its baseline's seeds
        assert all(at[("start", m, s)] > at[("end", "baseline", s)] for m in ("cam", "c2am"))
    assert at[("start", "cam", 0)] < at[("end", "baseline", 2)]
    assert {e[3] for e in log if e[0] == "threads"} == {1}  # 2 cores, 2 workers


def test_a_lone_baseline_gets_the_cores_of_the_idle_workers(monkeypatch):
    log = _fake_pool(monkeypatch, {0: 0.0})
    cam, c2am = SimpleNamespace(name="cam"), SimpleNamespace(name="c2am")
    tasks = [(cam, 0, True, True), (c2am, 0, False, False)]
    parallel.run_parallel(None, tasks, cam, [0], "seg", jobs=2, cores=4)
    threads = {(e[1], e[2]): e[3] for e in log if e[0] == "threads"}
    assert threads == {("baseline", 0): 4, ("cam", 0): 2, ("c2am", 0): 2}


def test_a_baseline_error_stops_the_compare_with_its_line(monkeypatch):
    _fake_pool(monkeypatch, {0: 0.0, 1: 0.2}, fail_seed=0)
    cam = SimpleNamespace(name="cam")
    tasks = [(cam, s, True, False) for s in (0, 1)]
    with pytest.raises(parallel.WorkerFailed, match="cam seed 0: bad input"):
        parallel.run_parallel(None, tasks, cam, [0, 1], "seg", jobs=2, cores=2)


def test_jobs_refuse_what_a_worker_cannot_reproduce(tmp_path):
    pipe = SimpleNamespace(cache=SimpleNamespace(force={"masks"}), shrink=None)
    with pytest.raises(ConfigError, match="--jobs > 1 with --force"):
        parallel.worker_spec(pipe)
    with pytest.raises(ConfigError, match="--jobs 0"):
        pipeline.compare(pipe, [pipeline.Variant("cam", "cam")], [0], jobs=0)


def test_the_terminal_lines_travel_to_the_workers():
    events = pickle.loads(pickle.dumps(EventLines(quiet=False)))
    assert events.start > 0 and events.seen == set()


@pytest.mark.slow
def test_two_jobs_run_every_method_once_in_report_order(smoke_data, tmp_path, capfd):
    """Phase 1 makes the baseline's classifier and seeds once; the workers reuse them, every
    method's rows come back in the sequential order, and each stage is computed once."""
    cache = StageCache(tmp_path / "cache")
    pipe = pipeline.Pipeline(smoke_data, cache, profile="smoke", seg_eval=(),
                             on_event=EventLines(quiet=False))  # fmt: skip
    variants = [pipeline.parse_method(m) for m in pipeline.METHODS]
    results = pipeline.compare(pipe, variants, [0], until="masks", jobs=2)
    rows = results.runs
    assert [r["variant"] for r in rows] == ["cam", "cam_constant", "c2am"]
    assert [bool(r["oracle"]) for r in rows] == [True, False, False]
    for r in rows:
        assert 0.0 < r["seed_miou"] <= 100.0 and 0.0 < r["pseudo_miou"] <= 100.0
    assert {r["variant"] for r in results.per_class} == {"cam", "cam_constant", "c2am"}
    # nothing computed twice: a classifier and seeds per method; masks per method plus the
    # ladder's two (walks over the GT boundary and over the GT-label boundary net)
    for stage, n in (("classifier", 3), ("seeds", 3), ("masks", 5)):
        assert len([p for p in (tmp_path / "cache" / stage).iterdir() if p.is_dir()]) == n
    out = capfd.readouterr().out  # the workers' terminal lines (spawned, same stdout)
    assert len(re.findall(r"cam seed 0 +classifier +computing", out)) == 1
    assert re.search(r"cam seed 0 +classifier +reused", out)  # phase 2 found phase 1's
    assert re.search(r"c2am seed 0 +masks +computing", out)
    assert Path(rows[0]["seeds_dir"]).parent.name == "seeds"
