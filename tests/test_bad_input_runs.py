"""Bad input to compare / study / report: one line naming the culprit, exit 2, nothing written."""

from __future__ import annotations

import pytest

from c2am_bench.cli import main


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "argv, culprit",
    [
        (["compare", "--methods", "cam,c3am"], "c3am"),
        (["compare", "--methods", "cam,mine=external:/no/such/dir"], "/no/such/dir"),
        (["compare", "--methods", "cam=external:/tmp"], "built-in method"),
        (["compare", "--methods", "c2am", "--against", "cam"], "--against 'cam'"),
        (["compare", "--seeds", "-1"], "--seeds"),
        (["compare", "--seeds", "0,0"], "--seeds"),
        (["compare", "--seeds", "a,b"], "--seeds"),
        (["compare", "--name", "../outside"], "run name '../outside'"),
        (["compare", "--profile", "paper"], "--profile paper needs --data"),
        (["compare", "--force", "sedes"], "sedes"),
        (["compare", "--threads", "0"], "--threads 0"),
        (["compare", "--oracle", "c3am"], "--oracle 'c3am'"),
        (["compare", "--seg-eval", "tta,cfr"], "--seg-eval"),
        (["study", "run", "pooling", "--seg-eval", ""], "--seg-eval"),
        (["compare", "--methods", "cam", "--oracle", "c2am"], "c2am"),
        (["study", "run", "poolin"], "unknown study 'poolin'"),
        (["study", "run", "../pooling"], "study name '../pooling'"),
        (["study", "run", "paper_voc", "--profile", "smoke"], "paper_voc"),
        (["study", "run", "pooling", "--storage", "not-a-url"], "not a storage URL"),
        (["study", "run", "pooling", "--storage", "mysql://u@127.0.0.1:1/x"], "mysql://"),
        (["study", "run", "pooling", "--n-trials", "0"], "--n-trials"),
        (["report", "nothing-here"], "nothing-here"),
        (["compare", "--cls-options", "model.head.gammma=2"], "gammma: no such key"),
        (["compare", "--irn-options", "train_cfg.max_epoch=2"], "did you mean 'max_epochs'"),
        (["compare", "--seg-options", "model.decode_head.dropoutt=0.1"], "dropout_ratio"),
        (
            ["compare", "--profile", "paper", "--cls-options", "model.head.gammma=2"],
            "cam_r50_5e_voc12aug-512.py",
        ),
        (["compare", "--seg-options", "=3"], "malformed"),
        (["compare", "--seg-options", "optim_wrapper.dtype=float16"], "dtype='float16'"),
        (["study", "run", "pooling", "--seg-options", "train_cfg.max_iter=3"], "'max_iters'"),
        (["study", "run", "pooling", "--cls-options", "optim_wrapper.optimizer.lrr=3"], "'lr'"),
    ],
)
def test_one_line_exit_2_nothing_written(in_tmp, capsys, argv, culprit):
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and culprit in err, err
    left = sorted(p.name for p in in_tmp.iterdir())
    assert left == [], left


def test_storage_password_is_never_printed(in_tmp, capsys):
    argv = ["study", "run", "pooling", "--storage", "postgresql://bob:hunter2@127.0.0.1:1/x"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "hunter2" not in err and "bob:***@" in err
