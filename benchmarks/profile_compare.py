"""Where a ``compare`` spends its wall time: py-spy samples attributed to pipeline stages.

Runs ``c2am-bench compare --profile P`` from an empty work dir under ``py-spy record
--subprocesses --idle`` (``pip install py-spy``; not a project dependency), or reads the raw
output of such a run (``--raw FILE``), and attributes every sample of the main process's main
thread -- idle waits included, which is where hangs show -- to the stage it was in (classifier,
seeds, IRN steps, DeepLabV2 training and evaluation, report). It also counts the samples spent
waiting for data-loader worker processes to shut down, the hot spot this script found: 164 s of
a 1,064-s default compare before ``train.release_loader_workers``.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_readme_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- profile:begin -->", "<!-- profile:end -->"
# Innermost matching frame wins: (stage, refinement) names of c2am_bench and mmengine functions.
# (the cached functions of c2am_bench.stages: classifier.classifier, seeds.seeds, ...)
STAGES = ("classifier", "seeds", "masks", "segmentor", "oracle", "write_results",
          "render_report")  # fmt: skip
STEPS = ("make_seeds", "evaluate_seeds", "make_ir_labels", "make_boundaries", "make_pseudo_masks",
         "evaluate_pseudo_masks", "evaluate_segmentor", "IterBasedTrainLoop.run",
         "EpochBasedTrainLoop.run", "ValLoop.run", "TestLoop.run")  # fmt: skip
SHUTDOWN = "_MultiProcessingDataLoaderIter._shutdown_workers"


def attribute(lines, rate: float) -> dict:
    """Seconds per ``stage / step`` from py-spy ``--format raw`` lines of one main process.

    Args:
        lines: ``"process P:\\"cmd\\";frame (file:line);... COUNT"`` strings; the first
            process named is the main one, samples of its child processes are skipped.
        rate: py-spy's sampling rate (samples per second).

    Returns:
        ``{"total": s, "shutdown": s, "stages": {name: s}, "shutdown_by_stage": {name: s}}``.
    """
    main = None
    stages: collections.Counter = collections.Counter()
    shutdown: collections.Counter = collections.Counter()
    for line in lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        main = main or frames[0]
        if frames[0] != main or len(frames) < 2 or frames[1].startswith("process "):
            continue  # another process, or a child of the main one
        names = [f.split(" (")[0] for f in frames[1:]]
        if not any(n == "_run_module_as_main" for n in names[:3]):
            continue  # not the main thread
        stage = next((n for n in reversed(names) if n in STAGES), "other")
        step = next((n for n in reversed(names) if n in STEPS), None)
        key = f"{stage} / {step}" if step else stage
        stages[key] += int(count)
        if SHUTDOWN in names:
            shutdown[key] += int(count)
    sec = {k: round(v / rate, 1) for k, v in stages.most_common()}
    return {"total": round(sum(stages.values()) / rate, 1),
            "shutdown": round(sum(shutdown.values()) / rate, 1), "stages": sec,
            "shutdown_by_stage": {k: round(v / rate, 1) for k, v in shutdown.items()}}  # fmt: skip


def record(profile: str, rate: int, out: Path) -> None:
    """py-spy raw samples of one ``compare --profile`` from an empty work dir into ``out``."""
    with tempfile.TemporaryDirectory(prefix="c2am-bench-compare-") as tmp:
        cmd = ["py-spy", "record", "--subprocesses", "--idle", "-r", str(rate), "--format", "raw",
               "-o", str(out), "--", sys.executable, "-m", "c2am_bench.cli", "-q", "compare",
               "--profile", profile, "--seeds", "0", "--work-dir", "work",
               "--report-dir", "report"]  # fmt: skip
        try:
            subprocess.run(cmd, cwd=tmp, check=True)
        except FileNotFoundError:
            raise SystemExit("py-spy is not installed: pip install py-spy") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", choices=["smoke", "default"])
    parser.add_argument("--rate", type=int, default=20, help="samples per second")
    parser.add_argument("--raw", type=Path, help="analyse this py-spy raw file instead of running")
    parser.add_argument("--label", default="", help="what the run was (for the README table)")
    args = parser.parse_args()
    if args.raw is not None:
        with args.raw.open() as f:
            figures = attribute(f, args.rate)
    else:  # the raw samples are tens of MB: kept out of the repository
        with tempfile.TemporaryDirectory(prefix="c2am-bench-profile-") as tmp:
            record(args.profile, args.rate, Path(tmp) / "samples.txt")
            with (Path(tmp) / "samples.txt").open() as f:
                figures = attribute(f, args.rate)
    figures.update(profile=args.profile, raw=str(args.raw or ""), label=args.label,
                   machine=machine_info(with_torch=True))  # fmt: skip
    (ROOT / "benchmarks" / "results" / "profile.json").write_text(json.dumps(figures, indent=1))
    lines = [BEGIN, "## Where a compare spends its time (`profile_compare.py`)", "",
             f"py-spy samples ({args.rate:g}/s, idle waits included) of the main thread of one "
             f"`compare --profile {args.profile}` from an empty cache, by stage / step; "
             f"{args.label or 'run ' + time.strftime('%Y-%m-%d')}. Main thread total "
             f"{figures['total']:.0f} s, of which waiting for data-loader workers to shut down "
             f"{figures['shutdown']:.0f} s ({100 * figures['shutdown'] / figures['total']:.1f} %).",
             "", "| stage / step | seconds | share | of which worker shutdown |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for name, sec in figures["stages"].items():
        if sec >= 1.0:
            down = figures["shutdown_by_stage"].get(name, 0.0)
            lines.append(f"| {name} | {sec:.1f} | {100 * sec / figures['total']:.1f} % | "
                         f"{down:.1f} |")  # fmt: skip
    lines.append(END)
    write_readme_section(ROOT / "benchmarks" / "README.md", BEGIN, END, "\n".join(lines))
    print("\n".join(lines[1:-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
