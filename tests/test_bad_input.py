"""Issue 7's bad-input contract, through the real command line (``c2am_bench.cli.main``).

Every bad input gets exit code 2 and ONE stderr line ``error: ...`` that names the culprit (file,
key or value), and leaves nothing half-written: each test runs in an empty ``tmp_path`` as the
working directory and compares a listing of it (and of any other output path) before and after.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from c2am_bench import cams
from c2am_bench.cli import main
from c2am_bench.datasets import synthvoc, voc
from c2am_bench.datasets.voc_meta import flat_palette

REPO = Path(__file__).resolve().parent.parent
CAM_CFG = REPO / "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py"
C2AM_CFG = REPO / "mm_configs/cam/c2am_r18lite_ft6e_synthvoc-128.py"
IRN_CFG = REPO / "mm_configs/irn/irn_r18lite_5e_synthvoc-128.py"
SEG_CFG = REPO / "mm_configs/seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py"
K = 4  # classes of the smoke profile


# --------------------------------------------------------------------------- helpers


def _listing(root: Path) -> list[tuple[str, int]]:
    """Every path under ``root`` with its size (dirs: -1), so a new, removed or rewritten file
    shows up as a difference."""
    if not root.exists():
        return []
    return sorted(
        (str(p.relative_to(root)), -1 if p.is_dir() else p.stat().st_size) for p in root.rglob("*")
    )


def refused(capsys, root: Path, args: list, *culprits: str, extra: tuple[Path, ...] = ()) -> str:
    """Run the CLI; assert exit 2, one ``error:`` line naming every culprit, nothing written.

    Returns:
        The error line.
    """
    before = _listing(root)
    extra_before = [_listing(p) if p.is_dir() else p.exists() for p in extra]
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # argparse's usage errors leave through parser.error()
        code = exc.code
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    for culprit in culprits:
        assert str(culprit) in lines[0], (culprit, lines[0])
    assert _listing(root) == before, "output left behind"
    assert [_listing(p) if p.is_dir() else p.exists() for p in extra] == extra_before
    return lines[0]


@pytest.fixture
def cwd(tmp_path, monkeypatch) -> Path:
    """An empty working dir: default outputs (work_dirs/, reports/) would land here."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def data(cwd) -> Path:
    """A fresh smoke SynthVOC (8 train_aug, 2 train, 2 val images of 48 px, K=4)."""
    root = cwd / "data"
    synthvoc.generate(synthvoc.make_config("smoke", n_train=8, n_val=2), root, progress=False)
    return root


def _gt_seeds(root: Path, cams_dir: Path, split: str = "train_aug") -> list[str]:
    """Seeds whose maps are the ground-truth masks of each image (what IRN would want)."""
    tree = voc.open_tree(root)
    ids = tree.read_split(split)
    for id_ in ids:
        gt = voc.load_mask(tree.mask_path(id_, prefer_aug=True), tree.num_classes)
        keys = np.flatnonzero(voc.labels_from_mask(gt, tree.num_classes))
        high = np.stack([(gt == k + 1).astype(np.float32) for k in keys]) if keys.size else (
            np.zeros((0, *gt.shape), np.float32))  # fmt: skip
        cams.save_seed(cams_dir / f"{id_}.npz",
                       {"keys": keys, "cam": high[:, ::4, ::4], "high_res": high})  # fmt: skip
    return ids


def _cls_options(root: Path) -> list[str]:
    """``--cfg-options`` that point a SynthVOC classifier config at ``root`` (K=4, no workers)."""
    return [
        f"train_dataloader.dataset.data_root={root}", f"val_dataloader.dataset.data_root={root}",
        f"model.head.num_classes={K}", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "log_level=WARNING",
    ]  # fmt: skip


