"""Profiles are config files: the built-in three, a user's own, and one-line errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from c2am_bench import pipeline
from c2am_bench.cli import main
from c2am_bench.errors import ConfigError
from c2am_bench.profiles import PROFILE_ROOT, load_profile, names

REPO = Path(__file__).resolve().parent.parent


def test_the_builtin_profiles_name_each_stage_config():
    assert names() == ("default", "paper", "smoke")
    default, smoke, paper = (load_profile(n) for n in ("default", "smoke", "paper"))
    assert default.classifier_configs["cam"] == "cam/cam_r18lite_15e_synthvoc-128.py"
    assert default.irn == {"exp_times": 4, "sem_seg_bg": 0.45, "conf_fg": 0.50, "conf_bg": 0.25}
    assert paper.irn == {}
    # smoke keeps IRN's IR-label thresholds (format 1 data), the rest of the default's walk
    assert smoke.irn == {"exp_times": 4, "sem_seg_bg": 0.45, "conf_fg": 0.30, "conf_bg": 0.05}
    assert default.eval_modes == () and smoke.eval_modes == paper.eval_modes == ("tta", "crf")
    assert default.backbone_from_classifier and not paper.backbone_from_classifier
    assert (default.synthvoc, smoke.synthvoc, paper.synthvoc) == ("default", "smoke", None)
    # smoke inherits the default's configs and shortens every training
    assert smoke.classifier_configs == default.classifier_configs
    assert smoke.classifier_options["train_cfg.max_epochs"] == 2 and smoke.finetune_epochs == 1
    assert smoke.boundary_net_options["train_cfg.max_epochs"] == 1
    assert smoke.segmentor_options["train_cfg.max_iters"] == 8
    assert paper.stage_configs()["segmentor"] == ("seg/deeplabv2_r101-d8_30k_voc12aug-321.py",)
    # compare runs three seeds by default (intervals, paired deltas); smoke stays at one
    assert default.compare_seeds == paper.compare_seeds == (0, 1, 2)
    assert smoke.compare_seeds == (0,)


def _profile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(f"_base_ = ['{PROFILE_ROOT / 'default.py'}']\n{body}")
    return path


def test_a_user_profile_changes_what_it_names_and_keeps_the_rest(tmp_path):
    body = (
        "irn = dict(sem_seg_bg=0.5)\n"
        "segmentor = dict(eval_modes=['crf'], options={'train_cfg.max_iters': 300})\n"
    )
    path = _profile(tmp_path, body)
    prof = load_profile(str(path))
    assert prof.name == "mine"
    assert prof.irn == {"exp_times": 4, "sem_seg_bg": 0.5, "conf_fg": 0.50, "conf_bg": 0.25}
    assert prof.eval_modes == ("crf",) and prof.segmentor_options == {"train_cfg.max_iters": 300}
    assert prof.classifier_configs == load_profile("default").classifier_configs
    variant = pipeline.Variant("cam", "cam")
    assert variant.irn_settings(prof.irn)["sem_seg_bg"] == 0.5


@pytest.mark.parametrize("body, culprit", [
    ("segmentor = dict(eval_mode=['crf'])\n", "segmentor: unknown key(s) ['eval_mode']"),
    ("segmentor = dict(eval_modes=['msc'])\n", "segmentor.eval_modes"),
    ("boundary_net = dict(config='irn/nope.py')\n", "boundary_net.config: 'irn/nope.py'"),
    ("irn = dict(sem_seg_bg=2)\n", "irn: sem_seg_bg=2"),
    ("irn = dict(walk_radious=3)\n", "unknown IRN setting"),
    ("classifier = dict(finetune_epochs=0)\n", "classifier.finetune_epochs=0"),
    ("synthvoc = 'huge'\n", "synthvoc='huge'"),
    ("seeds = [0, 1]\n", "unknown key(s) ['seeds']"),
    ("compare_seeds = ()\n", "compare_seeds=()"),
    ("compare_seeds = (0, 0)\n", "compare_seeds=(0, 0)"),
    ("compare_seeds = (0, -1)\n", "compare_seeds=(0, -1)"),
    ("compare_seeds = 3\n", "compare_seeds=3"),
    ("compare_seeds = [[0]]\n", "compare_seeds=[[0]]"),
])  # fmt: skip
def test_a_bad_profile_is_named_in_one_line(tmp_path, body, culprit):
    path = _profile(tmp_path, body)
    with pytest.raises(ConfigError, match=rf"{path}: .*" + re.escape(culprit)):
        load_profile(str(path))


def test_compare_runs_the_profiles_seeds_unless_told(tmp_path):
    from c2am_bench.jobs import CompareJob

    path = _profile(tmp_path, "compare_seeds = (4, 5)\n")
    job = CompareJob(profile=str(path), work_dir=tmp_path)
    job.plan()
    assert job.seeds == (4, 5)
    job = CompareJob(profile=str(path), work_dir=tmp_path, seeds=(7,))
    job.plan()
    assert job.seeds == (7,)
    assert not (tmp_path / "runs").exists()  # planning wrote nothing


def test_an_unknown_profile_stops_the_cli_before_any_work(tmp_path, capsys):
    assert main(["compare", "--profile", "fast", "--work-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--profile 'fast': choose from default, paper, smoke or give a profile file" in err
    assert not (tmp_path / "runs").exists()


def test_a_dry_run_projects_every_seed_with_the_ladder_once():
    from c2am_bench.dry_run import DryRunReport, StageVerdict, format_report

    report = DryRunReport(verdicts=[
        StageVerdict("cam", "classifier", "ok", 1.0, 100.0),
        StageVerdict("cam", "segmentor", "ok", 1.0, 300.0),
        StageVerdict("cam", "oracle: segmentor", "ok", 1.0, 250.0),
        StageVerdict("c2am", "classifier", "shared"),
        StageVerdict("c2am", "masks", "FAILED", note="boom"),
    ])  # fmt: skip
    report.verdicts.pop()  # a failed stage prints no projection; this one checks the sums
    assert report.projected_seconds == 650.0
    assert report.projected_for(1) == 650.0
    assert report.projected_for(3) == 650.0 + 2 * 400.0  # the ladder at the first seed only
    assert report.projected_for(3, ladder_every_seed=True) == 3 * 650.0
    last = format_report(report, "a test machine", n_seeds=3)[-1]
    assert (
        "projected full run 24 min for 3 seeds (one seed 11 min, the oracle ladder at the "
        "first only)"
    ) in last
