"""End to end on the smoke SynthVOC: three methods trained, seeds + Global CAM, seed metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from c2am_bench import cams, pipeline
from c2am_bench.cli import main
from c2am_bench.datasets import voc
from c2am_bench.errors import DataError
from c2am_bench.stage_cache import StageCache

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def compared(smoke_data, tmp_path_factory):
    work = tmp_path_factory.mktemp("work")
    runner = pipeline.Pipeline(smoke_data, StageCache(work / "cache"), profile="smoke", seg_eval=())
    variants = [pipeline.parse_method(m) for m in pipeline.METHODS]
    results = pipeline.compare(runner, variants, [0], until="masks")
    pipeline.write_results(results, {}, work / "results")
    return work, {r["variant"]: r for r in results.runs}


def test_three_methods_with_metrics(compared):
    work, rows = compared
    assert list(rows) == ["cam", "cam_constant", "c2am"]
    for r in rows.values():
        assert 0.0 < r["seed_miou_fixed"] <= 100.0 and 0.0 < r["seed_miou"] <= 100.0
        assert r["seed_miou"] >= r["seed_miou_fixed"] - 1e-9
        assert 0.0 <= r["cls_map"] <= 100.0
        assert 0.0 <= r["seed_fg_precision"] <= 100 and 0.0 <= r["seed_fg_recall"] <= 100
        metrics = json.loads((Path(r["seeds_dir"]) / "seed_eval" / "metrics.json").read_text())
        assert round(100 * metrics["best_miou"], 3) == r["seed_miou"]
        assert (Path(r["seeds_dir"]) / "seed_eval" / "curve.csv").is_file()
    assert rows["cam"]["is_baseline"] and not rows["c2am"]["is_baseline"]


def test_the_baseline_climbs_the_oracle_ladder(compared, smoke_data):
    """compare's default: the baseline (and only it) gets the ladder's rungs, each finite and
    cached; the GT boundary scores F = 1 against the GT edges it was drawn from."""
    work, rows = compared
    cam = rows["cam"]
    assert cam["oracle"] and not rows["c2am"]["oracle"]
    for col in ("oracle_gt_boundary_miou", "oracle_gt_ir_miou", "boundary_f",
                "oracle_gt_ir_boundary_f", "ir_coverage"):  # fmt: skip
        assert 0.0 <= cam[col] <= 100.0, col
    assert "oracle_gt_boundary_miou" not in rows["c2am"]
    chain = json.loads(cam["stage_dirs"])
    gt = json.loads((Path(chain["oracle_boundary"]) / "boundary_eval" / "metrics.json").read_text())
    assert gt["f_score"] == 1.0
    # the GT-label boundary net trained on SegmentationClassAug, the walks ran on `train` only
    net_cfg = (Path(chain["oracle_gt_ir_net"]) / "config.py").read_text()
    assert str(smoke_data / "SegmentationClassAug") in net_cfg
    n_train = len(voc.open_tree(smoke_data).read_split("train"))
    assert len(list((Path(chain["oracle_gt_ir_walk"]) / "rw").glob("*.npz"))) == n_train
    # the rungs class by class in per_class.csv, for the baseline only; their means are the rungs
    import pandas as pd

    per_class = pd.read_csv(work / "results" / "per_class.csv")
    classes = ["background", *voc.open_tree(smoke_data).class_names]
    for rung in ("oracle_gt_boundary", "oracle_gt_ir"):
        mine = per_class[per_class["stage"] == rung]
        assert set(mine["variant"]) == {"cam"} and sorted(mine["class"]) == sorted(classes)
        assert mine["iou"].mean() == pytest.approx(cam[f"{rung}_miou"], abs=0.01)
    # confounder shares: four regions that sum to 100 for every method
    for r in rows.values():
        total = sum(r[f"cam_mass_{k}"] for k in ("body", "part", "context", "elsewhere"))
        assert total == pytest.approx(100.0, abs=0.01)
    # the masks' foreground errors: what is not an error is the class's precision, counted here
    tree = voc.open_tree(smoke_data)
    for r in rows.values():
        masks = Path(json.loads(r["stage_dirs"])["masks"]) / "pseudo_masks"
        hit = np.zeros(tree.num_classes + 1)
        pred = np.zeros(tree.num_classes + 1)
        for id_ in tree.read_split("train"):
            gt = voc.load_mask(tree.mask_path(id_), tree.num_classes)
            lab = np.asarray(Image.open(masks / f"{id_}.png"))[gt != 255]
            gt = gt[gt != 255]
            pred += np.bincount(lab, minlength=len(pred))
            hit += np.bincount(lab[lab == gt], minlength=len(hit))
        fg = pred[1:] > 0
        precision = 100 * np.mean(hit[1:][fg] / pred[1:][fg])
        errors = sum(r[f"pseudo_err_{e}"] for e in ("absent", "context", "object", "background"))
        assert 100 - errors == pytest.approx(precision, abs=0.01)
        assert r["pseudo_err_absent"] == 0.0


def test_seeds_cover_train_aug_with_reference_shapes(compared, smoke_data):
    _, rows = compared
    tree = voc.open_tree(smoke_data)
    ids = tree.read_split("train_aug")
    labels = voc.image_labels(tree, ids)
    for id_, label in list(zip(ids, labels, strict=True))[:10]:
        seed = cams.load_seed(Path(rows["c2am"]["seeds_dir"]) / "cams" / f"{id_}.npz")
        h, w = voc.load_image(tree.image_path(id_)).shape[:2]
        assert seed["keys"].tolist() == np.flatnonzero(label).tolist()
        assert seed["high_res"].shape == (len(seed["keys"]), h, w)
        assert seed["cam"].shape == (len(seed["keys"]), math.ceil(h / 4), math.ceil(w / 4))
        # per-class max-normalised (+1e-5): every map peaks just below 1 (or is all zero)
        peaks = seed["high_res"].reshape(len(seed["keys"]), -1).max(1)
        assert np.all((peaks > 0.99) | (peaks == 0))


def test_global_cam_only_from_the_baseline(compared, smoke_data):
    _, rows = compared
    gpath = Path(rows["cam"]["seeds_dir"]) / "global_cam.npz"
    g = cams.load_global_cam(gpath)
    k = voc.open_tree(smoke_data).num_classes
    assert g["all"].shape == g["by_class"].shape == (k, 128, 128)
    assert g["n_images"] == 48
    present = g["counts"] > 0
    ratio = g["counts"][present] / g["n_images"]
    np.testing.assert_allclose(
        g["all"][present], g["by_class"][present] * ratio[:, None, None], rtol=1e-5, atol=1e-7
    )
    assert not (Path(rows["c2am"]["seeds_dir"]) / "global_cam.npz").exists()
    c2am_cfg = (Path(rows["c2am"]["classifier_dir"]) / "config.py").read_text()
    assert str(gpath) in c2am_cfg
    # CAM+Constant and C2AM fine-tune the same baseline
    base = Path(rows["cam"]["classifier_dir"]) / "classifier.pth"
    for m in ("cam_constant", "c2am"):
        assert str(base) in (Path(rows[m]["classifier_dir"]) / "config.py").read_text()


def test_thresholds_chosen_on_held_out_images_are_reported_on_train(compared, smoke_data):
    """The fair protocol: t and sem_seg_bg picked on train_aug images outside train and val, and
    train's mIoU read at that pick: never above train's own best, equal to its curve there."""
    import pandas as pd

    from c2am_bench.datasets import voc
    from c2am_bench.heldout import heldout_ids

    tree = voc.open_tree(smoke_data)
    ids = heldout_ids(tree)
    assert ids and not set(ids) & (set(tree.read_split("train")) | set(tree.read_split("val")))
    work, rows = compared
    for r in rows.values():
        assert r["seed_miou_heldout"] <= r["seed_miou"] + 1e-9
        assert r["pseudo_miou_heldout"] <= r["pseudo_miou_best"] + 1e-9
        curve = pd.read_csv(Path(r["seeds_dir"]) / "seed_eval" / "curve.csv")
        at = curve.loc[(curve["threshold"] - r["seed_threshold_heldout"]).abs().idxmin(), "mIoU"]
        assert round(100 * at, 3) == r["seed_miou_heldout"]
        mcurve = pd.read_csv(Path(r["masks_dir"]) / "mask_eval" / "curve.csv")
        at = mcurve.loc[(mcurve["sem_seg_bg"] - r["sem_seg_bg_heldout"]).abs().idxmin(), "mIoU"]
        assert round(100 * at, 3) == r["pseudo_miou_heldout"]
        chain = json.loads(r["stage_dirs"])
        held = json.loads((Path(chain["heldout"]) / "metrics.json").read_text())
        assert held["n_images"] == len(ids)
        # the pick is the held-out curve's argmax
        hcurve = pd.read_csv(Path(chain["heldout"]) / "seeds" / "curve.csv")
        assert held["seeds"]["threshold"] == hcurve.loc[hcurve["mIoU"].idxmax(), "threshold"]


def test_rerun_reuses_everything(compared, smoke_data):
    work, rows = compared
    stamp = (Path(rows["c2am"]["classifier_dir"]) / "classifier.pth").stat().st_mtime_ns
    events = []
    runner = pipeline.Pipeline(smoke_data, StageCache(work / "cache"), profile="smoke",
                             on_event=lambda *e: events.append(e[3]))  # fmt: skip
    again = runner.run(pipeline.parse_method("c2am"), 0, "masks")
    assert again.runs[0]["seed_miou"] == rows["c2am"]["seed_miou"]
    assert again.runs[0]["pseudo_miou"] == rows["c2am"]["pseudo_miou"]
    assert set(events) == {"reused"}
    assert (Path(rows["c2am"]["classifier_dir"]) / "classifier.pth").stat().st_mtime_ns == stamp


def test_a_threshold_trial_reuses_classifier_global_cam_and_seeds(compared, smoke_data):
    work, rows = compared
    events = []
    runner = pipeline.Pipeline(smoke_data, StageCache(work / "cache"), profile="smoke",
                             on_event=lambda *e: events.append((e[1], e[3])))  # fmt: skip
    variant = pipeline.Variant("c2am", "c2am", irn={"sem_seg_bg": 0.35})
    out = runner.run(variant, 0, "masks").runs[0]
    computed = {stage for stage, what in events if what == "computing"}
    # sem_seg_bg only: the walk's scores are reused (the held-out choice and the masks' error
    # shares read the new masks)
    assert computed == {"masks", "heldout", "context_errors"}
    assert out["sem_seg_bg"] == 0.35 and out["seeds_dir"] == rows["c2am"]["seeds_dir"]
    events.clear()
    variant = pipeline.Variant("c2am", "c2am", irn={"conf_fg": 0.4, "conf_bg": 0.1})
    runner.run(variant, 0, "masks")
    computed = {stage for stage, what in events if what == "computing"}
    assert computed == {"ir_labels", "boundary_net", "boundary", "walk", "masks", "heldout",
                        "context_errors"}  # fmt: skip


def test_compare_with_crf_pseudo_masks_from_the_cli(compared, smoke_data, tmp_path, capsys):
    """``--methods cam,cam@crf``: the same seeds through IRN and through one dense-CRF pass; the
    CRF row has masks and their mIoU but no IR labels, boundary or walk; the report renders."""
    import pandas as pd

    work, rows = compared
    report = tmp_path / "report"
    args = ["compare", "--profile", "smoke", "--data", str(smoke_data), "--work-dir", str(work),
            "--methods", "cam,cam@crf", "--until", "masks", "--oracle", "none", "--name", "crf",
            "--report-dir", str(report)]  # fmt: skip
    assert main(["-q", *args]) == 0
    runs = pd.read_csv(work / "runs" / "crf" / "runs.csv").set_index("variant")
    cam, crf = runs.loc["cam"], runs.loc["cam@crf"]
    assert crf["label"] == "CAM (CRF masks)" and crf["seeds_dir"] == cam["seeds_dir"]
    assert crf["seed_miou"] == cam["seed_miou"] == rows["cam"]["seed_miou"]
    assert cam["pseudo_miou"] == rows["cam"]["pseudo_miou"]  # the IRN row is unchanged
    assert 0.0 < crf["pseudo_miou"] <= 100.0 and crf["seconds_pseudo_masks"] > 0
    for col in ("boundary_f", "ir_fg_precision", "seconds_walk"):
        assert pd.isna(crf[col]) and pd.notna(cam[col]), col
    assert "/crf_masks/" in crf["masks_dir"]
    assert "CAM (CRF masks)" in (report / "table.md").read_text()
    # the same with one option: every method's masks by CRF, names unchanged
    assert main(["-q", *args[:-8], "--methods", "cam", "--pseudo", "crf", "--until", "masks",
                 "--oracle", "none", "--name", "crf-all"]) == 0  # fmt: skip
    again = pd.read_csv(work / "runs" / "crf-all" / "runs.csv").set_index("variant")
    assert again.loc["cam", "pseudo_miou"] == crf["pseudo_miou"]
    assert json.loads((work / "runs" / "crf-all" / "context.json").read_text())["pseudo"] == "crf"


def test_a_method_from_outside_the_package_is_compared_from_the_cli(compared, smoke_data):
    """README "Extending": projects/mixed_pooling registers its head through custom_imports;
    ``--methods cam,mixed=config:FILE`` fine-tunes the cached baseline with it, as declared."""
    import pandas as pd

    work, rows = compared
    config = Path(__file__).resolve().parent.parent / (
        "projects/mixed_pooling/mixed-pooling_r18lite_ft6e_synthvoc-128.py")  # fmt: skip
    assert main(["-q", "compare", "--profile", "smoke", "--data", str(smoke_data), "--work-dir",
                 str(work), "--methods", f"cam,mixed=config:{config}", "--until", "seeds",
                 "--name", "mixed"]) == 0  # fmt: skip
    runs = pd.read_csv(work / "runs" / "mixed" / "runs.csv").set_index("variant")
    mixed = runs.loc["mixed"]
    assert mixed["method"] == "config" and 0.0 < mixed["seed_miou"] <= 100.0
    assert runs.loc["cam", "seed_miou"] == rows["cam"]["seed_miou"]  # the baseline is reused
    trained = (Path(mixed["classifier_dir"]) / "config.py").read_text()
    assert "MixedPoolingCAMHead" in trained and "c2am_method" not in trained
    # from_baseline=True: fine-tuned from the cached baseline classifier of the same seed
    assert str(Path(rows["cam"]["classifier_dir"]) / "classifier.pth") in trained
    assert "baseline_classifier" in json.loads(mixed["stage_dirs"])


_THRESHOLDED = """
import json

