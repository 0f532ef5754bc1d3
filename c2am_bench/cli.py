"""The ``c2am-bench`` command line: parse, call one library function, print, exit.

Every error caused by the user's input is a :class:`~c2am_bench.errors.C2AMError`; it is printed as
one line ``error: ...`` and the process exits with code 2 (argparse's usage errors also exit 2).
Heavy libraries (torch, mmseg) are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

from . import __version__
from .errors import C2AMError
from .irn_settings import IRN

DEFAULT_DATA = Path("data/synthvoc-default-v3")  # = datasets.synthvoc.default_root("default")


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors as one line ``error: ...`` (exit 2), like every other error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a value in [0, 1], got {value}")
    return value


class _CfgOptions(argparse.Action):
    """``--cfg-options k=v ...`` parsed by mmengine's ``DictAction`` (imported only when used)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction

        for kv in values:
            if "=" not in kv or kv.startswith("="):
                parser.error(f"{option_string}: malformed {kv!r}; expected KEY=VALUE")
        DictAction(self.option_strings, self.dest, nargs=self.nargs)(
            parser, namespace, values, option_string
        )


def _scales(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"scales must be > 0, got {text!r}")
    return values


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="mmengine config file (mm_configs/...)")
    p.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="output folder (default: work_dirs/<config name>)",
    )
    p.add_argument(
        "--cfg-options",
        nargs="+",
        action=_CfgOptions,
        default=None,
        metavar="K=V",
        help="override config keys, e.g. model.head.gamma=2.0 (mmengine syntax)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    p.add_argument(
        "--launcher",
        choices=["none", "pytorch"],
        default="none",
        help="'pytorch' under torchrun for data-parallel training",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="c2am-bench",
        description="Benchmark Causal CAM (C2AM) against CAM and CAM+Constant, "
        "from classifier to segmentation.",
    )
    parser.add_argument("--version", action="version", version=f"c2am-bench {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = sub.add_parser("data", help="generate, validate and show datasets")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="SUBCOMMAND")

    synth = dsub.add_parser(
        "synth",
        help="write a SynthVOC dataset (confounded, PASCAL VOC layout)",
        description="Write a SynthVOC dataset in the exact PASCAL VOC layout. Options left out "
        "take the profile's value.",
    )
    synth.add_argument("--out", required=True, type=Path, help="new (or empty) output folder")
    synth.add_argument("--profile", default="default", choices=["smoke", "default"])
    synth.add_argument("--seed", type=_non_negative_int, default=None)
    synth.add_argument("--num-classes", type=_positive_int, default=None, help="K, 1..20")
    synth.add_argument("--image-size", type=_positive_int, default=None, help="long side S")
    synth.add_argument("--n-train", type=_positive_int, default=None, help="train_aug images")
    synth.add_argument("--n-val", type=_positive_int, default=None, help="val images")
    synth.add_argument(
        "--p-context",
        type=_probability,
        default=None,
        help="P(class's context band | class present), default 0.4",
    )
    synth.add_argument(
        "--p-context-absent",
        type=_probability,
        default=None,
        help="P(context band | none of its classes present), default 0.04",
    )
    synth.add_argument(
        "--cooccur-strength",
        type=_probability,
        default=None,
        help="P(partner class joins a paired class), default 0.6",
    )
    synth.add_argument(
        "--part-size",
        type=float,
        default=None,
        help="discriminative part radius / object radius, default 0.15",
    )
    synth.add_argument(
        "--part-contrast",
        type=_probability,
        default=None,
        help="part colour vs the body's: 1 its own colour (default), 0 none, between a blend",
    )
    synth.set_defaults(func=cmd_data_synth)

    check = dsub.add_parser("check", help="validate a VOC-layout tree and print a summary")
    check.add_argument("root", type=Path, help="dataset root (holds JPEGImages/)")
    check.add_argument("--splits", nargs="+", default=None, help="default: all present")
    check.add_argument("--json", type=Path, default=None, help="also write the summary as JSON")
    check.set_defaults(func=cmd_data_check)

    show = dsub.add_parser("show", help="render a PNG grid of images with their masks")
    show.add_argument("root", type=Path)
    show.add_argument("--split", default="val")
    show.add_argument("--n", type=_positive_int, default=12, help="number of images")
    show.add_argument(
        "--out",
        type=Path,
        default=None,
        help="PNG path (default: reports/data/<dataset>-<split>.png)",
    )
    show.set_defaults(func=cmd_data_show)

    from .cli_runs import add_parsers

    add_parsers(sub)

    cam = sub.add_parser("cam", help="CAM stage: train a classifier, make seeds, evaluate seeds")
    csub = cam.add_subparsers(dest="cam_command", required=True, metavar="SUBCOMMAND")
    ctrain = csub.add_parser("train", help="train a CAM / CAM+Constant / C2AM classifier")
    _add_run_options(ctrain)
    ctrain.set_defaults(func=cmd_cam_train)
    cseeds = csub.add_parser("seeds", help="multi-scale CAM seeds (and Global CAM) of a run")
    cseeds.add_argument("run", type=Path, help="a finished `cam train` work dir")
    cseeds.add_argument("--out", type=Path, default=None, help="default: the run dir")
    cseeds.add_argument("--data", type=Path, default=None, help="default: the run's data_root")
    cseeds.add_argument("--split", default="train_aug")
    cseeds.add_argument("--scales", type=_scales, default=(1.0, 0.5, 1.5, 2.0))
    cseeds.add_argument(
        "--global-cam",
        type=_positive_int,
        default=None,
        metavar="S",
        help="also build the S x S Global CAM (reference: 128) in the same pass",
    )
    cseeds.add_argument("--batch-size", type=_positive_int, default=8)
    cseeds.set_defaults(func=cmd_cam_seeds)
    ceval = csub.add_parser("eval", help="seed mIoU over the background-threshold curve")
    ceval.add_argument("run", type=Path, help="folder holding cams/")
    ceval.add_argument("--data", type=Path, default=None, help="default: from seeds.json")
    ceval.add_argument("--split", default="train")
    ceval.add_argument("--fixed-threshold", type=_probability, default=0.15)
    ceval.set_defaults(func=cmd_cam_eval)

    irn = sub.add_parser("irn", help="IRN stage: IR labels, boundary net, random walk, masks")
    isub = irn.add_subparsers(dest="irn_command", required=True, metavar="SUBCOMMAND")
    ilab = isub.add_parser("labels", help="IR labels (dense CRF) from a run's seeds")
    ilab.add_argument("run", type=Path, help="folder holding cams/ and seeds.json")
    ilab.add_argument("--data", type=Path, default=None, help="default: from seeds.json")
    ilab.add_argument("--split", default="train_aug")
    ilab.add_argument("--conf-fg", type=_probability, default=IRN.conf_fg)
    ilab.add_argument("--conf-bg", type=_probability, default=IRN.conf_bg)
    ilab.add_argument("--workers", type=_positive_int, default=None)
    ilab.set_defaults(func=cmd_irn_labels)
    itrain = isub.add_parser("train", help="train the boundary network (mm_configs/irn/...)")
    _add_run_options(itrain)
    itrain.set_defaults(func=cmd_irn_train)
    imasks = isub.add_parser("masks", help="boundary maps, random walk, pseudo-masks, metrics")
    imasks.add_argument("irn_run", type=Path, help="a finished `irn train` work dir")
    imasks.add_argument("--cams", type=Path, required=True, help="the seeds' cams/ folder")
    imasks.add_argument("--data", type=Path, required=True)
    imasks.add_argument("--split", default="train_aug")
    imasks.add_argument("--beta", type=float, default=float(IRN.beta))
    imasks.add_argument("--exp-times", type=_non_negative_int, default=IRN.exp_times)
    imasks.add_argument("--sem-seg-bg", type=_probability, default=IRN.sem_seg_bg)
    imasks.add_argument("--eval-split", default="train")
    imasks.set_defaults(func=cmd_irn_masks)

    seg = sub.add_parser("seg", help="segmentation stage: DeepLabV2 on pseudo-masks")
    ssub = seg.add_subparsers(dest="seg_command", required=True, metavar="SUBCOMMAND")
    strain = ssub.add_parser("train", help="train + evaluate DeepLabV2 (mm_configs/seg/...)")
    _add_run_options(strain)
    strain.set_defaults(func=cmd_seg_train)
    stest = ssub.add_parser("test", help="val mIoU of a trained DeepLabV2, optionally TTA / CRF")
    stest.add_argument("run", type=Path, help="a finished `seg train` work dir")
    stest.add_argument("--data", type=Path, required=True, help="VOC-layout tree with GT")
    stest.add_argument("--split", default="val")
    stest.add_argument("--tta", action="store_true", help="multi-scale + flip (config's tta_*)")
    stest.add_argument("--crf", action="store_true", help="dense-CRF post-processing")
    stest.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for metrics.json (default: RUN/eval-SPLIT[-tta][-crf])",
    )
    stest.add_argument("--force", action="store_true", help="overwrite an existing metrics.json")
    stest.set_defaults(func=cmd_seg_test)

    env = sub.add_parser("env", help="print library versions and what this machine can run")
    env.set_defaults(func=cmd_env)
    return parser


