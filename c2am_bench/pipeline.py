"""The pipeline: one variant x one seed through a chain of registered stages, on the
content-keyed stage cache.

A run's chain (:func:`c2am_bench.stages.chain`; each stage a component of
:mod:`c2am_bench.stages`, each cache folder a :class:`~c2am_bench.stage_cache.StageCache`
directory):

``seeds``: ``classifier`` (baseline CAM, trained from scratch or ImageNet; CAM+Constant / C2AM
fine-tuned from it, paper Table 2) and ``seeds`` (multi-scale + flip CAMs, the baseline's also
the Global CAM, and the seed evaluation) -> ``masks``: the variant's pseudo-mask method (IRN:
``ir_labels`` (dense CRF) -> ``boundary_net`` -> ``boundary`` (maps) -> ``walk`` -> ``masks``;
or ``crf_masks``) -> ``segmentor`` (DeepLabV2) and ``seg_eval`` (val mIoU plain / TTA / CRF) ->
``oracle`` (the ladder's rungs) -> ``heldout`` -> ``confounders``.

Every key hashes the stage's settings (the merged mmengine config text for training stages, with
the cache and data paths replaced by placeholders so a moved work dir keeps its keys) and the
keys of the stages it reads, so variants and study trials share whatever they have in common: one
baseline per seed, one Global CAM, one walk per ``(seeds, boundary, beta, exp_times)``.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .atomic import write_text
from .errors import ConfigError, DataError
from .irn_settings import IRN, IrnSettings
from .methods import (
    BUILTIN,
    DECLARATION,
    MethodSpec,
    custom_sources,
    read_declaration,
    use_config_folder,
)
from .profiles import CONFIG_ROOT, EVAL_MODES, Profile, load_profile
from .run_results import RunResults, RunSummary
from .stage_cache import StageCache, stage_key
from .stages import RunPlan, build_stage, chain, pseudo_methods

logger = logging.getLogger(__name__)

METHODS = tuple(BUILTIN)  # cam, cam_constant, c2am
METHOD_LABELS = {name: spec.label for name, spec in BUILTIN.items()}
_LOADER_KEYS = ("train_dataloader", "val_dataloader")
SEG_EVAL_CHOICES = EVAL_MODES  # DeepLabV2's evaluations beside the plain one (--seg-eval)
# IRN's reference settings (c2am_bench.irn_settings, their one home); the paper's C2AM run used
# thresholds 0.38 / 0.10 / 0.21.
IRN_DEFAULTS = IRN.as_dict()
# SynthVOC generator parameters a study or calibration run may set: the confounders, and the
# split sizes (``train`` stays a prefix of ``train_aug``, so ``n_train`` 1600 with
# ``eval_fraction`` 0.125 scores the same 200 images as the default).
DATA_PARAMS = ("p_context", "p_context_absent", "cooccur_strength", "part_size",
               "shared_appearance", "part_contrast", "n_train", "n_val",
               "eval_fraction")  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One CAM method with its settings: a column of the comparison, or a study trial's point.

    Args:
        name: unique display key (``cam``, ``c2am``, ``c2am[pooling=max]``, ``mycam``).
        method: ``cam``, ``cam_constant``, ``c2am`` (:data:`~c2am_bench.methods.BUILTIN`),
            ``config`` (a user's classifier config, ``config``) or ``external`` (seeds made
            elsewhere).
        options: classifier ``--cfg-options`` (dotted keys, e.g. ``model.head.pooling``).
        irn: overrides of :data:`IRN_DEFAULTS` (``conf_fg``, ``conf_bg``, ``sem_seg_bg``,
            ``beta``, ``exp_times``, ``walk_radius``, ``crf_bi_sxy``, ``crf_gauss_sxy``) on top
            of the profile's.
        boundary_net: boundary-net config ``--cfg-options`` (a study's ``irn_net.*`` keys).
        external: folder of ``<id>.npz`` seeds made elsewhere (``method='external'``).
        pseudo: the pseudo-mask method, a name registered in
            :data:`~c2am_bench.stages.PSEUDO_MASKS` (``irn``, the default, or ``crf``).
        config: a user's classifier config file (``method='config'``), which declares what it
            loads from the baseline (:func:`~c2am_bench.methods.read_declaration`).
    """

    name: str
    method: str
    options: Mapping[str, Any] = field(default_factory=dict)
    irn: Mapping[str, float] = field(default_factory=dict)
    boundary_net: Mapping[str, Any] = field(default_factory=dict)
    external: str | None = None
    label: str | None = None
    pseudo: str = "irn"
    config: str | None = None

    def __post_init__(self) -> None:
        if self.pseudo not in pseudo_methods():
            raise ConfigError(
                f"variant {self.name!r}: unknown pseudo-mask method "
                f"{self.pseudo!r}; choose from {', '.join(pseudo_methods())}"
            )
        if self.method not in (*METHODS, "external", "config"):
            raise ConfigError(f"unknown method {self.method!r}; choose from {', '.join(METHODS)}, "
                              "NAME=config:FILE or NAME=external:DIR")  # fmt: skip
        if (self.method == "external") != (self.external is not None):
            raise ConfigError(f"variant {self.name!r}: external seeds need method 'external'")
        if (self.method == "config") != (self.config is not None):
            raise ConfigError(f"variant {self.name!r}: a config file needs method 'config'")
        try:  # names now; ranges once the profile's layer is known (irn_settings)
            IrnSettings.check_names(self.irn)
        except ConfigError as err:
            raise ConfigError(f"variant {self.name!r}: {err}") from None

    @property
    def display(self) -> str:
        return self.label or METHOD_LABELS.get(self.name, self.name)

    @property
    def spec(self) -> MethodSpec:
        """What the classifier is trained from (:mod:`c2am_bench.methods`)."""
        if self.method == "config":
            return _declared(self.config, self.name)
        return BUILTIN.get(self.method, MethodSpec(self.name))

    def classifier_config(self, profile: str | Profile) -> str:
        """The classifier config: the profile's for a built-in method, else the user's file."""
        if self.method == "config":
            return self.config
        prof = profile if isinstance(profile, Profile) else load_profile(profile)
        return prof.classifier_configs[self.method]

    def irn_settings(self, base: Mapping[str, float] | None = None) -> dict:
        """IRN's defaults < ``base`` (the profile's) < this variant's ``irn``, checked
        (:class:`~c2am_bench.irn_settings.IrnSettings`)."""
        try:
            return IrnSettings.merged(base, self.irn).as_dict()
        except ConfigError as err:
            raise ConfigError(f"variant {self.name!r}: {err}") from None

    def params(self, base: Mapping[str, float] | None = None) -> dict:
        """Flat parameters for reports: method, classifier options, IRN settings."""
        out = {"method": self.method, **dict(self.options)}
        if self.pseudo != "irn":  # runs from before the choice existed keep their params
            out["pseudo"] = self.pseudo
        out.update({f"irn.{k}": v for k, v in self.irn_settings(base).items()})
        out.update({f"irn_net.{k}": v for k, v in self.boundary_net.items()})
        if self.external:
            out["external"] = self.external
        if self.config:
            out["config"] = self.config
        return out


