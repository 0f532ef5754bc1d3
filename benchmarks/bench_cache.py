"""Marginal cost of a study trial that reuses the stage cache, against a full trial.

A full C2AM trial (objective: pseudo-mask mIoU) needs every stage from the baseline classifier to
the pseudo-masks. This script times, in one process on a copy of a cache (hard links: the source
is never modified), three trials of the ``irn_thresholds`` kind:

* **full**: an empty cache (or, with ``--full-from-cache``, the sum of the per-stage wall seconds
  that a finished cache recorded in its ``stage.json`` files when it computed them);
* **sem_seg_bg only**: new ``sem_seg_bg`` -> only the ``masks`` stage runs (the walk's saved
  scores are reused);
* **conf_fg / conf_bg**: new IR-label thresholds -> IR labels, boundary net, boundary maps, walk
  and masks run; the classifiers, Global CAM and seeds are reused.

Goal (issue 6): an IRN-threshold trial costs at most 5 % of a full one.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine_info, write_readme_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- cache:begin -->", "<!-- cache:end -->"


def _trial(runner, irn: dict) -> tuple[float, list[str]]:
    from c2am_bench.pipeline import Variant

    events: list[str] = []

    def on_event(stage: str, key: str, what: str) -> None:
        if what == "computing":
            events.append(stage)

    start = time.perf_counter()
    with runner.cache.listening(on_event):
        runner.run(Variant("c2am", "c2am", irn=irn), 0, "masks")
    return time.perf_counter() - start, events


def _recorded_full(runner) -> float:
    """Sum of the wall seconds each stage of a C2AM masks trial recorded when it was computed."""
    from c2am_bench.pipeline import Variant

    row = runner.run(Variant("c2am", "c2am"), 0, "masks").runs[0]
    total = 0.0
    for folder in json.loads(row["stage_dirs"]).values():
        info = json.loads((Path(folder) / "stage.json").read_text())
        total += float(info.get("seconds") or 0.0)
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke", choices=["smoke", "default"])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--cache", type=Path, default=None,
                        help="a finished cache to copy (e.g. work_dirs/cache after make compare); "
                        "default: start empty and time the full trial too")  # fmt: skip
    args = parser.parse_args()

    from c2am_bench.datasets import synthvoc
    from c2am_bench.pipeline import Pipeline
    from c2am_bench.stage_cache import StageCache

    data = args.data or ROOT / "data" / f"synthvoc-{args.profile}"
    synthvoc.ensure(synthvoc.make_config(args.profile), data, progress=False)
    tmp = Path(tempfile.mkdtemp(prefix="c2am-bench-cache-"))
    try:
        cache_dir = tmp / "cache"
        if args.cache:
            subprocess.run(["cp", "-al", str(args.cache), str(cache_dir)], check=True)
        runner = Pipeline(data, StageCache(cache_dir), profile=args.profile, seg_eval=())
        if args.cache:
            full, full_how = _recorded_full(runner), "recorded per-stage seconds"
            full_events = []
        else:
            full, full_events = _trial(runner, {})
            full_how = "measured from an empty cache"
        ssb, ssb_events = _trial(runner, {"sem_seg_bg": 0.31})
        conf, conf_events = _trial(runner, {"conf_fg": 0.36, "conf_bg": 0.08})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    figures = {
        "profile": args.profile, "data": str(data), "full_seconds": round(full, 2),
        "full_how": full_how, "full_stages": full_events,
        "sem_seg_bg_seconds": round(ssb, 2), "sem_seg_bg_stages": ssb_events,
        "conf_seconds": round(conf, 2), "conf_stages": conf_events,
        "machine": machine_info(with_torch=True),
    }  # fmt: skip
    out = ROOT / "benchmarks" / "results" / "cache.json"
    out.write_text(json.dumps(figures, indent=1) + "\n")
    rows = [
        ("full C2AM trial (to pseudo-masks)", full, None, full_how),
        ("sem_seg_bg only", ssb, ssb / full, "recomputed: " + ", ".join(ssb_events)),
        ("conf_fg / conf_bg", conf, conf / full, "recomputed: " + ", ".join(conf_events)),
    ]
    lines = [BEGIN,
             f"Last run {time.strftime('%Y-%m-%dT%H:%M:%S%z')}: profile {args.profile}, {data}.",
             "", "| trial | wall | share of full | goal | result | what ran |",
             "|---|---:|---:|---:|---|---|"]  # fmt: skip
    for name, sec, share, what in rows:
        if share is None:
            lines.append(f"| {name} | {sec:.1f} s | 100 % | | | {what} |")
        else:
            verdict = "pass" if share <= 0.05 else "MISS"
            lines.append(f"| {name} | {sec:.1f} s | {100 * share:.1f} % | <= 5 % | {verdict} | "
                         f"{what} |")  # fmt: skip
    lines.append(END)
    write_readme_section(ROOT / "benchmarks" / "README.md", BEGIN, END, "\n".join(lines))
    print("\n".join(lines[1:-1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