def _progress_enabled(args: argparse.Namespace) -> bool:
    return not args.quiet and sys.stderr.isatty()


def cmd_data_synth(args: argparse.Namespace) -> int:
    from .datasets import synthvoc

    cfg = synthvoc.make_config(
        args.profile,
        seed=args.seed,
        num_classes=args.num_classes,
        image_size=args.image_size,
        n_train=args.n_train,
        n_val=args.n_val,
        p_context=args.p_context,
        p_context_absent=args.p_context_absent,
        cooccur_strength=args.cooccur_strength,
        part_size=args.part_size,
        part_contrast=args.part_contrast,
    )
    start = time.perf_counter()
    meta = synthvoc.generate(cfg, args.out, progress=_progress_enabled(args))
    seconds = time.perf_counter() - start
    splits = ", ".join(f"{k} {v}" for k, v in meta["splits"].items())
    print(
        f"wrote SynthVOC to {args.out} in {seconds:.1f}s: {splits}; "
        f"K={cfg.num_classes} classes, long side {cfg.image_size}px, seed {cfg.seed}"
    )
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .datasets import voc

    summary = voc.check_tree(args.root, args.splits, progress=_progress_enabled(args))
    print(voc.format_summary(summary))
    if args.json is not None:
        from .atomic import write_json

        write_json(args.json, voc.summary_to_dict(summary))
        print(f"summary written to {args.json}")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from .datasets import show

    out = args.out or Path("reports/data") / f"{args.root.resolve().name}-{args.split}.png"
    show.render_grid(args.root, out, split=args.split, n=args.n)
    print(f"wrote {out}")
    return 0


