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
