"""The runner: one variant x one seed through every stage, on the content-keyed stage cache.

Stages (each a :class:`~c2am_bench.stage_cache.StageCache` directory, see that module):

``classifier`` (baseline CAM, trained from scratch or ImageNet) -> ``seeds`` (multi-scale + flip
CAMs, the baseline's also the Global CAM, and the seed evaluation) -> ``classifier`` of
CAM+Constant / C2AM (fine-tuned from the baseline, paper Table 2) -> their ``seeds`` ->
``ir_labels`` (dense CRF) -> ``boundary_net`` (IRN, trained) -> ``boundary`` (maps) -> ``walk``
(random-walk scores) -> ``masks`` (pseudo-masks at ``sem_seg_bg`` and their evaluation) ->
``segmentor`` (DeepLabV2, trained) -> ``seg_eval`` (val mIoU plain / TTA / CRF).

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
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from .stage_cache import StageCache, stage_key
from .stages import PSEUDO_MASKS, pseudo_methods

logger = logging.getLogger(__name__)

METHODS = tuple(BUILTIN)  # cam, cam_constant, c2am
METHOD_LABELS = {name: spec.label for name, spec in BUILTIN.items()}
_LOADER_KEYS = ("train_dataloader", "val_dataloader")
GLOBAL_CAM_SIZE = 128
SEG_WEIGHTS = "segmentor.pth"  # = seg_eval.WEIGHTS_FILE
SEG_EVAL_CHOICES = EVAL_MODES  # DeepLabV2's evaluations beside the plain one (--seg-eval)
# IRN's reference settings (c2am_bench.irn_settings, their one home); the paper's C2AM run used
# thresholds 0.38 / 0.10 / 0.21.
IRN_DEFAULTS = IRN.as_dict()
UNTIL = ("seeds", "masks", "seg")
SEED_SPLIT, EVAL_SPLIT = "train_aug", "train"
DATA_PARAMS = ("p_context", "p_context_absent", "cooccur_strength", "part_size",
               "shared_appearance")  # fmt: skip


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
    from dataclasses import asdict

    from .datasets import synthvoc

    unknown = set(overrides) - set(DATA_PARAMS)
    if unknown:
        raise ConfigError(f"unknown data parameter(s) {sorted(unknown)}; choose from "
                          f"{', '.join(DATA_PARAMS)}")  # fmt: skip
    prof = load_profile(profile)
    if prof.synthvoc is None:
        raise ConfigError(f"profile {prof.name!r} generates no SynthVOC (it needs --data)")
    cfg = synthvoc.make_config(prof.synthvoc, **overrides)
    key = stage_key("data", asdict(cfg))
    folder = cache.build(
        "data", key, lambda tmp: synthvoc.generate(cfg, tmp / "voc", progress=progress) and None
    )
    return folder / "voc"


def _pct(value) -> float:
    """Fraction in [0, 1] (or None) -> percent, NaN for missing (reports use percent)."""
    return float("nan") if value is None else round(100.0 * float(value), 3)


def _mm_pct(value) -> float:
    """mmseg's IoUMetric already reports percent."""
    return float("nan") if value is None else round(float(value), 3)


@dataclass
class Results:
    """What a run produced, in the report's tidy shapes (see ``c2am_bench.report``)."""

    runs: list[dict] = field(default_factory=list)
    per_class: list[dict] = field(default_factory=list)
    curves: list[dict] = field(default_factory=list)
    confounders: list[dict] = field(default_factory=list)

    def extend(self, other: Results) -> None:
        self.runs += other.runs
        self.per_class += other.per_class
        self.curves += other.curves
        self.confounders += other.confounders


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