def _classifier_state(num_classes: int) -> dict:
    """A freshly built (untrained) SynthVOC classifier's state dict."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import c2am_bench.models  # noqa: F401 - registers the classifier

    cfg = Config.fromfile(str(CAM_CFG))
    init_default_scope("mmseg")
    cfg.model.head.num_classes = num_classes
    torch.manual_seed(0)
    return MODELS.build(cfg.model).state_dict()


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory) -> Path:
    """A ``cam train`` work dir holding an untrained classifier (config.py + classifier.pth)."""
    from mmengine.config import Config

    run = tmp_path_factory.mktemp("fake_run")
    cfg = Config.fromfile(str(CAM_CFG))
    cfg.model.head.num_classes = K
    cfg.dump(str(run / "config.py"))
    torch.save(_classifier_state(K), run / "classifier.pth")
    return run


def _write_global_cam(path: Path, names: list[str], *, bad: float | None = None) -> None:
    """A Global CAM file of random maps for every class; with ``bad`` written into 'all'."""
    rng = np.random.default_rng(0)
    acc = cams.GlobalCAMAccumulator(len(names), 8, names)
    for _ in range(3):
        labels = np.ones(len(names), np.int64)
        acc.add([torch.from_numpy(rng.random((len(names), 8, 8), dtype=np.float32))], labels)
    acc.save(path)
    if bad is not None:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["all"][1, 2, 3] = bad
        np.savez(path, **arrays)


# --------------------------------------------------------------------------- 1. data root


@pytest.mark.parametrize(
    "command",
    [
        ["data", "check", "{missing}"],
        ["data", "show", "{missing}", "--out", "grid.png"],
        ["cam", "seeds", "{run}", "--data", "{missing}"],
        ["cam", "eval", "{cwd}", "--data", "{missing}"],
        ["irn", "labels", "{cwd}", "--data", "{missing}", "--workers", "1"],
        ["irn", "masks", "{cwd}", "--cams", "{cwd}", "--data", "{missing}"],
        ["cam", "train", str(CAM_CFG), "--cfg-options", *_cls_options(Path("{missing}"))],
    ],
    ids=["data-check", "data-show", "cam-seeds", "cam-eval", "irn-labels", "irn-masks",
         "cam-train"],
)  # fmt: skip
def test_missing_data_root(cwd, fake_run, capsys, command):
    missing = cwd / "no_such_data"
    args = [a.format(missing=missing, run=fake_run, cwd=cwd) for a in command]
    refused(capsys, cwd, args, missing, "does not exist", extra=(fake_run,))


def test_data_root_without_jpeg_images(cwd, capsys):
    (cwd / "empty_root").mkdir()
    refused(capsys, cwd, ["data", "check", cwd / "empty_root"], "JPEGImages")


# --------------------------------------------------------------------------- 2-7. the tree


def test_missing_split_file(data, capsys):
    (data / "ImageSets/Segmentation/train.txt").unlink()
    line = refused(capsys, data.parent, ["data", "check", data, "--splits", "train"], "train.txt")
    assert "split file missing" in line and "train_aug" in line  # lists the splits present
    # the seed evaluation reads split 'train' by default
    refused(capsys, data.parent, ["cam", "eval", data.parent, "--data", data], "train.txt")


def test_image_listed_but_absent(data, capsys):
    id_ = voc.open_tree(data).read_split("train")[1]
    (data / "JPEGImages" / f"{id_}.jpg").unlink()
    line = refused(capsys, data.parent, ["data", "check", data], f"JPEGImages/{id_}.jpg")
    assert "listed in split 'train'" in line


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_corrupt_jpeg(data, capsys, damage):
    id_ = voc.open_tree(data).read_split("val")[0]
    path = data / "JPEGImages" / f"{id_}.jpg"
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": b"\x00garbage" * 64,
                      "empty": b""}[damage])  # fmt: skip
    refused(capsys, data.parent, ["data", "check", data], f"JPEGImages/{id_}.jpg", "corrupt")


def _save_p_mask(arr: np.ndarray, path: Path) -> None:
    im = Image.fromarray(arr, mode="L").convert("P")
    im.putpalette(flat_palette())
    im.save(path)


def test_mask_of_wrong_size(data, capsys):
    id_ = voc.open_tree(data).read_split("val")[1]
    path = data / "SegmentationClass" / f"{id_}.png"
    _save_p_mask(np.zeros((10, 12), np.uint8), path)
    line = refused(capsys, data.parent, ["data", "check", data], f"SegmentationClass/{id_}.png")
    assert "10x12" in line and f"{id_}.jpg" in line


@pytest.mark.parametrize("value", [K + 1, 254])
def test_mask_label_out_of_range(data, capsys, value):
    id_ = voc.open_tree(data).read_split("train")[0]
    path = data / "SegmentationClass" / f"{id_}.png"
    with Image.open(path) as im:
        mask = np.array(im)
    mask[0, :3] = value
    mask[1, :3] = 255  # void is allowed
    _save_p_mask(mask, path)
    line = refused(capsys, data.parent, ["data", "check", data], f"{id_}.png", str(value))
    assert f"outside 0..{K}" in line


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_split(data, capsys, content):
    (data / "ImageSets/Segmentation/val.txt").write_text(content)
    line = refused(capsys, data.parent, ["data", "check", data], "val.txt")
    assert "split 'val' is empty" in line
    refused(capsys, data.parent, ["data", "show", data, "--out", "grid.png"], "val.txt")


def test_empty_training_split_leaves_no_run(data, capsys):
    """Found only when the Runner builds its dataset, after it made the (default) work dir:
    the folders this call made are removed again."""
    (data / "ImageSets/Segmentation/train_aug.txt").write_text("\n")
    args = ["cam", "train", CAM_CFG, "--cfg-options", *_cls_options(data),
            "visualizer.name=test_bad_input-empty-split"]  # fmt: skip
    refused(capsys, data.parent, args, "train_aug.txt", "is empty")
    assert not (data.parent / "work_dirs").exists()


# --------------------------------------------------------------------------- 8. Global CAM


def test_class_without_training_image_has_no_global_cam(data, fake_run, capsys):
    """Drop every train_aug image of class 2: the seeds still come (with a warning), but C2AM
    refuses a Global CAM that is empty for that class, naming it."""
    tree = voc.open_tree(data)
    name = tree.class_names[1]
    split = data / "ImageSets/Segmentation/train_aug.txt"
    ids = tree.read_split("train_aug")
    kept = [i for i, y in zip(ids, voc.image_labels(tree, ids), strict=True) if not y[1]]
    assert kept and len(kept) < len(ids)
    split.write_text("\n".join(kept) + "\n")
    out = data.parent / "seeds"
    args = ["cam", "seeds", fake_run, "--data", data, "--out", out, "--global-cam", "16",
            "--scales", "1.0", "--batch-size", "4"]  # fmt: skip
    assert main([str(a) for a in args]) == 0
    assert cams.load_global_cam(out / "global_cam.npz")["counts"][1] == 0
    line = refused(capsys, data.parent, ["cam", "train", C2AM_CFG, "--cfg-options",
                   *_cls_options(data), f"model.head.global_cam={out / 'global_cam.npz'}",
                   f"load_from={fake_run / 'classifier.pth'}"], name, "global_cam.npz")  # fmt: skip
    assert "all zero" in line


# --------------------------------------------------------------------------- 9. NaN / Inf


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
@pytest.mark.parametrize("command", ["cam-eval", "irn-labels"])
def test_non_finite_seed(data, capsys, bad, command):
    run = data.parent / "run"
    ids = _gt_seeds(data, run / "cams")
    victim = voc.open_tree(data).read_split("train")[1]
    seed = cams.load_seed(run / "cams" / f"{victim}.npz")
    seed["high_res"][0, 5, 5] = bad
    cams.save_seed(run / "cams" / f"{victim}.npz", seed)
    assert victim in ids
    args = {
        "cam-eval": ["cam", "eval", run, "--data", data],
        "irn-labels": ["irn", "labels", run, "--data", data, "--workers", "1"],
    }[command]
    line = refused(capsys, data.parent, args, f"cams/{victim}.npz")
    assert "NaN or infinite" in line


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_global_cam(data, fake_run, capsys, bad):
    path = data.parent / "global_cam.npz"
    _write_global_cam(path, list(voc.open_tree(data).class_names), bad=bad)
    line = refused(capsys, data.parent, ["cam", "train", C2AM_CFG, "--cfg-options",
                   *_cls_options(data), f"model.head.global_cam={path}"],
                   "global_cam.npz")  # fmt: skip
    assert "NaN or infinite" in line


# --------------------------------------------------------------------------- 10-11. values


@pytest.mark.parametrize("gamma", ["0", "-1.5", "nan"])
def test_gamma_must_be_positive(data, capsys, gamma):
    path = data.parent / "global_cam.npz"
    _write_global_cam(path, list(voc.open_tree(data).class_names))
    line = refused(capsys, data.parent, ["cam", "train", C2AM_CFG, "--cfg-options",
                   *_cls_options(data), f"model.head.global_cam={path}",
                   f"model.head.gamma={gamma}"], "gamma")  # fmt: skip
    assert "positive" in line


@pytest.mark.parametrize(
    "command, culprit",
    [
        (["irn", "labels", "{run}", "--conf-fg", "1.5"], "--conf-fg"),
        (["irn", "labels", "{run}", "--conf-bg", "-0.1"], "--conf-bg"),
        (["irn", "labels", "{run}", "--conf-fg", "high"], "--conf-fg"),
        (["irn", "labels", "{run}", "--conf-fg", "0.1", "--conf-bg", "0.2"], "conf_bg"),
        (["irn", "labels", "{run}", "--conf-fg", "0.2", "--conf-bg", "0.2"], "conf_bg"),
        (["irn", "masks", "{run}", "--cams", "{run}/cams", "--data", "{data}",
          "--sem-seg-bg", "1.2"], "--sem-seg-bg"),
        (["irn", "masks", "{run}", "--cams", "{run}/cams", "--data", "{data}",
          "--sem-seg-bg", "-0.5"], "--sem-seg-bg"),
        (["cam", "eval", "{run}", "--data", "{data}", "--fixed-threshold", "2"],
         "--fixed-threshold"),
    ],
    ids=["fg>1", "bg<0", "fg-nan", "bg>fg", "bg=fg", "sem>1", "sem<0", "eval-t>1"],
)  # fmt: skip
def test_thresholds(data, capsys, command, culprit):
    run = data.parent / "run"
    _gt_seeds(data, run / "cams")
    (run / "seeds.json").write_text(f'{{"data_root": "{data}"}}\n')
    args = [a.format(run=run, data=data) for a in command]
    refused(capsys, data.parent, args, culprit)


# --------------------------------------------------------------------------- 12-13. options


@pytest.mark.parametrize("option", ["foo", "=2", "model.head.gamma"])
def test_malformed_cfg_options(cwd, capsys, option):
    refused(
        capsys, cwd, ["cam", "train", C2AM_CFG, "--cfg-options", option], f"'{option}'", "KEY=VALUE"
    )


@pytest.mark.parametrize(
    "config, option, hint",
    [
        (C2AM_CFG, "model.head.gammma=2", "'gamma'"),
        (C2AM_CFG, "modle.head.gamma=2", "'model'"),
        (CAM_CFG, "train_dataloader.dataset.data_rooot=x", "'data_root'"),
        (CAM_CFG, "optim_wrapper.optimizer.lrr=0.1", "'lr'"),
        (CAM_CFG, "param_scheduler.0.powr=2", "'power'"),
        (CAM_CFG, "param_scheduler.3.power=2", "index"),
        (IRN_CFG, "train_dataloader.dataset.data_prefix.seg_map_pth=x", "'seg_map_path'"),
        (CAM_CFG, "randomness.sed=1", "'seed'"),
        (CAM_CFG, "train_cfg.max_epoch=1", "'max_epochs'"),
        (IRN_CFG, "val_dataloader.batch_size=1", "None"),
    ],
)  # fmt: skip
def test_unknown_config_key(cwd, capsys, config, option, hint):
    key = option.split("=")[0]
    line = refused(capsys, cwd, ["cam", "train", config, "--cfg-options", option], key, hint)
    assert config.name in line


def test_a_key_of_the_type_the_same_options_switch_to_is_accepted():
    """``optim_wrapper.dtype`` belongs to AMP wrappers: refused for the paper config's plain
    ``OptimWrapper``, accepted when the same options switch it to ``AmpOptimWrapper``; and the
    CPU default's ``CpuAutocastOptimWrapper`` takes it as it is."""
    from c2am_bench.config_loading import load_config
    from c2am_bench.errors import ConfigError

    paper = REPO / "mm_configs/seg/deeplabv2_r101-d8_30k_voc12aug-321.py"
    with pytest.raises(ConfigError, match=r"optim_wrapper.dtype: .*OptimWrapper at optim_wrapper"):
        load_config(paper, {"optim_wrapper.dtype": "bfloat16"})
    amp = {"optim_wrapper.type": "AmpOptimWrapper", "optim_wrapper.dtype": "bfloat16"}
    assert load_config(paper, amp).optim_wrapper.dtype == "bfloat16"
    assert load_config(SEG_CFG, {"optim_wrapper.dtype": "float32"}).optim_wrapper.dtype == "float32"


