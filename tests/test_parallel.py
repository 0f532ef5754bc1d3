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
