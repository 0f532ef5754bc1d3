"""``compare``, ``study run|list`` and ``report``: the commands users run (parsers + handlers).

Kept apart from :mod:`c2am_bench.cli` (the stage-by-stage commands) so each file stays readable;
all the work happens in :mod:`~c2am_bench.pipeline`, :mod:`~c2am_bench.studies` and
:mod:`~c2am_bench.report`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from .errors import C2AMError, ConfigError

DEFAULT_WORK = Path("work_dirs")


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


def _common(p: argparse.ArgumentParser, *, default_seeds: str | None = "0") -> None:
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
        default=None if default_seeds is None else _seeds(default_seeds),
        help="comma-separated seeds, e.g. 0,1,2 (mean and 95%% "
        "CI over them; deltas are paired by seed)",
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
    """``--cls/irn/seg-options`` -> :class:`~c2am_bench.pipeline.Runner`'s ``stage_options``."""
    return {"classifier": args.cls_options or {}, "boundary_net": args.irn_options or {},
            "segmentor": args.seg_options or {}}  # fmt: skip


def add_parsers(sub) -> None:
    """Register ``compare``, ``study`` and ``report`` on the top-level subparsers."""
    compare = sub.add_parser(
        "compare", help="CAM vs CAM+Constant vs C2AM through every stage, with a report"
    )
    _common(compare)
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
    _common(srun, default_seeds=None)
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


def _resolve_data(args) -> Path:
    from .datasets import synthvoc, voc

    root = args.data
    if root is None:
        prof = _profile(args)
        if prof.synthvoc is None:
            raise ConfigError(f"--profile {prof.name} needs --data pointing at VOCdevkit/VOC2012")
        root = synthvoc.default_root(prof.synthvoc)
        state = synthvoc.ensure(synthvoc.make_config(prof.synthvoc), root, progress=_progress(args))
        _say(args, f"dataset: SynthVOC ({prof.synthvoc} profile) at {root} [{state}]")
    summary = voc.check_tree(root, progress=_progress(args))
    if not args.quiet:
        print(voc.format_summary(summary))
    return Path(root)


def _profile(args):
    """``--profile`` read and checked (:func:`c2am_bench.profiles.load_profile`)."""
    from .profiles import load_profile

    return load_profile(args.profile)


def _say(args, text: str) -> None:
    if not args.quiet:
        print(text, flush=True)


def _events(args):
    """Stage events -> one terminal line each: which method/seed, stage, reused or computing."""
    start, seen = time.perf_counter(), set()

    def on_event(scope: str, stage: str, key: str, what: str) -> None:
        if args.quiet or what == "done" or (scope, stage, key, what) in seen:
            return
        seen.add((scope, stage, key, what))
        t = time.perf_counter() - start
        print(f"[{t:6.0f}s] {scope:<28} {stage:<13} {what} ({stage}/{key})", flush=True)

    return on_event


def _forced(args) -> list[str]:
    from .stage_cache import STAGES

    force = [s.strip() for s in args.force.split(",") if s.strip()]
    unknown = sorted(set(force) - set(STAGES))
    if unknown:
        raise ConfigError(f"--force: unknown stage(s) {unknown}; choose from {', '.join(STAGES)}")
    return force


def _cache(args):
    from .stage_cache import StageCache

    return StageCache(args.work_dir / "cache", force=_forced(args))


def _context(
    args,
    *,
    kind: str,
    name: str,
    data_root: Path,
    against: str,
    objective=None,
    storage=None,
    notes=(),
) -> dict:
    from .datasets import voc
    from .environment import describe
    from .pipeline import data_fingerprint
    from .studies import git_commit, redact

    env = describe()
    env["git commit"] = git_commit()
    return {
        "title": name,
        "kind": kind,
        "name": name,
        "against": against,
        "profile": _profile(args).name,
        "profile_file": _profile(args).path,
        "pseudo": getattr(args, "pseudo", "irn"),
        "data_root": str(data_root.resolve()),
        "data_fingerprint": data_fingerprint(data_root),
        "class_names": voc.open_tree(data_root).class_names,
        "objective": objective,
        "environment": env,
        "storage": redact(storage),
        "seeds": list(args.seeds or ()),
        "notes": list(notes),
    }


def _render(results_dir: Path, report_dir: Path, study=None) -> Path:
    from .report import render_report

    return render_report(results_dir, report_dir, study=study)


def _oracle_methods(spec: str | None, names: list[str], against: str) -> tuple[str, ...]:
    """``--oracle`` -> the method names that climb the ladder (checked before any work)."""
    if spec is None:
        return (against,)
    spec = spec.strip()
    if spec == "none":
        return ()
    if spec == "all":
        return tuple(names)
    chosen = tuple(m.strip() for m in spec.split(",") if m.strip())
    unknown = [m for m in chosen if m not in names]
    if unknown or not chosen:
        raise ConfigError(f"--oracle {spec!r}: {', '.join(unknown) or 'empty'} not among "
                          f"--methods {names} (or write 'all' / 'none')")  # fmt: skip
    return chosen


