"""Render a results directory into a report directory, atomically (see :func:`render_report`)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..errors import ConfigError
from . import figures as F
from . import html as H
from . import tables as T
from .schema import STAGE_TITLES, Results, load_results

logger = logging.getLogger(__name__)

MARKER = ".c2am-report"
# Files the earlier renderer (write_cam_report, removed) wrote: a folder holding only
# these is an old report of ours and may be replaced although it has no marker.
LEGACY_FILES = frozenset(
    {
        "README.md",
        "cam_stage.csv",
        "summary.csv",
        "summary.md",
        "seed_curves.png",
        "cam_overlays.png",
        "global_cam.png",
        "class_constants.png",
        "gradients.png",
    }
)
COPIED = ("runs.csv", "per_class.csv", "curves.csv", "confounders.csv", "context.json")


def legend(baseline: str) -> str:
    """How to read Table 1 (``baseline``: the display name of the ``--against`` variant)."""
    return (
        "mIoU in %. Cells: mean ± half-width of the 95 % Student-t interval over seeds "
        '(n = seeds); "± n/a": one seed, interval undefined. Δ: mean paired difference from '
        f"the baseline {baseline} on the same seed (percentage points) ± its 95 % t half-width "
        'and the paired t-test\'s two-sided p-value (p); "≈" marks a delta whose interval '
        'includes 0 (not distinguishable from the baseline with these seeds, p ≥ 0.05). "—": '
        "the stage did not run. Seeds and pseudo-masks are scored on the train split, "
        "segmentation on val. The paper (VOC 2012) columns are numbers "
        "reported on PASCAL VOC 2012 with ResNet-50 / DeepLabV2-ResNet101: a reference for the "
        "direction of the differences, not a level this data set should reach; blank = not "
        "reported."
    )


def _is_ours(out: Path) -> bool:
    if (out / MARKER).is_file():
        return True
    entries = list(out.iterdir())
    return all(e.is_file() and e.name in LEGACY_FILES for e in entries)


def check_out_dir(out_dir: Path, results_dir: Path) -> None:
    """Refuse an ``out_dir`` that holds anything but an earlier report of ours.

    Raises:
        ConfigError: ``out_dir`` is a file, a folder with other files (no ``.c2am-report``
            marker), or the results directory itself or one of its parents.
    """
    res = results_dir.resolve()
    out = out_dir.resolve()
    if out == res or out in res.parents:
        raise ConfigError(
            f"report directory {out_dir} would replace the results directory "
            f"{results_dir}; choose another output directory"
        )
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ConfigError(f"report directory {out_dir} exists and is not a directory")
    if not _is_ours(out_dir):
        raise ConfigError(
            f"report directory {out_dir} exists and is not a c2am-bench report (no {MARKER} "
            "marker); refusing to replace its files: choose another output directory or "
            "remove it yourself"
        )


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with two renames; the old report is deleted only afterwards."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
    old.rmdir()
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)  # put the previous report back
        raise
    shutil.rmtree(old, ignore_errors=True)


def render_report(
    results_dir: str | os.PathLike, out_dir: str | os.PathLike, *, study=None
) -> Path:
    """Render ``results_dir`` (runs.csv, per_class.csv, curves.csv, context.json) into ``out_dir``.

    Writes ``summary.csv``, copies of the inputs, ``table.md``, ``table.tex``, ``README.md``, the
    figures (``*.png``) and ``index.html``, plus a ``.c2am-report`` marker. Everything is rendered
    into a temporary folder beside ``out_dir`` and swapped in at the end, so a failed render
    leaves an earlier report untouched.

    Args:
        results_dir: a results directory written by :func:`c2am_bench.pipeline.write_results`.
        out_dir: the report directory; created, or replaced if it is an earlier report of ours.
        study: an ``optuna.Study`` for the optimisation-history, importance and slice figures.

    Returns:
        ``out_dir``.

    Raises:
        ConfigError: ``out_dir`` exists and is not a report of ours (its files are never deleted).
        DataError: the results directory is missing or malformed.
    """
    results_dir, out = Path(results_dir), Path(out_dir)
    check_out_dir(out, results_dir)
    results = load_results(results_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _render_into(results, tmp, study)
        (tmp / MARKER).write_text(
            json.dumps(
                {
                    "renderer": "c2am_bench.report",
                    "results_dir": str(results_dir.resolve()),
                    "rendered": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                },
                indent=1,
            )
            + "\n"
        )
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700
        _swap_in(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("report written to %s", out)
    return out


@dataclass
class _Report:
    """Everything the Markdown, LaTeX and HTML renderings share."""

    results: Results
    title: str
    summary: pd.DataFrame
    names: dict[str, str]
    figs: list[F.FigureFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def order(self) -> list[str]:
        return self.summary["variant"].tolist()

    @property
    def base(self) -> str:
        return self.names.get(self.results.against, self.results.against)

    def table1(self) -> pd.DataFrame:
        return T.table1_frame(self.summary)


def _render_into(results: Results, out: Path, study) -> None:
    ctx = results.context
    summary = T.summary_frame(results.runs, results.against)
    _summary_csv(summary).to_csv(out / "summary.csv", index=False, float_format="%.4f")
    for name in COPIED:
        src = results.root / name
        if src.is_file():
            shutil.copyfile(src, out / name)
    rep = _Report(
        results,
        title=str(ctx.get("title") or ctx.get("name") or results.root.name),
        summary=summary,
        names=dict(zip(summary["variant"], summary["display"], strict=True)),
        notes=[str(n) for n in ctx.get("notes") or []],
    )
    _figures(rep, out, study)
    _write_markdown(rep, out)
    caption = f"{rep.title}: mIoU (%) per stage, mean ± 95 % CI half-width over seeds"
    pr_caption = f"{rep.title}: foreground precision and recall (%)"
    tex = [
        T.latex_table(rep.table1(), caption, "tab:c2am-bench-main"),
        T.latex_table(T.precision_recall_frame(summary), pr_caption, "tab:c2am-bench-pr"),
    ]
    (out / "table.tex").write_text("% needs \\usepackage{booktabs,graphicx}\n" + "\n".join(tex))
    listed = ["summary.csv", "table.md", "table.tex", "README.md", *COPIED]
    files = [f for f in [*listed, *(f.name for f in rep.figs)] if (out / f).is_file()]
    (out / "index.html").write_text(H.render_page(_page(rep, files)))


def _summary_csv(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` as ``summary.csv`` writes it: p-values in three significant digits (a fixed
    four decimals would turn a small p into 0.0000); blank where NaN."""
    frame = summary.copy()
    for col in [c for c in frame.columns if c.startswith("delta_") and c.endswith("_p")]:
        frame[col] = frame[col].map(lambda p: f"{p:.3g}" if pd.notna(p) else "")
    return frame


