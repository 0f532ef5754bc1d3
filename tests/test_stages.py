"""The stage registry: a run's chain, the cache folders ``--force`` knows, profile extra stages."""

from __future__ import annotations

import re

import pytest

from c2am_bench import pipeline
from c2am_bench.errors import ConfigError
from c2am_bench.profiles import PROFILE_ROOT, load_profile
from c2am_bench.stage_cache import StageCache, check_force
from c2am_bench.stages import (
    PSEUDO_MASKS,
    STAGES,
    RunPlan,
    Stage,
    build_stage,
    cache_folders,
    chain,
)

CAM = pipeline.Variant("cam", "cam")


def test_the_chain_follows_until_and_the_oracle():
    assert chain(RunPlan(CAM, 0, "seeds")) == ("seeds", "heldout", "confounders")
    assert chain(RunPlan(CAM, 0, "masks")) == ("seeds", "masks", "heldout", "confounders")
    assert chain(RunPlan(CAM, 0, "seg", oracle=True)) == (
        "seeds", "masks", "segmentor", "oracle", "heldout", "confounders")  # fmt: skip
    # the ladder needs pseudo-masks to compare with: a seeds-only run has none
    assert "oracle" not in chain(RunPlan(CAM, 0, "seeds", oracle=True))
    with pytest.raises(ConfigError, match="until='sed'"):
        RunPlan(CAM, 0, "sed")


class _NeedsMasks(Stage):
    needs = "masks"


class _BadNeeds(Stage):
    needs = "masks_please"


def test_an_extra_stage_joins_the_runs_that_reach_what_it_needs(monkeypatch):
    monkeypatch.setitem(STAGES.module_dict, "t_needs_masks", _NeedsMasks)
    assert chain(RunPlan(CAM, 0, "masks"), ("t_needs_masks",))[-1] == "t_needs_masks"
    assert "t_needs_masks" not in chain(RunPlan(CAM, 0, "seeds"), ("t_needs_masks",))
    monkeypatch.setitem(STAGES.module_dict, "t_bad", _BadNeeds)
    with pytest.raises(ConfigError, match="'t_bad': needs='masks_please'"):
        chain(RunPlan(CAM, 0, "seg"), ("t_bad",))


def test_unknown_or_foreign_stages_are_refused(monkeypatch):
    with pytest.raises(ConfigError, match="unknown pipeline stage 'sedes'; registered: .*seeds"):
        build_stage("sedes")
    monkeypatch.setitem(STAGES.module_dict, "t_not_a_stage", dict)
    with pytest.raises(ConfigError, match="'t_not_a_stage' is not a c2am_bench.stages.Stage"):
        build_stage("t_not_a_stage")


def test_force_knows_every_folder_the_stages_write():
    # the folders the cache held before stages were registered components (and context_errors,
    # added since), and no other
    before = {"data", "classifier", "seeds", "confounders", "ir_labels", "boundary_net",
              "boundary", "walk", "masks", "crf_masks", "heldout", "segmentor", "seg_eval",
              "oracle_boundary", "context_errors"}  # fmt: skip
    ours = {"data"} | {f for registry in (STAGES, PSEUDO_MASKS)
                       for cls in registry.module_dict.values()
                       if cls.__module__.startswith("c2am_bench.")
                       for f in cls.folders}  # fmt: skip
    assert ours == before  # (other tests register stages of their own: mask_area, ...)
    assert set(cache_folders()) >= before
    assert check_force("walk, masks,") == ["walk", "masks"]
    with pytest.raises(ConfigError, match=re.escape("--force: unknown stage(s) ['sedes']")):
        check_force("seeds,sedes")


def test_force_accepts_a_registered_stages_folder(monkeypatch, tmp_path):
    class Mine(Stage):
        folders = ("t_mine",)

    monkeypatch.setitem(STAGES.module_dict, "t_mine", Mine)
    assert StageCache(tmp_path, force=["t_mine"]).force == {"t_mine"}


def test_a_stage_reading_what_no_earlier_stage_made_fails_loudly(monkeypatch, smoke_data,
                                                                  tmp_path):  # fmt: skip
    class ReadsWalk(Stage):
        reads = ("walk",)

        def run(self, pipe, plan, dirs):  # pragma: no cover - must not be reached
            raise AssertionError("ran without its input")

    class Quick(Stage):  # stands in for the seeds stage: no training in a unit test
        def run(self, pipe, plan, dirs):
            return {"seeds": tmp_path}

    monkeypatch.setitem(STAGES.module_dict, "t_reads_walk", ReadsWalk)
    monkeypatch.setitem(STAGES.module_dict, "seeds", Quick)
    profile = tmp_path / "with_extra.py"
    profile.write_text(f"_base_ = ['{PROFILE_ROOT / 'smoke.py'}']\n"
                       "extra_stages = ['t_reads_walk']\n")  # fmt: skip
    pipe = pipeline.Pipeline(smoke_data, StageCache(tmp_path / "cache"), profile=str(profile))
    monkeypatch.setattr(pipeline, "chain", lambda plan, extra: ("seeds", *extra))
    with pytest.raises(ConfigError, match="stage 't_reads_walk' reads walk, which no earlier"):
        pipe.run(CAM, 0, "seeds")


def test_a_profile_names_only_registered_stages_of_its_own(tmp_path):
    profile = tmp_path / "extra.py"
    profile.write_text(f"_base_ = ['{PROFILE_ROOT / 'smoke.py'}']\n"
                       "extra_stages = ['mask_aera']\n")  # fmt: skip
    with pytest.raises(ConfigError, match=f"{re.escape(str(profile))}: extra_stages: "
                                          "'mask_aera' is not a registered stage"):  # fmt: skip
        load_profile(str(profile))
    profile.write_text(f"_base_ = ['{PROFILE_ROOT / 'smoke.py'}']\nextra_stages = ['masks']\n")
    with pytest.raises(ConfigError, match="'masks' is not a registered stage of yours"):
        load_profile(str(profile))
    profile.write_text(f"_base_ = ['{PROFILE_ROOT / 'smoke.py'}']\nextra_stages = 'mask_area'\n")
    with pytest.raises(ConfigError, match="extra_stages='mask_area': a list"):
        load_profile(str(profile))
