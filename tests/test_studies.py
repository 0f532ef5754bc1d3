"""Study files, samplers, storage URLs and the trial loop (a stub runner: no training here)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from c2am_bench import studies
from c2am_bench.errors import ConfigError
from c2am_bench.pipeline import Variant
from c2am_bench.run_results import RunResults

NAMES = {"pooling", "constants", "global_cam", "formulation", "irn_thresholds", "confounding",
         "paper_voc"}  # fmt: skip


def test_every_named_study_loads_and_describes_itself():
    specs = {s.name: s for s in studies.list_specs()}
    assert NAMES <= set(specs)
    assert specs["pooling"].is_grid and specs["pooling"].grid_size == 8
    assert not specs["irn_thresholds"].is_grid
    assert specs["paper_voc"].profiles == ("paper",)
    assert specs["confounding"].objective == "seed_miou_gain"
    for spec in specs.values():
        assert spec.question and spec.describe_space()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return path


BASE = """name: s
question: q
method: c2am
objective: seed_miou
space: {model.head.pooling: [mean, max]}
default: {model.head.pooling: mean}
"""


@pytest.mark.parametrize(
    "change, culprit",
    [
        (("method: c2am", "method: c3am"), "method 'c3am'"),
        (("objective: seed_miou", "objective: accuracy"), "objective 'accuracy'"),
        (("default: {model.head.pooling: mean}", "default: {model.head.pooling: avg}"), "default"),
        (("name: s", "name: ../evil"), "study name '../evil'"),
        (("space: {model.head.pooling: [mean, max]}", "space: {x: {low: 2, high: 1}}"), "space.x"),
        (("question: q", "questoin: q"), "unknown key"),
    ],
)
def test_bad_study_files_name_the_culprit(tmp_path, change, culprit):
    path = _write(tmp_path, BASE.replace(*change))
    with pytest.raises(ConfigError, match=r"s\.yaml") as err:
        studies.load_spec(path)
    assert culprit in str(err.value) and "\n" not in str(err.value)


def test_unknown_study_and_traversal_names_are_refused():
    with pytest.raises(ConfigError, match="unknown study 'poolin'"):
        studies.find_spec("poolin")
    for bad in ("../etc", "a/b", "..", ""):
        with pytest.raises(ConfigError, match="no path separators"):
            studies.check_name(bad)


def test_passwords_never_leave_the_storage_url():
    assert studies.redact("postgresql://bob:s3cret@db:5432/x") == "postgresql://bob:***@db:5432/x"
    assert studies.redact("sqlite:///a.db") == "sqlite:///a.db"
    with pytest.raises(ConfigError) as err:
        studies.open_storage("nonsense-url")
    assert "not a storage URL" in str(err.value)
    with pytest.raises(ConfigError) as err:
        studies.open_storage("postgresql://bob:s3cret@127.0.0.1:1/none")
    assert "s3cret" not in str(err.value) and "***" in str(err.value)


def test_parameters_route_to_classifier_irn_and_data():
    spec = studies.find_spec("confounding")
    variant, data = studies.build_variant(spec, {"data.p_context": 0.5,
                                                 "data.cooccur_strength": 0.0})  # fmt: skip
    assert data == {"p_context": 0.5, "cooccur_strength": 0.0} and not variant.options
    spec = studies.find_spec("irn_thresholds")
    variant, _ = studies.build_variant(spec, {"irn.conf_fg": 0.4, "irn.conf_bg": 0.1,
                                              "irn.sem_seg_bg": 0.2})  # fmt: skip
    assert variant.irn_settings()["conf_fg"] == 0.4 and variant.method == "c2am"
    spec = studies.find_spec("constants")
    variant, _ = studies.build_variant(spec, {"method": "c2am", "c2am:model.head.gamma": 2.0})
    assert variant.method == "c2am" and variant.options == {"model.head.gamma": 2.0}
    assert variant.name == "c2am[gamma=2]"


class StubRunner:
    """Instant 'runs': the objective is a known function of the variant's options."""

    data_key = "stub"
    irn_base: dict = {}

    def __init__(self, log, interrupt_at=None):
        self.log, self.interrupt_at = log, interrupt_at

    def run(
        self, variant: Variant, seed, until, *, study, trial, is_baseline=False, prune_with=None
    ):
        if not is_baseline:
            self.log.append((trial, dict(variant.options)))
            if self.interrupt_at is not None and len(self.log) == self.interrupt_at:
                raise KeyboardInterrupt
        score = {"mean": 40.0, "max": 30.0, "lse": 35.0, "topk": 38.0}
        value = 20.0 if is_baseline else score[variant.options["model.head.pooling"]]
        value += 1.0 if variant.options.get("model.head.formulation") == "spatial" else 0.0
        row = {"study": study, "trial": trial, "variant": variant.name, "seed": seed,
               "seed_miou": value, "is_baseline": is_baseline}  # fmt: skip
        return RunResults(runs=[row])


