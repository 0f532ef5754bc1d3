"""``compare``, ``study run|list`` and ``report``: the commands users run (parsers + handlers).

Kept apart from :mod:`c2am_bench.cli` (the stage-by-stage commands) so each file stays readable;
all the work happens in :mod:`~c2am_bench.pipeline`, :mod:`~c2am_bench.studies` and
:mod:`~c2am_bench.report`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .jobs import DEFAULT_WORK


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: comma-separated integers, e.g. 0,1,2"
        ) from None
    if not seeds or any(not 0 <= s < 2**31 for s in seeds) or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: distinct integers in [0, 2^31)")
    return seeds


def _seg_eval(text: str) -> tuple[str, ...]:
    """``--seg-eval``: ``plain`` | ``tta`` | ``crf`` | ``tta,crf`` -> the extra evaluations."""
    from .pipeline import SEG_EVAL_CHOICES

    parts = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in parts if t not in (*SEG_EVAL_CHOICES, "plain")]
    if not parts or bad:
        raise argparse.ArgumentTypeError(
            f"{text!r}: comma-separated from plain, {', '.join(SEG_EVAL_CHOICES)}"
        )
    return tuple(t for t in dict.fromkeys(parts) if t != "plain")


def _common(p: argparse.ArgumentParser, *, seeds_default: str) -> None:
    p.add_argument(
        "--profile",
        default="default",
        help="smoke, default, paper (mm_configs/profiles/) or a profile file of yours (.py): "
        "each training stage's config and settings (default: default)",
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="VOC-layout root (default: the generated SynthVOC of the profile)",
    )
    p.add_argument(
        "--seeds",
        type=_seeds,
        default=None,
        help="comma-separated seeds, e.g. 0,1,2 (mean and 95%% "
        f"CI over them; deltas are paired by seed; default: {seeds_default})",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        default=DEFAULT_WORK,
        help="stage cache and run results (default: work_dirs)",
    )
    p.add_argument(
        "--report-dir",
        type=Path,
        default=None,
        help="where the report goes (default: reports/<name>)",
    )
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna storage URL: sqlite:///FILE, postgresql://USER@HOST/DB or "
        "journal:FILE (default: sqlite in the work dir)",
    )
    p.add_argument(
        "--force", default="", help="comma-separated stages to recompute, e.g. masks,segmentor"
    )
    p.add_argument("--verbose", action="store_true", help="show mmengine's training log")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="cores this process keeps busy (torch threads, CRF workers; default: all). With "
        "W workers on one machine give each cores/W: two at once with all cores each run "
        "3.7x slower than one after the other (benchmarks/README.md)",
    )
    p.add_argument(
        "--seg-eval",
        type=_seg_eval,
        default=None,
        metavar="MODES",
        help="DeepLabV2's val evaluations beside the plain one: plain (none), tta, crf or "
        "tta,crf (default: the profile's; tta,crf for paper, none for the CPU default)",
    )
    from .cli import _CfgOptions  # the stage commands' --cfg-options parser (mmengine syntax)

    for flag, stage, example in (
        ("--cls-options", "classifier", "optim_wrapper.optimizer.lr=0.01"),
        ("--irn-options", "boundary net", "train_cfg.max_epochs=5"),
        ("--seg-options", "DeepLabV2", "train_cfg.max_iters=20000"),
    ):
        p.add_argument(flag, nargs="+", action=_CfgOptions, default=None, metavar="K=V",
                       help=f"override keys of the {stage} config(s) for every method, e.g. "
                       f"{example} (mmengine syntax; checked against the configs)")  # fmt: skip


def _stage_options(args) -> dict:
    """``--cls/irn/seg-options`` -> :class:`~c2am_bench.pipeline.Pipeline`'s ``stage_options``."""
    return {"classifier": args.cls_options or {}, "boundary_net": args.irn_options or {},
            "segmentor": args.seg_options or {}}  # fmt: skip


