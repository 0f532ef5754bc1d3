"""Final segmentation evaluation (plain / TTA / CRF), `seg test`, and mmseg's own tools/train.py."""

from __future__ import annotations

import copy
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from mmseg.registry import MODELS
from PIL import Image

import c2am_bench.models.deeplabv2  # noqa: F401 - registers DeepLabV2Head, BalancedCrossEntropyLoss
from c2am_bench import seg_eval
from c2am_bench.cli import main
from c2am_bench.dense_crf import DEEPLAB_CRF, crf_refine_probs
from c2am_bench.errors import CheckpointError, ConfigError, DataError
from c2am_bench.seg_eval import evaluate_segmentor

ROOT = Path(__file__).resolve().parent.parent
CPU_CFG = ROOT / "mm_configs/seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py"
VOC_CFG = ROOT / "mm_configs/seg/deeplabv2_r101-d8_30k_voc12aug-321.py"
KEYS = {"miou", "aAcc", "per_class_iou", "fg_precision", "fg_recall", "n_images", "tta", "crf",
        "split", "crf_params", "seconds"}  # fmt: skip


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 4-val-image smoke SynthVOC (48 px, K = 4)."""
    from c2am_bench.datasets.synthvoc import generate, make_config

    root = tmp_path_factory.mktemp("seg_eval") / "synthvoc"
    generate(make_config("smoke", n_train=4, n_val=4), root, progress=False)
    return root


def _classes(root: Path) -> list[str]:
    return ["background", *json.loads((root / "synthvoc.json").read_text())["class_names"]]


def make_run(run_dir: Path, n_classes: int, *, edit=None, options=None, seed=0,
             weights_classes=None) -> Path:  # fmt: skip
    """The layout `seg train` leaves (config.py + segmentor.pth), with random weights."""
    cfg = Config.fromfile(str(CPU_CFG))
    cfg.merge_from_dict({"model.decode_head.num_classes": n_classes, **(options or {})})
    torch.manual_seed(seed)
    model_cfg = cfg.model.copy()
    if weights_classes is not None:
        model_cfg.decode_head = {**model_cfg.decode_head, "num_classes": weights_classes}
    with DefaultScope.overwrite_default_scope("mmseg"):  # module fixtures run outside conftest's
        model = MODELS.build(model_cfg)
    if edit is not None:
        edit(model)
    run_dir.mkdir(parents=True)
    torch.save(model.state_dict(), run_dir / "segmentor.pth")
    cfg.dump(str(run_dir / "config.py"))
    return run_dir


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "random", len(_classes(data)))


def _constant(label: int):
    """Zero weights and a bias for ``label``: every pixel, scale and flip predicts ``label``."""

    def edit(model):
        with torch.no_grad():
            for branch in model.decode_head.branches:
                branch.weight.zero_()
                branch.bias.zero_()
            model.decode_head.branches[0].bias[label] = 5.0

    return edit


# --------------------------------------------------------------------------- dense CRF


def test_crf_snaps_noisy_probabilities_to_image_edges():
    rng = np.random.default_rng(0)
    h, w = 24, 32
    truth = np.zeros((h, w), np.int64)
    truth[:, w // 2 :] = 1
    img = np.where(truth[..., None] == 1, 220, 30).astype(np.uint8).repeat(3, axis=2)
    # weakly right everywhere, weakly wrong on a random 30% of the pixels
    p_true = np.where(rng.random((h, w)) < 0.3, 0.45, 0.6)
    probs = np.stack([np.where(truth == 0, p_true, 1 - p_true),
                      np.where(truth == 1, p_true, 1 - p_true)]).astype(np.float32)  # fmt: skip
    before = probs.argmax(0)
    q = crf_refine_probs(img, probs, **DEEPLAB_CRF)
    assert q.shape == probs.shape and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(0), 1.0, atol=1e-4)
    after = q.argmax(0)
    assert (before != after).sum() > 0.2 * h * w  # the CRF changed the prediction ...
    assert (after == truth).mean() > 0.99  # ... into the image's two regions
    assert (before == truth).mean() < 0.75


def test_crf_rejects_mismatched_inputs():
    img = np.zeros((4, 5, 3), np.uint8)
    with pytest.raises(ValueError, match="probs must be"):
        crf_refine_probs(img, np.full((2, 5, 4), 0.5, np.float32))
    with pytest.raises(ValueError, match="uint8"):
        crf_refine_probs(img.astype(np.float32), np.full((2, 4, 5), 0.5, np.float32))
    with pytest.raises(ValueError, match="finite"):
        crf_refine_probs(img, np.full((2, 4, 5), np.nan, np.float32))


# --------------------------------------------------------------------------- configs


@pytest.mark.parametrize("path", [CPU_CFG, VOC_CFG], ids=["cpu", "voc"])
def test_seg_configs_carry_mmseg_tta(path):
    cfg = Config.fromfile(str(path))
    assert cfg.tta_model.type == "SegTTAModel"
    (load, aug) = cfg.tta_pipeline
    assert load.type == "LoadImageFromFile" and aug.type == "TestTimeAug"
    resizes, flips, *_ = aug.transforms
    assert [r.scale_factor for r in resizes] == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert sorted(f.prob for f in flips) == [0.0, 1.0]
    # runs whose config.py predates tta_* fall back to the same settings
    source = Config.fromfile(str(seg_eval._TTA_SOURCE))
    assert source.tta_pipeline == cfg.tta_pipeline and source.tta_model == cfg.tta_model


# --------------------------------------------------------------------------- evaluate_segmentor


def test_metrics_keys_ranges_and_file(run, data, tmp_path):
    m = evaluate_segmentor(run, data, out_dir=tmp_path / "ev")
    assert set(m) == KEYS
    assert (m["split"], m["tta"], m["crf"], m["n_images"], m["crf_params"]) == (
        "val", False, False, 4, None)  # fmt: skip
    for key in ("miou", "aAcc", "fg_precision", "fg_recall"):
        assert 0.0 <= m[key] <= 1.0, key
    assert list(m["per_class_iou"]) == _classes(data)
    values = [v for v in m["per_class_iou"].values() if v is not None]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert m["miou"] == pytest.approx(np.mean(values))
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text()) == m
    assert [p.name for p in (tmp_path / "ev").iterdir()] == ["metrics.json"]  # no temp file left


@pytest.mark.parametrize("tta, crf", [(False, False), (True, False), (False, True), (True, True)])
def test_constant_segmentor_matches_hand_count(data, tmp_path, tta, crf):
    from c2am_bench.datasets import voc

    names = _classes(data)
    c = 2
    run = make_run(tmp_path / "const", len(names), edit=_constant(c))
    m = evaluate_segmentor(run, data, tta=tta, crf=crf)
    tree = voc.open_tree(data)
    gts = [voc.load_mask(tree.mask_path(i), tree.num_classes) for i in tree.read_split("val")]
    valid = sum(int((g != 255).sum()) for g in gts)
    tp = sum(int((g == c).sum()) for g in gts)
    gt_fg = sum(int(((g > 0) & (g != 255)).sum()) for g in gts)
    assert m["fg_precision"] == pytest.approx(tp / valid)  # every valid pixel predicted c
    assert m["fg_recall"] == pytest.approx(tp / gt_fg)
    assert m["per_class_iou"][names[c]] == pytest.approx(tp / valid)
    assert m["per_class_iou"]["background"] == 0.0
    assert m["aAcc"] == pytest.approx(tp / valid)
    assert (m["tta"], m["crf"]) == (tta, crf)
    assert m["crf_params"] == (DEEPLAB_CRF if crf else None)


def test_fg_precision_recall_on_a_hand_made_pair(tmp_path, monkeypatch):
    root = tmp_path / "tiny"
    for d in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / d).mkdir(parents=True)
    (root / "synthvoc.json").write_text(json.dumps({"class_names": ["cat", "dog"]}))
    (root / "ImageSets/Segmentation/val.txt").write_text("a\n")
    Image.fromarray(np.zeros((2, 4, 3), np.uint8)).save(root / "JPEGImages/a.jpg")
    gt = np.array([[0, 1, 2, 2], [2, 0, 0, 255]], np.uint8)
    Image.fromarray(gt, mode="L").save(root / "SegmentationClass/a.png")
    pred = np.array([[0, 1, 1, 2], [2, 2, 0, 1]])

    class Head:
        num_classes = 3

    class Model:
        decode_head = Head()

    monkeypatch.setattr(seg_eval, "load_segmentor", lambda run_dir: (Model(), None))
    one_hot = np.eye(3, dtype=np.float32)[pred].transpose(2, 0, 1)
    monkeypatch.setattr(seg_eval, "_predictor", lambda *a: lambda info: one_hot)
    m = evaluate_segmentor(tmp_path / "run", root)
    # valid pixels: all but the last. Predicted cat 2 (1 right), dog 3 (2 right);
    # GT cat 1, dog 3. Precision (1 + 2) / (2 + 3), recall (1 + 2) / (1 + 3).
    assert m["fg_precision"] == pytest.approx(3 / 5)
    assert m["fg_recall"] == pytest.approx(3 / 4)
    assert m["per_class_iou"] == pytest.approx({"background": 2 / 3, "cat": 1 / 2, "dog": 2 / 4})
    assert m["n_images"] == 1


def test_tta_with_one_augmentation_equals_plain(run, data, tmp_path):
    one = [dict(type="LoadImageFromFile"),
           dict(type="TestTimeAug", transforms=[
               [dict(type="Resize", scale_factor=1.0, keep_ratio=True)],
               [dict(type="RandomFlip", prob=0.0, direction="horizontal")],
               [dict(type="LoadAnnotations")], [dict(type="PackSegInputs")]])]  # fmt: skip
    single = make_run(tmp_path / "single", len(_classes(data)), options={"tta_pipeline": one})
    plain = evaluate_segmentor(single, data)
    tta = evaluate_segmentor(single, data, tta=True)
    for key in ("miou", "aAcc", "fg_precision", "fg_recall", "per_class_iou"):
        assert tta[key] == pytest.approx(plain[key]), key
    full = evaluate_segmentor(run, data, tta=True)
    assert full["n_images"] == 4 and 0.0 <= full["miou"] <= 1.0


def test_tta_averages_the_flipped_prediction_flipped_back(run, data, tmp_path):
    """mmseg's TTA undoes the flip: mean of p(x) and flip(p(flip(x))), by hand."""
    from c2am_bench.datasets import voc

    model, cfg = seg_eval.load_segmentor(run, device="cpu")
    tree = voc.open_tree(data)
    id_ = tree.read_split("val")[0]
    rgb = voc.load_image(tree.image_path(id_))
    info = dict(seg_map_path=str(tree.mask_path(id_)), label_map=None, reduce_zero_label=False,
                seg_fields=[])  # fmt: skip
    paths = {}
    for name, arr in (("a", rgb), ("b", rgb[:, ::-1])):  # lossless copies, so both see the same
        paths[name] = str(tmp_path / f"{name}.png")
        Image.fromarray(np.ascontiguousarray(arr)).save(paths[name])
    plain = seg_eval._predictor(model, cfg, run, tta=False)
    expected = (plain({**info, "img_path": paths["a"]})
                + plain({**info, "img_path": paths["b"]})[:, :, ::-1]) / 2  # fmt: skip
    flip_only = copy.deepcopy(cfg)
    flip_only.tta_pipeline[1].transforms[0] = [dict(type="Resize", scale_factor=1.0,
                                                    keep_ratio=True)]  # fmt: skip
    got = seg_eval._predictor(model, flip_only, run, tta=True)({**info, "img_path": paths["a"]})
    assert got.shape == expected.shape == (len(_classes(data)), *rgb.shape[:2])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert not np.allclose(expected, plain({**info, "img_path": paths["a"]}), atol=1e-3)