def test_grid_runs_default_first_every_point_once_and_resumes_after_ctrl_c(tmp_path):
    spec = studies.find_spec("pooling")
    url = f"sqlite:///{tmp_path / 'o.db'}"
    log = []
    with pytest.raises(KeyboardInterrupt):
        studies.run_study(spec, lambda data: StubRunner(log, interrupt_at=3), storage_url=url,
                          profile="smoke", seeds=(0,))  # fmt: skip
    assert log[0] == (0, {"model.head.pooling": "mean", "model.head.formulation": "code"})
    study = studies.run_study(spec, lambda data: StubRunner(log), storage_url=url,
                              profile="smoke", seeds=(0, 1))  # fmt: skip
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    points = [json.dumps(t.params, sort_keys=True) for t in complete]
    assert len(points) == 8 and len(set(points)) == 8  # every grid point COMPLETE exactly once
    failed = study.get_trials(states=(TrialState.FAIL,))
    assert len(failed) == 1  # the interrupted trial, retried as a new one
    best = study.best_trial
    assert best.params == {"model.head.pooling": "mean", "model.head.formulation": "spatial"}
    assert best.value == 41.0 and best.user_attrs["per_seed"] == [41.0, 41.0]
    results = studies.study_results(study)
    # (variant + baseline) x seeds: 2 trials ran with seed 0 only, 6 with seeds 0 and 1
    assert len(results.runs) == 2 * 1 * 2 + 6 * 2 * 2
    again = studies.run_study(spec, lambda data: StubRunner(log), storage_url=url,
                              profile="smoke", seeds=(0,))  # fmt: skip
    assert len(again.trials) == len(study.trials)  # nothing left to do


def test_tpe_study_enqueues_the_reference_point_first(tmp_path):
    spec = studies.find_spec("irn_thresholds")
    seen = []

    class Stub(StubRunner):
        def run(self, variant, seed, until, *, study, trial, is_baseline=False, prune_with=None):
            if not is_baseline:
                seen.append(variant.irn_settings())
            value = variant.irn_settings()["sem_seg_bg"] * 100
            return RunResults(runs=[{"seed_miou": 1.0, "heldout_pseudo_miou": value}])

    study = studies.run_study(spec, lambda data: Stub([]), storage_url=f"sqlite:///{tmp_path}/t.db",
                              profile="smoke", seeds=(0,), n_trials=3)  # fmt: skip
    assert seen[0]["conf_fg"] == 0.50 and seen[0]["conf_bg"] == 0.25
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 3
    assert study.trials[0].user_attrs["source"] == "reference default"


def test_study_profiles_are_enforced():
    spec = studies.find_spec("paper_voc")
    with pytest.raises(ConfigError, match="profile"):
        studies.run_study(spec, lambda d: None, storage_url="sqlite://", profile="smoke",
                          seeds=(0,))  # fmt: skip


def test_optuna_storage_is_readable_by_stock_optuna(tmp_path):
    spec = studies.find_spec("formulation")
    url = f"sqlite:///{tmp_path / 'f.db'}"

    class Stub(StubRunner):
        def run(self, variant, seed, until, *, study, trial, is_baseline=False, prune_with=None):
            return RunResults(runs=[{"seed_miou": 10.0 + trial}])

    studies.run_study(spec, lambda d: Stub([]), storage_url=url, profile="smoke", seeds=(0,))
    summaries = optuna.get_all_study_summaries(storage=url)
    assert [s.study_name for s in summaries] == ["formulation-smoke"]
    assert summaries[0].n_trials == 3


def test_calibration_study_scores_the_irn_lift_of_the_baseline_alone(tmp_path):
    """``irn_lift`` = pseudo-masks - seeds of the same run; a study of the baseline itself runs
    no paired twin, and ``irn_net.*`` keys reach the boundary net's options."""
    spec = studies.find_spec("calibration")
    calls = []

    class Stub(StubRunner):
        def run(self, variant, seed, until, *, study, trial, is_baseline=False, prune_with=None):
            calls.append((variant, is_baseline, until))
            lift = 15.0 if variant.irn_settings()["exp_times"] == 4 else 2.0
            return RunResults(runs=[{"variant": variant.name, "seed": seed, "seed_miou": 50.0,
                                  "pseudo_miou": 50.0 + lift}])  # fmt: skip

    study = studies.run_study(spec, lambda data: Stub([]), storage_url=f"sqlite:///{tmp_path}/c.db",
                              profile="smoke", seeds=(0,), n_trials=2)  # fmt: skip
    assert not any(is_base for _, is_base, _ in calls)
    assert {until for _, _, until in calls} == {"masks"}
    first = calls[0][0]
    assert first.method == "cam" and first.boundary_net == {"train_cfg.max_epochs": 5}
    assert study.trials[0].value == 15.0
