"""Faults: a training SIGKILLed mid-epoch resumes to the same result; a study stopped with
Ctrl-C (SIGINT) continues where it stopped, losing and duplicating no trial."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
CLI = [sys.executable, "-m", "c2am_bench.cli"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train_cmd(data: Path, work: Path, *extra: str) -> list[str]:
    opts = [
        f"train_dataloader.dataset.data_root={data}", f"val_dataloader.dataset.data_root={data}",
        "model.head.num_classes=4", "train_cfg.max_epochs=3", "train_dataloader.batch_size=4",
        "train_dataloader.num_workers=0", "train_dataloader.persistent_workers=False",
        "val_dataloader.num_workers=0", "val_dataloader.persistent_workers=False",
        "randomness.seed=0", "randomness.deterministic=True",
    ]  # fmt: skip
    return [*CLI, "-q", "cam", "train", "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py",
            "--work-dir", str(work), *extra, "--cfg-options", *opts]  # fmt: skip


def test_training_killed_mid_epoch_resumes_to_the_same_metrics(smoke_data, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(_train_cmd(smoke_data, whole), check=True, env=ENV, capture_output=True)
    reference = json.loads((whole / "metrics.json").read_text())

    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(smoke_data, killed), env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while not (killed / "epoch_1.pth").is_file() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # inside epoch 2 (12 iterations of a few tens of ms each)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "metrics.json").exists()  # it really died before finishing
    subprocess.run(_train_cmd(smoke_data, killed, "--resume"), check=True, env=ENV,
                   capture_output=True)  # fmt: skip
    resumed = json.loads((killed / "metrics.json").read_text())
    assert resumed["epochs"] == reference["epochs"] == 3
    # mmengine restores weights, optimizer, scheduler and the sampler's (seed, epoch) order, and
    # the data pipeline draws no random numbers here, so the resumed run is identical.
    assert resumed["cls/mAP"] == reference["cls/mAP"]
    assert resumed["cls/f1_micro"] == reference["cls/f1_micro"]


def test_study_stopped_with_ctrl_c_continues_without_loss_or_duplicates(smoke_data, tmp_path):
    import optuna
    from optuna.trial import TrialState

    os.makedirs(tmp_path / "data")
    os.symlink(smoke_data, tmp_path / "data" / "synthvoc-smoke-v3")
    url = f"sqlite:///{tmp_path / 'work' / 'studies.db'}"
    cmd = [*CLI, "study", "run", "formulation", "--profile", "smoke", "--work-dir", "work"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip
    deadline, interrupted = time.time() + 300, None
    while interrupted is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.5)
        try:
            trials = optuna.load_study(study_name="formulation-smoke", storage=url).trials
        except Exception:  # noqa: BLE001 - the study or its database is not there yet
            continue
        done = [t for t in trials if t.state == TrialState.COMPLETE]
        running = [t for t in trials if t.state == TrialState.RUNNING]
        if done and running:  # one trial finished, the next one is under way
            interrupted = running[0].number
            proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert interrupted is not None, out[-3000:]
    assert proc.returncode == 130, [
        line for line in out.splitlines() if "Error" in line or "Interrupt" in line
    ][-10:]
    again = subprocess.run(cmd, cwd=tmp_path, env=ENV, capture_output=True, text=True,
                           timeout=600)  # fmt: skip
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    trials = optuna.load_study(study_name="formulation-smoke", storage=url).trials
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    formulations = sorted(t.params["model.head.formulation"] for t in complete)
    assert formulations == ["code", "paper", "spatial"]  # each grid point once
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert [t.number for t in failed] == [interrupted]
    assert any(t.system_attrs.get("failed_trial") == interrupted for t in complete)
    assert (tmp_path / "reports" / "study-formulation-smoke" / "index.html").is_file()