def cmd_cam_train(args: argparse.Namespace) -> int:
    from .train import load_config, train

    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    metrics = train(cfg, resume=args.resume, launcher=args.launcher, quiet_console=args.quiet,
                    stage="cam train")  # fmt: skip
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    shown = {k: v for k, v in metrics.items() if "/" not in k}
    print(f"trained {args.config.name} -> {cfg.work_dir}: " + json.dumps(shown))
    return 0


def cmd_cam_seeds(args: argparse.Namespace) -> int:
    from .seeds import make_seeds

    summary = make_seeds(args.run, args.out or args.run, data_root=args.data, split=args.split,
                         scales=args.scales, global_cam_size=args.global_cam,
                         batch_size=args.batch_size, progress=_progress_enabled(args))  # fmt: skip
    print(
        f"wrote {summary['n_images']} seeds to {(args.out or args.run) / 'cams'} in "
        f"{summary['seconds']:.1f}s" + (" (+ global_cam.npz)" if args.global_cam else "")
    )
    return 0


def cmd_cam_eval(args: argparse.Namespace) -> int:
    from .seeds import evaluate_seeds

    data = args.data
    if data is None:
        meta = args.run / "seeds.json"
        if not meta.is_file():
            raise C2AMError(f"{meta}: not found; pass --data")
        data = Path(json.loads(meta.read_text())["data_root"])
    m = evaluate_seeds(args.run / "cams", data, args.run / "seed_eval", split=args.split,
                       fixed_threshold=args.fixed_threshold)  # fmt: skip
    print(
        f"seed mIoU on {args.split}: {m['miou_at_fixed']:.4f} at t={m['fixed_threshold']}, "
        f"best {m['best_miou']:.4f} at t={m['best_threshold']} "
        f"({args.run / 'seed_eval' / 'metrics.json'})"
    )
    return 0


def _data_from_seeds(run: Path, data: Path | None) -> Path:
    if data is not None:
        return data
    meta = run / "seeds.json"
    if not meta.is_file():
        raise C2AMError(f"{meta}: not found; pass --data")
    return Path(json.loads(meta.read_text())["data_root"])


def cmd_irn_labels(args: argparse.Namespace) -> int:
    from .ir_labels import ir_label_quality, make_ir_labels

    data = _data_from_seeds(args.run, args.data)
    s = make_ir_labels(data, args.run / "cams", args.run, split=args.split, conf_fg=args.conf_fg,
                       conf_bg=args.conf_bg, workers=args.workers,
                       progress=_progress_enabled(args))  # fmt: skip
    print(f"wrote {s['n_images']} IR labels to {args.run / 'ir_labels'} in {s['seconds']:.1f}s")
    if args.split == "train_aug":
        q = ir_label_quality(data, args.run / "ir_labels", split="train")
        print("on train: " + ", ".join(f"{k} {v:.3f}" for k, v in q.items()
                                       if isinstance(v, float)))  # fmt: skip
    return 0