def _run_dir(work_dir: Path, name: str) -> Path:
    from .studies import check_name

    return work_dir / "runs" / check_name(name, "run name")


# -- commands -------------------------------------------------------------------------------------
def cmd_compare(args) -> int:
    from .pipeline import Runner, check_stage_options, compare, parse_method, write_results

    _profile(args)  # first: its custom_imports may register a pseudo-mask method
    variants = [parse_method(m, args.pseudo) for m in args.methods.split(",") if m.strip()]
    names = [v.name for v in variants]
    if not variants:
        raise ConfigError("--methods: name at least one method")
    if args.against not in names:
        raise ConfigError(f"--against {args.against!r} is not among --methods {names}")
    oracle = _oracle_methods(args.oracle, names, args.against)
    name = args.name or f"compare-{_profile(args).name}"
    run_dir = _run_dir(args.work_dir, name)
    report_dir = args.report_dir or Path("reports") / name
    _forced(args)
    check_stage_options(args.profile, _stage_options(args))  # before any work
    if args.dry_run:
        return _dry_run(args, variants, oracle, run_dir)
    root = _resolve_data(args)
    start = time.perf_counter()
    runner = Runner(
        root,
        _cache(args),
        profile=args.profile,
        progress=_progress(args),
        verbose=args.verbose,
        on_event=_events(args),
        stage_options=_stage_options(args),
        seg_eval=args.seg_eval,
    )
    results = compare(runner, variants, list(args.seeds), until=args.until, against=args.against,
                      oracle=oracle, oracle_seeds=args.oracle_seeds)  # fmt: skip
    wall = time.perf_counter() - start
    context = _context(
        args,
        kind="compare",
        name=name,
        data_root=root,
        against=args.against,
        storage=args.storage,
        notes=[
            f"wall time of this invocation: {wall:.0f} s (stages reused from "
            "the cache cost nothing here; runs.csv has each stage's own time)"
        ],
    )
    write_results(results, context, run_dir)
    if args.storage:
        _record_compare(args.storage, name, results, args.against)
    written = _render(run_dir, report_dir)
    _print_table(results.runs)
    _say(args, f"\nwall time {wall:.0f}s; results {run_dir}; report {written}/index.html")
    return 0


def _dry_run(args, variants, oracle: tuple[str, ...], run_dir: Path) -> int:
    """``compare --dry-run``: the verdict table; exit 1 when a stage failed."""
    from .dry_run import format_report, run_dry
    from .environment import machine

    root = _resolve_data(args)
    _say(args, f"dry run: every stage on {args.dry_images} images per split ({2 * args.dry_images}"
               f" train_aug), trainings 1 epoch or {args.dry_iters} iterations at batch 2; "
               "throw-away cache")  # fmt: skip
    out = run_dir.with_name(run_dir.name + "-dry-run")
    report = run_dry(root, variants, profile=args.profile, seed=args.seeds[0],
                     work_dir=args.work_dir, stage_options=_stage_options(args), oracle=oracle,
                     until=args.until, images=args.dry_images, iters=args.dry_iters,
                     on_event=_events(args), log_path=out / "errors.log",
                     seg_eval=args.seg_eval)  # fmt: skip
    where = machine()
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".dry_run.json.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({**report.to_dict(), "machine": where, "profile": _profile(args).name,
                               "data_root": str(root.resolve())}, indent=1) + "\n")  # fmt: skip
    os.replace(tmp, out / "dry_run.json")
    for line in format_report(report, where):
        print(line)
    print(f"results {out / 'dry_run.json'}")
    return 1 if report.failed else 0