def test_config_keys_the_pipeline_and_studies_set_are_accepted(data):
    """Keys absent from a config but legitimate: runner settings, component arguments, list
    indices, and every option the pipeline passes (so the whole pipeline keeps working)."""
    from c2am_bench import pipeline
    from c2am_bench.profiles import load_profile

    SMOKE = load_profile("smoke")  # noqa: N806 - the profile, read once
    from c2am_bench.config_loading import load_config

    names = ["background", *voc.open_tree(data).class_names]
    cases = {
        CAM_CFG: {
            "load_from": "x.pth", "resume": True, "work_dir": "w", "randomness.seed": 1,
            "randomness.deterministic": True, "visualizer.name": "v", "model.head.num_classes": 4,
            "experiment_name": "e", "model_wrapper_cfg.type": "MMDistributedDataParallel",
            "param_scheduler.0.power": 0.5, "optim_wrapper.paramwise_cfg.bias_lr_mult": 2.0,
            "optim_wrapper.clip_grad.max_norm": 1.0, "train_dataloader.pin_memory": True,
            "default_hooks.checkpoint.by_epoch": True, "default_hooks.extra.type": "EMAHook",
            "env_cfg.cudnn_benchmark": True, "train_dataloader.dataset.metainfo.classes": names,
            **SMOKE.classifier_options,
            **{f"{k}.dataset.data_root": str(data) for k in pipeline._LOADER_KEYS},
        },
        C2AM_CFG: {"model.head.global_cam": "g.npz", "model.head.lse_r": 2.0,
                   "model.head.topk": 0.2, "model.head.pooling": "lse",
                   "model.head.aggregation": "class", "model.head.formulation": "paper",
                   "train_cfg.max_epochs": SMOKE.finetune_epochs},
        IRN_CFG: {"train_dataloader.dataset.data_prefix.seg_map_path": "ir",
                  "model.backbone_checkpoint": "b.pth", "randomness.seed": 0,
                  "param_scheduler.0.end": 1, **SMOKE.boundary_net_options},
        SEG_CFG: {**{f"{k}.dataset.{leaf}": value
                     for k in ("train_dataloader", "val_dataloader", "test_dataloader")
                     for leaf, value in (("metainfo.classes", names), ("data_root", str(data)))},
                  "train_dataloader.dataset.data_prefix.seg_map_path": "pm",
                  "model.decode_head.num_classes": len(names), "model.test_cfg.mode": "whole",
                  "test_dataloader.dataset.ann_file": "ImageSets/Segmentation/train.txt",
                  **SMOKE.segmentor_options},
    }  # fmt: skip
    for config, options in cases.items():
        cfg = load_config(config, dict(options))
        for key, value in options.items():
            node = cfg
            for part in key.split("."):
                node = node[int(part)] if isinstance(node, list) else node[part]
            assert node == value, (config.name, key)