#: The baseline CAM: every fine-tuned method's, boundary net's and DeepLabV2's starting point.
BASELINE = Variant("cam", "cam")


def parse_method(spec: str, pseudo: str = "irn") -> Variant:
    """``cam`` | ``cam_constant`` | ``c2am`` | ``NAME=external:DIR``, each optionally with
    ``@irn`` / ``@crf`` (its pseudo-mask method; else ``pseudo``) -> :class:`Variant`.

    ``cam,cam@crf`` compares one method's IRN and CRF pseudo-masks side by side.
    """
    spec = spec.strip()
    head, at, tail = spec.rpartition("@")
    if at and tail in pseudo_methods() and head:
        spec, pseudo, suffix = head, tail, f"@{tail}"
    elif at and "=" not in spec:
        raise ConfigError(f"--methods: {spec!r}: write METHOD@PSEUDO with PSEUDO one of "
                          f"{', '.join(pseudo_methods())}")  # fmt: skip
    else:
        suffix = ""
    if pseudo not in pseudo_methods():
        raise ConfigError(f"--pseudo {pseudo!r}: choose from {', '.join(pseudo_methods())}")
    if "=" in spec:
        name, _, rest = spec.partition("=")
        kind, _, folder = rest.partition(":")
        if kind not in ("external", "config") or not folder or not name:
            raise ConfigError(f"--methods: {spec!r}: write NAME=config:FILE or NAME=external:DIR")
        if name in METHODS or not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"--methods: {spec!r}: NAME must be a new word (letters, digits, "
                              "'-', '_'), not a built-in method")  # fmt: skip
        if kind == "config":
            if not Path(folder).is_file():
                raise DataError(folder, "method config file not found")
            config = str(Path(folder).resolve())
            _declared(config, name)  # a bad declaration fails now, before any training
            label = f"{name} ({pseudo.upper()} masks)" if suffix else None
            return Variant(name=name + suffix, method="config", pseudo=pseudo, config=config,
                           label=label)  # fmt: skip
        if not Path(folder).is_dir():
            raise DataError(folder, "external CAM folder not found")
        return Variant(name=name + suffix, method="external", pseudo=pseudo,
                       external=str(Path(folder).resolve()),
                       label=f"{name} ({pseudo.upper()} masks)" if suffix else None)  # fmt: skip
    if spec not in METHODS:
        raise ConfigError(f"--methods: unknown method {spec!r}; choose from {', '.join(METHODS)}, "
                          "NAME=config:FILE or NAME=external:DIR")  # fmt: skip
    label = f"{METHOD_LABELS[spec]} ({pseudo.upper()} masks)" if suffix else None
    return Variant(name=spec + suffix, method=spec, pseudo=pseudo, label=label)


