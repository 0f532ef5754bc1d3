"""``c2am-bench compare``: baseline CAM, CAM+Constant and C2AM from classifier to DeepLabV2.

One baseline classifier is trained; its seeds pass also builds the Global CAM; CAM+Constant and C2AM
fine-tune from the baseline's weights (paper Table 2). Every method then gets seeds and a seed
evaluation, IRN pseudo-masks (IR labels, boundary net, random walk) and a DeepLabV2 trained on them.
Each stage directory records a key (hash of its merged config, its data and its input files) in
``stage.json``: a stage whose key matches is reused, a killed training resumes from its last
checkpoint, and a directory holding a different run is never overwritten. (The content-hashed
stage cache of issue 6 -- sharing stages across trials -- is not built yet.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from .errors import ConfigError

logger = logging.getLogger(__name__)

CONFIG_ROOT = Path(__file__).resolve().parent.parent / "mm_configs"
METHODS = ("cam", "cam_constant", "c2am")
METHOD_LABELS = {"cam": "CAM", "cam_constant": "CAM+Constant", "c2am": "C2AM"}
CONFIGS = {
    "default": {
        "cam": "cam/cam_r18lite_15e_synthvoc-128.py",
        "cam_constant": "cam/cam-constant_r18lite_ft6e_synthvoc-128.py",
        "c2am": "cam/c2am_r18lite_ft6e_synthvoc-128.py",
    },
    "paper": {
        "cam": "cam/cam_r50_5e_voc12aug-512.py",
        "cam_constant": "cam/cam-constant_r50_ft4e_voc12aug-512.py",
        "c2am": "cam/c2am_r50_ft4e_voc12aug-512.py",
    },
}
CONFIGS["smoke"] = CONFIGS["default"]
_LOADER_KEYS = ("train_dataloader", "val_dataloader")
PROFILE_OPTIONS = {
    "smoke": {
        "train_cfg.max_epochs": 2,
        "train_cfg.val_interval": 1,
        **{f"{k}.num_workers": 0 for k in _LOADER_KEYS},
        **{f"{k}.persistent_workers": False for k in _LOADER_KEYS},
        "train_dataloader.batch_size": 8,
    },
    "default": {},
    "paper": {},
}
FINETUNE_EPOCHS = {"smoke": 1}
GLOBAL_CAM_SIZE = 128
IRN_CONFIGS = {
    "default": "irn/irn_r18lite_3e_synthvoc-128.py",
    "smoke": "irn/irn_r18lite_3e_synthvoc-128.py",
    "paper": "irn/irn_r50_3e_voc12aug-512.py",
}
IRN_PROFILE_OPTIONS = {
    "smoke": {
        "train_cfg.max_epochs": 1,
        "train_dataloader.num_workers": 0,
        "train_dataloader.persistent_workers": False,
        "train_dataloader.batch_size": 8,
    },
    "default": {},
    "paper": {},
}
SEG_CONFIGS = {
    "default": "seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py",
    "smoke": "seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py",
    "paper": "seg/deeplabv2_r101-d8_30k_voc12aug-321.py",
}
SEG_PROFILE_OPTIONS = {
    "smoke": {
        "train_cfg.max_iters": 8,
        "train_cfg.val_interval": 8,
        **{f"{k}.num_workers": 0 for k in (*_LOADER_KEYS, "test_dataloader")},
        **{f"{k}.persistent_workers": False for k in (*_LOADER_KEYS, "test_dataloader")},
    },
    "default": {},
    "paper": {},
}
SEG_WEIGHTS = "segmentor.pth"
# IRN's reference thresholds (run_sample.py); the paper's C2AM run used 0.38 / 0.10 / 0.21.
IRN_THRESHOLDS = {"conf_fg": 0.30, "conf_bg": 0.05, "sem_seg_bg": 0.25}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def data_fingerprint(root: Path) -> str:
    """Hash of a dataset's split lists and metadata (cheap; image bytes are not read)."""
    h = hashlib.sha256()
    for rel in ("synthvoc.json", "image_labels.json"):
        if (root / rel).is_file():
            h.update((root / rel).read_bytes())
    for split in sorted((root / "ImageSets/Segmentation").glob("*.txt")):
        h.update(split.name.encode() + split.read_bytes())
    return h.hexdigest()[:16]