def _record_compare(url: str, name: str, results, against: str) -> None:
    """Each (method, seed) of a compare as one Optuna trial: readable by optuna's CLI/dashboard."""
    import optuna
    from optuna.distributions import CategoricalDistribution, IntDistribution

    from .studies import open_storage

    study = optuna.create_study(
        study_name=name,
        storage=open_storage(url, heartbeat=None),
        direction="maximize",
        load_if_exists=True,
    )
    seen = {(t.params.get("variant"), t.params.get("seed")) for t in study.get_trials()}
    names = sorted({r["variant"] for r in results.runs})
    for row in results.runs:
        if (row["variant"], row["seed"]) in seen:
            continue
        value = row.get("seg_miou", row.get("pseudo_miou", row["seed_miou"]))
        study.add_trial(
            optuna.create_trial(
                params={"variant": row["variant"], "seed": row["seed"]},
                distributions={
                    "variant": CategoricalDistribution(names),
                    "seed": IntDistribution(0, 2**31 - 1),
                },
                value=value if value == value else None,
                state=optuna.trial.TrialState.COMPLETE
                if value == value
                else optuna.trial.TrialState.FAIL,
                user_attrs={k: v for k, v in row.items() if isinstance(v, (int, float, str, bool))},
            )
        )


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
    from .pipeline import Runner, check_stage_options, synth_data, write_results
    from .studies import find_spec, run_study, study_results

    pname = _profile(args).name  # first: its custom_imports may register a pseudo-mask method
    spec = find_spec(args.name)
    if spec.profiles and pname not in spec.profiles:
        raise ConfigError(f"study {spec.name!r} runs with profile(s) {', '.join(spec.profiles)}")
    if args.n_trials is not None and args.n_trials < 1:
        raise ConfigError(f"--n-trials {args.n_trials}: must be >= 1")
    args.seeds = args.seeds or spec.seeds
    name = f"study-{spec.name}-{pname}"
    run_dir = _run_dir(args.work_dir, name)
    report_dir = args.report_dir or Path("reports") / name
    _forced(args)
    check_stage_options(args.profile, _stage_options(args))  # before any work
    storage = args.storage or f"sqlite:///{(args.work_dir / 'studies.db').resolve()}"
    if args.storage:  # a bad URL or an unreachable server fails before anything is written
        from .studies import open_storage

        open_storage(args.storage, heartbeat=None)
    root = _resolve_data(args)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    cache = _cache(args)
    events, runners = _events(args), {}

    def make_runner(data: dict):
        key = json.dumps(data, sort_keys=True)
        if key not in runners:
            data_root = root
            if data:
                if args.data is not None:
                    raise ConfigError(
                        f"study {spec.name!r} regenerates SynthVOC (data.* "
                        "parameters); it cannot run on --data"
                    )
                data_root = synth_data(cache, args.profile, data, progress=_progress(args))
            runners[key] = Runner(
                data_root,
                cache,
                profile=args.profile,
                progress=_progress(args),
                verbose=args.verbose,
                on_event=events,
                stage_options=_stage_options(args),
                seg_eval=args.seg_eval,
            )
        return runners[key]

    def on_trial(trial) -> None:
        _say(
            args,
            f"trial {trial.number} {trial.state.name}: value {trial.value} params {trial.params}",
        )

    start = time.perf_counter()
    study = run_study(
        spec,
        make_runner,
        storage_url=storage,
        profile=pname,
        seeds=tuple(args.seeds),
        n_trials=args.n_trials,
        work_dir=str(args.work_dir.resolve()),
        objective=args.objective,
        on_trial=on_trial,
        heartbeat=args.heartbeat,
    )
    results = study_results(study)
    if not results.runs:
        # A surplus worker (more workers than points left): its trial found its point held by
        # another worker (PRUNED, see studies._twin) and nothing is COMPLETE yet. Not an error.
        from optuna.trial import TrialState

        from .studies import redact

        busy = [t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))]
        if not busy:
            raise C2AMError(f"study {spec.name!r}: no completed trial to report yet")
        later = f"c2am-bench report {name}"
        if args.work_dir != DEFAULT_WORK:
            later += f" --work-dir {args.work_dir}"
        if args.storage:
            later += f" --storage {redact(args.storage)}"
        _say(args, f"study {spec.name!r}: nothing left for this worker: every point is complete "
                   f"or running in another worker (trials {', '.join(map(str, busy))} running); "
                   "the report is rendered by a worker that completes a trial, or later with "
                   f"`{later}`")  # fmt: skip
        return 0
    context = _context(
        args,
        kind="study",
        name=name,
        data_root=root,
        against="cam",
        objective=args.objective or spec.objective,
        storage=storage,
        notes=[spec.question],
    )
    context.update(
        study=study.study_name,
        question=spec.question,
        space=spec.describe_space(),
        default_storage=args.storage is None,
    )
    write_results(results, context, run_dir)
    written = _render(run_dir, report_dir, study=study)
    _say(
        args,
        f"\n{len(study.trials)} trials in storage; best value "
        f"{_best(study)}; wall {time.perf_counter() - start:.0f}s; report "
        f"{written}/index.html",
    )
    return 0


def _best(study) -> str:
    try:
        return f"{study.best_value:.2f} at {study.best_params}"
    except ValueError:
        return "n/a"


def cmd_report(args) -> int:
    candidate = Path(args.run)
    if (candidate / "runs.csv").is_file():
        run_dir = candidate
    else:
        run_dir = _run_dir(args.work_dir, args.run)
        if not (run_dir / "runs.csv").is_file():
            raise ConfigError(
                f"{args.run!r}: neither a results directory (runs.csv) nor a run "
                f"in {args.work_dir / 'runs'}"
            )
    context = json.loads((run_dir / "context.json").read_text())
    study = None
    if context.get("study"):
        url = args.storage or (
            f"sqlite:///{(args.work_dir / 'studies.db').resolve()}"
            if context.get("default_storage")
            else None
        )
        if url:
            import optuna

            from .studies import open_storage

            study = optuna.load_study(
                study_name=context["study"], storage=open_storage(url, heartbeat=None)
            )
    out = args.out or Path("reports") / context.get("name", run_dir.name)
    written = _render(run_dir, out, study=study)
    print(f"report {written}/index.html")
    return 0
