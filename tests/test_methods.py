"""Methods as data: built-in declarations, a user's method config, its code in the stage key."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from c2am_bench import pipeline
from c2am_bench.config_loading import load_config
from c2am_bench.errors import ConfigError, DataError
from c2am_bench.methods import BUILTIN, custom_sources, read_declaration, use_config_folder

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "projects/mixed_pooling/mixed-pooling_r18lite_ft6e_synthvoc-128.py"


def test_builtin_methods_declare_what_they_load_from_the_baseline():
    assert pipeline.METHODS == ("cam", "cam_constant", "c2am")
    assert [(s.from_baseline, s.global_cam) for s in BUILTIN.values()] == [
        (False, False), (True, False), (True, True)]  # fmt: skip
    assert pipeline.Variant("c2am", "c2am").spec is BUILTIN["c2am"]
    assert pipeline.Variant("c2am", "c2am").classifier_config("default") == (
        "cam/c2am_r18lite_ft6e_synthvoc-128.py")  # fmt: skip


def test_the_example_project_is_a_method_config():
    v = pipeline.parse_method(f"mixed=config:{EXAMPLE}")
    assert (v.name, v.method, v.config, v.display) == ("mixed", "config", str(EXAMPLE), "mixed")
    assert v.spec.from_baseline and not v.spec.global_cam
    assert v.classifier_config("default") == str(EXAMPLE) and v.params()["config"] == str(EXAMPLE)
    assert pipeline.parse_method(f"mixed=config:{EXAMPLE}@crf").pseudo == "crf"
    assert load_config(EXAMPLE).model.head.type == "MixedPoolingCAMHead"


def _method(folder: Path, declaration: str, module: str = "my_head_mod") -> Path:
    """A user's method config in ``folder`` naming ``module`` (a file beside it)."""
    (folder / f"{module}.py").write_text("x = 1\n")
    cfg = folder / "mine.py"
    cfg.write_text(f"_base_ = ['{REPO}/mm_configs/cam/cam_r18lite_15e_synthvoc-128.py']\n"
                   "custom_imports = dict(imports=_base_.custom_imports.imports + "
                   f"['{module}'])\n" + declaration)  # fmt: skip
    return cfg


@pytest.mark.parametrize("declaration, culprit", [
    ("c2am_method = dict(from_baseline=True, globalcam=True)\n", "unknown key(s) ['globalcam']"),
    ("c2am_method = dict(from_baseline='yes')\n", "from_baseline='yes' must be True or False"),
    ("c2am_method = dict(global_cam=True)\n", "global_cam needs from_baseline=True"),
])  # fmt: skip
def test_a_bad_declaration_is_named_before_any_training(tmp_path, declaration, culprit):
    cfg = _method(tmp_path, declaration)
    with pytest.raises(ConfigError, match=f"{cfg}.*" + re.escape(culprit)):
        read_declaration(cfg, "mine")
    with pytest.raises(DataError, match="method config file not found"):
        pipeline.parse_method(f"mine=config:{tmp_path / 'nope.py'}")
    with pytest.raises(ConfigError, match="NAME=config:FILE or NAME=external:DIR"):
        pipeline.parse_method(f"mine=module:{cfg}")


def test_no_declaration_trains_from_scratch(tmp_path):
    spec = read_declaration(_method(tmp_path, ""), "mine")
    assert (spec.label, spec.from_baseline, spec.global_cam) == ("mine", False, False)


def test_a_user_head_module_is_part_of_the_key_and_ours_are_not(tmp_path):
    path = _method(tmp_path, "", module="keyed_head_mod")
    use_config_folder(path)
    cfg = load_config(path)  # imports the module from the config's folder
    try:
        before = custom_sources(cfg)
        assert before  # the user's module is hashed
        (tmp_path / "keyed_head_mod.py").write_text("x = 2\n")
        assert custom_sources(cfg) != before
    finally:
        sys.modules.pop("keyed_head_mod", None)
    # the package's own configs name only c2am_bench modules: nothing extra in their keys
    ours = load_config(REPO / "mm_configs" / "cam/c2am_r18lite_ft6e_synthvoc-128.py")
    assert custom_sources(ours) == ""
