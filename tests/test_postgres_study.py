"""Two workers on one study through PostgreSQL; one is SIGKILLed mid-trial, a restart finishes.

Starts a throw-away PostgreSQL cluster on loopback (initdb in a temp dir, trust auth). When no
server binaries exist the test is skipped with the reason (CI installs them first:
scripts/setup_postgres.sh).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

STUDY, PROFILE, GRID = "global_cam", "smoke", 6


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL server not installed (run scripts/setup_postgres.sh)")
    pytest.importorskip("psycopg2", reason="psycopg2-binary is a project dependency")
    base = Path(tempfile.mkdtemp(prefix="c2am-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    data, log = base / "data", base / "server.log"
    subprocess.run([*as_user, initdb, "-D", str(data), "-A", "trust", "-U", "c2am", "--no-sync"],
                   check=True, capture_output=True)  # fmt: skip
    opts = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, pg_ctl, "-D", str(data), "-l", str(log), "-o", opts, "-w", "start"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=port, user="c2am", dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute("CREATE DATABASE c2am")
        conn.close()
        yield f"postgresql+psycopg2://c2am@127.0.0.1:{port}/c2am"
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def _worker(cwd: Path, url: str, tag: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "c2am_bench.cli", "study", "run", STUDY, "--profile", PROFILE,
           "--storage", url, "--heartbeat", "2", "--work-dir", "work",
           "--report-dir", f"reports/{tag}"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    log = open(cwd / f"{tag}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)


def _trials(url: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(study_name=f"{STUDY}-{PROFILE}", storage=url).get_trials()
    except KeyError:  # not created yet
        return []


def test_two_workers_one_killed_every_grid_point_once(postgres_url, tmp_path):
    from optuna.trial import TrialState

    from c2am_bench.cli import main

    assert main(["-q", "data", "synth", "--profile", PROFILE,
                 "--out", str(tmp_path / "data" / "synthvoc-smoke-v2")]) == 0  # fmt: skip
    a = _worker(tmp_path, postgres_url, "a")
    b = _worker(tmp_path, postgres_url, "b")
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline and a.poll() is None:
        for t in _trials(postgres_url):
            if t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(
                f":{a.pid}"
            ):
                victim = t.number
        time.sleep(0.5)
    assert victim is not None, (tmp_path / "a.log").read_text()[-3000:]
    time.sleep(1.0)  # well inside the trial
    a.send_signal(signal.SIGKILL)
    a.wait()
    assert b.wait(timeout=600) == 0, (tmp_path / "b.log").read_text()[-3000:]
    time.sleep(7)  # > 3 heartbeats: the killed worker's trial is now stale
    again = _worker(tmp_path, postgres_url, "a2")
    assert again.wait(timeout=600) == 0, (tmp_path / "a2.log").read_text()[-3000:]

    trials = _trials(postgres_url)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    points = [json.dumps(t.params, sort_keys=True) for t in complete]
    assert len(points) == GRID and len(set(points)) == GRID, [t.params for t in complete]
    killed = next(t for t in trials if t.number == victim)
    assert killed.state == TrialState.FAIL
    retried = [t for t in complete if t.system_attrs.get("failed_trial") == victim]
    assert len(retried) == 1 and retried[0].params == killed.params
    assert all(t.user_attrs["git_commit"] for t in complete)
    # no stage output is left unfinished: every cache entry has its stage.json
    for stage_dir in (tmp_path / "work" / "cache").iterdir():
        for entry in stage_dir.iterdir():
            if not entry.name.startswith("."):
                assert (entry / "stage.json").is_file(), entry
    out = subprocess.run(
        [sys.executable, "-m", "c2am_bench.cli", "report", f"study-{STUDY}-{PROFILE}",
         "--work-dir", "work", "--storage", postgres_url, "--out", "reports/final"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "reports" / "final" / "index.html").is_file()
