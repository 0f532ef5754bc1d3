"""A synthetic results directory for the report tests (no training): 3 variants x 3 seeds.

Numbers are random but fixed (seeded): C2AM = CAM + 2 points + small noise on every seed (a
distinguishable paired gain), CAM+Constant = CAM + noise of either sign (not distinguishable).
The baseline climbs the oracle ladder (as ``compare`` does by default) when the walk ran.
Stage directories hold tiny real files where the CAM figures read them: seeds of the smoke
SynthVOC's ``train`` ids, pseudo-mask PNGs, and the baseline's Global CAM.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from c2am_bench.cams import GlobalCAMAccumulator, save_seed, strided_size
from c2am_bench.datasets import voc
from c2am_bench.datasets.synthvoc import generate, make_config
from c2am_bench.datasets.voc_meta import flat_palette

VARIANTS = {"cam": "CAM", "cam_constant": "CAM+Constant", "c2am": "C2AM"}
SEEDS = (0, 1, 2)
STAGE_METRICS = {
    "seed": ("seed_miou", "seed_miou_fixed", "seed_fg_precision", "seed_fg_recall"),
    "pseudo": (
        "pseudo_miou",
        "pseudo_miou_best",
        "pseudo_fg_precision",
        "pseudo_fg_recall",
        "ir_fg_precision",
        "ir_ignore_share",
    ),
    "seg": (
        "seg_miou",
        "seg_train_miou",
        "seg_fg_precision",
        "seg_fg_recall",
        "seg_tta_miou",
        "seg_crf_miou",
    ),
}


def make_data(root: Path) -> voc.VOCTree:
    """The smoke SynthVOC (8 train_aug ids, 2 of them in train)."""
    if not (root / "JPEGImages").is_dir():
        generate(make_config("smoke", n_train=8, n_val=2), root, progress=False)
    return voc.open_tree(root)


def _stage_files(tree: voc.VOCTree, seeds_dir: Path, masks_dir: Path, rng, baseline: bool):
    ids = tree.read_split("train")
    labels = voc.image_labels(tree, ids)
    for id_, lab in zip(ids, labels, strict=True):
        h, w = voc.load_image(tree.image_path(id_)).shape[:2]
        keys = np.flatnonzero(lab)
        seed = {
            "keys": keys,
            "cam": rng.random((keys.size, *strided_size((h, w), 4)), dtype=np.float32),
            "high_res": rng.random((keys.size, h, w), dtype=np.float32),
        }
        save_seed(seeds_dir / "cams" / f"{id_}.npz", seed)
        gt = voc.load_mask(tree.mask_path(id_), tree.num_classes)
        mask = np.where(gt == 255, 0, gt).astype(np.uint8)
        mask = np.roll(mask, int(rng.integers(-3, 4)), axis=1)  # a slightly wrong pseudo-mask
        im = Image.fromarray(mask)
        im.putpalette(flat_palette())  # 'L' -> 'P', indices unchanged
        (masks_dir / "pseudo_masks").mkdir(parents=True, exist_ok=True)
        im.save(masks_dir / "pseudo_masks" / f"{id_}.png")
    if baseline:
        acc = GlobalCAMAccumulator(tree.num_classes, size=16, class_names=tree.class_names)
        gen = torch.Generator().manual_seed(0)
        for lab in voc.image_labels(tree, tree.read_split("train_aug")):
            acc.add([torch.rand(tree.num_classes, s, s, generator=gen) for s in (3, 5)], lab)
        acc.save(seeds_dir / "global_cam.npz")


def build_results(
    base: Path,
    *,
    seeds: tuple[int, ...] = SEEDS,
    stages: tuple[str, ...] = ("seed", "pseudo", "seg"),
    files: bool = True,
    name: str = "results",
    oracle: tuple[str, ...] = ("cam",),
) -> Path:
    """Write ``base/<name>/`` (runs.csv, per_class.csv, curves.csv, context.json) and return it.

    Args:
        seeds: the seeds of every variant.
        stages: the stages that "ran" (metric columns of the others are absent).
        files: write the stage directories the CAM figures read (else the dirs are empty).
        oracle: the variants that climb the oracle ladder (its rungs need the pseudo stage; the
            ceiling, the seg stage).
    """
    rng = np.random.default_rng(42)
    rng_oracle = np.random.default_rng(7)  # its own stream: the other numbers do not change
    tree = make_data(base / "data")
    classes = ["background", *tree.class_names]
    out = base / name
    out.mkdir(parents=True, exist_ok=True)
    runs, per_class, curves = [], [], []
    cam = {
        s: {m: float(rng.uniform(30, 60)) for ms in STAGE_METRICS.values() for m in ms}
        for s in seeds
    }
    for seed in seeds:
        for v, label in VARIANTS.items():
            shift = {
                "cam": 0.0,
                "cam_constant": float(rng.normal(0, 1.0)),
                "c2am": 2.0 + float(rng.normal(0, 0.3)),
            }[v]
            row = {
                "study": "compare",
                "trial": -1,
                "variant": v,
                "method": v,
                "label": label,
                "seed": seed,
                "params": json.dumps({"method": v, "irn.sem_seg_bg": 0.25}),
                "is_baseline": v == "cam",
                "cls_map": round(float(rng.uniform(80, 95)), 3),
                "seed_threshold": 0.15 + 0.01 * int(rng.integers(-3, 4)),
                "seconds_classifier": 10.0 + seed,
                "seconds_seeds": 2.5,
            }
            for stage in stages:
                for m in STAGE_METRICS[stage]:
                    row[m] = round(cam[seed][m] + shift, 3)
            sdir = base / "cache" / v / f"seeds{seed}"
            mdir = base / "cache" / v / f"masks{seed}"
            row["seeds_dir"] = str(sdir)
            row["classifier_dir"] = str(base / "cache" / v / f"clf{seed}")
            if "pseudo" in stages:
                row.update(
                    sem_seg_bg=0.25,
                    best_sem_seg_bg=0.2,
                    masks_dir=str(mdir),
                    seconds_ir_labels=1.0,
                    seconds_boundary=5.0,
                    seconds_walk=3.0,
                )
            if "seg" in stages:
                row.update(seg_dir=str(base / "cache" / v / f"seg{seed}"), seconds_seg=20.0)
            row["oracle"] = v in oracle and "pseudo" in stages
            if row["oracle"]:
                walk = row["pseudo_miou"]
                row.update(
                    oracle_gt_boundary_miou=round(walk + 12 + float(rng_oracle.normal(0, 2)), 3),
                    oracle_gt_ir_miou=round(walk + 5 + float(rng_oracle.normal(0, 2)), 3),
                    oracle_gt_boundary_miou_best=round(walk + 13, 3),
                    oracle_gt_ir_miou_best=round(walk + 6, 3),
                    oracle_gt_ir_boundary_f=round(float(rng_oracle.uniform(60, 80)), 3),
                    boundary_f=round(float(rng_oracle.uniform(50, 70)), 3),
                    ir_coverage=round(float(rng_oracle.uniform(60, 80)), 3),
                )
                if "seg" in stages:
                    row["oracle_seg_gt_miou"] = round(80 + float(rng_oracle.normal(0, 1.5)), 3)
            if files and seed == min(seeds):
                sdir.mkdir(parents=True, exist_ok=True)
                mdir.mkdir(parents=True, exist_ok=True)
                _stage_files(tree, sdir, mdir, rng, baseline=v == "cam")
            runs.append(row)
            tag = {"study": "compare", "trial": -1, "variant": v, "seed": seed}
            for stage in stages:
                for c in classes:
                    iou = round(float(rng.uniform(5, 90)), 3)
                    per_class.append({**tag, "stage": stage, "class": c, "iou": iou})
            if row["oracle"]:  # the rungs' per-class rows, from their own stream
                rungs = ["oracle_gt_boundary", "oracle_gt_ir"]
                rungs += ["oracle_seg_gt"] if "seg" in stages else []
                for stage in rungs:
                    for c in classes:
                        iou = round(float(rng_oracle.uniform(5, 90)), 3)
                        per_class.append({**tag, "stage": stage, "class": c, "iou": iou})
            for stage in [s for s in stages if s != "seg"]:
                peak = 0.2 + 0.05 * rng.random()
                for t in np.round(np.arange(0.05, 0.61, 0.01), 2):
                    miou = 45 - 80 * (t - peak) ** 2 + shift + rng.normal(0, 0.3)
                    curves.append(
                        {
                            **tag,
                            "stage": stage,
                            "threshold": float(t),
                            "miou": round(float(miou), 3),
                        }
                    )
    pd.DataFrame(runs).to_csv(out / "runs.csv", index=False)
    pd.DataFrame(per_class).to_csv(out / "per_class.csv", index=False)
    pd.DataFrame(curves).to_csv(out / "curves.csv", index=False)
    context = {
        "title": "Synthetic compare",
        "kind": "compare",
        "name": "synthetic",
        "against": "cam",
        "profile": "smoke",
        "data_root": str(base / "data"),
        "data_fingerprint": "0123abcd",
        "class_names": list(tree.class_names),
        "objective": None,
        "environment": {"python": "3.x", "git commit": "abc1234", "torch": "2.x"},
        "storage": None,
        "seeds": list(seeds),
        "notes": ["synthetic numbers for the tests"],
    }
    (out / "context.json").write_text(json.dumps(context, indent=1))
    return out


def make_study(n_trials: int = 6):
    """An in-memory Optuna study with two float parameters (seeded TPE)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.TPESampler(seed=0), study_name="synthetic"
    )
    study.optimize(
        lambda t: (
            -((t.suggest_float("model.head.gamma", 0.1, 4.0, log=True) - 1.0) ** 2)
            + t.suggest_float("irn.sem_seg_bg", 0.1, 0.4)
        ),
        n_trials=n_trials,
    )
    return study


