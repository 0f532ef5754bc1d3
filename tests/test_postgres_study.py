"""Two workers on one study through PostgreSQL; one is SIGKILLed mid-trial, a restart finishes.
Workers started at the same instant on fresh databases (Optuna's schema-creation race,
optuna/optuna#1092): each exits 0, a surplus worker says it has nothing left to do.

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


def _trials(url: str, study: str = f"{STUDY}-{PROFILE}"):
    import optuna

    from c2am_bench.studies import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # through the harness's storage opener: polling while the workers start would otherwise
    # race them to create the schema (this process, too, is a simultaneous start)
    storage = open_storage(url, heartbeat=None)
    try:
        return optuna.load_study(study_name=study, storage=storage).get_trials()
    except KeyError:  # not created yet
        return []


def test_two_workers_one_killed_every_grid_point_once(postgres_url, tmp_path):
    from optuna.trial import TrialState

    from c2am_bench.cli import main

    assert main(["-q", "data", "synth", "--profile", PROFILE,
                 "--out", str(tmp_path / "data" / "synthvoc-smoke-v3")]) == 0  # fmt: skip
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


# -- simultaneous starts on a fresh database (Optuna's schema-creation race, optuna#1092) ---------
# Each worker is a ``python -c`` that imports what it needs, touches its ready file, then waits for
# one shared go file: the parent creates it once every worker is ready, so they all start within a
# millisecond or two of each other (a wall-clock deadline would be missed by a slow import).
_BARRIER = """
import sys, time
from pathlib import Path
import optuna, optuna.storages, psycopg2, sqlalchemy
import c2am_bench.cli, c2am_bench.cli_runs, c2am_bench.studies
import c2am_bench.hooks, c2am_bench.pipeline  # torch: imported before the start, not after
Path(sys.argv[1]).touch()
while not Path(sys.argv[2]).exists():
    time.sleep(0.001)
"""
# what ``study run`` does with the storage (its early open_storage, then run_study), on a stub
# runner: a trial takes a second (real ones take minutes), so the creation of the schema and the
# study is what is exercised, and the twin check after a trial's work sees every point stored
_STUB_WORKER = """
import time
from c2am_bench import studies
from c2am_bench.run_results import RunResults

class Stub:
    data_key, irn_base = "stub", {}

    def run(self, variant, seed, until, *, study, trial, is_baseline=False, prune_with=None):
        time.sleep(1.0)
        return RunResults(runs=[{"seed_miou": 1.0 + trial}])

url = sys.argv[3]
studies.open_storage(url, heartbeat=None)
studies.run_study(studies.find_spec("formulation"), lambda data: Stub(), storage_url=url,
                  profile="smoke", seeds=(0,), heartbeat=2)
