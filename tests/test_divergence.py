"""Issue 14 item 3: a diverged training stops at once, is never taken for a finished one, and
nothing downstream accepts its NaN scores (metrics, seeds, the stage cache)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.structures import BaseDataElement

from c2am_bench.cli import main
from c2am_bench.cls_metric import MultiLabelMetric
from c2am_bench.datasets import voc
from c2am_bench.errors import TrainingDiverged
from c2am_bench.hooks import FiniteLossHook
from c2am_bench.seeds import make_seeds
from c2am_bench.seg_metric import PerClassIoUMetric
from c2am_bench.stage_cache import DONE_FILE, StageCache
from c2am_bench.train import load_config, train

REPO = Path(__file__).resolve().parent.parent
CAM_CFG = REPO / "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py"
K = 4  # classes of the smoke profile
# lr 1e20 makes the smoke classifier's loss NaN at its 2nd iteration (1e12: the 3rd and last)
DIVERGE = ["optim_wrapper.optimizer.lr=1e20", "train_cfg.max_epochs=1"]


def _options(root: Path, name: str) -> list[str]:
    return [
        f"train_dataloader.dataset.data_root={root}", f"val_dataloader.dataset.data_root={root}",
        f"model.head.num_classes={K}", "train_dataloader.num_workers=0",
        "train_dataloader.persistent_workers=False", "val_dataloader.num_workers=0",
        "val_dataloader.persistent_workers=False", "log_level=WARNING",
        f"visualizer.name=test_divergence-{name}", *DIVERGE,
    ]  # fmt: skip


def _assert_diverged_run(work: Path, line: str) -> None:
    """No weights, config.py or metrics.json; the log folder the line names is kept and says it."""
    assert not (work / "classifier.pth").exists() and not (work / "metrics.json").exists()
    assert not (work / "config.py").exists()
    log_dir = Path(line.rsplit("log kept in ", 1)[1])
    assert log_dir.parent == work and log_dir.is_dir()
    (log,) = log_dir.glob("*.log")
    assert line.removeprefix("error: ") in log.read_text()


# --------------------------------------------------------------------------- the hook


def _runner(tmp_path: Path, iteration: int = 2):
    logger = logging.getLogger(f"test_divergence.{tmp_path.name}")
    logger.handlers[:] = [logging.FileHandler(tmp_path / "run.log")]
    return SimpleNamespace(
        iter=iteration, log_dir=str(tmp_path / "20261201_000000"), logger=logger,
        cfg=SimpleNamespace(filename="/x/mm_configs/cam/cam_r50_5e_voc12aug-512.py"),
        optim_wrapper=SimpleNamespace(get_lr=lambda: {"base_lr": [0.1], "lr": [0.1]}),
    )  # fmt: skip


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_hook_stops_on_a_non_finite_loss(tmp_path, bad):
    runner = _runner(tmp_path)
    outputs = {"loss": torch.tensor(bad), "loss_cls": torch.tensor(bad), "acc": torch.tensor(1.0)}
    with pytest.raises(TrainingDiverged) as info:
        FiniteLossHook(stage="classifier").after_train_iter(runner, 0, None, outputs)
    message = str(info.value)
    assert message == (
        f"classifier: loss became {bad} at iteration 3 of cam_r50_5e_voc12aug-512.py (lr 0.1); "
        f"stopped; log kept in {runner.log_dir}"
    )
    assert info.value.log_dir == runner.log_dir
    for handler in runner.logger.handlers:
        handler.flush()
    assert message in (tmp_path / "run.log").read_text()  # the kept log says why it stopped


def test_hook_names_a_non_finite_loss_part(tmp_path):
    outputs = {"loss": torch.tensor(1.0), "loss_pos": torch.tensor(0.5),
               "loss_neg": torch.tensor(float("nan"))}  # fmt: skip
    hook = FiniteLossHook(stage="boundary_net", config="irn.py")
    with pytest.raises(TrainingDiverged, match=r"^boundary_net: loss_neg became nan at iteration "
                       r"8 of irn\.py \(lr 0\.1\)"):  # fmt: skip
        hook.after_train_iter(_runner(tmp_path, 7), 0, None, outputs)


def test_hook_lets_finite_losses_pass(tmp_path):
    # 'acc' is not a loss: not checked
    outputs = {"loss": torch.tensor(3.5), "loss_cls": torch.tensor(3.5),
               "acc": torch.tensor(float("nan"))}  # fmt: skip
    FiniteLossHook().after_train_iter(_runner(tmp_path), 0, None, outputs)
    FiniteLossHook().after_train_iter(_runner(tmp_path), 0, None, None)
    assert not (tmp_path / "run.log").read_text()


# --------------------------------------------------------------------------- a real training


def test_cam_train_that_diverges_stops_and_keeps_only_the_log(smoke_data, tmp_path, capsys):
    work = tmp_path / "run"
    capsys.readouterr()
    code = main(["cam", "train", str(CAM_CFG), "--work-dir", str(work), "--cfg-options",
                 *_options(smoke_data, "cli")])  # fmt: skip
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert re.fullmatch(
        r"error: cam train: loss became (nan|inf|-inf) at iteration [1-3] of "
        r"cam_r18lite_15e_synthvoc-128\.py \(lr [0-9.e+]+\); stopped; log kept in .+",
        lines[0],
    ), lines[0]
    _assert_diverged_run(work, lines[0])
    assert not (work / "last_checkpoint").exists()  # stopped before the first epoch ended


def test_nan_scores_at_validation_also_stop_the_run_and_keep_the_log(
    smoke_data, tmp_path, capsys, monkeypatch
):
    """NaN weights that the loss check did not see (switched off here) are caught by the metric;
    the line then says where and when, and the run is kept as for a NaN loss."""
    monkeypatch.setattr(FiniteLossHook, "after_train_iter", lambda self, *args, **kw: None)
    work = tmp_path / "run"
    capsys.readouterr()
    code = main(["cam", "train", str(CAM_CFG), "--work-dir", str(work), "--cfg-options",
                 *_options(smoke_data, "metric")])  # fmt: skip
    lines = capsys.readouterr().err.splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert re.fullmatch(
        r"error: cam train: \d+ of \d+ classification scores on \d+ images are NaN or infinite: "
        r"the classifier diverged after iteration 3 of cam_r18lite_15e_synthvoc-128\.py; "
        r"stopped; log kept in .+",
        lines[0],
    ), lines[0]
    assert not (work / "classifier.pth").exists() and not (work / "metrics.json").exists()
    assert Path(lines[0].rsplit("log kept in ", 1)[1]).is_dir()


def test_a_diverged_stage_is_not_marked_finished_and_is_retried(smoke_data, tmp_path):
    events = []
    cache = StageCache(tmp_path / "cache", on_event=lambda s, k, what: events.append(what))

    def diverging(work_dir: Path, resume: bool) -> dict:
        cfg = load_config(CAM_CFG, _cfg_dict(_options(smoke_data, "cache")), work_dir)
        return train(cfg, resume=resume, stage="classifier", quiet_console=True)

    with pytest.raises(TrainingDiverged, match=r"^classifier: loss became .* of cam_r18lite"):
        cache.train("classifier", "k", diverging)
    folder = cache.path("classifier", "k")
    assert not (folder / DONE_FILE).exists() and not cache.is_done("classifier", "k")
    assert not (folder / "classifier.pth").exists() and any(folder.glob("*/*.log"))
    # the next run trains again (here: a run that succeeds), it does not reuse the diverged one
    calls = []
    cache.train("classifier", "k", lambda work_dir, resume: calls.append(resume) or {})
    assert calls == [False] and events == ["computing", "computing", "done"]
    assert cache.is_done("classifier", "k")


def _cfg_dict(options: list[str]) -> dict:
    """``KEY=VALUE`` strings parsed as ``--cfg-options`` parses them (mmengine's DictAction)."""
    import argparse

    from mmengine.config import DictAction

    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg-options", nargs="+", action=DictAction)
    return parser.parse_args(["--cfg-options", *options]).cfg_options


# --------------------------------------------------------------------------- metrics


def test_classifier_metric_refuses_nan_scores():
    metric = MultiLabelMetric()
    metric.dataset_meta = {"classes": ("a", "b")}
    samples = []
    for score in ([0.9, 0.2], [float("nan"), float("nan")], [0.6, float("inf")]):
        s = BaseDataElement()
        s.pred_score, s.gt_label = torch.tensor(score), torch.tensor([1.0, 0.0])
        samples.append(s)
    metric.process({}, samples)
    with pytest.raises(TrainingDiverged, match=r"^3 of 6 classification scores on 3 images are "
                       "NaN or infinite: the classifier diverged$"):  # fmt: skip
        metric.evaluate(3)


def test_segmentation_metric_refuses_nan_logits():
    metric = PerClassIoUMetric(iou_metrics=["mIoU"])
    metric.dataset_meta = {"classes": ("background", "a")}
    logits = torch.zeros(2, 4, 4)
    logits[1, 2, 2] = float("nan")
    sample = {"seg_logits": {"data": logits}, "pred_sem_seg": {"data": logits.argmax(0)[None]},
              "gt_sem_seg": {"data": torch.zeros(1, 4, 4, dtype=torch.long)},
              "img_path": "/data/JPEGImages/2007_000032.jpg"}  # fmt: skip
    with pytest.raises(TrainingDiverged, match=r"^1 of 32 segmentation scores of image "
                       "2007_000032 are NaN or infinite: the segmentor diverged$"):  # fmt: skip
        metric.process({}, [sample])


# --------------------------------------------------------------------------- seeds


@pytest.fixture
def nan_run(tmp_path) -> Path:
    """A classifier run (config.py + classifier.pth) whose head weight holds a NaN."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import c2am_bench.models  # noqa: F401 - registers the classifier

    run = tmp_path / "nan_run"
    run.mkdir()
    cfg = Config.fromfile(str(CAM_CFG))
    cfg.model.head.num_classes = K
    cfg.dump(str(run / "config.py"))
    init_default_scope("mmseg")
    torch.manual_seed(0)
    state = MODELS.build(cfg.model).state_dict()
    state["head.classifier.weight"][1, 7] = float("nan")
    torch.save(state, run / "classifier.pth")
    return run


@pytest.mark.parametrize("out", ["new/seeds", None], ids=["new-out-dir", "run-dir"])
def test_cam_seeds_refuses_nan_cams_and_writes_nothing(smoke_data, nan_run, tmp_path, capsys,
                                                       out):  # fmt: skip
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    args = ["cam", "seeds", str(nan_run), "--data", str(smoke_data), "--scales", "1.0",
            "--batch-size", "8", *(["--out", str(tmp_path / out)] if out else [])]  # fmt: skip
    capsys.readouterr()
    assert main(args) == 2
    lines = capsys.readouterr().err.splitlines()
    first = voc.open_tree(smoke_data).read_split("train_aug")
    assert len(lines) == 1 and lines[0].startswith(f"error: {nan_run / 'classifier.pth'}: the CAM "
                                                   "of image "), lines  # fmt: skip
    assert re.search(r"of image (\S+) is NaN or infinite: the classifier diverged; no seeds "
                     r"written$", lines[0]).group(1) in first  # fmt: skip
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_make_seeds_accepts_finite_cams(smoke_data, nan_run, tmp_path):
    """The check does not refuse a healthy classifier (the same run, NaN removed)."""
    state = torch.load(nan_run / "classifier.pth", weights_only=True)
    state["head.classifier.weight"] = torch.nan_to_num(state["head.classifier.weight"])
    torch.save(state, nan_run / "classifier.pth")
    summary = make_seeds(nan_run, tmp_path / "ok", data_root=smoke_data, split="train",
                         scales=(1.0,), progress=False)  # fmt: skip
    assert summary["n_images"] == len(list((tmp_path / "ok/cams").glob("*.npz"))) > 0
    assert np.isfinite(np.load(next((tmp_path / "ok/cams").glob("*.npz")))["high_res"]).all()