def _fraction(percent) -> float | None:
    """mmseg's IoUMetric reports percentages; the harness reports fractions in [0, 1]."""
    return None if percent is None else round(float(percent) / 100.0, 4)


class _Timings:
    """Wall seconds of each step, kept in a JSON file so a reused step still reports its cost."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.values = json.loads(path.read_text()) if path.is_file() else {}

    def record(self, key: str, seconds: float | None) -> None:
        if seconds is not None:
            self.values[key] = round(float(seconds), 1)
            tmp = self.path.with_name(f".{self.path.name}.tmp")
            tmp.write_text(json.dumps(self.values, indent=1) + "\n")
            os.replace(tmp, self.path)

    def run(self, key: str, needed: bool, step) -> None:
        """Run ``step`` when ``needed`` and record its wall time under ``key``."""
        if needed:
            t0 = time.perf_counter()
            step()
            self.record(key, time.perf_counter() - t0)


def _stage_key(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _check_stage(stage_dir: Path, key: str, done_file: str) -> bool:
    """True when ``stage_dir`` holds this exact stage, finished; raise if it holds another one."""
    meta = stage_dir / "stage.json"
    if not meta.is_file():
        if stage_dir.exists() and any(stage_dir.iterdir()):
            raise ConfigError(f"{stage_dir}: not empty and not a c2am-bench stage; "
                              "choose another --work-dir")  # fmt: skip
        return False
    recorded = json.loads(meta.read_text()).get("key")
    if recorded != key:
        raise ConfigError(
            f"{stage_dir}: holds a run with other settings (stage key {recorded} != {key}); "
            "choose another --work-dir or remove it"
        )
    return (stage_dir / done_file).exists()


def _write_stage(stage_dir: Path, key: str, **info) -> None:
    stage_dir.mkdir(parents=True, exist_ok=True)
    tmp = stage_dir / ".stage.json.tmp"
    tmp.write_text(json.dumps({"key": key, **info}, indent=1) + "\n")
    os.replace(tmp, stage_dir / "stage.json")


def _train_stage(
    name, config, options, stage_dir, data_key, inputs=(), weights_name=None, verbose=False
) -> dict:
    from .train import METRICS_FILE, WEIGHTS_FILE, load_config, train

    weights_name = weights_name or WEIGHTS_FILE
    # One Runner per stage in this process: each needs its own visualizer instance name.
    options = {**options, "visualizer.name": f"visualizer-{name}"}
    cfg = load_config(CONFIG_ROOT / config, options, stage_dir)
    key = _stage_key(cfg.pretty_text, data_key, *(_sha256(Path(p)) for p in inputs))
    if _check_stage(stage_dir, key, weights_name):
        logger.info("%s: reusing the finished run in %s", name, stage_dir)
        return json.loads((stage_dir / METRICS_FILE).read_text())
    resume = (stage_dir / "last_checkpoint").is_file()
    _write_stage(stage_dir, key, stage="classifier", method=name, config=config)
    logger.info("%s: training %s%s", name, config, " (resuming)" if resume else "")
    return train(cfg, resume=resume, weights_name=weights_name, quiet_console=not verbose)


def _seed_stage(run_dir: Path, data_root: Path, global_cam: bool, progress: bool) -> dict:
    from .seeds import CAMS_DIR, evaluate_seeds, make_seeds

    summary_file = run_dir / "seeds.json"
    if (run_dir / CAMS_DIR).is_dir() and summary_file.is_file():
        summary = json.loads(summary_file.read_text())
    else:
        summary = make_seeds(run_dir, run_dir, data_root=data_root, split="train_aug",
                             global_cam_size=GLOBAL_CAM_SIZE if global_cam else None,
                             progress=progress)  # fmt: skip
    metrics_file = run_dir / "seed_eval" / "metrics.json"
    if metrics_file.is_file():
        metrics = json.loads(metrics_file.read_text())
    else:
        metrics = evaluate_seeds(run_dir / CAMS_DIR, data_root, run_dir / "seed_eval")
    return {"seeds": summary, "seed_eval": metrics}


def _irn_stages(
    method, run_dir, data_root, data_key, profile, backbone_ckpt, progress, verbose=False
) -> dict:
    """IR labels -> boundary net -> boundary maps -> random walk -> pseudo-masks -> metrics."""
    from . import irn_stage
    from .ir_labels import ir_label_quality, make_ir_labels

    t = IRN_THRESHOLDS
    irn_dir = run_dir / "irn"
    timings = _Timings(run_dir / "timings.json")
    timings.run(
        "ir_labels_seconds",
        not (run_dir / "ir_labels").is_dir(),
        lambda: make_ir_labels(data_root, run_dir / "cams", run_dir, split="train_aug",
                               conf_fg=t["conf_fg"], conf_bg=t["conf_bg"],
                               progress=progress),
    )  # fmt: skip
    quality_file = run_dir / "ir_label_quality.json"
    if quality_file.is_file():
        quality = json.loads(quality_file.read_text())
    else:  # what conf_fg / conf_bg trade: how much is labelled, how much of it is right
        quality = ir_label_quality(data_root, run_dir / "ir_labels", split="train")
        quality_file.write_text(json.dumps(quality, indent=1) + "\n")
    opts = {
        "train_dataloader.dataset.data_root": str(data_root),
        "train_dataloader.dataset.data_prefix.seg_map_path": str((run_dir / "ir_labels").resolve()),
        "model.backbone_checkpoint": str(backbone_ckpt),
        **IRN_PROFILE_OPTIONS[profile],
    }
    irn_metrics = _train_stage(f"{method}/irn", IRN_CONFIGS[profile], opts, irn_dir, data_key,
                               inputs=[run_dir / "ir_labels.json", backbone_ckpt],
                               weights_name=irn_stage.WEIGHTS_FILE, verbose=verbose)  # fmt: skip
    timings.record("boundary_train_seconds", irn_metrics.get("train_seconds"))
    timings.run(
        "boundary_maps_seconds",
        not (irn_dir / irn_stage.BOUNDARY_DIR).is_dir(),
        lambda: irn_stage.make_boundaries(irn_dir, data_root, irn_dir, progress=progress),
    )
    metrics_file = irn_dir / "mask_eval" / "metrics.json"
    walk_needed = not (irn_dir / irn_stage.PSEUDO_DIR).is_dir()
    if walk_needed:  # new masks: an old evaluation must not be reused for them
        metrics_file.unlink(missing_ok=True)
    timings.run(
        "random_walk_seconds",
        walk_needed,
        lambda: irn_stage.make_pseudo_masks(run_dir / "cams", irn_dir / irn_stage.BOUNDARY_DIR,
                                            data_root, irn_dir, sem_seg_bg=t["sem_seg_bg"],
                                            progress=progress),
    )  # fmt: skip
    if (
        metrics_file.is_file()
        and json.loads(metrics_file.read_text())["sem_seg_bg"] == t["sem_seg_bg"]
    ):  # the masks and their evaluation are reused together, like the seeds'
        metrics = json.loads(metrics_file.read_text())
    else:
        metrics = irn_stage.evaluate_pseudo_masks(irn_dir, data_root, sem_seg_bg=t["sem_seg_bg"])
    return {"metrics": metrics, "timings": timings.values, "ir_quality": quality}


def _seg_stage(method, run_dir, data_root, data_key, profile, class_names, verbose) -> dict:
    """DeepLabV2 trained on the method's pseudo-masks; val mIoU (and train mIoU vs GT)."""
    irn_dir = run_dir / "irn"
    names = ["background", *class_names]
    opts = {
        **{f"{k}.dataset.data_root": str(data_root) for k in (*_LOADER_KEYS, "test_dataloader")},
        **{f"{k}.dataset.metainfo.classes": names for k in (*_LOADER_KEYS, "test_dataloader")},
        "train_dataloader.dataset.data_prefix.seg_map_path": str(
            (irn_dir / "pseudo_masks").resolve()
        ),
        "model.decode_head.num_classes": len(names),
        # The test loop scores the segmentation model on `train` against the ground truth, so
        # seeds -> pseudo-masks -> segmentation read on the same images.
        "test_dataloader.dataset.ann_file": "ImageSets/Segmentation/train.txt",
        **SEG_PROFILE_OPTIONS[profile],
    }
    return _train_stage(f"{method}/seg", SEG_CONFIGS[profile], opts, run_dir / "seg", data_key,
                        inputs=[irn_dir / "pseudo_masks.json"], weights_name=SEG_WEIGHTS,
                        verbose=verbose)  # fmt: skip