class Runner:
    """Runs variants x seeds on one dataset through the stages, sharing the cache.

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
            config they reach when the runner is made. They are part of every stage key.
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
        self._on_event = on_event or (lambda *a: None)
        self._prune_with = None  # the Optuna trial of the run in progress (run(prune_with=))
        self._runners = 0
        self._configs: dict[tuple[str, str], tuple[Any, str]] = {}
        self.stage_options = check_stage_options(self.prof.path, stage_options)
        self.shrink = shrink

    # -- keys ---------------------------------------------------------------------------------
    def _config(self, config: str, options: Mapping[str, Any]):
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
            cfg.pop(DECLARATION, None)  # read by the runner (methods.py), not by mmengine
            text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
            text = text.replace(str(self.cache.root), "<cache>").replace(
                str(self.data_root), "<data>"
            )
            sources = custom_sources(cfg)  # a user's head module: its code is part of the key
            parts = (config, text, self.data_key, *((sources,) if sources else ()))
            self._configs[memo] = (cfg, stage_key(*parts))
        return self._configs[memo]

    def _train(self, stage: str, config: str, options: Mapping[str, Any], weights: str) -> Path:
        from .train import train

        cfg, key = self._config(config, options)
        meta: dict[str, Any] = {}
        if self.shrink is not None:
            meta["full_schedule"] = training_schedule(cfg)
            cfg, key = self._config(config, {**options, **self.shrink(stage, cfg)})
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

    # -- stages -------------------------------------------------------------------------------
    def _loader_options(self, keys=_LOADER_KEYS) -> dict:
        return {f"{k}.dataset.data_root": str(self.data_root) for k in keys}

    def classifier(self, variant: Variant, seed: int) -> Path:
        """The trained classifier of ``variant`` (the baseline CAM for ``method='cam'``)."""
        opts = {
            **self._loader_options(),
            "model.head.num_classes": self.tree.num_classes,
            "randomness.seed": seed,
            **self.prof.classifier_options,
        }
        spec = variant.spec
        if spec.from_baseline:
            base = self.classifier(Variant("cam", "cam"), seed)
            opts["load_from"] = str(base / "classifier.pth")
            if self.prof.finetune_epochs is not None:
                opts["train_cfg.max_epochs"] = self.prof.finetune_epochs
            if spec.global_cam:
                opts["model.head.global_cam"] = str(self.baseline_seeds(seed) / "global_cam.npz")
        opts.update(self.stage_options["classifier"])
        opts.update(variant.options)
        return self._train("classifier", variant.classifier_config(self.prof), opts,
                           "classifier.pth")  # fmt: skip

    def baseline_seeds(self, seed: int) -> Path:
        return self.seeds(Variant("cam", "cam"), seed)

    def seeds(self, variant: Variant, seed: int) -> Path:
        """``cams/`` seeds on ``train_aug`` (+ ``global_cam.npz`` for the baseline), evaluated."""
        from .seeds import REFERENCE_SCALES, evaluate_seeds, make_seeds

        if variant.method == "external":
            return self._external_seeds(variant)
        clf = self.classifier(variant, seed)
        is_base = variant.method == "cam" and not variant.options
        size = GLOBAL_CAM_SIZE if is_base else None
        key = stage_key("seeds", clf.name, REFERENCE_SCALES, size, SEED_SPLIT, self.data_key)

        def fill(tmp: Path) -> dict:
            summary = make_seeds(clf, tmp, data_root=self.data_root, split=SEED_SPLIT,
                                 global_cam_size=size, progress=self.progress)  # fmt: skip
            evaluate_seeds(tmp / "cams", self.data_root, tmp / "seed_eval", split=EVAL_SPLIT)
            return {"classifier": clf.name, "summary": summary}

        return self.cache.build("seeds", key, fill)

    def _external_seeds(self, variant: Variant) -> Path:
        """Validated copies of a user's seeds (``cams/<id>.npz``), so later edits can't leak in."""
        from .cams import load_seed
        from .seeds import evaluate_seeds

        folder = Path(variant.external)
        ids = self.tree.read_split(SEED_SPLIT)
        h = hashlib.sha256()
        for id_ in ids:
            path = folder / f"{id_}.npz"
            if not path.is_file():
                raise DataError(path, f"external seeds of {variant.name!r}: no seed for "
                                      f"{SEED_SPLIT} image {id_}")  # fmt: skip
            h.update(path.read_bytes())
        key = stage_key("seeds", "external", h.hexdigest(), SEED_SPLIT, self.data_key)

        def fill(tmp: Path) -> dict:
            (tmp / "cams").mkdir()
            for id_ in ids:
                load_seed(folder / f"{id_}.npz")  # raises DataError naming a bad file
                shutil.copy2(folder / f"{id_}.npz", tmp / "cams" / f"{id_}.npz")
            evaluate_seeds(tmp / "cams", self.data_root, tmp / "seed_eval", split=EVAL_SPLIT)
            return {"external": str(folder)}

        return self.cache.build("seeds", key, fill)

    def ir_labels(self, variant: Variant, seeds_dir: Path) -> Path:
        """IR labels (dense CRF of the seeds at ``conf_fg`` / ``conf_bg``) and their quality."""
        from .ir_labels import ir_label_quality, make_ir_labels

        t = variant.irn_settings(self.irn_base)
        crf = {"bi_sxy": t["crf_bi_sxy"], "gauss_sxy": t["crf_gauss_sxy"]}
        key = stage_key("ir_labels", seeds_dir.name, t["conf_fg"], t["conf_bg"], crf, SEED_SPLIT)

        def fill_ir(tmp: Path) -> dict:
            make_ir_labels(self.data_root, seeds_dir / "cams", tmp, split=SEED_SPLIT,
                           conf_fg=t["conf_fg"], conf_bg=t["conf_bg"], crf=crf,
                           progress=self.progress)  # fmt: skip
            quality = ir_label_quality(self.data_root, tmp / "ir_labels", split=EVAL_SPLIT)
            (tmp / "ir_label_quality.json").write_text(json.dumps(quality, indent=1) + "\n")
            return {"seeds": seeds_dir.name, "conf_fg": t["conf_fg"], "conf_bg": t["conf_bg"],
                    "crf": crf}  # fmt: skip

        return self.cache.build("ir_labels", key, fill_ir)

    def boundary_net(self, seed: int, label_dir: Path,
                     options: Mapping[str, Any] | None = None) -> Path:  # fmt: skip
        """IRN's boundary net trained on the IR labels in ``label_dir`` (PNG per image)."""
        from . import irn_stage

        # IRN's backbone is ImageNet's; here it is the baseline classifier of the same seed.
        backbone = self.classifier(Variant("cam", "cam"), seed) / "classifier.pth"
        opts = {
            "train_dataloader.dataset.data_root": str(self.data_root),
            "train_dataloader.dataset.data_prefix.seg_map_path": str(label_dir),
            "model.backbone_checkpoint": str(backbone),
            "randomness.seed": seed,
            **self.prof.boundary_net_options,
            **self.stage_options["boundary_net"],
            **(options or {}),
        }
        scheduled = any(k.startswith("param_scheduler") for k in opts)
        if "train_cfg.max_epochs" in opts and not scheduled:
            # the poly schedule's end is fixed when the config file is read; keep it on the
            # (shortened or lengthened) training, or the LR would hit 0 early or never decay
            opts["param_scheduler.0.end"] = opts["train_cfg.max_epochs"]
        return self._train("boundary_net", self.prof.boundary_net_config, opts,
                           irn_stage.WEIGHTS_FILE)  # fmt: skip

    def boundary(self, net: Path, split: str = SEED_SPLIT) -> Path:
        """The net's boundary maps on ``split`` and their quality against the GT edges."""
        from . import irn_stage
        from .oracle import evaluate_boundaries

        def fill(tmp: Path) -> dict:
            info = irn_stage.make_boundaries(net, self.data_root, tmp, split=split,
                                             progress=self.progress)  # fmt: skip
            evaluate_boundaries(tmp / irn_stage.BOUNDARY_DIR, self.data_root,
                                tmp / "boundary_eval", split=EVAL_SPLIT)  # fmt: skip
            return info

        return self.cache.build("boundary", stage_key("boundary", net.name, split), fill,
                                split=split)  # fmt: skip

    def walk_masks(self, variant: Variant, seeds_dir: Path, bdir: Path,
                   split: str = SEED_SPLIT) -> tuple[Path, Path]:  # fmt: skip
        """Random walk of the seeds over ``bdir``'s maps, pseudo-masks at ``sem_seg_bg``, and
        their evaluation on :data:`EVAL_SPLIT`. Returns ``(walk_dir, masks_dir)``."""
        from . import irn_stage

        t = variant.irn_settings(self.irn_base)
        radius = int(t["walk_radius"])
        wkey = stage_key("walk", seeds_dir.name, bdir.name, t["beta"], t["exp_times"], radius,
                         split)  # fmt: skip
        wdir = self.cache.build("walk", wkey, lambda tmp: irn_stage.make_walk(
            seeds_dir / "cams", bdir / irn_stage.BOUNDARY_DIR, self.data_root, tmp,
            split=split, beta=t["beta"], exp_times=int(t["exp_times"]), radius=radius,
            progress=self.progress), split=split)  # fmt: skip
        mkey = stage_key("masks", wdir.name, t["sem_seg_bg"])

        def fill_masks(tmp: Path) -> dict:
            summary = irn_stage.masks_from_walk(wdir / irn_stage.RW_DIR, self.data_root, tmp,
                                                split=split, sem_seg_bg=t["sem_seg_bg"],
                                                progress=self.progress)  # fmt: skip
            irn_stage.evaluate_pseudo_masks(tmp, self.data_root, split=EVAL_SPLIT,
                                            sem_seg_bg=t["sem_seg_bg"],
                                            rw_dir=wdir / irn_stage.RW_DIR)  # fmt: skip
            return {"walk": wdir.name, **summary}

        return wdir, self.cache.build("masks", mkey, fill_masks, split=split)

    def masks(self, variant: Variant, seed: int, seeds_dir: Path) -> dict[str, Path]:
        """The variant's pseudo-mask method (:data:`~c2am_bench.stages.PSEUDO_MASKS`: ``irn``,
        ``crf`` or a registered one of the user's), its stages cached and evaluated."""
        method = PSEUDO_MASKS.build(dict(type=variant.pseudo))
        dirs = method.build(self, variant, seed, seeds_dir)
        if "masks" not in dirs:
            raise ConfigError(f"pseudo-mask method {variant.pseudo!r} returned no 'masks' folder")
        return dirs

    def heldout(self, seeds_dir: Path, masks_dir: Path | None,
                walk_dir: Path | None) -> Path | None:  # fmt: skip
        """The fair threshold protocol (:mod:`c2am_bench.heldout`): ``t`` and ``sem_seg_bg``
        chosen on held-out ``train_aug`` images, and :data:`EVAL_SPLIT`'s mIoU at that choice.

        ``None`` when ``train_aug`` has no image outside ``train`` and ``val``.
        """
        from . import irn_stage
        from .heldout import HELDOUT_NAME, choose_threshold, heldout_ids
        from .seeds import evaluate_seeds

        ids = heldout_ids(self.tree, SEED_SPLIT, (EVAL_SPLIT, "val"))
        if not ids:
            return None
        parts = (seeds_dir.name, masks_dir.name if masks_dir else None, ids)
        key = stage_key("heldout", *parts, self.data_key)

        def fill(tmp: Path) -> dict:
            import pandas as pd

            evaluate_seeds(seeds_dir / "cams", self.data_root, tmp / "seeds", ids=ids,
                           split="held-out")  # fmt: skip
            out = {"heldout": HELDOUT_NAME, "n_images": len(ids)}
            out["seeds"] = choose_threshold(pd.read_csv(tmp / "seeds" / "curve.csv"),
                                            pd.read_csv(seeds_dir / "seed_eval" / "curve.csv"),
                                            "threshold")  # fmt: skip
            if masks_dir is not None and walk_dir is not None:
                info = json.loads((masks_dir / "stage.json").read_text())
                irn_stage.evaluate_pseudo_masks(masks_dir, self.data_root, split="held-out",
                                                sem_seg_bg=info["sem_seg_bg"], ids=ids,
                                                rw_dir=walk_dir / irn_stage.RW_DIR,
                                                eval_dir=tmp / "masks")  # fmt: skip
                held = pd.read_csv(tmp / "masks" / "curve.csv")
                train = pd.read_csv(masks_dir / "mask_eval" / "curve.csv")
                out["masks"] = choose_threshold(held, train, "sem_seg_bg")
                # the held-out images' mIoU at the configured sem_seg_bg: what a study that
                # tunes IRN's thresholds should maximise (objective heldout_pseudo_miou)
                at = (held["sem_seg_bg"] - info["sem_seg_bg"]).abs().idxmin()
                out["masks"]["heldout_miou_at_configured"] = float(held.loc[at, "mIoU"])
            (tmp / "metrics.json").write_text(json.dumps(out, indent=1) + "\n")
            return {"seeds": seeds_dir.name, "n_images": len(ids)}

        return self.cache.build("heldout", key, fill)

    def confounders(self, seeds_dir: Path) -> Path | None:
        """CAM mass shares on body / part / context (SynthVOC with confounder maps only)."""
        from .confounder_shares import evaluate_confounder_shares, has_confounder_maps

        if not has_confounder_maps(self.data_root):
            return None
        key = stage_key("confounders", seeds_dir.name, EVAL_SPLIT, self.data_key)
        return self.cache.build("confounders", key, lambda tmp: evaluate_confounder_shares(
            seeds_dir / "cams", self.data_root, tmp, split=EVAL_SPLIT) and None)  # fmt: skip

    def oracle(self, variant: Variant, seed: int, seeds_dir: Path,
               until: str = "seg") -> dict[str, Path]:  # fmt: skip
        """The oracle ladder's rungs: ground truth substituted for one input at a time.

        * ``oracle_gt_boundary``: the seeds walked over the boundary drawn from the GT masks;
        * ``oracle_gt_ir``: the seeds walked over the maps of a boundary net trained on GT IR
          labels (``SegmentationClassAug``: class inside, 0 outside, the void band ignored);
        * ``oracle_seg_gt``: DeepLabV2 trained on the GT masks (the ceiling; ``until='seg'``).

        The walks run on :data:`EVAL_SPLIT` only (what they are scored on). The GT boundary, the
        GT-label boundary net and the GT DeepLabV2 depend on the data and ``seed`` alone, so every
        method of a seed shares them.
        """
        from . import irn_stage
        from .datasets.voc_meta import AUG_MASK_DIR
        from .oracle import evaluate_boundaries, make_gt_boundaries

        def fill_gt(tmp: Path) -> dict:
            info = make_gt_boundaries(self.data_root, tmp, split=EVAL_SPLIT)
            evaluate_boundaries(tmp / irn_stage.BOUNDARY_DIR, self.data_root,
                                tmp / "boundary_eval", split=EVAL_SPLIT)  # fmt: skip
            return info

        gkey = stage_key("oracle_boundary", self.data_key, EVAL_SPLIT, 4)
        gt_bdir = self.cache.build("oracle_boundary", gkey, fill_gt)
        out: dict[str, Path] = {"oracle_boundary": gt_bdir}
        out["oracle_gt_boundary_walk"], out["oracle_gt_boundary"] = self.walk_masks(
            variant, seeds_dir, gt_bdir, split=EVAL_SPLIT)  # fmt: skip
        net = self.boundary_net(seed, self.data_root / AUG_MASK_DIR, variant.boundary_net)
        out["oracle_gt_ir_net"] = net
        out["oracle_gt_ir_bdir"] = self.boundary(net, split=EVAL_SPLIT)
        out["oracle_gt_ir_walk"], out["oracle_gt_ir"] = self.walk_masks(
            variant, seeds_dir, out["oracle_gt_ir_bdir"], split=EVAL_SPLIT)  # fmt: skip
        if until == "seg":
            out["oracle_seg_gt"], out["oracle_seg_gt_eval"] = self.segmentor(
                seed, self.data_root / AUG_MASK_DIR, modes=())  # fmt: skip
        return out

    def segmentor(self, seed: int, label_dir: Path,
                  modes: tuple[str, ...] | None = None) -> tuple[Path, Path | None]:  # fmt: skip
        """DeepLabV2 trained on the masks in ``label_dir`` and its val evaluations.

        ``modes``: evaluations beside the plain one (``"tta"``, ``"crf"``; default the runner's).
        """
        keys = (*_LOADER_KEYS, "test_dataloader")
        names = ["background", *self.tree.class_names]
        opts = {
            **self._loader_options(keys),
            **{f"{k}.dataset.metainfo.classes": names for k in keys},
            "train_dataloader.dataset.data_prefix.seg_map_path": str(label_dir),
            "model.decode_head.num_classes": len(names),
            # The test loop scores the segmentation model on `train` against the ground truth, so
            # seeds -> pseudo-masks -> segmentation read on the same images.
            "test_dataloader.dataset.ann_file": f"ImageSets/Segmentation/{EVAL_SPLIT}.txt",
            "randomness.seed": seed,
            **self.prof.segmentor_options,
            **self.stage_options["segmentor"],
        }
        if self.prof.backbone_from_classifier:
            clf = self.classifier(Variant("cam", "cam"), seed) / "classifier.pth"
            init = {"type": "Pretrained", "checkpoint": str(clf), "prefix": "backbone."}
            opts["model.backbone.init_cfg"] = {"_delete_": True, **init}
        seg = self._train("segmentor", self.prof.segmentor_config, opts, SEG_WEIGHTS)
        try:
            from .seg_eval import evaluate_segmentor
        except ImportError:  # pragma: no cover - the evaluation module is optional
            return seg, None
        modes = ("plain", *(self.seg_modes if modes is None else modes))
        key = stage_key("seg_eval", seg.name, modes, "val")

        def fill(tmp: Path) -> dict:
            for mode in modes:
                evaluate_segmentor(seg, self.data_root, split="val", tta=mode == "tta",
                                   crf=mode == "crf", out_dir=tmp / mode)  # fmt: skip
            return {"segmentor": seg.name, "modes": list(modes)}

        return seg, self.cache.build("seg_eval", key, fill)

    # -- one variant x seed -------------------------------------------------------------------
    def run(self, variant: Variant, seed: int, until: str = "seg", *, study: str = "compare",
            trial: int = -1, is_baseline: bool = False, oracle: bool = False,
            prune_with=None) -> Results:  # fmt: skip
        """Every stage of ``variant`` with ``seed`` up to ``until``; the report rows.

        ``oracle``: also climb the oracle ladder (:meth:`oracle`) for this variant.
        ``prune_with``: an ``optuna.Trial`` that DeepLabV2's intermediate val mIoU is reported
        to (:class:`~c2am_bench.hooks.OptunaPruningHook`); it raises ``optuna.TrialPruned``
        when the pruner stops the trial.
        """
        if until not in UNTIL:
            raise ConfigError(f"until={until!r}: choose from {', '.join(UNTIL)}")
        scope = f"{variant.name} seed {seed}"

        def on_event(stage: str, key: str, what: str) -> None:
            self._on_event(scope, stage, key, what)

        previous, self._prune_with = self._prune_with, prune_with
        try:
            with self.cache.listening(on_event):
                return self._run(variant, seed, until, study=study, trial=trial,
                                 is_baseline=is_baseline, oracle=oracle)  # fmt: skip
        finally:
            self._prune_with = previous

    def _run(self, variant: Variant, seed: int, until: str, *, study: str, trial: int,
             is_baseline: bool, oracle: bool) -> Results:  # fmt: skip
        seeds_dir = self.seeds(variant, seed)
        dirs: dict[str, Path | None] = {"seeds": seeds_dir}
        if until in ("masks", "seg"):
            dirs.update(self.masks(variant, seed, seeds_dir))
        if until == "seg":
            dirs["segmentor"], dirs["seg_eval"] = self.segmentor(
                seed, dirs["masks"] / "pseudo_masks"
            )
        if oracle and until in ("masks", "seg"):
            dirs.update(self.oracle(variant, seed, seeds_dir, until))
        dirs["heldout"] = self.heldout(seeds_dir, dirs.get("masks"), dirs.get("walk"))
        dirs["confounders"] = self.confounders(seeds_dir)
        if variant.spec.from_baseline:  # what it was fine-tuned from
            dirs["baseline_classifier"] = self.classifier(Variant("cam", "cam"), seed)
            dirs["baseline_seeds"] = self.baseline_seeds(seed)
        return self._collect(variant, seed, dirs, study=study, trial=trial,
                             is_baseline=is_baseline)  # fmt: skip

    def _collect(self, variant: Variant, seed: int, dirs: dict, *, study: str, trial: int,
                 is_baseline: bool) -> Results:  # fmt: skip
        """One ``runs`` row (percent), per-class IoUs and threshold curves of a finished run."""

        def read(path: Path) -> dict:
            return json.loads(path.read_text()) if path.is_file() else {}

        def seconds(stage: str, name: str = "seconds") -> float | None:
            d = dirs.get(stage)
            return read(d / "stage.json").get(name) if d is not None else None

        tag = {"study": study, "trial": trial, "variant": variant.name, "seed": seed}
        out = Results()
        seeds_dir = dirs["seeds"]
        seed_info = read(seeds_dir / "stage.json")
        clf = (
            self.cache.root / "classifier" / seed_info["classifier"]
            if "classifier" in seed_info
            else None
        )
        ev = read(seeds_dir / "seed_eval" / "metrics.json")
        row = {
            **tag, "method": variant.method, "label": variant.display,
            "params": json.dumps(variant.params(self.irn_base), sort_keys=True),
            "is_baseline": is_baseline,
            "cls_map": _pct(read(clf / "metrics.json").get("cls/mAP")) if clf else float("nan"),
            "seed_miou": _pct(ev.get("best_miou")),
            "seed_miou_fixed": _pct(ev.get("miou_at_fixed")),
            "seed_threshold": ev.get("best_threshold"),
            "seed_fg_precision": _pct(ev.get("fg_precision_at_best")),
            "seed_fg_recall": _pct(ev.get("fg_recall_at_best")),
            "seconds_classifier": read(clf / "stage.json").get("train_seconds") if clf else None,
            "seconds_seeds": seed_info.get("seconds"),
            "classifier_dir": str(clf or ""), "seeds_dir": str(seeds_dir),
        }  # fmt: skip
        for name, iou in (ev.get("per_class_iou_at_best") or {}).items():
            out.per_class.append({**tag, "stage": "seed", "class": name, "iou": _pct(iou)})
        out.curves += _curve(seeds_dir / "seed_eval" / "curve.csv", "threshold", tag, "seed")
        if "masks" in dirs:
            irn = "ir_labels" in dirs  # the crf method has no IR labels, net or walk
            q = read(dirs["ir_labels"] / "ir_label_quality.json") if irn else {}
            m = read(dirs["masks"] / "mask_eval" / "metrics.json")
            row.update({
                "ir_fg_precision": _pct(q.get("fg_precision")),
                "ir_bg_precision": _pct(q.get("bg_precision")),
                "ir_fg_share": _pct(q.get("fg_share")),
                "ir_ignore_share": _pct(q.get("ignore_share")),
                "ir_coverage": _pct(None if q.get("ignore_share") is None
                                    else 1.0 - q["ignore_share"]),
                "pseudo_miou": _pct(m.get("mIoU")), "pseudo_miou_best": _pct(m.get("best_miou")),
                "sem_seg_bg": m.get("sem_seg_bg"), "best_sem_seg_bg": m.get("best_sem_seg_bg"),
                "pseudo_fg_precision": _pct(m.get("fg_precision")),
                "pseudo_fg_recall": _pct(m.get("fg_recall")),
                "seconds_ir_labels": seconds("ir_labels"),
                "seconds_boundary": _add(seconds("boundary_net", "train_seconds"),
                                         seconds("boundary")),
                "seconds_walk": _add(seconds("walk"), seconds("masks")) if irn else None,
                "seconds_pseudo_masks": None if irn else seconds("masks"),
                "masks_dir": str(dirs["masks"]),
            })  # fmt: skip
            b = read(dirs["boundary"] / "boundary_eval" / "metrics.json") if irn else {}
            row.update(boundary_f=_pct(b.get("f_score")),
                       boundary_precision=_pct(b.get("precision")),
                       boundary_recall=_pct(b.get("recall")),
                       boundary_threshold=b.get("threshold"))  # fmt: skip
            for name, iou in (m.get("per_class_iou") or {}).items():
                out.per_class.append({**tag, "stage": "pseudo", "class": name, "iou": _pct(iou)})
            curve = dirs["masks"] / "mask_eval" / "curve.csv"
            out.curves += _curve(curve, "sem_seg_bg", tag, "pseudo")
        if "segmentor" in dirs:
            s = read(dirs["segmentor"] / "metrics.json")
            row.update(seg_miou=_mm_pct(s.get("seg/mIoU")),
                       seg_train_miou=_mm_pct(s.get("test/seg/mIoU")),
                       seconds_seg=seconds("segmentor", "train_seconds"),
                       seg_dir=str(dirs["segmentor"]))  # fmt: skip
            ev_dir = dirs.get("seg_eval")
            plain = read(ev_dir / "plain" / "metrics.json") if ev_dir else {}
            row.update(seg_fg_precision=_pct(plain.get("fg_precision")),
                       seg_fg_recall=_pct(plain.get("fg_recall")))  # fmt: skip
            for mode in ("tta", "crf"):
                e = read(ev_dir / mode / "metrics.json") if ev_dir else {}
                row[f"seg_{mode}_miou"] = _pct(e.get("miou"))
            per_class = plain.get("per_class_iou") or {
                k.split("IoU.", 1)[1]: v / 100 for k, v in s.items() if k.startswith("seg/IoU.")
            }
            for name, iou in per_class.items():
                out.per_class.append({**tag, "stage": "seg", "class": name, "iou": _pct(iou)})
        row["oracle"] = "oracle_gt_boundary" in dirs
        for rung in ("oracle_gt_boundary", "oracle_gt_ir"):
            if rung in dirs:
                m = read(dirs[rung] / "mask_eval" / "metrics.json")
                row[f"{rung}_miou"] = _pct(m.get("mIoU"))
                row[f"{rung}_miou_best"] = _pct(m.get("best_miou"))
        if "oracle_gt_ir_bdir" in dirs:
            b = read(dirs["oracle_gt_ir_bdir"] / "boundary_eval" / "metrics.json")
            row["oracle_gt_ir_boundary_f"] = _pct(b.get("f_score"))
        if "oracle_seg_gt" in dirs:
            s = read(dirs["oracle_seg_gt"] / "metrics.json")
            row["oracle_seg_gt_miou"] = _mm_pct(s.get("seg/mIoU"))
        h = read(dirs["heldout"] / "metrics.json") if dirs.get("heldout") else {}
        row["seed_miou_heldout"] = _pct((h.get("seeds") or {}).get("miou"))
        row["seed_threshold_heldout"] = (h.get("seeds") or {}).get("threshold")
        if "masks" in dirs:
            row["pseudo_miou_heldout"] = _pct((h.get("masks") or {}).get("miou"))
            row["sem_seg_bg_heldout"] = (h.get("masks") or {}).get("threshold")
            row["heldout_pseudo_miou"] = _pct((h.get("masks") or {}).get(
                "heldout_miou_at_configured"))  # fmt: skip
        conf_dir = dirs.pop("confounders", None)
        if conf_dir is not None:
            c = read(conf_dir / "metrics.json")
            for region, value in c.get("mean", {}).items():
                row[f"cam_{region}"] = _pct(value)
            for name, shares in c.get("per_class", {}).items():
                for what in ("mass", "area"):
                    for region in ("body", "part", "context", "elsewhere"):
                        share = _pct(shares[f"{what}_{region}"])
                        out.confounders.append({**tag, "class": name, "measure": what,
                                                "region": region, "share": share})  # fmt: skip
            dirs["confounders"] = conf_dir
        # every stage directory this row depends on (provenance; benchmarks sum their seconds)
        chain = {k: str(v) for k, v in dirs.items() if v is not None}
        if clf is not None:
            chain["classifier"] = str(clf)
        row["stage_dirs"] = json.dumps(chain, sort_keys=True)
        out.runs.append(row)
        return out