import numpy as np
from PIL import Image

from c2am_bench.ir_labels import label_split, seed_classes
from c2am_bench.stage_cache import stage_key
from c2am_bench.stages import PSEUDO_MASKS, STAGES, PseudoMaskMethod, Stage


def _label(img, seed, *, bg):
    keys1, high = seed_classes(img, seed)
    scores = np.concatenate([np.full((1, *high.shape[1:]), bg, np.float32), high])
    return keys1[np.argmax(scores, axis=0)]


@PSEUDO_MASKS.register_module(name="thresholded")
class ThresholdedSeeds(PseudoMaskMethod):
    def build(self, runner, variant, seed, seeds_dir):
        from c2am_bench.crf_masks import evaluate_masks

        def fill(tmp):
            label_split(_label, {"bg": 0.15}, runner.data_root, seeds_dir / "cams",
                        tmp / "pseudo_masks", split="train_aug", workers=1, progress=False)
            evaluate_masks(tmp, runner.data_root, split="train")

        key = stage_key("thresholded", seeds_dir.name)
        return {"masks": runner.cache.build("masks", key, fill)}


@STAGES.register_module(name="mask_area")
class MaskArea(Stage):
    \"\"\"The share of pseudo-mask pixels labelled foreground, a cached stage of its own.\"\"\"

    reads = ("masks",)
    folders = ("mask_area",)
    needs = "masks"

    def run(self, pipe, plan, dirs):
        masks = dirs["masks"] / "pseudo_masks"

        def fill(tmp):
            maps = [np.asarray(Image.open(p)) for p in sorted(masks.glob("*.png"))]
            fg = sum(int(((m > 0) & (m < 255)).sum()) for m in maps)
            share = fg / sum(m.size for m in maps)
            (tmp / "area.json").write_text(json.dumps({"fg_share": share}))

        key = stage_key("mask_area", dirs["masks"].name)
        return {"mask_area": pipe.cache.build("mask_area", key, fill)}

    def summarise(self, pipe, plan, dirs, out):
        area = json.loads((dirs["mask_area"] / "area.json").read_text())
        out.row["pseudo_fg_area"] = round(100 * area["fg_share"], 3)
