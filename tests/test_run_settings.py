"""Per-profile run settings: the walk's radius as an IRN setting, DeepLabV2's evaluations."""

from __future__ import annotations

from pathlib import Path

import pytest

from c2am_bench import pipeline
from c2am_bench.errors import ConfigError
from c2am_bench.profiles import load_profile
from c2am_bench.stage_cache import StageCache, stage_key
from c2am_bench.stages import SEED_SPLIT
from c2am_bench.stages.walk import walk_masks


def test_walk_radius_defaults_to_irn_and_is_checked():
    assert pipeline.IRN_DEFAULTS["walk_radius"] == 5  # IRN's make_sem_seg_labels
    assert pipeline.Variant("cam", "cam", irn={"walk_radius": 3}).irn_settings()["walk_radius"] == 3
    for bad in (1, 2.5, 11):
        with pytest.raises(ConfigError, match="walk_radius"):
            pipeline.Variant("cam", "cam", irn={"walk_radius": bad}).irn_settings()


class _Keys:
    """Stands in for ``StageCache.build``: records each (stage, key) and builds nothing."""

    def __init__(self, root: Path) -> None:
        self.root, self.calls = root, []

    def build(self, stage, key, fill, **meta):
        self.calls.append((stage, key))
        return self.root / stage / key


def test_walk_key_is_unchanged_at_radius_5_and_follows_the_radius(smoke_data, tmp_path):
    runner = pipeline.Pipeline(smoke_data, StageCache(tmp_path / "cache"), profile="default")
    runner.cache = keys = _Keys(tmp_path)
    seeds, bdir = tmp_path / "seeds" / "s", tmp_path / "boundary" / "b"
    walk_masks(runner, pipeline.Variant("cam", "cam"), seeds, bdir)
    # the key the walk stage had before walk_radius existed (radius 5 was a literal): caches
    # made by earlier versions are reused
    t = load_profile("default").irn
    before = stage_key("walk", "s", "b", 10, t["exp_times"], 5, SEED_SPLIT)
    assert keys.calls[0] == ("walk", before)
    walk_masks(runner, pipeline.Variant("cam", "cam", irn={"walk_radius": 3}), seeds, bdir)
    assert keys.calls[2][0] == "walk" and keys.calls[2][1] != before
    # the masks read the walk they were made from
    assert keys.calls[1][1] != keys.calls[3][1]


def test_seg_eval_modes_follow_the_profile_and_can_be_chosen(smoke_data, tmp_path):
    cache = StageCache(tmp_path / "cache")
    assert pipeline.Pipeline(smoke_data, cache, profile="default").seg_modes == ()
    assert pipeline.Pipeline(smoke_data, cache, profile="smoke").seg_modes == ("tta", "crf")
    assert load_profile("paper").eval_modes == ("tta", "crf")  # the paper's protocol
    runner = pipeline.Pipeline(smoke_data, cache, profile="default", seg_eval=("crf",))
    assert runner.seg_modes == ("crf",)
    with pytest.raises(ConfigError, match="--seg-eval"):
        pipeline.Pipeline(smoke_data, cache, profile="default", seg_eval=("tta", "cfr"))


def test_the_oracle_ladder_climbs_at_the_first_seed_unless_asked_for_all():
    class Recorder:
        def __init__(self):
            self.calls = []

        def run(self, variant, seed, until, *, is_baseline, oracle):
            self.calls.append((variant.name, seed, oracle))
            return pipeline.RunResults()

    variants = [pipeline.Variant("cam", "cam"), pipeline.Variant("c2am", "c2am")]
    runner = Recorder()
    pipeline.compare(runner, variants, [3, 1, 2])
    assert [c for c in runner.calls if c[2]] == [("cam", 3, True)]
    runner = Recorder()
    pipeline.compare(runner, variants, [3, 1, 2], oracle=("cam", "c2am"), oracle_seeds="all")
    assert all(c[2] for c in runner.calls) and len(runner.calls) == 6
    with pytest.raises(ConfigError, match="--oracle-seeds"):
        pipeline.compare(runner, variants, [0], oracle_seeds="some")