def training_schedule(cfg) -> dict[str, Any]:
    """What a training config runs: ``by_epoch``, ``length`` (epochs or iterations), ``batch``
    and the ``split`` it trains on (the loader's ``split``, or the stem of its ``ann_file``)."""
    train_cfg, loader = cfg.train_cfg, cfg.train_dataloader
    by_epoch = "max_epochs" in train_cfg
    split = loader.dataset.get("split") or Path(str(loader.dataset.get("ann_file") or "")).stem
    return {"by_epoch": by_epoch,
            "length": int(train_cfg.max_epochs if by_epoch else train_cfg.max_iters),
            "batch": int(loader.batch_size), "split": split or None}  # fmt: skip


def _curve(path: Path, column: str, tag: dict, stage: str) -> list[dict]:
    """Rows ``(tag, stage, threshold, miou %)`` of an evaluation's ``curve.csv``."""
    import pandas as pd

    if not path.is_file():
        return []
    frame = pd.read_csv(path)
    return [{**tag, "stage": stage, "threshold": t, "miou": _pct(m)}
            for t, m in zip(frame[column], frame["mIoU"], strict=True)]  # fmt: skip


def _add(*values) -> float | None:
    present = [v for v in values if v is not None]
    return round(sum(present), 2) if present else None


def compare(
    runner: Runner,
    variants: list[Variant],
    seeds: list[int],
    *,
    until: str = "seg",
    against: str = "cam",
    oracle: tuple[str, ...] | None = None,
    oracle_seeds: str = "first",
) -> Results:
    """Every variant x seed (seed-major, so each seed's shared baseline is built first).

    ``oracle``: names of the variants that climb the oracle ladder (default: ``against``).
    ``oracle_seeds``: climb it at the ``"first"`` seed only (a diagnosis; its GT-label boundary
    net and DeepLabV2 ceiling cost about as much as one more method) or at ``"all"`` seeds.
    """
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
    results = Results()
    for seed in seeds:
        climb = oracle_seeds == "all" or seed == seeds[0]
        for variant in variants:
            results.extend(runner.run(variant, seed, until, is_baseline=variant.name == against,
                                      oracle=climb and variant.name in ladder))  # fmt: skip
    return results


def write_results(results: Results, context: dict, out_dir: str | os.PathLike) -> Path:
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
    for name, text in files.items():
        tmp = out_dir / f".{name}.{os.getpid()}.tmp"  # several workers may finish together
        tmp.write_text(text)
        os.replace(tmp, out_dir / name)
    return out_dir