def build_study_results(base: Path, n_trials: int = 8, seeds: tuple[int, ...] = (0, 1)) -> Path:
    """A study's results: trial k runs ``c2am[gamma=...]`` and re-runs the baseline ``cam``
    (identical numbers, as the stage cache returns them) on every seed; gain grows with k."""
    plain = build_results(base, seeds=seeds, name="plain")
    runs = pd.read_csv(plain / "runs.csv")
    per_class = pd.read_csv(plain / "per_class.csv")
    curves = pd.read_csv(plain / "curves.csv")
    out_runs, out_pc, out_curves = [], [], []
    metrics = [m for ms in STAGE_METRICS.values() for m in ms]
    for k in range(n_trials):
        name = f"c2am[model.head.gamma={0.25 * (k + 1):g}]"
        for src, dst in ((runs, out_runs), (per_class, out_pc), (curves, out_curves)):
            base_rows = src[src["variant"] == "cam"].assign(study="gamma", trial=k)
            trial = src[src["variant"] == "c2am"].assign(study="gamma", trial=k, variant=name)
            if src is runs:
                trial = trial.assign(label=name, params=json.dumps({"model.head.gamma": k}))
                trial[metrics] = trial[metrics] + 0.5 * k - 2.0
            dst += [base_rows, trial]
    out = base / "study"
    out.mkdir()
    pd.concat(out_runs).to_csv(out / "runs.csv", index=False)
    pd.concat(out_pc).to_csv(out / "per_class.csv", index=False)
    pd.concat(out_curves).to_csv(out / "curves.csv", index=False)
    context = json.loads((plain / "context.json").read_text())
    context.update(kind="study", name="study-gamma-smoke", title="Study gamma",
                   objective="seed_miou_gain", study="gamma")  # fmt: skip
    (out / "context.json").write_text(json.dumps(context))
    return out