def _figures(rep: _Report, out: Path, study) -> None:
    """Draw every figure into ``out``; append what was drawn to ``rep.figs``."""
    results, summary, names, order = rep.results, rep.summary, rep.names, rep.order
    runs, ctx = results.runs, results.context
    palette = F.palette_for(order)
    objective = (ctx.get("objective") or "").removesuffix("_gain") or "seed_miou"
    # Crowded figures show the baseline and the best variants only (CAM overlays take two
    # columns per variant, so at most four there).
    shown = order if len(order) <= 6 else F.select_variants(summary, objective, 6)
    cams = order if len(order) <= 4 else F.select_variants(summary, objective, 4)
    if len(cams) < len(order):
        rep.notes.append(
            f"Threshold curves show {len(shown)} of {len(order)} variants, CAM figures "
            f"{len(cams)}: the baseline and the best by {objective}."
        )
    if (summary["n_runs"] > summary["n_seeds"]).any():
        rep.notes.append(
            "Some variants have more runs than seeds (a study that changes the data per "
            "trial re-runs the baseline); their intervals are over all distinct runs."
        )

    def add(path: Path | None, title: str, caption: str) -> None:
        if path is not None:
            rep.figs.append(F.FigureFile(path.name, title, caption))

    add(
        F.plot_metric_bars(summary, runs, out / "metrics.png", palette),
        "mIoU per stage and method",
        "mean over seeds with its 95 % t interval; dots are the individual seeds",
    )
    add(
        F.plot_deltas(summary, runs, out / "deltas.png", palette),
        f"Paired differences vs {rep.base}",
        "per stage, the mean of the same-seed differences and its 95 % t interval (filled = "
        "distinguishable from 0); the small dots are each seed's difference",
    )
    fixed = {"fixed t = 0.15": F.FIXED_SEED_THRESHOLD}
    add(
        F.plot_threshold_curves(
            results.curves, "seed", shown, names, out / "seed_curves.png", palette, fixed
        ),
        "Seed mIoU vs background threshold",
        "a seed's mIoU depends on the background threshold t; papers quote the best t, IRN "
        "fixes 0.15",
    )
    ssb = summary["sem_seg_bg"].dropna()
    marks = {f"configured sem_seg_bg = {ssb.iloc[0]:.2f}": float(ssb.iloc[0])} if len(ssb) else {}
    add(
        F.plot_threshold_curves(
            results.curves, "pseudo", shown, names, out / "pseudo_curves.png", palette, marks
        ),
        "Pseudo-mask mIoU vs sem_seg_bg",
        "the random walk's background threshold; the table uses the configured value",
    )
    add(
        F.plot_per_class(results.per_class, order, names, out / "per_class.png"),
        "IoU per class",
        "variant x class, one panel per stage; the last column is the mean over classes (mIoU)",
    )
    add(
        F.plot_ladder(summary, runs, out / "oracle_ladder.png", palette),
        "Where mIoU is lost: the oracle ladder",
        "ground truth substituted for one input at a time: seeds, walk over the GT boundary, "
        "walk over a boundary net trained on GT IR labels, the method's pseudo-masks, "
        "DeepLabV2 on them, DeepLabV2 on GT masks (the ceiling); one dot per seed",
    )
    add(
        F.plot_ladder_per_class(
            results.per_class, summary, runs, out / "oracle_ladder_classes.png"
        ),
        "Where mIoU is lost, class by class",
        "the oracle ladder per class: IoU at every rung (left) and its change from the rung "
        "before (right); the class a stage loses on stands out in red",
    )
    add(
        F.plot_confounder_shares(results.confounders, order, names, out / "confounders.png"),
        "Where the CAM mass lies (SynthVOC confounder maps)",
        "share of each class's CAM mass on its object's body, its discriminative part, its "
        "context band and elsewhere (train split); the grey-labelled 'area' bars are the "
        "regions' shares of the image",
    )
    add(
        F.plot_context_errors(results.confounders, order, names, out / "context_errors.png"),
        "Where the masks' and DeepLabV2's foreground lies (SynthVOC confounder maps)",
        "per class and method, the pixels the pseudo-masks (train) and DeepLabV2 (val) give "
        "the class: correct, on its context band, in an image without it (a segmenter has no "
        "image labels), on another object, on other background",
    )
    cam_figs, cam_notes = F.plot_cam_figures(results, summary, out, cams)
    rep.figs += cam_figs
    rep.notes += cam_notes
    if ctx.get("kind") == "study":
        from .response import plot_response

        rep.figs += plot_response(runs, ctx.get("objective"), out)
    if study is not None:
        rep.figs += F.plot_optuna(study, out)