def add_parsers(sub) -> None:
    """Register ``compare``, ``study`` and ``report`` on the top-level subparsers."""
    compare = sub.add_parser(
        "compare", help="CAM vs CAM+Constant vs C2AM through every stage, with a report"
    )
    _common(
        compare,
        seeds_default="the profile's compare_seeds: 0,1,2 for default and "
        "paper, 0 for smoke; --seeds 0 for a single seed",
    )
    compare.add_argument(
        "--methods",
        default="cam,cam_constant,c2am",
        help="comma-separated: cam, cam_constant, c2am, NAME=external:DIR; append @crf or @irn "
        "to choose one method's pseudo-mask method (cam,cam@crf: both for CAM)",
    )
    compare.add_argument(
        "--pseudo",
        default="irn",
        help="pseudo-mask method of every method without an @: irn (IR labels, boundary net, "
        "random walk; default), crf (one dense-CRF pass over the seeds) or one your profile "
        "registers (custom_imports)",
    )
    compare.add_argument("--against", default="cam", help="baseline for the deltas (default cam)")
    compare.add_argument(
        "--until",
        default="seg",
        choices=["seeds", "masks", "seg"],
        help="last stage to run (default: seg, DeepLabV2)",
    )
    compare.add_argument(
        "--oracle",
        default=None,
        help="methods that climb the oracle ladder (ground truth substituted for one stage at "
        "a time): comma-separated names, 'all' or 'none' (default: the --against baseline)",
    )
    compare.add_argument(
        "--oracle-seeds",
        default="first",
        choices=["first", "all"],
        help="seeds the oracle ladder climbs at: the first of --seeds (default; the ladder's "
        "GT-label boundary net and DeepLabV2 ceiling cost about one method each) or all",
    )
    compare.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run the method x seed runs in N worker processes side by side, each on "
        "cores/N threads, after the baseline's seeds (default 1: one after the other; "
        "trainings on fewer threads sum in another order, so the numbers differ slightly)",
    )
    compare.add_argument("--name", default=None, help="run name (default compare-<profile>)")
    compare.add_argument(
        "--dry-run",
        action="store_true",
        help="every stage on a handful of images and a few iterations (your data, weights and "
        "options; a throw-away cache), then a verdict per stage and each stage's time "
        "projected to the full run",
    )
    compare.add_argument(
        "--dry-images",
        type=int,
        default=4,
        metavar="N",
        help="images per split in a --dry-run (train_aug gets 2N; default 4)",
    )
    compare.add_argument(
        "--dry-iters",
        type=int,
        default=4,
        metavar="N",
        help="iterations of an iteration-based training in a --dry-run "
        "(epoch-based ones run 1 epoch; default 4)",
    )
    compare.set_defaults(func=cmd_compare)

    study = sub.add_parser("study", help="named ablation studies (Optuna) from studies/*.yaml")
    ssub = study.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    slist = ssub.add_parser("list", help="name, question, search space and objective of each")
    slist.set_defaults(func=cmd_study_list)
    srun = ssub.add_parser("run", help="run (or continue) a study; renders its report")
    srun.add_argument("name", help="a study of `c2am-bench study list`")
    srun.add_argument(
        "--n-trials",
        type=int,
        default=None,
        help="trials to complete in total (default: the grid, or the file's)",
    )
    srun.add_argument(
        "--objective",
        default=None,
        help="seed_miou | pseudo_miou | seg_miou (+ _gain: minus the baseline) | irn_lift | "
        "heldout_pseudo_miou (pseudo-masks on held-out train_aug images)",
    )
    srun.add_argument(
        "--heartbeat",
        type=int,
        default=60,
        help="seconds between worker heartbeats (RDB storage); a worker silent for 3 is dead "
        "and its trial is retried (default 60)",
    )
    _common(srun, seeds_default="the study file's")
    srun.set_defaults(func=cmd_study_run)

    report = sub.add_parser("report", help="render the report of a finished compare or study")
    report.add_argument("run", help="run name (work_dirs/runs/NAME) or a results directory")
    report.add_argument("--out", type=Path, default=None, help="default: reports/<name>")
    report.add_argument("--work-dir", type=Path, default=DEFAULT_WORK)
    report.add_argument("--storage", default=None, help="study storage (for Optuna figures)")
    report.set_defaults(func=cmd_report)