# --------------------------------------------------------------------------- 14. checkpoint


@pytest.mark.parametrize("kind", ["num_classes", "other_model", "not_a_checkpoint", "missing"])
def test_checkpoint_that_does_not_match(data, capsys, kind):
    ckpt = data.parent / f"{kind}.pth"
    if kind == "num_classes":
        torch.save(_classifier_state(K + 2), ckpt)
    elif kind == "other_model":
        torch.save(torch.nn.Linear(3, 2).state_dict(), ckpt)
    elif kind == "not_a_checkpoint":
        ckpt.write_bytes(b"PK\x03\x04 definitely not torch")
    line = refused(capsys, data.parent, ["cam", "train", CAM_CFG, "--cfg-options",
                   *_cls_options(data), f"load_from={ckpt}"], ckpt.name)  # fmt: skip
    if kind == "num_classes":
        assert "head.classifier.weight" in line


# --------------------------------------------------------------------------- 15. work dir


@pytest.mark.parametrize("where", ["proc", "under_a_file"])
def test_work_dir_not_writable(data, capsys, where):
    if where == "proc":
        work = Path("/proc/c2am-bench-test/run")
    else:
        (data.parent / "a_file").write_text("not a dir")
        work = data.parent / "a_file" / "run"
    line = refused(capsys, data.parent, ["cam", "train", CAM_CFG, "--work-dir", work,
                   "--cfg-options", *_cls_options(data)], work)  # fmt: skip
    assert "not writable" in line
    assert not work.exists() and (where == "proc" or (data.parent / "a_file").is_file())