def _optional_section(title: str, frame: pd.DataFrame) -> list[str]:
    """Markdown lines of a table section, none when the frame is empty (stage not run)."""
    return [] if frame.empty else [title, "", T.markdown_table(frame), ""]


def _write_markdown(rep: _Report, out: Path) -> None:
    """``table.md`` (tables and environment) and ``README.md`` (Table 1 and figure links)."""
    ctx = rep.results.context
    table1 = T.markdown_table(rep.table1())
    sources = [f"- {r.method}: {r.source}" for r in T.paper_frame().itertuples()]
    table_md = [
        f"# {rep.title}", "",
        "## Table 1: mIoU (%) per stage", "", table1, "", legend(rep.base), "",
        "Sources of the paper (VOC 2012) numbers:", "", *sources, "",
        "## All mIoU metrics (%)", "", T.markdown_table(T.metrics_frame(rep.summary)), "",
        "## Thresholds", "", T.markdown_table(T.thresholds_frame(rep.summary)), "",
        "## Foreground precision and recall (%)", "",
        T.markdown_table(T.precision_recall_frame(rep.summary)), "",
        *_optional_section("## Oracle ladder: where mIoU is lost (%)",
                           T.ladder_frame(rep.summary, rep.results.runs)),
        *_optional_section("## CAM mass by SynthVOC region (%, mean over classes)",
                           T.confounder_frame(rep.summary)),
        *_optional_section("## Foreground errors by SynthVOC region (%, mean over classes)",
                           T.context_error_frame(rep.summary)),
        "## Environment", "", T.markdown_table(T.environment_frame(ctx)), "",
    ]  # fmt: skip
    (out / "table.md").write_text("\n".join(table_md))
    readme = [
        f"# {rep.title}", "",
        f"{ctx.get('kind', 'compare')} `{ctx.get('name', '')}` on `{ctx.get('data_root', '?')}` "
        f"(profile `{ctx.get('profile', '?')}`), baseline `{rep.results.against}`. "
        "Open `index.html` for every table and figure; `table.md` for all the tables.", "",
        table1, "", legend(rep.base), "",
        *[line for n in rep.notes for line in (f"> {n}", ">")][:-1], "",
        "## Figures", "", *(f"- [{f.title}]({f.name}): {f.caption}" for f in rep.figs), "",
        "## Files", "",
        "- `index.html`: the full report (tables, figures, environment); opens offline",
        "- `summary.csv`: one row per variant: means, 95 % CI bounds, paired deltas",
        "- `table.md`, `table.tex`: Table 1, precision/recall (Markdown; LaTeX with booktabs)",
        "- `runs.csv`, `per_class.csv`, `curves.csv`, `confounders.csv`, `context.json`: "
        "copies of the inputs", "",
    ]  # fmt: skip
    (out / "README.md").write_text("\n".join(readme))


