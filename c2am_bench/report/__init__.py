"""Reports: a results directory (runs.csv, per_class.csv, curves.csv, context.json) -> tables,
figures and an offline ``index.html``. Never trains anything.

Modules: :mod:`.schema` (the results directory's columns, reading it), :mod:`.stats` (means,
Student-t intervals, paired deltas), :mod:`.tables` (``summary.csv``, Table 1 in Markdown /
LaTeX / HTML), :mod:`.figures` (PNG figures), :mod:`.html` (the page), :mod:`.render` (the atomic
report directory). Importing this package is cheap; pandas and matplotlib load on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["render_report"]


def render_report(
    results_dir: str | os.PathLike, out_dir: str | os.PathLike, *, study=None
) -> Path:
    """Render ``results_dir`` into the report directory ``out_dir`` and return ``out_dir``.

    See :func:`c2am_bench.report.render.render_report` (writes ``summary.csv``, ``table.md``,
    ``table.tex``, ``README.md``, ``*.png`` and ``index.html`` atomically; refuses an
    ``out_dir`` that is not an earlier report of ours with :class:`~c2am_bench.errors.ConfigError`).

    Args:
        results_dir: a results directory (``runs.csv``, ``context.json``, ...).
        out_dir: where the report goes.
        study: an ``optuna.Study`` (or ``None``) for the Optuna figures.
    """
    from .render import render_report as _render

    return _render(results_dir, out_dir, study=study)