# -- helpers --------------------------------------------------------------------------------------
def _progress(args) -> bool:
    return not args.quiet and sys.stderr.isatty()


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)


class EventLines:
    """Stage events -> one terminal line each: which method/seed, stage, reused or computing.

    A plain object, not a closure, so ``compare --jobs`` can hand it to its worker processes
    (the seconds count from the same wall-clock start there).
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet, self.start, self.seen = quiet, time.time(), set()

    def __call__(self, scope: str, stage: str, key: str, what: str) -> None:
        if self.quiet or what == "done" or (scope, stage, key, what) in self.seen:
            return
        self.seen.add((scope, stage, key, what))
        t = time.time() - self.start
        print(f"[{t:6.0f}s] {scope:<28} {stage:<13} {what} ({stage}/{key})", flush=True)


def _events(args) -> EventLines:
    return EventLines(args.quiet)


def _job_options(args) -> dict:
    """The common flags as :class:`~c2am_bench.jobs.JobSettings` fields."""
    return dict(
        profile=args.profile, data=args.data, seeds=args.seeds, work_dir=args.work_dir,
        report_dir=args.report_dir, storage=args.storage, force=args.force,
        seg_eval=args.seg_eval, stage_options=_stage_options(args), progress=_progress(args),
        verbose=args.verbose, on_event=_events(args), say=lambda text: _say(args, text),
        threads=args.threads,
    )  # fmt: skip


# -- commands -------------------------------------------------------------------------------------
def cmd_compare(args) -> int:
    from .jobs import CompareJob

    job = CompareJob(**_job_options(args), methods=args.methods, pseudo=args.pseudo,
                     against=args.against, until=args.until, oracle=args.oracle,
                     oracle_seeds=args.oracle_seeds, name=args.name,
                     jobs=args.jobs)  # fmt: skip
    plan = job.plan()  # every check before any work
    if args.dry_run:
        from .dry_run import format_report

        report, where, out = job.dry_run(plan, images=args.dry_images, iters=args.dry_iters)
        for line in format_report(report, where, n_seeds=len(job.seeds),
                                  ladder_every_seed=args.oracle_seeds == "all"):  # fmt: skip
            print(line)
        print(f"results {out / 'dry_run.json'}")
        return 1 if report.failed else 0
    outcome = job.run(plan)
    _print_table(outcome.results.runs)
    _say(args, f"\nwall time {outcome.wall_seconds:.0f}s; results {outcome.run_dir}; report "
               f"{outcome.report_dir}/index.html")  # fmt: skip
    return 0


def _print_table(runs: list[dict]) -> None:
    import pandas as pd

    frame = pd.DataFrame(runs)
    cols = {
        "label": "method",
        "seed": "seed",
        "cls_map": "cls mAP",
        "seed_miou": "seed",
        "seed_miou_fixed": "seed@0.15",
        "seed_miou_heldout": "seed@held-out t",
        "pseudo_miou": "pseudo",
        "pseudo_miou_heldout": "pseudo@held-out",
        "seg_miou": "seg val",
        "seg_tta_miou": "seg +TTA",
        "seg_crf_miou": "seg +CRF",
    }
    # evaluations that did not run (e.g. TTA / CRF under --seg-eval plain) get no column
    optional = ("seg_tta_miou", "seg_crf_miou")
    keep = [c for c in cols if c in frame and not (c in optional and frame[c].isna().all())]
    frame = frame[keep].rename(columns=cols)
    full = pd.DataFrame(runs)
    print(
        "\nmIoU (%): seeds and pseudo-masks on train (seed: best t on train; @held-out: "
        "threshold chosen on held-out train_aug images), DeepLabV2 on val"
    )
    print(frame.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if "oracle" in full and full["oracle"].any():
        ladder = {
            "label": "method", "seed": "seed", "seed_miou": "seeds",
            "oracle_gt_boundary_miou": "GT boundary", "oracle_gt_ir_miou": "GT IR labels",
            "pseudo_miou": "pseudo", "seg_miou": "seg val", "oracle_seg_gt_miou": "seg on GT",
            "boundary_f": "boundary F", "ir_fg_precision": "IR fg prec",
        }  # fmt: skip
        view = full[full["oracle"]]
        view = view[[c for c in ladder if c in view]].rename(columns=ladder)
        print("\noracle ladder (%): ground truth substituted for one input at a time")
        print(view.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if "cam_mass_body" in full:
        shares = {"label": "method", "seed": "seed", "cam_mass_body": "body",
                  "cam_mass_part": "part", "cam_mass_context": "context",
                  "cam_mass_elsewhere": "elsewhere"}  # fmt: skip
        view = full[[c for c in shares if c in full]].rename(columns=shares)
        print("\nCAM mass (%) on the object's body, its part, its context band, elsewhere (train)")
        print(view.to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    if "pseudo_err_context" in full:
        errs = {"label": "method", "seed": "seed", "pseudo_err_context": "masks: context",
                "pseudo_err_object": "masks: object", "pseudo_err_background": "masks: other bg",
                "seg_err_context": "seg: context", "seg_err_absent": "seg: absent class",
                "seg_err_object": "seg: object", "seg_err_background": "seg: other bg"}  # fmt: skip
        view = full[[c for c in errs if c in full]].rename(columns=errs)
        print(
            "\nForeground errors (% of a class's predicted pixels, mean over classes): on its "
            "context band, class not in the image, another object, other background (masks on "
            "train, seg on val)"
        )
        print(view.to_string(index=False, float_format=lambda v: f"{v:.1f}"))


def cmd_study_list(args) -> int:
    from .studies import list_specs

    for spec in list_specs():
        sampler = f"grid ({spec.grid_size} points)" if spec.is_grid else "TPE (seeded)"
        print(
            f"{spec.name}\n  question:  {spec.question}\n  space:     {spec.describe_space()}\n"
            f"  objective: {spec.objective} (maximise); sampler: {sampler}; "
            f"profiles: {', '.join(spec.profiles) or 'any'}\n"
        )
    return 0


def cmd_study_run(args) -> int:
    from .jobs import StudyJob
    from .studies import redact

    def on_trial(trial) -> None:
        _say(args, f"trial {trial.number} {trial.state.name}: value {trial.value} params "
                   f"{trial.params}")  # fmt: skip

    job = StudyJob(**_job_options(args), study=args.name, n_trials=args.n_trials,
                   objective=args.objective, heartbeat=args.heartbeat,
                   on_trial=on_trial)  # fmt: skip
    plan = job.plan()  # every check before any work
    outcome = job.run(plan)
    if outcome.report_dir is None:  # a surplus worker: nothing left for it (not an error)
        later = f"c2am-bench report {plan.name}"
        if args.work_dir != DEFAULT_WORK:
            later += f" --work-dir {args.work_dir}"
        if args.storage:
            later += f" --storage {redact(args.storage)}"
        _say(args, f"study {plan.spec.name!r}: nothing left for this worker: every point is "
                   "complete or running in another worker (trials "
                   f"{', '.join(map(str, outcome.busy))} running); the report is rendered by a "
                   f"worker that completes a trial, or later with `{later}`")  # fmt: skip
        return 0
    _say(args, f"\n{len(outcome.study.trials)} trials in storage; best value "
               f"{_best(outcome.study)}; wall {outcome.wall_seconds:.0f}s; report "
               f"{outcome.report_dir}/index.html")  # fmt: skip
    return 0


def _best(study) -> str:
    try:
        return f"{study.best_value:.2f} at {study.best_params}"
    except ValueError:
        return "n/a"


def cmd_report(args) -> int:
    from .jobs import render_run

    written = render_run(args.run, work_dir=args.work_dir, out=args.out, storage=args.storage)
    print(f"report {written}/index.html")
    return 0
