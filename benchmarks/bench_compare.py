"""Whole-pipeline figures: ``compare`` wall time and peak memory, and how stages scale.

* **compare**: ``c2am-bench compare --profile P`` from an empty work dir in a temporary folder,
  timed by GNU ``/usr/bin/time -v`` (wall seconds and the peak resident set size of the process
  tree's largest process). Goals (issue 7): smoke <= 3 min; default <= 15 min and <= 6 GiB.
* **against a commit** (``--baseline-commit REV``): the same compare of the code at ``REV``
  (checked out into a temporary git worktree, run with this interpreter), timed in the same
  invocation right after this tree's, so the two walls are a ratio on one machine. Goals: the
  calibrated default takes at most 1.3x the wall of a01d5e0's (issue 12, one seed each) and,
  with ``--seeds 0,1,2`` for this tree only, at most 1.0x (issue 15: three seeds in the time
  one took), <= 6 GiB.
* **scaling** (``--scaling``): the smoke-profile pipeline (CAM and C2AM to DeepLabV2) on
  SynthVOC trees of growing size -- images in ``train_aug`` (48, 96, 192 at 48 px) and image size
  (48, 96, 128 px at 48 images) -- with each stage's wall seconds of the C2AM column as the stage
  cache recorded them; a seaborn figure ``results/scaling.png`` plots them.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_readme_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# (wall seconds, peak RSS bytes); the default's time goal is relative (issue 12: <= 1.3x a01d5e0's
# on the same machine, --baseline-commit), since machines differ by 1.5x on the same run.
GOALS = {"smoke": (180, None), "default": (None, 6 * 1024**3)}
METRICS = ("cls_map", "seed_miou", "pseudo_miou", "seg_miou", "seg_train_miou")
STAGE_COLUMNS = ["seconds_classifier", "seconds_seeds", "seconds_ir_labels", "seconds_boundary",
                 "seconds_walk", "seconds_seg"]  # fmt: skip


def time_compare(profile: str, code: Path = ROOT, keep: Path | None = None,
                 seeds: str = "0") -> dict:  # fmt: skip
    """``compare --profile`` of the package in ``code`` (this tree, or a worktree of a commit).

    ``keep``: run in that folder (``data/``, ``work_dirs/``, ``reports/``) instead of a
    temporary one, so the run's cache and report stay; its data and stage cache must not exist.
    """
    import os

    env = {**os.environ, "PYTHONPATH": str(code)}  # before the venv's editable install of ROOT
    with tempfile.TemporaryDirectory(prefix="c2am-bench-compare-") as tmp:
        where = Path(keep) if keep else Path(tmp)
        work, report = ("work_dirs", f"reports/compare-{profile}") if keep else ("work", "report")
        if keep and ((where / work / "cache").exists() or (where / "data").exists()):
            raise SystemExit(f"--keep {where}: remove its data/ and {work}/cache first (a timed "
                             "compare starts from nothing)")  # fmt: skip
        where.mkdir(parents=True, exist_ok=True)
        cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "c2am_bench.cli", "-q", "compare",
               "--profile", profile, "--work-dir", work, "--report-dir", report,
               # this tree's default compare runs the profile's seeds (three): name them always
               *(["--seeds", seeds] if code == ROOT or seeds != "0" else [])]  # fmt: skip
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=where, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"compare failed:\n{proc.stderr[-3000:]}")
        rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)[1])
        # the run's headline metrics, so runs of this benchmark can be checked against each other
        with open(where / work / "runs" / f"compare-{profile}" / "runs.csv") as f:
            metrics = {r["variant"]: {k: r[k] for k in METRICS} for r in csv.DictReader(f)}
        with open(where / work / "runs" / f"compare-{profile}" / "runs.csv") as f:
            stages = [{k: r[k] for k in ("variant", "seed", *STAGE_COLUMNS) if k in r}
                      for r in csv.DictReader(f)]  # fmt: skip
    return {"profile": profile, "seeds": seeds, "wall_seconds": round(wall, 1),
            "peak_rss_bytes": rss_kb * 1024, "metrics": metrics, "stage_seconds": stages,
            "code": str(code)}  # fmt: skip


def time_commit(profile: str, rev: str) -> dict:
    """:func:`time_compare` of the code at ``rev`` in a temporary worktree (removed after)."""
    with tempfile.TemporaryDirectory(prefix="c2am-bench-rev-") as tmp:
        tree = Path(tmp) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev],
                       check=True, capture_output=True)  # fmt: skip
        try:
            out = time_compare(profile, tree)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)  # fmt: skip
    return {**out, "code": rev}


def scaling() -> list[dict]:
    from c2am_bench.datasets import synthvoc
    from c2am_bench.pipeline import Pipeline, compare, parse_method
    from c2am_bench.stage_cache import StageCache

    rows = []
    points = [(48, 48), (96, 48), (192, 48), (48, 96), (48, 128)]
    with tempfile.TemporaryDirectory(prefix="c2am-bench-scaling-") as tmp:
        for n, size in points:
            root = Path(tmp) / f"data-{n}-{size}"
            synthvoc.generate(synthvoc.make_config("smoke", n_train=n, image_size=size), root,
                              progress=False)  # fmt: skip
            runner = Pipeline(root, StageCache(Path(tmp) / f"cache-{n}-{size}"), profile="smoke",
                            seg_eval=())  # fmt: skip
            variants = [parse_method(m) for m in ("cam", "c2am")]
            start = time.perf_counter()
            res = compare(runner, variants, [0], until="seg")
            wall = time.perf_counter() - start
            c2am = next(r for r in res.runs if r["variant"] == "c2am")
            rows.append({"train_aug_images": n, "image_size": size, "wall_seconds": round(wall, 1),
                         **{c: c2am.get(c) for c in STAGE_COLUMNS}})  # fmt: skip
    return rows


STAGE_NAMES = {"seconds_classifier": "classifier (fine-tune)", "seconds_seeds": "seeds",
               "seconds_ir_labels": "IR labels", "seconds_boundary": "boundary net + maps",
               "seconds_walk": "walk + masks", "seconds_seg": "DeepLabV2"}  # fmt: skip


def plot_scaling(rows: list[dict], out: Path) -> None:
    """Two panels: stage seconds against train_aug images (48 px) and against image size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame(rows).melt(
        id_vars=["train_aug_images", "image_size"],
        value_vars=STAGE_COLUMNS,
        var_name="stage",
        value_name="seconds",
    )
    df["stage"] = df["stage"].map(STAGE_NAMES)
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    base_n, base_px = rows[0]["train_aug_images"], rows[0]["image_size"]
    for ax, (x, fixed, label) in zip(axes, [
        ("train_aug_images", ("image_size", base_px), f"train_aug images (at {base_px} px)"),
        ("image_size", ("train_aug_images", base_n), f"image side, px (at {base_n} images)"),
    ], strict=True):  # fmt: skip
        part = df[df[fixed[0]] == fixed[1]]
        sns.lineplot(part, x=x, y="seconds", hue="stage", marker="o", ax=ax,
                     legend=ax is axes[1])  # fmt: skip
        ax.set_xlabel(label)
        ax.set_ylabel("stage wall time (s)")
        ax.set_xticks(sorted(part[x].unique()))
    axes[1].legend(title="stage", bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.suptitle("Stage time vs dataset size (smoke-profile settings, C2AM column, 2-core CPU)")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


BUDGET_BEGIN, BUDGET_END = "<!-- budget:begin -->", "<!-- budget:end -->"
BUDGET_ROWS = {"seconds_classifier": "classifier", "seconds_seeds": "seeds",
               "seconds_ir_labels": "IR labels", "seconds_boundary": "boundary net + maps",
               "seconds_walk": "walk + masks", "seconds_seg": "DeepLabV2 training"}  # fmt: skip


def budget_section(figures: dict) -> str:
    """Seconds per stage (summed over the methods, per seed) of each timed default compare,
    and what the stages leave (evaluations, oracle ladder, report) -- the stage budget."""
    runs = [f for f in figures["compare"] if f["profile"] == "default" and f.get("stage_seconds")]
    if not runs:
        return ""
    m = figures["machine"]
    # a commit's run names the commit; this tree's its folder's absolute path
    names = ["this tree" if Path(f["code"]).is_absolute() else f["code"] for f in runs]
    head = " | ".join(f"{n} ({f.get('seeds', '0')})" for n, f in zip(names, runs, strict=True))
    lines = [BUDGET_BEGIN, f"Stage budget of the default compare on {m['cpu']} ({m['cores']} "
             "cores): seconds per stage, summed over the three methods of a seed (each stage's "
             "own time from `runs.csv`), per timed run (commit, seeds).", "",
             f"| stage | {head} |", "|---|" + "---:|" * len(runs)]  # fmt: skip
    totals = [0.0] * len(runs)
    for col, title in BUDGET_ROWS.items():
        cells = []
        for i, f in enumerate(runs):
            rows = f["stage_seconds"]
            n_seeds = len({r["seed"] for r in rows}) or 1
            s = sum(float(r[col]) for r in rows if r.get(col) not in (None, "")) / n_seeds
            totals[i] += s
            cells.append(f"{s:.0f}")
        lines.append(f"| {title} | " + " | ".join(cells) + " |")
    rest = [f["wall_seconds"] / (len({r["seed"] for r in f["stage_seconds"]}) or 1) - t
            for f, t in zip(runs, totals, strict=True)]  # fmt: skip
    lines.append(
        "| the rest: evaluations, oracle ladder (first seed), report | "
        + " | ".join(f"{r:.0f}" for r in rest)
        + " |"
    )
    lines.append("| **wall per seed** | " + " | ".join(
        f"**{f['wall_seconds'] / (len({r['seed'] for r in f['stage_seconds']}) or 1):.0f}**"
        for f in runs) + " |")  # fmt: skip
    lines.append(BUDGET_END)
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", default="smoke", help="comma-separated: smoke,default")
    parser.add_argument("--scaling", action="store_true", help="also the stage-scaling table")
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="run this tree's compare in this folder (keeps cache and report)",
    )
    parser.add_argument(
        "--budget-only",
        action="store_true",
        help="rewrite the stage-budget section from results/compare.json and stop",
    )
    parser.add_argument(
        "--seeds",
        default="0",
        help="seeds of this tree's compare (the --baseline-commit's runs one seed)",
    )
    parser.add_argument(
        "--baseline-commit",
        default=None,
        help="also time the compare of this commit, right after (a ratio)",
    )
    args = parser.parse_args()
    readme = ROOT / "benchmarks" / "README.md"
    if args.budget_only:
        saved = json.loads((ROOT / "benchmarks" / "results" / "compare.json").read_text())
        write_readme_section(readme, BUDGET_BEGIN, BUDGET_END, budget_section(saved))
        return 0
    figures: dict = {"machine": machine_info(with_torch=True), "compare": [], "scaling": []}
    lines = ["<!-- compare:begin -->",
             f"Last run {time.strftime('%Y-%m-%dT%H:%M:%S%z')} on {figures['machine']['cpu']}, "
             f"{figures['machine']['cores']} cores.", "",
             "| compare | wall | peak RSS | goal | result |",
             "|---|---:|---:|---|---|"]  # fmt: skip
    for profile in [p for p in args.profiles.split(",") if p]:
        f = time_compare(profile, keep=args.keep, seeds=args.seeds)
        figures["compare"].append(f)
        t_goal, m_goal = GOALS[profile]
        ok = (t_goal is None or f["wall_seconds"] <= t_goal) and (
            m_goal is None or f["peak_rss_bytes"] <= m_goal
        )
        goal = ", ".join(([f"<= {t_goal / 60:.0f} min"] if t_goal else ["<= 1.3x a01d5e0"])
                         + ([f"<= {m_goal / 1024**3:.0f} GiB"] if m_goal else []))  # fmt: skip
        verdict = "pass" if ok else "MISS"
        if t_goal is None:  # the time goal is the ratio to --baseline-commit, on its own row
            verdict = f"memory {verdict}; time: " + (
                "the ratio below" if args.baseline_commit else "needs --baseline-commit"
            )
        label = f"--profile {profile}" + (f" --seeds {args.seeds}" if args.seeds != "0" else "")
        lines.append(f"| `{label}` | {f['wall_seconds'] / 60:.1f} min | "
                     f"{f['peak_rss_bytes'] / 1024**3:.2f} GiB | {goal} | {verdict} |")  # fmt: skip
    if args.baseline_commit:
        for f in list(figures["compare"]):
            old = time_commit(f["profile"], args.baseline_commit)
            figures["compare"].append(old)
            ratio = f["wall_seconds"] / old["wall_seconds"]
            one_seed = f["seeds"] == "0"
            goal = (1.3 if one_seed else 1.0) if f["profile"] == "default" else None
            verdict = ""
            if goal is not None:
                verdict = f" (goal <= {goal}x: {'pass' if ratio <= goal else 'MISS'})"
            lines.append(f"| `--profile {f['profile']}` at {args.baseline_commit} | "
                         f"{old['wall_seconds'] / 60:.1f} min | "
                         f"{old['peak_rss_bytes'] / 1024**3:.2f} GiB | | this tree / it = "
                         f"{ratio:.2f}x{verdict} |")  # fmt: skip
    if args.scaling:
        figures["scaling"] = scaling()
        lines += ["", "Stage seconds of the C2AM column (smoke profile configs; CAM + C2AM "
                  "to DeepLabV2) against dataset size:", "",
                  "| train_aug images | image px | whole run | classifier | seeds | IR labels | "
                  "boundary net + maps | walk + masks | DeepLabV2 |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for r in figures["scaling"]:
            cells = " | ".join(f"{r[c]:.1f}" if r[c] is not None else "" for c in STAGE_COLUMNS)
            lines.append(f"| {r['train_aug_images']} | {r['image_size']} | "
                         f"{r['wall_seconds']:.1f} | {cells} |")  # fmt: skip
        plot_scaling(figures["scaling"], ROOT / "benchmarks" / "results" / "scaling.png")
        lines += ["", "Seeds, IR labels and the walk pass over every image at its own size, so "
                  "they grow with the pixel count. The classifier and the boundary net train on "
                  "fixed 128-px crops (images rescaled to a fixed scale first), so they grow "
                  "with the number of images only, after a fixed start-up of about 3 s; the smoke "
                  "DeepLabV2 runs a fixed 8 iterations on 128-px crops, so only its evaluation "
                  "grows. Figure: `results/scaling.png`.", "",
                  "![stage scaling](results/scaling.png)"]  # fmt: skip
    lines.append("<!-- compare:end -->")
    out = ROOT / "benchmarks" / "results" / "compare.json"
    out.write_text(json.dumps(figures, indent=1) + "\n")
    write_readme_section(readme, lines[0], lines[-1], "\n".join(lines))
    budget = budget_section(figures)
    if budget:
        write_readme_section(readme, BUDGET_BEGIN, BUDGET_END, budget)
    print("\n".join(lines[1:-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
