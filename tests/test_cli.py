"""The command line as a user meets it: exit codes, one-line errors, files produced."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image

from c2am_bench.cli import main


def run_cli(*args, cwd=None):
    """Run the real console entry point in a subprocess (what a user types)."""
    return subprocess.run([sys.executable, "-m", "c2am_bench.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)  # fmt: skip


def test_synth_then_check_then_show(tmp_path, capsys):
    out = tmp_path / "sv"
    assert main(["data", "synth", "--out", str(out), "--profile", "smoke", "--n-train", "12",
                 "--n-val", "4", "--num-classes", "3"]) == 0  # fmt: skip
    assert "wrote SynthVOC" in capsys.readouterr().out
    assert json.loads((out / "synthvoc.json").read_text())["generator"]["num_classes"] == 3
    assert main(["data", "check", str(out), "--json", str(tmp_path / "s.json")]) == 0
    text = capsys.readouterr().out
    assert "train_aug" in text and "val" in text
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["splits"]["train_aug"]["n_images"] == 12
    png = tmp_path / "grid.png"
    assert main(["data", "show", str(out), "--n", "4", "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size[0] > 400 and im.size[1] > 150


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["data", "check", "{tmp}/nowhere"], "nowhere"),
        (["data", "synth", "--out", "{tmp}/x", "--num-classes", "25"], "num_classes=25"),
        (["data", "synth", "--out", "{tmp}/x", "--p-context", "1.5"], "expected a value in [0, 1]"),
        (["data", "synth", "--out", "{tmp}/x", "--n-train", "zero"], "expected an integer"),
        (["data", "synth", "--out", "{tmp}/x", "--profile", "huge"], "invalid choice"),
        (["cam", "train", "{tmp}/missing.py"], "missing.py: config file not found"),
        (["seg", "train", "mm_configs/seg/deeplabv2_r18lite-d8_cpu_synthvoc-128.py"],
         "seg_map_path is not set"),
        (["irn", "train", "mm_configs/irn/irn_r18lite_5e_synthvoc-128.py"],
         "seg_map_path is not set"),
        (["cam", "train", "mm_configs/cam/cam_r18lite_15e_synthvoc-128.py", "--cfg-options",
          "model.head"], "malformed 'model.head'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, fragment):
    proc = run_cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists()


def test_synth_refuses_to_overwrite_user_files(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    proc = run_cli("data", "synth", "--out", target, "--profile", "smoke")
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert (target / "notes.txt").read_text() == "keep me"


def test_compare_smoke_generates_and_validates_the_dataset(tmp_path):
    proc = run_cli("compare", "--profile", "smoke", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data/synthvoc-smoke-v3/synthvoc.json").is_file()
    assert "generated" in proc.stdout and "train_aug" in proc.stdout
    # the masks' and DeepLabV2's foreground errors by region, printed and in runs.csv
    assert "Foreground errors" in proc.stdout
    import pandas as pd

    (runs_csv,) = (tmp_path / "work_dirs" / "runs").glob("*/runs.csv")
    runs = pd.read_csv(runs_csv)
    for stage in ("pseudo", "seg"):
        errs = runs[[f"{stage}_err_{e}" for e in ("absent", "context", "object", "background")]]
        assert errs.notna().all().all() and errs.ge(0).all().all(), stage
        assert errs.sum(axis=1).le(100.0 + 1e-6).all(), stage
    assert (runs["pseudo_err_absent"] == 0).all()  # IRN's masks use the image labels
    again = run_cli("compare", "--profile", "smoke", cwd=tmp_path)
    assert again.returncode == 0 and "reused" in again.stdout


def test_main_closes_a_torchrun_process_group(tmp_path):
    """A data-parallel command ends with its gloo group destroyed, not left to interpreter exit."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0,
                            world_size=1)  # fmt: skip
    try:
        assert main(["data", "check", str(tmp_path / "missing")]) == 2
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