def test_the_printed_table_has_no_column_for_evaluations_that_did_not_run(capsys):
    from c2am_bench.cli_runs import _print_table

    row = {"label": "CAM", "seed": 0, "seed_miou": 50.0, "seg_miou": 60.0,
           "seg_tta_miou": float("nan"), "seg_crf_miou": float("nan")}  # fmt: skip
    _print_table([row])
    out = capsys.readouterr().out
    assert "seg val" in out and "+TTA" not in out and "+CRF" not in out and "NaN" not in out
    _print_table([{**row, "seg_tta_miou": 61.0}])
    out = capsys.readouterr().out
    assert "+TTA" in out and "61.0" in out and "+CRF" not in out


def test_irn_settings_have_one_home_with_irn_defaults_and_checks():
    from c2am_bench.irn_settings import IRN, IrnSettings

    # IRN's run_sample.py / make_sem_seg_labels / crf_inference_label values
    assert (IRN.conf_fg, IRN.conf_bg, IRN.sem_seg_bg, IRN.beta, IRN.exp_times) == (
        0.30, 0.05, 0.25, 10, 8)  # fmt: skip
    assert (IRN.walk_radius, IRN.crf_bi_sxy, IRN.crf_gauss_sxy, IRN.crf_mask_bg) == (
        5, 50.0, 3.0, 0.15)  # fmt: skip
    assert pipeline.IRN_DEFAULTS == IRN.as_dict()
    # later layers win; the profile's layer and the variant's are merged, then checked once
    s = IrnSettings.merged({"exp_times": 4, "sem_seg_bg": 0.45}, {"sem_seg_bg": 0.3})
    assert (s.exp_times, s.sem_seg_bg, s.conf_fg) == (4, 0.3, 0.30)
    assert s.crf == {"bi_sxy": 50.0, "gauss_sxy": 3.0}
    with pytest.raises(ConfigError, match=r"unknown IRN setting\(s\) \['conf_gf'\]"):
        IrnSettings.merged({"conf_gf": 0.3})
    for bad, culprit in (
        (dict(conf_bg=0.4), "conf_bg=0.4"),
        (dict(sem_seg_bg=1.2), "sem_seg_bg"),
        (dict(beta=0), "beta=0"),
        (dict(exp_times=2.5), "exp_times=2.5"),
        (dict(crf_bi_sxy=-1), "crf_bi_sxy"),
        (dict(crf_mask_bg=2), "crf_mask_bg"),
    ):
        with pytest.raises(ConfigError, match=culprit):
            IrnSettings.merged(bad)
    # a variant names itself in the message, and a profile's layer can make its values valid
    with pytest.raises(ConfigError, match="variant 'v': .*conf_bg=0.35"):
        pipeline.Variant("v", "cam", irn={"conf_bg": 0.35}).irn_settings()
    assert pipeline.Variant("v", "cam", irn={"conf_bg": 0.35}).irn_settings({"conf_fg": 0.5})


def test_threads_cap_torch_and_the_crf_pool(monkeypatch):
    import os

    import torch

    from c2am_bench import environment

    before = torch.get_num_threads()
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)  # restored as it was afterwards
    monkeypatch.setattr(environment, "_THREADS", None)
    try:
        assert environment.cpu_budget() == (os.cpu_count() or 1)
        environment.limit_threads(None)  # the default: nothing changes
        assert torch.get_num_threads() == before and os.environ["OMP_NUM_THREADS"] == "7"
        environment.limit_threads(1)
        assert torch.get_num_threads() == 1 and environment.cpu_budget() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"  # what the processes it starts inherit
        with pytest.raises(ConfigError, match="--threads 0"):
            environment.limit_threads(0)
    finally:
        torch.set_num_threads(before)
