"""The benchmark scripts (``make bench``, not run in CI) still match the package they import.

Each script imports ``c2am_bench`` names inside functions, so a renamed helper breaks them only
when a benchmark finally runs; this test resolves every such import statically.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCH.glob("*.py"))


def _package_imports(path: Path) -> list[tuple[str, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("c2am_bench"):
            out += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "") for a in node.names if a.name.startswith("c2am_bench")]
    return out


def test_there_are_benchmarks():
    assert {p.name for p in SCRIPTS} >= {"bench_seeds.py", "bench_compare.py", "bench_cache.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_benchmark_imports_resolve(script):
    for module, name in _package_imports(script):
        mod = importlib.import_module(module)
        if name and not hasattr(mod, name):  # a submodule of a package is fine too
            is_sub = hasattr(mod, "__path__") and importlib.util.find_spec(f"{module}.{name}")
            assert is_sub, f"{script.name}: from {module} import {name}: no such name"


def test_profile_attribution_counts_only_the_main_thread():
    import sys

    sys.path.insert(0, str(BENCH))
    try:
        from profile_compare import attribute
    finally:
        sys.path.remove(str(BENCH))
    p = 'process 7:"python -m c2am_bench.cli compare"'
    main = f"{p};_run_module_as_main (<frozen runpy>:198);_run_code (<frozen runpy>:88)"
    lines = [
        f"{main};segmentor (segmentor.py:1);IterBasedTrainLoop.run (loops.py:2) 40",
        f"{main};classifier (classifier.py:3);Runner.from_cfg (runner.py:4);"
        "_MultiProcessingDataLoaderIter._shutdown_workers (dataloader.py:5) 20",
        f"{main};segmentor (segmentor.py:1);masks (masks.py:6) 10",
        f'{p};process 8:"python worker";_worker_loop (worker.py:1) 100',  # a child process
        f"{p};Thread._bootstrap (threading.py:1);TMonitor.run (_monitor.py:2) 30",  # a thread
    ]
    out = attribute(lines, rate=10.0)
    assert out["total"] == 7.0  # (40 + 20 + 10) samples / 10 per s
    assert out["shutdown"] == 2.0
    assert out["stages"] == {"segmentor / IterBasedTrainLoop.run": 4.0,
                             "classifier": 2.0, "masks": 1.0}  # fmt: skip
    assert out["shutdown_by_stage"] == {"classifier": 2.0}


def test_calibrate_refuses_data_root_with_generator_overrides(tmp_path, capsys):
    """``--data-root`` reuses a tree as it is; generator overrides on top would be ignored
    silently, so the two exclude each other (exit 2 naming both, before any stage runs)."""
    import sys

    sys.path.insert(0, str(BENCH))
    try:
        from calibrate import main
    finally:
        sys.path.remove(str(BENCH))
    with pytest.raises(SystemExit) as exc:
        main(["--data-root", str(tmp_path), "--data", "p_context=0.8",
              "--work-dir", str(tmp_path / "w")])  # fmt: skip
    assert exc.value.code == 2
    assert "--data-root and --data exclude each other" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
