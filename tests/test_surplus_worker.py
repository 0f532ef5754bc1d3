"""A worker that finds every grid point held by other workers says so and exits 0 (no training).

The three points of ``studies/formulation.yaml`` are made RUNNING by hand (``ask`` + the
harness's own sampler and ``suggest``), as three busy workers would leave them; a fourth
``study run`` then has nothing to do: its trial is PRUNED as a duplicate and nothing is COMPLETE.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from c2am_bench import studies
from c2am_bench.cli import main
from c2am_bench.datasets import synthvoc


def test_a_surplus_worker_says_nothing_is_left_and_exits_0(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data" / "synthvoc-smoke"
    synthvoc.generate(synthvoc.make_config("smoke"), data, progress=False)
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    spec = studies.find_spec("formulation")
    sampler = studies.make_sampler(spec)  # as run_study creates the study
    study = optuna.create_study(
        study_name="formulation-smoke", storage=url, direction="maximize", sampler=sampler
    )
    held = [study.ask() for _ in range(spec.grid_size)]
    points = {studies.suggest(trial, spec)["model.head.formulation"] for trial in held}
    assert points == set(spec.space["model.head.formulation"])  # every point is RUNNING

    argv = ["study", "run", "formulation", "--profile", "smoke", "--storage", url,
            "--data", str(data), "--work-dir", "work", "--report-dir", "reports/x"]  # fmt: skip
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = [x for x in out.splitlines() if "nothing left" in x]
    assert len(lines) == 1, out
    assert lines[0].startswith(
        "study 'formulation': nothing left for this worker: every point is complete or "
        "running in another worker (trials 0, 1, 2 running); the report is rendered by a worker "
        "that completes a trial, or later with `c2am-bench report study-formulation-smoke "
        "--work-dir work --storage sqlite:"
    )
    assert not (tmp_path / "reports").exists()
    trials = optuna.load_study(study_name="formulation-smoke", storage=url).get_trials()
    assert [t.state for t in trials] == [TrialState.RUNNING] * 3 + [TrialState.PRUNED]
    assert trials[3].user_attrs["duplicate_of"] in (0, 1, 2)
