"""Package-level contracts: cheap import, console script, environment report."""

from __future__ import annotations

import subprocess
import sys


def test_import_is_cheap():
    code = (
        "import sys, c2am_bench, c2am_bench.cli, c2am_bench.errors;"
        "heavy = [m for m in ('torch', 'mmseg', 'mmengine', 'mmcv', 'optuna', 'pandas') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing c2am_bench pulled in: {out.stdout}"


def test_console_script_help():
    exe = subprocess.run([sys.executable, "-m", "c2am_bench.cli", "--help"],
                         capture_output=True, text=True)  # fmt: skip
    assert exe.returncode == 0
    for command in ("data", "compare", "env"):
        assert command in exe.stdout


def test_env_reports_compiled_mmcv_ops():
    from c2am_bench.environment import describe

    info = describe()
    assert info["mmcv"] == "2.1.0"
    assert info["mmsegmentation"] == "1.2.2"
    assert info["mmcv ops"] == "compiled ops load", info["mmcv ops"]