# --------------------------------------------------------------------------- 16. config files


@pytest.mark.parametrize(
    "text, hint",
    [
        (None, "config file not found"),
        ("model = dict(type='CAMClassifier'\nx = = 1\n", "SyntaxError"),
        ("_base_ = ['./nope/base.py']\n", "nope"),
        ("x = undefined_name + 1\n", "undefined_name"),
    ],
    ids=["missing", "syntax-error", "missing-base", "name-error"],
)
def test_bad_config_file(cwd, capsys, text, hint):
    path = cwd / "my_config.py"
    if text is not None:
        path.write_text(text)
    line = refused(capsys, cwd, ["cam", "train", path], "my_config.py", hint)
    assert "cannot load config" in line or text is None


# --------------------------------------------------------------------------- 17. data commands


def test_synth_into_non_empty_folder(cwd, capsys):
    target = cwd / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    line = refused(capsys, cwd, ["data", "synth", "--out", target, "--profile", "smoke"], target)
    assert "not empty" in line and (target / "notes.txt").read_text() == "keep me"


def test_synth_onto_a_file(cwd, capsys):
    (cwd / "taken").write_text("a file")
    refused(capsys, cwd, ["data", "synth", "--out", cwd / "taken", "--profile", "smoke"], "taken")


def test_show_on_a_non_voc_folder(cwd, capsys):
    folder = cwd / "photos"
    folder.mkdir()
    Image.new("RGB", (8, 8)).save(folder / "a.jpg")
    refused(
        capsys, cwd, ["data", "show", folder, "--out", cwd / "grid.png"], "photos", "JPEGImages"
    )
    refused(capsys, cwd, ["data", "show", folder], "photos")  # default out: reports/data/...


def test_errors_are_one_line_in_a_real_process(tmp_path):
    """The console entry point, not just main(): a subprocess sees the same single line."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "c2am_bench.cli", "data", "check",
                           str(tmp_path / "nowhere")], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {tmp_path / 'nowhere'}: data root does not exist"]