"""
_STORAGE_ONLY = _BARRIER + _STUB_WORKER
_CLI = _BARRIER + "sys.exit(c2am_bench.cli.main(sys.argv[3:]))\n"
FORMULATION = 3  # grid points of studies/formulation.yaml


def _fresh_db(url: str, name: str) -> str:
    """A new, empty database on the server of ``url`` (no Optuna schema yet); its URL."""
    import psycopg2
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = psycopg2.connect(host=u.host, port=u.port, user=u.username, dbname="postgres")
    conn.autocommit = True
    conn.cursor().execute(f"CREATE DATABASE {name}")
    conn.close()
    return u.set(database=name).render_as_string(hide_password=False)


def _start_together(cwd: Path, code: str, argvs: list[list[str]], tag: str):
    """Start one ``python -c code`` per argv, released at once; (processes, log paths)."""
    go = cwd / f"{tag}.go"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs, logs, ready = [], [], []
    for i, argv in enumerate(argvs):
        ready.append(cwd / f"{tag}-{i}.ready")
        logs.append(cwd / f"{tag}-{i}.log")
        with open(logs[-1], "w") as log:
            procs.append(subprocess.Popen([sys.executable, "-c", code, str(ready[-1]), str(go),
                                           *argv], cwd=cwd, env=env, stdout=log,
                                          stderr=subprocess.STDOUT))  # fmt: skip
    deadline = time.time() + 120
    while not all(r.exists() for r in ready):
        crashed = [p for p in procs if p.poll() is not None]
        assert not crashed and time.time() < deadline, [p.read_text()[-2000:] for p in logs]
        time.sleep(0.05)
    go.touch()
    return procs, logs


def _wait_all(procs, logs, timeout: float) -> list[int]:
    deadline = time.time() + timeout
    codes = []
    for p in procs:
        try:
            codes.append(p.wait(timeout=max(deadline - time.time(), 1)))
        except subprocess.TimeoutExpired:
            p.kill()
            codes.append(p.wait())
    return codes


def _complete_points(url: str, study: str) -> list[str]:
    from optuna.trial import TrialState

    trials = _trials(url, study)
    return [json.dumps(t.params, sort_keys=True) for t in trials if t.state == TrialState.COMPLETE]


def _race(tmp_path, url: str, tag: str) -> None:
    """4 processes open ``url`` (a fresh database) at the same instant and run the study: every
    one exits 0 and every grid point is COMPLETE once."""
    procs, logs = _start_together(tmp_path, _STORAGE_ONLY, [[url]] * 4, tag)
    codes = _wait_all(procs, logs, timeout=120)
    tails = [p.read_text()[-1500:] for p in logs]
    assert codes == [0] * 4, list(zip(codes, tails, strict=True))
    points = _complete_points(url, "formulation-smoke")
    assert len(points) == FORMULATION and len(set(points)) == FORMULATION, (tag, points)


def test_simultaneous_starts_on_a_fresh_database_create_the_schema_once(postgres_url, tmp_path):
    """The exact race, fast: 4 processes x 3 fresh databases open the storage at the same instant
    (without the harness's creation lock, some die on alembic_version_pkc or CREATE TYPE)."""
    for r in range(3):
        _race(tmp_path, _fresh_db(postgres_url, f"race_{r}"), f"race{r}")


def test_simultaneous_starts_on_a_fresh_sqlite_file_are_retried(tmp_path):
    """The same race on SQLite (no lock there: a bounded retry); no PostgreSQL needed."""
    for r in range(3):
        _race(tmp_path, f"sqlite:///{tmp_path / f'race_{r}.db'}", f"sqlite{r}")


def test_four_workers_started_at_once_on_fresh_databases_all_exit_0(postgres_url, tmp_path):
    """4 ``study run`` workers on the 3-point formulation grid, started at the same instant on a
    fresh database, 3 rounds sharing one work dir (rounds 2-3 hit the stage cache): each worker
    exits 0, each point is COMPLETE once, and a worker that found nothing to do says so."""
    from c2am_bench.cli import main

    assert main(["-q", "data", "synth", "--profile", PROFILE,
                 "--out", str(tmp_path / "data" / "synthvoc-smoke-v3")]) == 0  # fmt: skip
    for r in range(1, 4):
        url = _fresh_db(postgres_url, f"c2am_r{r}")
        argvs = [["study", "run", "formulation", "--profile", PROFILE, "--storage", url,
                  "--heartbeat", "2", "--work-dir", "work", "--report-dir", f"reports/r{r}-{i}"]
                 for i in range(4)]  # fmt: skip
        procs, logs = _start_together(tmp_path, _CLI, argvs, f"round{r}")
        codes = _wait_all(procs, logs, timeout=420 if r == 1 else 180)
        texts = [p.read_text() for p in logs]
        assert codes == [0] * 4, [(c, t[-2000:]) for c, t in zip(codes, texts, strict=True)]
        points = _complete_points(url, f"formulation-{PROFILE}")
        assert len(points) == FORMULATION and len(set(points)) == FORMULATION, (r, points)
        idle = [i for i, t in enumerate(texts) if "nothing left for this worker" in t]
        for i in idle:
            line = next(x for x in texts[i].splitlines() if "nothing left" in x)
            assert line.startswith("study 'formulation': nothing left for this worker"), line
            assert "c2am-bench report" in line
            assert not (tmp_path / "reports" / f"r{r}-{i}").exists()
        if r == 1:  # trials take tens of seconds: the three points are taken before any finishes
            assert idle, [t[-1500:] for t in texts]