@functools.cache
def _declared(config: str, name: str) -> MethodSpec:
    return read_declaration(config, name)


def data_fingerprint(root: Path) -> str:
    """Hash of a dataset's split lists and metadata (cheap; image bytes are not read)."""
    h = hashlib.sha256()
    for rel in ("synthvoc.json", "image_labels.json"):
        if (root / rel).is_file():
            h.update((root / rel).read_bytes())
    for split in sorted((root / "ImageSets/Segmentation").glob("*.txt")):
        h.update(split.name.encode() + split.read_bytes())
    return h.hexdigest()[:16]


def synth_data(cache: StageCache, profile: str, overrides: Mapping[str, float],
               progress: bool = False) -> Path:  # fmt: skip
    """A SynthVOC tree with generator ``overrides`` (a study's data parameters), cached."""
    from .datasets import synthvoc

    unknown = set(overrides) - set(DATA_PARAMS)
    if unknown:
        raise ConfigError(f"unknown data parameter(s) {sorted(unknown)}; choose from "
                          f"{', '.join(DATA_PARAMS)}")  # fmt: skip
    prof = load_profile(profile)
    if prof.synthvoc is None:
        raise ConfigError(f"profile {prof.name!r} generates no SynthVOC (it needs --data)")
    cfg = synthvoc.make_config(prof.synthvoc, **overrides)
    key = stage_key("data", cfg.params())
    folder = cache.build(
        "data", key, lambda tmp: synthvoc.generate(cfg, tmp / "voc", progress=progress) and None
    )
    return folder / "voc"


# the training stages a user's options reach, and the command-line flag of each
STAGE_OPTION_FLAGS = {"classifier": "--cls-options", "boundary_net": "--irn-options",
                      "segmentor": "--seg-options"}  # fmt: skip


def stage_configs(profile: str) -> dict[str, tuple[str, ...]]:
    """The config files (under ``mm_configs/``) each training stage of ``profile`` uses."""
    return load_profile(profile).stage_configs()