def _page(rep: _Report, files: list[str]) -> H.Page:
    results, summary, ctx = rep.results, rep.summary, rep.results.context
    meta = {
        "kind": ctx.get("kind", ""),
        "name": ctx.get("name", ""),
        "profile": ctx.get("profile"),
        "pseudo-masks": ctx.get("pseudo"),
        "data": ctx.get("data_root"),
        "fingerprint": ctx.get("data_fingerprint"),
        "baseline": rep.base,
        "objective": ctx.get("objective"),
        "seeds": ", ".join(str(s) for s in sorted(results.runs["seed"].unique())),
    }
    legend_html = f'<p class="legend">{H.esc(legend(rep.base))}</p>'
    figs = "\n".join(H.figure_html(f) for f in rep.figs)
    sections = [
        H.Section("table1", "Table 1: mIoU per stage", H.table_html(_grouped(rep)) + legend_html),
        H.Section("figures", "Figures", figs or '<p class="note">(no figure was drawn)</p>'),
        H.Section("metrics", "All mIoU metrics (%)", H.table_html(T.metrics_frame(summary))),
        H.Section(
            "thresholds",
            "Thresholds",
            '<p class="note">Seeds: the background threshold t with the best mIoU; '
            "pseudo-masks: the random walk's sem_seg_bg as configured and the best of the "
            "sweep (fractions).</p>" + H.table_html(T.thresholds_frame(summary)),
        ),
        H.Section(
            "precision-recall",
            "Foreground precision and recall (%)",
            H.table_html(T.precision_recall_frame(summary)),
        ),
    ]
    ladder = T.ladder_frame(summary, results.runs)
    if not ladder.empty:
        sections.append(
            H.Section(
                "oracle-ladder",
                "Oracle ladder: where mIoU is lost (%)",
                '<p class="note">Ground truth substituted for one input at a time; Δ is the change '
                "from the rung above. A large drop from 'walk over the GT boundary' to 'boundary "
                "net on GT IR labels' means the boundary net cannot learn; from there to the "
                "method's pseudo-masks, the IR labels (the seeds) are at fault.</p>"
                + H.table_html(ladder),
            )
        )
    shares = T.confounder_frame(summary)
    if not shares.empty:
        sections.append(
            H.Section(
                "confounders",
                "CAM mass by SynthVOC region (%)",
                '<p class="note">Mean over classes of the share of each class\'s CAM mass on its '
                "object's body, its discriminative part, its context band (background in the "
                "ground truth) and elsewhere; C2AM should move mass from the context to the "
                "body.</p>" + H.table_html(shares),
            )
        )
    errors = T.context_error_frame(summary)
    if not errors.empty:
        sections.append(
            H.Section(
                "context-errors",
                "Foreground errors by SynthVOC region (%)",
                '<p class="note">Of the pixels the pseudo-masks (<code>train</code>) and '
                "DeepLabV2 (<code>val</code>) give a class, the share on that class's context "
                "band (background in the ground truth) of an image holding the class, in an "
                "image without the class (only a segmenter predicting without the image labels "
                "can), on another class's object and on other background; mean over classes. "
                "The rest is the precision. A "
                "context share that grows from the masks to DeepLabV2 is the confounder learnt "
                "as the class.</p>" + H.table_html(errors),
            )
        )
    per_class = []
    for stage, stage_title in STAGE_TITLES.items():
        table = T.per_class_frame(results.per_class, stage, rep.order, rep.names)
        if not table.empty:
            body = H.table_html(table.reset_index())
            per_class.append(f"<h3>{H.esc(stage_title)}</h3>{body}")
    if per_class:
        sections.append(
            H.Section("per-class", "IoU per class (%), mean over seeds", "\n".join(per_class))
        )
    items = "".join(f'<li><a href="{H.esc(f)}">{H.esc(f)}</a></li>' for f in files)
    sections += [
        H.Section("timings", "Wall seconds per stage", H.table_html(T.timings_frame(summary))),
        H.Section(
            "paper", "Paper numbers (PASCAL VOC 2012)", H.table_html(T.paper_frame(), wide=True)
        ),
        H.Section("environment", "Environment", H.table_html(T.environment_frame(ctx), wide=True)),
        H.Section("files", "Files", f'<ul class="note">{items}</ul>'),
    ]
    return H.Page(rep.title, {k: str(v) for k, v in meta.items() if v}, rep.notes, sections)


def _grouped(rep: _Report) -> pd.DataFrame:
    """Table 1 with a two-level header for HTML: this run | Δ vs baseline | paper (VOC 2012)."""
    table = rep.table1()
    groups = []
    for col in table.columns:
        if col.startswith("Δ "):
            groups.append((f"Δ vs {rep.base} (points)", col.removeprefix("Δ ")))
        elif col.startswith("paper (VOC 2012) "):
            groups.append(("paper (VOC 2012)", col.removeprefix("paper (VOC 2012) ")))
        elif col in ("method", "n"):
            groups.append(("", col))
        else:
            groups.append(("this run: mIoU (%)", col))
    table.columns = pd.MultiIndex.from_tuples(groups)
    return table