def test_crf_on_a_segmentor_changes_its_output(run, data):
    plain = evaluate_segmentor(run, data)
    crf = evaluate_segmentor(run, data, crf=True)
    assert crf["crf"] and crf["crf_params"] == DEEPLAB_CRF
    assert crf["per_class_iou"] != plain["per_class_iou"]


def test_run_without_tta_settings_falls_back_to_the_configs(run, data, tmp_path, caplog):
    old = tmp_path / "old"
    old.mkdir()
    settings = Config.fromfile(str(run / "config.py")).to_dict()
    del settings["tta_model"], settings["tta_pipeline"]
    Config(settings).dump(str(old / "config.py"))
    (old / "segmentor.pth").write_bytes((run / "segmentor.pth").read_bytes())
    with caplog.at_level(logging.WARNING, logger="c2am_bench.seg_eval"):
        m = evaluate_segmentor(old, data, tta=True)
    assert "no tta_model/tta_pipeline" in caplog.text
    assert m["miou"] == pytest.approx(evaluate_segmentor(run, data, tta=True)["miou"])


def test_bad_inputs_are_one_line_errors_naming_the_file(run, data, tmp_path):
    with pytest.raises(ConfigError, match="nowhere: run folder not found"):
        evaluate_segmentor(tmp_path / "nowhere", data)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="config.py: not found"):
        evaluate_segmentor(empty, data)
    (empty / "config.py").write_text((run / "config.py").read_text())
    with pytest.raises(ConfigError, match="segmentor.pth: not found"):
        evaluate_segmentor(empty, data)
    (empty / "segmentor.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="segmentor.pth: "):
        evaluate_segmentor(empty, data)
    n = len(_classes(data))
    mismatch = make_run(tmp_path / "mismatch", n, weights_classes=n + 1)
    with pytest.raises(CheckpointError, match="segmentor.pth: does not match"):
        evaluate_segmentor(mismatch, data)
    wrong_k = make_run(tmp_path / "k", n + 2)
    with pytest.raises(ConfigError, match=f"predicts {n + 2} classes"):
        evaluate_segmentor(wrong_k, data)
    with pytest.raises(DataError, match="missing-data: data root does not exist"):
        evaluate_segmentor(run, tmp_path / "missing-data")
    with pytest.raises(DataError, match="test.txt: split file missing"):
        evaluate_segmentor(run, data, split="test")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ConfigError, match="a-file/ev/metrics.json: cannot write"):
        evaluate_segmentor(run, data, out_dir=tmp_path / "a-file" / "ev")
    for err in (ConfigError, DataError, CheckpointError):
        assert issubclass(err, seg_eval.C2AMError)