def compare_methods(
    data_root: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    profile: str = "default",
    methods: tuple[str, ...] = METHODS,
    progress: bool = True,
    verbose: bool = False,
    irn: bool = True,
    segmentation: bool = True,
) -> list[dict]:
    """Run every method through the CAM stage and (``irn=True``) the IRN stage; one row each.

    Returns:
        Rows with ``method``, classifier ``mAP``/``f1_micro`` on val, seed mIoU at the fixed
        and the best threshold (on ``train``), pseudo-mask mIoU at ``sem_seg_bg`` and the best,
        IR-label quality, and the wall seconds of each step (recorded when it ran).
    """
    from .datasets import voc

    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ConfigError(f"unknown method(s) {unknown}; choose from {list(METHODS)}")
    if profile not in CONFIGS:
        raise ConfigError(f"unknown profile {profile!r}; choose from {sorted(CONFIGS)}")
    data_root, work_dir = Path(data_root), Path(work_dir)
    tree = voc.open_tree(data_root)
    data_key = data_fingerprint(data_root)
    base = {
        **{f"{k}.dataset.data_root": str(data_root) for k in _LOADER_KEYS},
        "model.head.num_classes": tree.num_classes,
        **PROFILE_OPTIONS[profile],
    }
    finetune = dict(base)
    if profile in FINETUNE_EPOCHS:
        finetune["train_cfg.max_epochs"] = FINETUNE_EPOCHS[profile]
    configs = CONFIGS[profile]
    base_dir = work_dir / "cam"
    rows = []
    run_dirs = {"cam": base_dir}
    for method in ("cam", *[m for m in methods if m != "cam"]):
        run_dir = work_dir / method
        run_dirs[method] = run_dir
        if method == "cam":
            train_metrics = _train_stage(
                method, configs[method], base, run_dir, data_key, verbose=verbose
            )
        else:
            opts = {**finetune, "load_from": str(base_dir / "classifier.pth")}
            inputs = [base_dir / "classifier.pth"]
            if method == "c2am":
                opts["model.head.global_cam"] = str(base_dir / "global_cam.npz")
                inputs.append(base_dir / "global_cam.npz")
            train_metrics = _train_stage(
                method, configs[method], opts, run_dir, data_key, inputs, verbose=verbose
            )
        seeds = _seed_stage(run_dir, data_root, global_cam=method == "cam", progress=progress)
        ev = seeds["seed_eval"]
        masks = None
        if irn and method in methods:
            masks = _irn_stages(method, run_dir, data_root, data_key, profile,
                                base_dir / "classifier.pth", progress, verbose)  # fmt: skip
        if method in methods:
            rows.append({
                "method": method,
                "label": METHOD_LABELS[method],
                "mAP": train_metrics.get("cls/mAP"),
                "f1_micro": train_metrics.get("cls/f1_micro"),
                "seed_mIoU_fixed": ev["miou_at_fixed"],
                "fixed_threshold": ev["fixed_threshold"],
                "seed_mIoU_best": ev["best_miou"],
                "best_threshold": ev["best_threshold"],
                "train_seconds": train_metrics.get("train_seconds"),
                "seed_seconds": seeds["seeds"]["seconds"],
                "run_dir": str(run_dir),
            })  # fmt: skip
            if masks is not None:
                m = masks["metrics"]
                rows[-1].update(
                    mask_mIoU=m["mIoU"], sem_seg_bg=m["sem_seg_bg"],
                    mask_mIoU_best=m["best_miou"], best_sem_seg_bg=m["best_sem_seg_bg"],
                    ir_fg_precision=masks["ir_quality"]["fg_precision"],
                    ir_bg_precision=masks["ir_quality"]["bg_precision"],
                    ir_ignore_share=masks["ir_quality"]["ignore_share"],
                    **masks["timings"],
                )  # fmt: skip
            if (
                masks is not None
                and segmentation
                and (CONFIG_ROOT / SEG_CONFIGS[profile]).is_file()
            ):
                seg = _seg_stage(method, run_dir, data_root, data_key, profile, tree.class_names,
                                 verbose)  # fmt: skip
                rows[-1].update(
                    seg_val_mIoU=_fraction(seg.get("seg/mIoU")),
                    seg_train_mIoU=_fraction(seg.get("test/seg/mIoU")),
                    seg_seconds=seg.get("train_seconds"),
                )
    return rows