"""


def test_a_pseudo_mask_method_registered_by_a_profile(compared, smoke_data, tmp_path):
    """A module beside a profile registers a pseudo-mask method (the seeds at t = 0.15, no
    refinement) and a stage (the masks' foreground share); ``--profile FILE --pseudo
    thresholded`` runs both: the masks score exactly the seeds' mIoU at t = 0.15, the stage's
    column is the share measured on the masks, ``--force`` knows its folder, and a run that
    stops at the seeds leaves it out."""
    import pandas as pd

    from c2am_bench.profiles import PROFILE_ROOT

    work, rows = compared
    (tmp_path / "thresholded_masks.py").write_text(_THRESHOLDED)
    profile = tmp_path / "smoke_thresholded.py"
    profile.write_text(f"_base_ = ['{PROFILE_ROOT / 'smoke.py'}']\n"
                       "custom_imports = dict(imports=['thresholded_masks'])\n"
                       "extra_stages = ['mask_area']\n")  # fmt: skip
    argv = [
        "-q",
        "compare",
        "--profile",
        str(profile),
        "--data",
        str(smoke_data),
        "--work-dir",
        str(work),
        "--methods",
        "cam",
        "--pseudo",
        "thresholded",
        "--oracle",
        "none",
    ]
    assert main([*argv, "--until", "masks", "--name", "thr", "--force", "mask_area"]) == 0
    run = pd.read_csv(work / "runs" / "thr" / "runs.csv").iloc[0]
    assert run["seeds_dir"] == rows["cam"]["seeds_dir"]  # the profile's stages are the smoke's
    assert run["pseudo_miou"] == pytest.approx(rows["cam"]["seed_miou_fixed"], abs=0.01)
    assert json.loads((work / "runs" / "thr" / "context.json").read_text())["pseudo"] == (
        "thresholded")  # fmt: skip
    maps = [np.asarray(Image.open(p))
            for p in sorted((Path(run["masks_dir"]) / "pseudo_masks").glob("*.png"))]  # fmt: skip
    fg = sum(int(((m > 0) & (m < 255)).sum()) for m in maps) / sum(m.size for m in maps)
    assert 0.0 < run["pseudo_fg_area"] < 100.0
    assert run["pseudo_fg_area"] == pytest.approx(100 * fg, abs=1e-3)
    assert "mask_area" in json.loads(run["stage_dirs"])
    assert main([*argv, "--until", "seeds", "--name", "thr-seeds"]) == 0
    short = pd.read_csv(work / "runs" / "thr-seeds" / "runs.csv").iloc[0]
    assert "pseudo_fg_area" not in short and "mask_area" not in json.loads(short["stage_dirs"])


def test_external_seeds_go_through_the_same_downstream(compared, smoke_data, tmp_path):
    import shutil

    _, rows = compared
    mine = tmp_path / "mycams"
    shutil.copytree(Path(rows["cam"]["seeds_dir"]) / "cams", mine)
    runner = pipeline.Pipeline(smoke_data, StageCache(tmp_path / "cache2"), profile="smoke")
    variant = pipeline.parse_method(f"mine=external:{mine}")
    out = runner.run(variant, 0, "seeds").runs[0]
    assert out["method"] == "external" and out["seed_miou"] == rows["cam"]["seed_miou"]
    victim = sorted(mine.glob("*.npz"))[0]
    victim.write_bytes(b"not a npz")
    with pytest.raises(DataError, match=victim.name):
        pipeline.Pipeline(smoke_data, StageCache(tmp_path / "cache3"), profile="smoke").run(
            variant, 0, "seeds"
        )
    victim.unlink()
    with pytest.raises(DataError, match="no seed for"):
        pipeline.Pipeline(smoke_data, StageCache(tmp_path / "cache4"), profile="smoke").run(
            variant, 0, "seeds"
        )


def test_cli_train_resume_continues(smoke_data, tmp_path, capsys):
    opts = [
        f"train_dataloader.dataset.data_root={smoke_data}",
        f"val_dataloader.dataset.data_root={smoke_data}",
        "model.head.num_classes=4", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "log_level=WARNING",
    ]  # fmt: skip
    cfg = "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py"
    work = tmp_path / "run"
    assert main(["cam", "train", cfg, "--work-dir", str(work), "--cfg-options", *opts,
                 "train_cfg.max_epochs=1"]) == 0  # fmt: skip
    assert json.loads((work / "metrics.json").read_text())["epochs"] == 1
    # A finished run is not overwritten without --resume ...
    assert main(["cam", "train", cfg, "--work-dir", str(work), "--cfg-options", *opts]) == 2
    # ... and --resume continues from epoch 1 to the new max_epochs.
    assert main(["cam", "train", cfg, "--work-dir", str(work), "--resume", "--cfg-options", *opts,
                 "train_cfg.max_epochs=2"]) == 0  # fmt: skip
    assert json.loads((work / "metrics.json").read_text())["epochs"] == 2


def test_irn_outputs_for_every_method(compared, smoke_data):
    from PIL import Image

    work, rows = compared
    tree = voc.open_tree(smoke_data)
    ids = tree.read_split("train_aug")
    cache = work / "cache"
    for r in rows.values():
        masks = Path(r["masks_dir"])
        info = json.loads((masks / "stage.json").read_text())
        walk = cache / "walk" / info["walk"]
        assert 0.0 <= r["pseudo_miou"] <= 100.0 and r["pseudo_miou_best"] >= r["pseudo_miou"]
        assert 0.0 <= r["pseudo_fg_precision"] <= 100 and 0.0 <= r["pseudo_fg_recall"] <= 100
        ir = next((cache / "ir_labels").glob("[0-9a-f]*"))
        assert sorted(p.stem for p in (ir / "ir_labels").glob("*.png")) == sorted(ids)
        boundary = next((cache / "boundary").glob("[0-9a-f]*")) / "boundary"
        for id_ in ids[:5]:
            h, w = voc.load_image(tree.image_path(id_)).shape[:2]
            mask = np.array(Image.open(masks / "pseudo_masks" / f"{id_}.png"))
            assert mask.shape == (h, w)
            assert set(np.unique(mask)) <= {0, *range(1, tree.num_classes + 1)}
            with np.load(walk / "rw" / f"{id_}.npz") as z:
                assert z["scores"].dtype == np.float16
                assert z["scores"].shape[1:] == (math.ceil(h / 4), math.ceil(w / 4))
                assert z["size"].tolist() == [h, w]
            with np.load(boundary / f"{id_}.npz") as z:
                b = z["boundary"].astype(np.float32)
                assert b.shape == (math.ceil(h / 4), math.ceil(w / 4))
                assert b.min() >= 0 and b.max() <= 1
        metrics = json.loads((masks / "mask_eval" / "metrics.json").read_text())
        assert round(100 * metrics["mIoU"], 3) == r["pseudo_miou"]


def _copy_seeds(rows, smoke_data, run: Path) -> Path:
    """A seeds run folder (``cams/`` + ``seeds.json``) copied from the baseline's cached seeds."""
    import shutil

    shutil.copytree(Path(rows["cam"]["seeds_dir"]) / "cams", run / "cams")
    (run / "seeds.json").write_text(json.dumps({"data_root": str(smoke_data)}))
    return run


def _irn_train_options(smoke_data, run: Path, rows) -> list[str]:
    """`irn train --cfg-options` for 1 smoke epoch on ``run``'s IR labels, in the main process."""
    return [
        f"train_dataloader.dataset.data_root={smoke_data}",
        f"train_dataloader.dataset.data_prefix.seg_map_path={run / 'ir_labels'}",
        f"model.backbone_checkpoint={Path(rows['cam']['classifier_dir']) / 'classifier.pth'}",
        "train_cfg.max_epochs=1", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "train_dataloader.batch_size=8",
    ]  # fmt: skip


def test_irn_cli_steps_with_other_thresholds(compared, smoke_data, tmp_path, capsys):

    _, rows = compared
    run = _copy_seeds(rows, smoke_data, tmp_path / "seeds")
    assert main(["irn", "labels", str(run), "--conf-fg", "0.2", "--conf-bg", "0.1",
                 "--workers", "1"]) == 0  # fmt: skip
    assert "fg_precision" in capsys.readouterr().out
    assert json.loads((run / "ir_labels.json").read_text())["conf_fg"] == 0.2
    irn = tmp_path / "irn"
    opts = _irn_train_options(smoke_data, run, rows)
    cfg = "mm_configs/irn/irn_r18lite_5e_synthvoc-128.py"
    assert main(["irn", "train", cfg, "--work-dir", str(irn), "--cfg-options", *opts]) == 0
    assert main(["irn", "masks", str(irn), "--cams", str(run / "cams"), "--data",
                 str(smoke_data), "--sem-seg-bg", "0.3"]) == 0  # fmt: skip
    metrics = json.loads((irn / "mask_eval" / "metrics.json").read_text())
    assert metrics["sem_seg_bg"] == 0.3 and 0 <= metrics["mIoU"] <= 1
    # the seg_map_path is required
    assert main(["irn", "train", cfg, "--work-dir", str(tmp_path / "x")]) == 2


@pytest.mark.slow
def test_boundary_net_data_parallel_on_cpu(compared, smoke_data, tmp_path):
    """`irn train --launcher pytorch` under torchrun (gloo, 2 processes): one run, data split."""
    import os
    import subprocess
    import sys

    _, rows = compared
    run = _copy_seeds(rows, smoke_data, tmp_path / "seeds")
    assert main(["irn", "labels", str(run), "--workers", "1"]) == 0
    opts = _irn_train_options(smoke_data, run, rows)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
           "--master_port=29563", "-m", "c2am_bench.cli", "-q", "irn", "train",
           "mm_configs/irn/irn_r18lite_5e_synthvoc-128.py", "--work-dir", str(tmp_path / "irn"),
           "--launcher", "pytorch", "--cfg-options", *opts]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, _torchrun_failure(proc.stderr)
    assert proc.stdout.count("trained ") == 1  # only rank 0 reports
    metrics = json.loads((tmp_path / "irn" / "metrics.json").read_text())
    n_train = len((smoke_data / "ImageSets/Segmentation/train_aug.txt").read_text().split())
    # batch 8 per process, 2 processes, drop_last: each process sees half the images
    assert metrics["iterations"] == (n_train // 2) // 8
    assert (tmp_path / "irn" / "boundary_net.pth").is_file()


def test_data_parallel_training_on_cpu(smoke_data, tmp_path):
    """Two processes under torchrun (gloo): one run, one metrics.json, the data split in two."""
    import os
    import subprocess
    import sys

    opts = [
        f"train_dataloader.dataset.data_root={smoke_data}",
        f"val_dataloader.dataset.data_root={smoke_data}",
        "model.head.num_classes=4", "train_cfg.max_epochs=1", "train_dataloader.batch_size=8",
        "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False",
    ]  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                "--master_port=29561"]  # fmt: skip
    cmd = [*torchrun, "-m", "c2am_bench.cli", "-q", "cam", "train",
           "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py", "--work-dir", str(tmp_path / "ddp"),
           "--launcher", "pytorch", "--cfg-options", *opts]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, _torchrun_failure(proc.stderr)
    assert proc.stdout.count("trained ") == 1  # rank 0 reports
    metrics = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    # 48 train_aug images, batch 8 per process, 2 processes -> 3 iterations per epoch
    assert metrics["iterations"] == 3


def _torchrun_failure(stderr: str) -> str:
    """A failed torchrun's error lines from every rank (its summary names only signals)."""
    marks = ("Error", "error:", "terminate called", "what():", "Exception", "Aborted")
    errors = [line for line in stderr.splitlines() if any(m in line for m in marks)]
    return "\n".join([*errors[:40], "--- tail ---", stderr[-1500:]])