# --------------------------------------------------------------------------- CLI


def test_cli_seg_test_writes_metrics_and_refuses_to_overwrite(run, data, tmp_path, capsys):
    out = tmp_path / "cli-ev"
    proc = subprocess.run([sys.executable, "-m", "c2am_bench.cli", "seg", "test", str(run),
                           "--data", str(data), "--out", str(out)],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_images"] == 4 and not m["tta"] and not m["crf"]
    assert "mIoU" in proc.stdout and "fg precision" in proc.stdout
    assert all(name in proc.stdout for name in _classes(data))
    before = (out / "metrics.json").read_text()
    assert main(["seg", "test", str(run), "--data", str(data), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--force" in err
    assert (out / "metrics.json").read_text() == before
    args = ["seg", "test", str(run), "--data", str(data), "--crf", "--force"]
    assert main(args) == 0  # default out: RUN/eval-val-crf
    assert json.loads((run / "eval-val-crf" / "metrics.json").read_text())["crf"] is True
    assert main(args[:-1]) == 2
    assert main(args) == 0


def test_default_out_dir_names_the_modes(tmp_path):
    f = seg_eval.default_out_dir
    assert f(tmp_path, "val", tta=False, crf=False) == tmp_path / "eval-val"
    assert f(tmp_path, "train", tta=True, crf=True) == tmp_path / "eval-train-tta-crf"


# --------------------------------------------------------------------------- mmseg tools/train.py


@pytest.mark.slow
def test_mmseg_train_tool_runs_the_cpu_config_unchanged(data, tmp_path):
    """mmseg's own `tools/train.py`, unmodified, trains our config (custom_imports finds our
    components; on a machine without CUDA mmengine picks the CPU and never starts NCCL)."""
    import mmseg

    tool = Path(mmseg.__file__).parent / ".mim" / "tools" / "train.py"
    assert tool.is_file()
    classes = "(" + ",".join(_classes(data)) + ")"
    loaders = ("train_dataloader", "val_dataloader", "test_dataloader")
    options = [
        f"model.decode_head.num_classes={len(_classes(data))}",
        "train_dataloader.dataset.data_prefix.seg_map_path=SegmentationClassAug",
        "train_dataloader.batch_size=2",
        "train_cfg.max_iters=3", "train_cfg.val_interval=3", "param_scheduler.0.end=3",
        "default_hooks.logger.interval=1", "log_level=WARNING",
        *[f"{k}.dataset.data_root={data}" for k in loaders],
        *[f"{k}.dataset.metainfo.classes={classes}" for k in loaders],
        *[f"{k}.num_workers=0" for k in loaders],
        *[f"{k}.persistent_workers=False" for k in loaders],
    ]  # fmt: skip
    work = tmp_path / "work"
    proc = subprocess.run([sys.executable, str(tool), str(CPU_CFG), "--work-dir", str(work),
                           "--cfg-options", *options],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "iter_3.pth").is_file()
    assert (work / "last_checkpoint").read_text().strip().endswith("iter_3.pth")
