"""Is running two trainings side by side, each with fewer torch threads, faster than one after
the other? (issue 15: "run independent stages side by side on the cores ... measure it").

Each job trains the default profile's DeepLabV2 for ``--iters`` iterations on the ground-truth
masks of one seed (its own stage key, so jobs never share a cache entry), in its own process with
``torch.set_num_threads(threads)`` and ``--loader-workers`` data-loader workers. Layouts:

* ``1x<cores>``: one job at a time with every core's thread (what ``compare`` does today);
* ``2x<cores/2>``: two jobs at once, the threads split between them;
* ``2x<cores>``: two jobs at once, each with every core's thread (the oversubscribed case
  that measured ~10x slower on a 2-core EPYC).

Throughput is jobs per minute of wall time; the ratio to ``1x<cores>`` is what concurrency buys.
Needs a cache that holds the default's baseline classifiers for seeds 0 and 1 (e.g. the
calibration runs' ``work_dirs/calibration/cache``); the scratch cache links them in.

    .venv/bin/python benchmarks/bench_threads.py --iters 60
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import machine_info, write_readme_section  # noqa: E402

BEGIN, END = "<!-- threads:begin -->", "<!-- threads:end -->"


def job(args: argparse.Namespace) -> None:
    """One training (the child process)."""
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from c2am_bench.datasets.voc_meta import AUG_MASK_DIR
    from c2am_bench.pipeline import Pipeline
    from c2am_bench.stage_cache import StageCache
    from c2am_bench.stages.segmentor import segmentor

    def refuse(stage: str, key: str, what: str) -> None:
        if stage == "classifier" and what != "reused":
            raise SystemExit(
                f"bench_threads: no cached baseline classifier for seed {args.seed} "
                f"in {args.scratch / 'classifier'} (run the default first)"
            )

    cache = StageCache(args.scratch, on_event=refuse)
    data = next(p for p in (args.scratch / "data").iterdir() if not p.name.startswith(".")) / "voc"
    opts = {
        "train_cfg.max_iters": args.iters,
        "train_cfg.val_interval": 10**6,
        "train_dataloader.num_workers": args.loader_workers,
        "param_scheduler.0.end": args.iters,
        "train_dataloader.persistent_workers": args.loader_workers > 0,
    }
    runner = Pipeline(data, cache, profile="default", stage_options={"segmentor": opts})
    start = time.perf_counter()
    segmentor(runner, args.seed, data / AUG_MASK_DIR, modes=())
    print(json.dumps({"seed": args.seed, "seconds": round(time.perf_counter() - start, 2)}))


def layout(args: argparse.Namespace, n_jobs: int, threads: int, run: int) -> dict:
    shutil.rmtree(args.scratch / "segmentor", ignore_errors=True)  # no job reuses weights
    cmd = [sys.executable, __file__, "--job", "--iters", str(args.iters), "--threads",
           str(threads), "--loader-workers", str(args.loader_workers), "--scratch",
           str(args.scratch)]  # fmt: skip
    start = time.perf_counter()
    procs = [subprocess.Popen([*cmd, "--seed", str(i)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": str(threads)})
             for i in range(n_jobs)]  # fmt: skip
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - start
    if any(p.returncode for p in procs):
        raise SystemExit(f"bench_threads: a job of layout {n_jobs}x{threads} failed")
    per_job = [json.loads(o.strip().splitlines()[-1])["seconds"] for o in outs]
    return {"layout": f"{n_jobs}x{threads}", "jobs": n_jobs, "threads": threads, "run": run,
            "wall_s": round(wall, 1), "job_s": per_job,
            "jobs_per_min": round(60 * n_jobs / wall, 3)}  # fmt: skip


def readme_section(result: dict) -> str:
    """The README's table of one saved run (``threads.json``)."""
    m = result["machine"]
    lines = [
        BEGIN,
        "## Trainings side by side: threads per process (`bench_threads.py`)",
        "",
        f"Two DeepLabV2 trainings of the default profile ({result['iters']} iterations each, "
        f"{result['loader_workers']} data-loader workers, plus their val/test evaluations), "
        f"on {m['cpu']} ({m['cores']} cores), torch {m['torch']}:",
        "",
        "| layout | wall for both | seconds per job | throughput vs one after the other |",
        "|---|---|---|---|",
    ]
    for r in result["rows"]:
        jobs = " / ".join(f"{s:.0f}" for s in r["job_s"])
        lines.append(f"| {r['layout']} (jobs x threads) | {r['wall_s']:.0f} s | {jobs} | "
                     f"{r['throughput_vs_sequential']:.2f}x |")  # fmt: skip
    lines += [
        "",
        "Two processes that each take every core fight over them (OpenMP threads spinning on "
        "busy cores): much slower than running them one after the other. Split the cores "
        "instead (`--threads cores/workers` for study workers or runs side by side). Raw "
        "figures: `benchmarks/results/threads.json`.",
        END,
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--loader-workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--source", type=Path, default=REPO / "work_dirs/calibration/cache")
    ap.add_argument("--scratch", type=Path, default=REPO / "work_dirs/bench_threads/cache")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/threads.json")
    ap.add_argument("--job", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument(
        "--readme-only",
        action="store_true",
        help="rewrite the README section from the saved --out file",
    )
    args = ap.parse_args(argv)
    if args.job:
        job(args)
        return 0
    readme = REPO / "benchmarks" / "README.md"
    if args.readme_only:
        write_readme_section(readme, BEGIN, END, readme_section(json.loads(args.out.read_text())))
        return 0
    args.scratch.mkdir(parents=True, exist_ok=True)
    # reuse the trained baselines, train nothing else; the data is copied, not linked, since a
    # key holds the data's path relative to the cache
    if not (args.scratch / "data").exists():
        shutil.copytree(args.source / "data", args.scratch / "data", symlinks=True)
    if not (args.scratch / "classifier").exists():
        (args.scratch / "classifier").symlink_to((args.source / "classifier").resolve())
    cores = os.cpu_count() or 1
    layouts = [(1, cores), (2, max(1, cores // 2)), (2, cores)]
    rows = []
    for run in range(args.repeats):
        for n_jobs, threads in layouts:
            if n_jobs == 1:  # one after the other: time two single jobs in sequence
                a, b = (layout(args, 1, threads, run) for _ in range(2))
                wall = a["wall_s"] + b["wall_s"]
                row = {
                    **a,
                    "jobs": 2,
                    "layout": f"1x{threads} twice",
                    "wall_s": round(wall, 1),
                    "job_s": a["job_s"] + b["job_s"],
                    "jobs_per_min": round(120 / wall, 3),
                }
            else:
                row = layout(args, n_jobs, threads, run)
            rows.append(row)
            print(json.dumps(row), flush=True)
    base = next(r["jobs_per_min"] for r in rows if r["layout"].startswith("1x"))
    for r in rows:
        r["throughput_vs_sequential"] = round(r["jobs_per_min"] / base, 2)
    result = {"machine": machine_info(with_torch=True), "iters": args.iters,
              "loader_workers": args.loader_workers, "rows": rows}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    write_readme_section(readme, BEGIN, END, readme_section(result))
    for r in rows:
        print(
            f"{r['layout']:>12s}: wall {r['wall_s']:7.1f} s for 2 jobs, "
            f"{r['throughput_vs_sequential']:.2f}x the sequential throughput"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