def check_stage_options(
    profile: str, options: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """``options`` per training stage, every key checked against every config it reaches.

    Raises:
        ConfigError: an unknown stage, or a key no config of the stage has or takes (naming the
            flag, the key and the config file, e.g. ``--seg-options model.decode_head.dropout:
            no such key in ...``).
    """
    from .config_loading import load_config

    options = {k: dict(v or {}) for k, v in (options or {}).items()}
    unknown = sorted(set(options) - set(STAGE_OPTION_FLAGS))
    if unknown:
        raise ConfigError(f"stage options for {unknown}: choose from "
                          f"{', '.join(STAGE_OPTION_FLAGS)}")  # fmt: skip
    for stage, files in stage_configs(profile).items():
        if not options.get(stage):
            continue
        for file in files:
            try:
                load_config(CONFIG_ROOT / file, options[stage], work_dir="<work_dir>")
            except ConfigError as err:
                raise ConfigError(str(err).replace("--cfg-options", STAGE_OPTION_FLAGS[stage], 1)
                                  ) from None  # fmt: skip
    return {stage: options.get(stage, {}) for stage in STAGE_OPTION_FLAGS}


class Pipeline:
    """Runs variants x seeds on one dataset through a chain of stages, sharing the cache.

    It holds what every stage reads (the dataset, the profile, the cache, the user's options)
    and the two services the training stages share (:meth:`config_key`, :meth:`train`); each
    stage is a registered component of :mod:`c2am_bench.stages`, and :meth:`run` is a loop over
    a run's chain (:func:`~c2am_bench.stages.chain`).

    Args:
        data_root: VOC-layout dataset root.
        cache: the stage cache (``<work_dir>/cache``).
        profile: a profile's name (``smoke``, ``default``, ``paper``) or file
            (:mod:`c2am_bench.profiles`: each stage's config and settings).
        on_event: ``(scope, stage, key, what)`` for the terminal (scope = ``"c2am seed 0"``).
        seg_eval: evaluate DeepLabV2 also with ``"tta"`` and/or ``"crf"`` (default: the
            profile's ``segmentor.eval_modes``).
        stage_options: the user's config overrides per training stage (``{"classifier": {...},
            "boundary_net": {...}, "segmentor": {...}}``, dotted mmengine keys; the CLI's
            ``--cls-options`` / ``--irn-options`` / ``--seg-options``), applied to every method
            after the profile's settings and before a study's sampled ones; checked against each
            config they reach when the pipeline is made. They are part of every stage key.
        shrink: ``(stage, full_cfg) -> options`` merged last into every training's config (the
            dry run's few iterations, :mod:`c2am_bench.dry_run`); the full config's schedule is
            kept in the stage's ``stage.json`` as ``full_schedule``.
    """

    def __init__(
        self,
        data_root: str | os.PathLike,
        cache: StageCache,
        *,
        profile: str = "default",
        progress: bool = False,
        verbose: bool = False,
        on_event: Callable[[str, str, str, str], None] | None = None,
        seg_eval: tuple[str, ...] | None = None,
        stage_options: Mapping[str, Mapping[str, Any]] | None = None,
        shrink: Callable[[str, Any], Mapping[str, Any]] | None = None,
    ) -> None:
        from .datasets import voc

        self.prof = load_profile(profile)
        self.data_root = Path(data_root).resolve()
        self.tree = voc.open_tree(self.data_root)
        self.data_key = data_fingerprint(self.data_root)
        self.cache, self.profile = cache, self.prof.name
        modes = self.prof.eval_modes if seg_eval is None else tuple(seg_eval)
        bad = sorted(set(modes) - set(SEG_EVAL_CHOICES))
        if bad:
            raise ConfigError(f"--seg-eval: unknown evaluation(s) {bad}; choose from "
                              f"{', '.join(SEG_EVAL_CHOICES)} or 'plain'")  # fmt: skip
        self.progress, self.verbose, self.seg_modes = progress, verbose, modes
        self.irn_base = dict(self.prof.irn)
        self.on_event = on_event  # as given (None: silent); a worker process is made with it
        self._on_event = on_event or (lambda *a: None)
        self._prune_with = None  # the Optuna trial of the run in progress (run(prune_with=))
        self._runners = 0
        self._configs: dict[tuple[str, str], tuple[Any, str]] = {}
        self.stage_options = check_stage_options(self.prof.path, stage_options)
        self.shrink = shrink
        self.extra_stages = self.prof.extra_stages
        for name in self.extra_stages:  # a misspelt one fails now, not after hours of training
            build_stage(name)

    # -- the training stages' services --------------------------------------------------------
    def loader_options(self, keys: tuple[str, ...] = _LOADER_KEYS) -> dict:
        """``<loader>.dataset.data_root`` of each loader in ``keys``: this dataset."""
        return {f"{k}.dataset.data_root": str(self.data_root) for k in keys}

    def config_key(self, config: str, options: Mapping[str, Any]):
        """Merged config and its key (paths replaced by placeholders, work dir excluded).

        The key hashes the merged config as sorted JSON (``Config.pretty_text`` formats with yapf,
        ~0.2 s a call, which made a fully cached trial cost over a second); memoised per
        ``(config, options)`` for the process.
        """
        from .config_loading import load_config

        memo = (config, json.dumps(dict(options), sort_keys=True, default=str))
        if memo not in self._configs:
            if Path(config).is_absolute():  # a user's method config: its modules sit beside it
                use_config_folder(config)
            cfg = load_config(CONFIG_ROOT / config, dict(options), work_dir="<work_dir>")
            cfg.pop(DECLARATION, None)  # read by the pipeline (methods.py), not by mmengine
            text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
            text = text.replace(str(self.cache.root), "<cache>").replace(
                str(self.data_root), "<data>"
            )
            sources = custom_sources(cfg)  # a user's head module: its code is part of the key
            parts = (config, text, self.data_key, *((sources,) if sources else ()))
            self._configs[memo] = (cfg, stage_key(*parts))
        return self._configs[memo]

    def train(self, stage: str, config: str, options: Mapping[str, Any], weights: str) -> Path:
        """Train ``config`` with ``options`` as the cached ``stage`` (mmengine Runner; resumes a
        killed training); its folder holds ``weights`` and ``metrics.json``."""
        from .train import train

        cfg, key = self.config_key(config, options)
        meta: dict[str, Any] = {}
        if self.shrink is not None:
            meta["full_schedule"] = training_schedule(cfg)
            cfg, key = self.config_key(config, {**options, **self.shrink(stage, cfg)})
            meta["schedule"] = training_schedule(cfg)
        cfg = copy.deepcopy(cfg)  # run() sets per-run fields on it

        def run(work_dir: Path, resume: bool) -> dict:
            # Settings that do not change the trained model stay out of the key (set here).
            cfg.work_dir = str(work_dir)
            self._runners += 1  # mmengine needs a fresh visualizer name per Runner in a process
            cfg.visualizer.name = f"visualizer-{stage}-{key}-{self._runners}"
            trial = self._prune_with if stage == "segmentor" else None
            extra = []
            if trial is not None:  # prune on intermediate validation (4 per training)
                from .hooks import OptunaPruningHook

                extra.append(OptunaPruningHook(trial, monitor="seg/mIoU"))
                cfg.train_cfg.val_interval = max(1, cfg.train_cfg.max_iters // 4)
            metrics = train(cfg, resume=resume, weights_name=weights,
                            quiet_console=not self.verbose, stage=stage, hooks=extra)  # fmt: skip
            if trial is not None and trial.should_prune():
                import optuna

                # No stage.json: the cache will not trust this early-stopped model. Its weights
                # and metrics go too, so a later run with the same key resumes from the last
                # checkpoint, or trains afresh where there is none, instead of finding a
                # "finished" work dir.
                from .train import METRICS_FILE

                for name in (weights, METRICS_FILE):
                    (work_dir / name).unlink(missing_ok=True)
                raise optuna.TrialPruned(
                    f"DeepLabV2 pruned at iteration {metrics.get('iterations')}"
                )
            return {"config": config, "train_seconds": metrics.get("train_seconds")}

        return self.cache.train(stage, key, run, config=config, **meta)

    # -- one variant x seed -------------------------------------------------------------------
    def run(self, variant: Variant, seed: int, until: str = "seg", *, study: str = "compare",
            trial: int = -1, is_baseline: bool = False, oracle: bool = False,
            prune_with=None) -> RunResults:  # fmt: skip
        """Every stage of ``variant`` with ``seed`` up to ``until``; the report rows.

        ``oracle``: also climb the oracle ladder (:mod:`c2am_bench.stages.oracle`).
        ``prune_with``: an ``optuna.Trial`` that DeepLabV2's intermediate val mIoU is reported
        to (:class:`~c2am_bench.hooks.OptunaPruningHook`); it raises ``optuna.TrialPruned``
        when the pruner stops the trial.
        """
        plan = RunPlan(variant, seed, until, oracle)
        scope = f"{variant.name} seed {seed}"

        def on_event(stage: str, key: str, what: str) -> None:
            self._on_event(scope, stage, key, what)

        previous, self._prune_with = self._prune_with, prune_with
        try:
            with self.cache.listening(on_event):
                return self._run(plan, study=study, trial=trial, is_baseline=is_baseline)
        finally:
            self._prune_with = previous

    def _run(self, plan: RunPlan, *, study: str, trial: int, is_baseline: bool) -> RunResults:
        stages = [(name, build_stage(name)) for name in chain(plan, self.extra_stages)]
        dirs: dict[str, Path | None] = {}
        for name, stage in stages:
            missing = [r for r in stage.reads if dirs.get(r) is None]
            if missing:
                raise ConfigError(f"pipeline stage {name!r} reads {', '.join(missing)}, which "
                                  f"no earlier stage of this run made")  # fmt: skip
            dirs.update(stage.run(self, plan, dirs))
        variant = plan.variant
        out = RunSummary(tag={"study": study, "trial": trial, "variant": variant.name,
                              "seed": plan.seed})  # fmt: skip
        out.row.update({"method": variant.method, "label": variant.display,
                        "params": json.dumps(variant.params(self.irn_base), sort_keys=True),
                        "is_baseline": is_baseline,
                        "oracle": plan.oracle and plan.reaches_masks})  # fmt: skip
        for _, stage in stages:
            stage.summarise(self, plan, dirs, out)
        # every stage directory this row depends on (provenance; benchmarks sum their seconds)
        out.row["stage_dirs"] = json.dumps({k: str(v) for k, v in dirs.items() if v is not None},
                                           sort_keys=True)  # fmt: skip
        return out.finish()


def training_schedule(cfg) -> dict[str, Any]:
    """What a training config runs: ``by_epoch``, ``length`` (epochs or iterations), ``batch``
    and the ``split`` it trains on (the loader's ``split``, or the stem of its ``ann_file``)."""
    train_cfg, loader = cfg.train_cfg, cfg.train_dataloader
    by_epoch = "max_epochs" in train_cfg
    split = loader.dataset.get("split") or Path(str(loader.dataset.get("ann_file") or "")).stem
    return {"by_epoch": by_epoch,
            "length": int(train_cfg.max_epochs if by_epoch else train_cfg.max_iters),
            "batch": int(loader.batch_size), "split": split or None}  # fmt: skip


def compare(
    pipe: Pipeline,
    variants: list[Variant],
    seeds: list[int],
    *,
    until: str = "seg",
    against: str = "cam",
    oracle: tuple[str, ...] | None = None,
    oracle_seeds: str = "first",
    jobs: int = 1,
) -> RunResults:
    """Every variant x seed (seed-major, so each seed's shared baseline is built first).

    ``oracle``: names of the variants that climb the oracle ladder (default: ``against``).
    ``oracle_seeds``: climb it at the ``"first"`` seed only (a diagnosis; its GT-label boundary
    net and DeepLabV2 ceiling cost about as much as one more method) or at ``"all"`` seeds.
    ``jobs``: worker processes that run the variant x seed runs side by side, sharing this
    process's cores (:mod:`c2am_bench.parallel`); 1 runs them here, one after the other.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs}: must be >= 1")
    if oracle_seeds not in ("first", "all"):
        raise ConfigError(f"--oracle-seeds {oracle_seeds!r}: choose first or all")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"--methods: duplicate method names in {names}")
    if against not in names:
        raise ConfigError(f"--against {against!r} is not among the methods {names}")
    ladder = (against,) if oracle is None else tuple(oracle)
    unknown = sorted(set(ladder) - set(names))
    if unknown:
        raise ConfigError(f"--oracle: {', '.join(unknown)} not among the methods {names}")
    tasks = [(variant, seed, variant.name == against,
              (oracle_seeds == "all" or seed == seeds[0]) and variant.name in ladder)
             for seed in seeds for variant in variants]  # fmt: skip
    if jobs > 1:
        from .environment import cpu_budget
        from .parallel import run_parallel

        baseline = next(v for v in variants if v.name == against)
        return run_parallel(pipe, tasks, baseline, seeds, until, jobs, cpu_budget())
    results = RunResults()
    for variant, seed, is_baseline, climb in tasks:
        results.extend(pipe.run(variant, seed, until, is_baseline=is_baseline, oracle=climb))
    return results


def write_results(results: RunResults, context: dict, out_dir: str | os.PathLike) -> Path:
    """``runs.csv``, ``per_class.csv``, ``curves.csv`` and ``context.json`` (each atomic)."""
    import pandas as pd

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "runs.csv": pd.DataFrame(results.runs).to_csv(index=False),
        "per_class.csv": pd.DataFrame(results.per_class).to_csv(index=False),
        "curves.csv": pd.DataFrame(results.curves).to_csv(index=False),
        "confounders.csv": pd.DataFrame(results.confounders).to_csv(index=False),
        "context.json": json.dumps(context, indent=1, default=str) + "\n",
    }
    for name, text in files.items():  # several workers may finish together: each file whole
        write_text(out_dir / name, text)
    return out_dir
