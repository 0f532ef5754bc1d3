"""The content-keyed stage cache: reuse, atomicity, force, resume and cross-process locking."""

from __future__ import annotations

import json
import multiprocessing as mp
import time

import pytest

from c2am_bench.errors import ConfigError
from c2am_bench.stage_cache import DONE_FILE, StageCache, stage_key


def test_key_depends_on_every_part_but_not_dict_order():
    assert stage_key("seeds", {"a": 1, "b": 2}) == stage_key("seeds", {"b": 2, "a": 1})
    assert stage_key("seeds", {"a": 1}) != stage_key("seeds", {"a": 2})
    assert stage_key("seeds", "x") != stage_key("masks", "x")
    assert len(stage_key("seeds")) == 16


def test_build_computes_once_then_reuses(tmp_path):
    events = []
    cache = StageCache(tmp_path, on_event=lambda *e: events.append(e[2]))
    calls = []

    def fill(tmp):
        calls.append(tmp)
        (tmp / "out.txt").write_text("v1")
        return {"n": 3}

    first = cache.build("seeds", "k1", fill, source="test")
    again = cache.build("seeds", "k1", fill)
    assert first == again == tmp_path.resolve() / "seeds" / "k1"
    assert len(calls) == 1 and (first / "out.txt").read_text() == "v1"
    info = json.loads((first / DONE_FILE).read_text())
    assert info["n"] == 3 and info["source"] == "test" and info["key"] == "k1"
    assert events == ["computing", "done", "reused"]


def test_a_failed_fill_leaves_nothing_a_later_run_trusts(tmp_path):
    cache = StageCache(tmp_path)

    def broken(tmp):
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.build("masks", "k", broken)
    assert not (tmp_path / "masks" / "k").exists()
    assert not list((tmp_path / "masks").glob(".k.tmp-*"))
    # a temp dir left by a SIGKILLed run is removed and the stage recomputed
    stale = tmp_path / "masks" / ".k.tmp-dead"
    stale.mkdir()
    out = cache.build("masks", "k", lambda tmp: (tmp / "ok").write_text("1") and None)
    assert (out / "ok").is_file() and not stale.exists()


def test_force_recomputes_once_per_process(tmp_path):
    StageCache(tmp_path).build("walk", "k", lambda tmp: (tmp / "v").write_text("old") and None)
    forced = StageCache(tmp_path, force=["walk"])
    n = []

    def fill(tmp):
        n.append(1)
        (tmp / "v").write_text("new")

    out = forced.build("walk", "k", fill)
    forced.build("walk", "k", fill)
    assert (out / "v").read_text() == "new" and len(n) == 1


def test_unknown_force_stage_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown stage"):
        StageCache(tmp_path, force=["sedes"])


def test_train_resumes_an_unfinished_run_and_marks_done(tmp_path):
    cache = StageCache(tmp_path)
    folder = tmp_path / "classifier" / "k"
    folder.mkdir(parents=True)
    (folder / "last_checkpoint").write_text("epoch_1.pth")  # a killed earlier run
    seen = []
    cache.train("classifier", "k", lambda d, resume: seen.append(resume) or {"train_seconds": 1})
    assert seen == [True] and cache.is_done("classifier", "k")
    cache.train("classifier", "k", lambda d, resume: seen.append(resume))
    assert seen == [True]  # finished: reused, not trained again


def test_unwritable_cache_root_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(ConfigError, match="cannot create the stage cache"):
        StageCache(blocker / "cache")


def _worker(root, counter):
    cache = StageCache(root)

    def fill(tmp):
        with open(counter, "a") as f:
            f.write("x")
        time.sleep(0.5)
        (tmp / "v").write_text("1")

    cache.build("seeds", "shared", fill)


def test_two_processes_compute_a_key_once(tmp_path):
    counter = tmp_path / "count"
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(tmp_path / "c", counter)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert counter.read_text() == "x"
    assert (tmp_path / "c" / "seeds" / "shared" / "v").is_file()


def test_a_code_version_moves_the_stage_and_everything_keyed_on_it(tmp_path, monkeypatch):
    from c2am_bench import stage_cache

    cache = StageCache(tmp_path)
    monkeypatch.setattr(stage_cache, "CODE_VERSIONS", {})
    old = cache.build("walk", "k", lambda d: None)
    assert old.name == "k"
    monkeypatch.setattr(stage_cache, "CODE_VERSIONS", {"walk": 2})
    ran = []
    new = cache.build("walk", "k", lambda d: ran.append(d))
    assert ran and new.name != "k" and (new / DONE_FILE).is_file()  # old output not reused
    assert cache.build("masks", stage_key("masks", new.name), lambda d: None).name != (
        stage_key("masks", old.name)
    )  # a later stage keyed on the folder moves too
    trained = cache.train("walk", "t", lambda d, resume: None)
    assert trained.name == StageCache.versioned("walk", "t") != "t"
