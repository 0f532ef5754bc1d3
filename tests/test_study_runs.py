"""Every named study runs a couple of real trials in the smoke profile (paper_voc: validated).

One work dir for the module, so the studies share the stage cache as they would for a user: the
baseline classifier and its Global CAM are trained once.
"""

from __future__ import annotations

import json

import optuna
import pytest
from optuna.trial import TrialState

from c2am_bench import studies
from c2am_bench.cli import main
from c2am_bench.pipeline import CONFIG_ROOT
from c2am_bench.profiles import load_profile

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    with pytest.MonkeyPatch.context() as mp:  # module scope: no function-scoped monkeypatch
        mp.chdir(root)
        yield root


@pytest.mark.parametrize(
    "name", ["pooling", "constants", "global_cam", "formulation", "irn_thresholds"]
)
def test_named_study_runs_two_smoke_trials(workspace, capsys, name):
    assert main(["study", "run", name, "--profile", "smoke", "--n-trials", "2"]) == 0
    out = capsys.readouterr().out
    assert "trial 0 COMPLETE" in out and "trial 1 COMPLETE" in out
    url = f"sqlite:///{workspace / 'work_dirs' / 'studies.db'}"
    study = optuna.load_study(study_name=f"{name}-smoke", storage=url)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert len(complete) == 2
    spec = studies.find_spec(name)
    # the reference point runs first
    assert complete[0].params == spec.default
    for t in complete:
        assert t.user_attrs["git_commit"] and t.user_attrs["config_hash"]
        rows = json.loads(t.user_attrs["results"])["runs"]
        assert {r["is_baseline"] for r in rows} == {True, False}
    report = workspace / "reports" / f"study-{name}-smoke"
    assert (report / "index.html").is_file() and (report / "summary.csv").is_file()
    assert (report / "optuna_history.png").is_file()


def test_confounding_runs_weak_to_strong_around_the_default_and_not_on_smoke(workspace, capsys):
    from c2am_bench.datasets import synthvoc

    spec = studies.find_spec("confounding")
    grid = spec.space["data.p_context"]
    default = synthvoc.make_config("default").p_context
    assert grid == sorted(grid) and grid[0] < default < grid[-1]
    assert spec.default["data.p_context"] == default and spec.profiles == ("default",)
    assert main(["study", "run", "confounding", "--profile", "smoke"]) == 2
    assert "profile(s) default" in capsys.readouterr().err


def test_paper_voc_is_valid_and_refuses_to_run_without_voc(workspace, capsys):
    spec = studies.find_spec("paper_voc")
    assert spec.profiles == ("paper",) and spec.objective == "seg_miou"
    for paths in load_profile("paper").stage_configs().values():
        assert all((CONFIG_ROOT / path).is_file() for path in paths), paths
    assert main(["study", "run", "paper_voc", "--profile", "paper"]) == 2
    assert "--profile paper needs --data" in capsys.readouterr().err
