"""One calibration run of the default profile: the baseline CAM with the oracle ladder.

How the embedded default was chosen (README, "How the default was calibrated"): each run takes
SynthVOC generator overrides (``--data p_context=0.4``), IRN settings (``--irn sem_seg_bg=0.4``),
boundary-net config options (``--net train_cfg.max_epochs=15``), baseline-classifier config
options (``--cls train_cfg.max_epochs=8``) and DeepLabV2 config options
(``--seg train_cfg.max_iters=2400``), runs the baseline CAM of one
seed through the stage cache up to the pseudo-masks (``--until seg`` adds DeepLabV2) with the
oracle ladder, prints the stage profile, and appends it to ``benchmarks/results/calibration.jsonl``.
``studies/calibration.yaml`` is the same search as an Optuna study (``study run calibration``).
``--data-root data/synthvoc-default-v3 --work-dir work_dirs`` calibrates a later stage on the
classifier and seeds a ``make compare`` left in its cache (the keys then match: a tree generated
inside the cache is hashed under its cache path, so it would retrain them).

    .venv/bin/python benchmarks/calibrate.py --data p_context=0.4,part_size=0.15 \\
        --net train_cfg.max_epochs=15,optim_wrapper.optimizer.momentum=0.9
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

COLUMNS = (
    "seed_miou", "seed_threshold", "pseudo_miou", "pseudo_miou_best", "best_sem_seg_bg",
    "oracle_gt_boundary_miou", "oracle_gt_boundary_miou_best", "oracle_gt_ir_miou",
    "oracle_gt_ir_miou_best", "boundary_f", "oracle_gt_ir_boundary_f", "ir_fg_precision",
    "ir_coverage", "seg_miou", "seg_train_miou", "oracle_seg_gt_miou", "cam_mass_body",
    "cam_mass_part", "cam_mass_context", "cam_area_context", "heldout_pseudo_miou",
)  # fmt: skip


def _pairs(text: str) -> dict:
    out = {}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, _, value = item.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="", help="SynthVOC overrides, k=v,k=v")
    ap.add_argument(
        "--data-root", type=Path, default=None,
        help="an existing VOC-layout tree instead of generating one (with --work-dir "
             "work_dirs: a compare's cached classifier and seeds)")  # fmt: skip
    ap.add_argument("--irn", default="", help="IRN settings, k=v,k=v")
    ap.add_argument("--net", default="", help="boundary-net config options, k=v,k=v")
    ap.add_argument("--cls", default="", help="classifier config options, k=v,k=v")
    ap.add_argument("--seg", default="", help="DeepLabV2 config options (--until seg), k=v,k=v")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds, one record each")
    ap.add_argument("--until", default="masks", choices=("masks", "seg"))
    ap.add_argument("--method", default="cam")
    ap.add_argument("--pseudo", default="irn", choices=("irn", "crf"), help="pseudo-mask method")
    ap.add_argument("--no-oracle", action="store_true")
    ap.add_argument("--work-dir", type=Path, default=REPO / "work_dirs" / "calibration")
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)

    from c2am_bench.pipeline import Pipeline, Variant, synth_data
    from c2am_bench.stage_cache import StageCache

    data, irn, net, seg = _pairs(args.data), _pairs(args.irn), _pairs(args.net), _pairs(args.seg)
    cls = _pairs(args.cls)
    if args.data_root is not None and data:
        ap.error("--data-root and --data exclude each other: the tree is made already")
    cache = StageCache(args.work_dir / "cache")
    root = args.data_root or synth_data(cache, "default", data)
    options = {"segmentor": seg, "classifier": cls}
    runner = Pipeline(root, cache, profile="default", stage_options=options,
                    on_event=lambda *e: print(f"[{time.strftime('%H:%M:%S')}] {e[0]} {e[1]} {e[3]}",
                                              flush=True))  # fmt: skip
    variant = Variant(args.method, args.method, irn=irn, boundary_net=net, pseudo=args.pseudo)
    out = REPO / "benchmarks" / "results" / "calibration.jsonl"
    for seed in (int(s) for s in args.seeds.split(",")):
        start = time.perf_counter()
        row = runner.run(variant, seed, args.until, oracle=not args.no_oracle).runs[0]
        record = {"tag": args.tag, "data": data if args.data_root is None else str(root),
                  "irn": irn, "net": net, "cls": cls, "seg": seg,
                  "seed": seed,
                  "method": args.method, "pseudo": args.pseudo,
                  "seconds": round(time.perf_counter() - start, 1),
                  **{c: row.get(c) for c in COLUMNS}}  # fmt: skip
        for c in COLUMNS:
            print(f"seed {seed} {c:32s} {row.get(c)}")
        with open(out, "a") as f:
            f.write(json.dumps(record, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
