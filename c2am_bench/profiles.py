"""Profiles as config files: which config each training stage uses, and with which settings.

A profile is an mmengine config under ``mm_configs/profiles/`` (``smoke``, ``default``,
``paper``) or any file of the user's (``--profile path/to/mine.py``, typically
``_base_ = ['.../mm_configs/profiles/default.py']`` plus what it changes). It names:

* ``synthvoc``: the SynthVOC generator profile used when no ``--data`` is given (``None``:
  ``--data`` is required);
* ``classifier``: ``configs`` per built-in method, ``options`` applied to every method, and
  ``finetune_epochs`` of a method that fine-tunes the baseline (``None``: its config's);
* ``boundary_net`` and ``segmentor``: ``config`` and ``options``; the segmentor also
  ``backbone_from_classifier`` and ``eval_modes`` (``tta`` / ``crf`` beside the plain one);
* ``irn``: departures from IRN's pseudo-mask settings
  (:class:`~c2am_bench.irn_settings.IrnSettings`);
* ``custom_imports`` (optional): modules imported when the profile is read, e.g. one that
  registers a pseudo-mask method (:data:`c2am_bench.stages.PSEUDO_MASKS`) or a stage
  (:data:`c2am_bench.stages.STAGES`); a module beside the profile file imports by its bare name;
* ``extra_stages`` (optional): registered stages every run climbs after the built-in chain
  (:func:`c2am_bench.stages.chain`), e.g. an evaluation of the user's;
* ``compare_seeds`` (optional, default ``(0,)``): the seeds ``compare`` runs when ``--seeds`` is
  not given (the CPU default and the paper profile: three, so every compare reports intervals
  and paired deltas; smoke: one, to stay under a minute).

Config paths are relative to ``mm_configs/`` (absolute ones are used as they are), so the stage
keys of the built-in profiles are those the code-defined profiles had.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "mm_configs"
PROFILE_ROOT = CONFIG_ROOT / "profiles"
_KEYS = {"synthvoc", "classifier", "boundary_net", "segmentor", "irn", "custom_imports",
         "extra_stages", "compare_seeds"}  # fmt: skip
_STAGE_KEYS = {
    "classifier": {"configs", "options", "finetune_epochs"},
    "boundary_net": {"config", "options"},
    "segmentor": {"config", "options", "backbone_from_classifier", "eval_modes"},
}
EVAL_MODES = ("tta", "crf")


@dataclass(frozen=True)
class Profile:
    """One profile, read from its file (:func:`load_profile`)."""

    name: str
    path: str
    synthvoc: str | None
    classifier_configs: Mapping[str, str]
    classifier_options: Mapping[str, Any] = field(default_factory=dict)
    finetune_epochs: int | None = None
    boundary_net_config: str = ""
    boundary_net_options: Mapping[str, Any] = field(default_factory=dict)
    segmentor_config: str = ""
    segmentor_options: Mapping[str, Any] = field(default_factory=dict)
    backbone_from_classifier: bool = False
    eval_modes: tuple[str, ...] = ()
    irn: Mapping[str, float] = field(default_factory=dict)
    extra_stages: tuple[str, ...] = ()
    compare_seeds: tuple[int, ...] = (0,)

    def stage_configs(self) -> dict[str, tuple[str, ...]]:
        """The config files each training stage uses (relative to ``mm_configs/``)."""
        return {
            "classifier": tuple(dict.fromkeys(self.classifier_configs.values())),
            "boundary_net": (self.boundary_net_config,),
            "segmentor": (self.segmentor_config,),
        }


def names() -> tuple[str, ...]:
    """The built-in profiles (``mm_configs/profiles/*.py``)."""
    return tuple(sorted(p.stem for p in PROFILE_ROOT.glob("*.py")))


def profile_path(spec: str | Path) -> Path:
    """``NAME`` (a built-in profile) or a ``.py`` path -> the profile file.

    Raises:
        ConfigError: neither a built-in name nor an existing ``.py`` file.
    """
    text = str(spec)
    if text in names():
        return PROFILE_ROOT / f"{text}.py"
    path = Path(text)
    if path.suffix == ".py" and path.is_file():
        return path.resolve()
    raise ConfigError(f"--profile {text!r}: choose from {', '.join(names())} or give a profile "
                      "file (.py, e.g. _base_ = ['mm_configs/profiles/default.py'])")  # fmt: skip


@functools.cache
def load_profile(spec: str | Path) -> Profile:
    """Read and check a profile (name or file); one-line errors name the file and key."""
    from mmengine.config import Config

    from .methods import use_config_folder

    path = profile_path(spec)
    name = path.stem
    use_config_folder(path)  # its custom_imports may name a module beside it
    try:
        raw = Config.fromfile(str(path)).to_dict()
    except Exception as err:  # noqa: BLE001 - mmengine raises many types for a bad file
        raise ConfigError(f"{path}: cannot load profile ({type(err).__name__}: {err})") from None

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{path}: {problem}")

    raw.pop("custom_imports", None)  # imported by Config.fromfile above
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {unknown}; a profile has {', '.join(sorted(_KEYS))}")
    for stage, keys in _STAGE_KEYS.items():
        part = raw.get(stage)
        if not isinstance(part, dict):
            raise fail(f"{stage}: a dict with {', '.join(sorted(keys))}")
        extra = sorted(set(part) - keys)
        if extra:
            raise fail(f"{stage}: unknown key(s) {extra}; choose from {', '.join(sorted(keys))}")
        if not isinstance(part.get("options", {}), dict):
            raise fail(f"{stage}.options: a dict of dotted config keys")
    clf, net, seg = raw["classifier"], raw["boundary_net"], raw["segmentor"]
    from .methods import BUILTIN

    configs = dict(clf.get("configs") or {})
    missing = [m for m in BUILTIN if not configs.get(m)]
    if missing:
        raise fail(f"classifier.configs: no config for {', '.join(missing)}")
    for where, config in [*((f"classifier.configs.{m}", c) for m, c in configs.items()),
                          ("boundary_net.config", net.get("config")),
                          ("segmentor.config", seg.get("config"))]:  # fmt: skip
        if not config or not (CONFIG_ROOT / str(config)).is_file():
            raise fail(f"{where}: {config!r} is not a config file (paths are relative to "
                       f"{CONFIG_ROOT} or absolute)")  # fmt: skip
    modes = tuple(seg.get("eval_modes") or ())
    if not set(modes) <= set(EVAL_MODES):
        raise fail(f"segmentor.eval_modes: choose from {', '.join(EVAL_MODES)}")
    epochs = clf.get("finetune_epochs")
    if epochs is not None and (not isinstance(epochs, int) or epochs < 1):
        raise fail(f"classifier.finetune_epochs={epochs!r}: a positive integer or None")
    irn = dict(raw.get("irn") or {})
    try:
        from .irn_settings import IrnSettings

        IrnSettings.merged(irn)
    except ConfigError as err:
        raise fail(f"irn: {err}") from None
    extra = raw.get("extra_stages") or []
    if not isinstance(extra, (list, tuple)) or not all(isinstance(n, str) for n in extra):
        raise fail(f"extra_stages={extra!r}: a list of registered stage names")
    from .stages import BUILTIN_CHAIN, STAGES

    builtin = set(BUILTIN_CHAIN)
    for stage in extra:
        if stage not in STAGES.module_dict or stage in builtin:
            raise fail(
                f"extra_stages: {stage!r} is not a registered stage of yours (registered: "
                f"{', '.join(sorted(set(STAGES.module_dict) - builtin)) or 'none'}; "
                "register one with @STAGES.register_module in a custom_imports module)"
            )
    seeds = raw.get("compare_seeds", (0,))
    if (not isinstance(seeds, (list, tuple)) or not seeds
            or not all(isinstance(x, int) and not isinstance(x, bool) and 0 <= x < 2**31
                       for x in seeds)
            or len(set(seeds)) != len(seeds)):  # fmt: skip
        raise fail(f"compare_seeds={seeds!r}: a non-empty tuple of distinct seeds >= 0, "
                   "e.g. (0, 1, 2)")  # fmt: skip
    synth = raw.get("synthvoc")
    if synth is not None:
        from .datasets.synthvoc import PROFILES as SYNTH_PROFILES

        if synth not in SYNTH_PROFILES:
            raise fail(f"synthvoc={synth!r}: choose from {', '.join(sorted(SYNTH_PROFILES))} "
                       "or None (then --data is required)")  # fmt: skip
    return Profile(
        name=name, path=str(path), synthvoc=synth,
        classifier_configs=configs, classifier_options=dict(clf.get("options") or {}),
        finetune_epochs=epochs, boundary_net_config=net["config"],
        boundary_net_options=dict(net.get("options") or {}), segmentor_config=seg["config"],
        segmentor_options=dict(seg.get("options") or {}),
        backbone_from_classifier=bool(seg.get("backbone_from_classifier", False)),
        eval_modes=modes, irn=irn, extra_stages=tuple(extra), compare_seeds=tuple(seeds),
    )  # fmt: skip
