"""The ``c2am-bench`` command line: parse, call one library function, print, exit.

Every error caused by the user's input is a :class:`~c2am_bench.errors.C2AMError`; it is printed as
one line ``error: ...`` and the process exits with code 2 (argparse's usage errors also exit 2).
Heavy libraries (torch, mmseg) are imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from . import __version__
from .errors import C2AMError

DEFAULT_DATA = Path("data/synthvoc-default")


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    synth.add_argument("--p-context", type=_probability, default=None,
                       help="P(class's context band | class present), default 0.8")
    synth.add_argument("--p-context-absent", type=_probability, default=None,
                       help="P(context band | none of its classes present), default 0.04")
    synth.add_argument("--cooccur-strength", type=_probability, default=None,
                       help="P(partner class joins a paired class), default 0.6")
    synth.add_argument("--part-size", type=float, default=None,
                       help="discriminative part radius / object radius, default 0.25")
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
    show.add_argument("--out", type=Path, default=None,
                      help="PNG path (default: reports/data/<dataset>-<split>.png)")
    show.set_defaults(func=cmd_data_show)

    compare = sub.add_parser(
        "compare",
        help="compare CAM, CAM+Constant and C2AM on the embedded default (stages land in steps)",
    )
    compare.add_argument("--data", type=Path, default=None,
                         help=f"VOC-layout root (default: generate SynthVOC at {DEFAULT_DATA})")
    compare.add_argument("--profile", default="default", choices=["smoke", "default"])
    compare.set_defaults(func=cmd_compare)

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
    )
    start = time.perf_counter()
    meta = synthvoc.generate(cfg, args.out, progress=_progress_enabled(args))
    seconds = time.perf_counter() - start
    splits = ", ".join(f"{k} {v}" for k, v in meta["splits"].items())
    print(f"wrote SynthVOC to {args.out} in {seconds:.1f}s: {splits}; "
          f"K={cfg.num_classes} classes, long side {cfg.image_size}px, seed {cfg.seed}")
    return 0


def cmd_data_check(args: argparse.Namespace) -> int:
    from .datasets import voc

    summary = voc.check_tree(args.root, args.splits, progress=_progress_enabled(args))
    print(voc.format_summary(summary))
    if args.json is not None:
        _write_text_atomic(args.json, json.dumps(voc.summary_to_dict(summary), indent=1) + "\n")
        print(f"summary written to {args.json}")
    return 0


def cmd_data_show(args: argparse.Namespace) -> int:
    from .datasets import show

    out = args.out or Path("reports/data") / f"{args.root.resolve().name}-{args.split}.png"
    show.render_grid(args.root, out, split=args.split, n=args.n)
    print(f"wrote {out}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from .datasets import synthvoc, voc

    root = args.data
    if root is None:
        root = DEFAULT_DATA if args.profile == "default" else Path("data/synthvoc-smoke")
        cfg = synthvoc.make_config(args.profile)
        state = synthvoc.ensure(cfg, root, progress=_progress_enabled(args))
        print(f"dataset: SynthVOC ({args.profile} profile) at {root} [{state}]")
    summary = voc.check_tree(root, progress=_progress_enabled(args))
    print(voc.format_summary(summary))
    print("\nThe classifier, seed, IRN and DeepLabV2 stages of `compare` are not implemented yet "
          "(tracked in issues 3-6); this run generated and validated the dataset only.")
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    from .environment import describe

    for key, value in describe().items():
        print(f"{key:>14}: {value}")
    return 0


def _write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except C2AMError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