def _train_on_label_maps(
    args: argparse.Namespace, weights_name: str, labels: str, stage: str
) -> dict:
    """Train a config whose training labels are a folder the user must name (IR labels for the
    boundary net, pseudo-masks for DeepLabV2)."""
    from .train import load_config, train

    cfg = load_config(args.config, args.cfg_options, args.work_dir)
    if not cfg.train_dataloader.dataset.data_prefix.get("seg_map_path"):
        raise C2AMError("train_dataloader.dataset.data_prefix.seg_map_path is not set: pass "
                        "--cfg-options train_dataloader.dataset.data_prefix.seg_map_path="
                        f"{labels}")  # fmt: skip
    metrics = train(cfg, resume=args.resume, launcher=args.launcher,
                    weights_name=weights_name, quiet_console=args.quiet, stage=stage)  # fmt: skip
    return {**metrics, "work_dir": cfg.work_dir}


def cmd_irn_train(args: argparse.Namespace) -> int:
    from .irn_stage import WEIGHTS_FILE

    m = _train_on_label_maps(args, WEIGHTS_FILE, "<run>/ir_labels", "irn train")
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {args.config.name} -> {m['work_dir']} in {m['train_seconds']:.0f}s")
    return 0


def cmd_irn_masks(args: argparse.Namespace) -> int:
    from . import irn_stage

    b = irn_stage.make_boundaries(args.irn_run, args.data, args.irn_run, split=args.split,
                                  progress=_progress_enabled(args))  # fmt: skip
    w = irn_stage.make_pseudo_masks(
        args.cams, args.irn_run / irn_stage.BOUNDARY_DIR, args.data, args.irn_run,
        split=args.split, beta=args.beta, exp_times=args.exp_times, sem_seg_bg=args.sem_seg_bg,
        progress=_progress_enabled(args),
    )  # fmt: skip
    m = irn_stage.evaluate_pseudo_masks(args.irn_run, args.data, split=args.eval_split,
                                        sem_seg_bg=args.sem_seg_bg)  # fmt: skip
    print(
        f"boundary maps {b['seconds']:.1f}s, random walk + masks {w['seconds']:.1f}s; "
        f"pseudo-mask mIoU on {args.eval_split}: {m['mIoU']:.4f} at sem_seg_bg "
        f"{args.sem_seg_bg}, best {m['best_miou']:.4f} at {m['best_sem_seg_bg']}"
    )
    return 0


def cmd_seg_train(args: argparse.Namespace) -> int:
    from .seg_eval import WEIGHTS_FILE as SEG_WEIGHTS

    m = _train_on_label_maps(args, SEG_WEIGHTS, "<irn run>/pseudo_masks", "seg train")
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {args.config.name} -> {m['work_dir']}: val mIoU {m.get('seg/mIoU')} "
              f"(%), test mIoU {m.get('test/seg/mIoU')} (%)")  # fmt: skip
    return 0


def cmd_seg_test(args: argparse.Namespace) -> int:
    from .seg_eval import METRICS_FILE, default_out_dir, evaluate_segmentor

    out = args.out or default_out_dir(args.run, args.split, tta=args.tta, crf=args.crf)
    if (out / METRICS_FILE).exists() and not args.force:
        raise C2AMError(f"{out / METRICS_FILE}: already exists; pass --force to overwrite it")
    m = evaluate_segmentor(args.run, args.data, split=args.split, tta=args.tta, crf=args.crf,
                           out_dir=out, progress=_progress_enabled(args))  # fmt: skip
    mode = "+".join(k for k in ("tta", "crf") if m[k]) or "plain"

    def pct(v):
        return "   n/a" if v is None else f"{100 * v:6.2f}"

    print(f"{args.run} on {args.split} ({m['n_images']} images, {mode}) in {m['seconds']:.1f}s")
    print(f"  mIoU {pct(m['miou'])}   fg precision {pct(m['fg_precision'])}   "
          f"fg recall {pct(m['fg_recall'])}   (%)")  # fmt: skip
    width = max(map(len, m["per_class_iou"]))
    for name, iou in m["per_class_iou"].items():
        print(f"  {name:<{width}}  {pct(iou)}")
    print(f"wrote {out / METRICS_FILE}")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from .environment import describe

    for key, value in describe().items():
        print(f"{key:>14}: {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        signal.default_int_handler(signum, frame)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        return int(args.func(args) or 0)
    except C2AMError as err:
        one_line = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"error: {one_line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        # Libraries sometimes turn a KeyboardInterrupt into another error (mmengine's config
        # formatting raises SyntaxError); after a Ctrl-C it is still an interruption.
        if interrupted:
            print("interrupted", file=sys.stderr)
            return 130
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        _close_process_group()


def _close_process_group() -> None:
    """Destroy a torchrun process group before the interpreter shuts down.

    Left to interpreter finalisation, gloo's worker threads can free tensors after Python is
    gone and abort the process (SIGABRT, exit -6; pytorch/pytorch#179291): a finished
    data-parallel run would then fail at random.
    """
    torch = sys.modules.get("torch")  # never imported: nothing to close
    dist = torch.distributed if torch is not None else None
    if dist is not None and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
