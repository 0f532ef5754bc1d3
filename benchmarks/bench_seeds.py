"""Seed-generation benchmark: ``make_seeds`` vs its bare multi-scale + flip forward passes.

Measured in one process, on the same model and the same images, variants alternated each repeat:

* (a) **bare forwards** -- exactly the model calls ``make_seeds`` makes (same size-grouped
  batches of ``batch_size``; per batch and scale: bicubic rescale, ``[x, hflip(x)]`` through
  ``model.cam``, result to float on the CPU), images preloaded and normalised beforehand; no
  flip fusion, no seed fusion, no saving;
* (b) ``make_seeds(..., global_cam_size=None)`` into a fresh output folder (end-to-end wall time of
  the call: model load, size scan, JPEG decoding, forwards, seed fusion, ``.npz`` writes);
* (c) ``make_seeds(..., global_cam_size=128)`` -- (b) plus C2AM's Global CAM.

Goals (issue): ``t_b / t_a <= 1.2`` and ``(t_c - t_b) / t_b <= 5 %`` (medians over the repeats).

Images: the first ``--n-images`` ids of ``train_aug``, exposed to ``make_seeds`` as a split
``bench`` of a temporary data root that symlinks the real one's folders (nothing is copied).
Model: ``--run`` (a finished classifier run) or, by default, a randomly initialised classifier
built from the CPU default config -- timing does not depend on the weights.

Writes ``benchmarks/results/seeds.json`` and the ``seeds`` section of ``benchmarks/README.md``.
Usage: ``python benchmarks/bench_seeds.py [--data DIR] [--run RUN_DIR] [--n-images N]
[--repeats R] [--out benchmarks/results/seeds.json]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, from any working dir
from _common import machine_info, write_readme_section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / "data" / "synthvoc-default-v3"
DEFAULT_CONFIG = REPO / "mm_configs" / "cam" / "cam_r18lite_15e_synthvoc-128.py"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "seeds.json"
README = REPO / "benchmarks" / "README.md"
BEGIN, END = "<!-- seeds:begin -->", "<!-- seeds:end -->"

SPLIT = "bench"
WARMUP_SPLIT = "bench_warmup"
BATCH_SIZE = 8  # make_seeds' default
GLOBAL_CAM_SIZE = 128  # C2AM's cam_square_shape
RATIO_GOAL = 1.2
OVERHEAD_GOAL = 0.05

README_INTRO = """\
# Benchmarks

Timing benchmarks of the pipeline's hot paths. Each script measures its variants in one process,
on the same model and inputs, alternating them over several repeats, and reports medians; it
writes its raw figures to `benchmarks/results/<name>.json` and its summary table into the section
of this file between its markers.

Run all of them with `make bench`, or one directly, e.g.
`.venv/bin/python benchmarks/bench_seeds.py` (`--help` lists the options). Timings depend on the
machine and on its load: rerun on an idle machine before drawing conclusions.

## Seed generation (`bench_seeds.py`)

What it measures, on the first N `train_aug` images of SynthVOC (default profile) with the CPU
default classifier (randomly initialised unless `--run` names a trained run; timing does not
depend on the weights):

* **t_a, bare forwards**: only the model calls seed generation makes -- per same-size batch of 8
  and per scale (1.0, 0.5, 1.5, 2.0): bicubic rescale and `model.cam([x, flip(x)])` -- on
  preloaded, normalised images;
* **t_b, seeds**: `make_seeds(..., global_cam_size=None)`, the whole call (model load, JPEG
  decoding, forwards, seed fusion, writing `cams/<id>.npz`);
* **t_c, seeds + Global CAM**: `make_seeds(..., global_cam_size=128)`.

Goals: seed generation costs at most 1.2x its bare forwards (t_b / t_a <= 1.2) and the Global CAM
adds at most 5 % to it ((t_c - t_b) / t_b <= 5 %). On a shared or small machine, differences of
a few percent between whole runs are within noise, so the script also times the steps seed
generation adds (JPEG decoding, seed fusion, `.npz` writes; Global CAM accumulation + save) in
isolation on the same images and reports them as shares of t_b.

"""


# --------------------------------------------------------------------------- setup


def bench_root(data: Path, tmp: Path, n_images: int) -> tuple[Path, list[str]]:
    """A data root under ``tmp`` that symlinks ``data``'s folders and adds the ``bench`` splits."""
    from c2am_bench.datasets import voc

    ids = voc.open_tree(data).read_split("train_aug")[:n_images]
    root = tmp / "data"
    root.mkdir()
    for entry in data.iterdir():
        if entry.name != "ImageSets":
            (root / entry.name).symlink_to(entry.resolve())
    splits = root / "ImageSets" / "Segmentation"
    splits.mkdir(parents=True)
    (splits / f"{SPLIT}.txt").write_text("\n".join(ids) + "\n")
    (splits / f"{WARMUP_SPLIT}.txt").write_text("\n".join(ids[:BATCH_SIZE]) + "\n")
    return root, ids


def random_run(tmp: Path, num_classes: int) -> Path:
    """A run dir (``config.py`` + weights) holding a randomly initialised CPU default classifier."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import c2am_bench.models  # noqa: F401 - registers the classifier and heads
    from c2am_bench.train import WEIGHTS_FILE

    cfg = Config.fromfile(str(DEFAULT_CONFIG))
    cfg.model.head.num_classes = num_classes
    init_default_scope("mmseg")
    model = MODELS.build(cfg.model)
    run = tmp / "run"
    run.mkdir()
    cfg.dump(str(run / "config.py"))
    torch.save(model.state_dict(), run / WEIGHTS_FILE)
    return run


# --------------------------------------------------------------------------- variants


class BareForwards:
    """Variant (a): make_seeds' model calls on preloaded, normalised images."""

    def __init__(self, run: Path, root: Path, ids: list[str]) -> None:
        from c2am_bench.cams import _rescale
        from c2am_bench.datasets import voc
        from c2am_bench.runs import normaliser
        from c2am_bench.seeds import load_classifier

        self.rescale = _rescale
        self.model, cfg = load_classifier(run)
        self.device = next(self.model.parameters()).device
        normalise = normaliser(cfg)
        self.tree = voc.open_tree(root)
        self.ids = ids
        images = [normalise(voc.load_image(self.tree.image_path(id_))) for id_ in ids]
        by_size: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, im in enumerate(images):  # same grouping and order as make_seeds
            by_size[tuple(im.shape[-2:])].append(i)
        self.index = [
            idx[j : j + BATCH_SIZE]
            for idx in by_size.values()
            for j in range(0, len(idx), BATCH_SIZE)
        ]
        self.batches = [torch.stack([images[i] for i in batch]) for batch in self.index]

    def __call__(self, scales) -> dict:
        start, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            for batch in self.batches:
                for scale in scales:
                    x = self.rescale(batch, float(scale))
                    self.model.cam(torch.cat([x, x.flip(-1)], dim=0).to(self.device)).float().cpu()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        return {"wall": time.perf_counter() - start, "cpu": time.process_time() - cpu}

    def components(self, scales, tmp: Path, repeats: int) -> dict:
        """Median seconds over all images of each per-image step ``make_seeds`` adds to (a),
        timed in isolation on this model's CAMs (far less noisy than differences of (a)-(c))."""
        from c2am_bench import cams
        from c2am_bench.datasets import voc

        labels = voc.image_labels(self.tree, self.ids)

        def cam_fn(x):
            return self.model.cam(x.to(self.device)).float().cpu()

        order = [i for batch in self.index for i in batch]
        per_image: dict[int, list] = {}
        for batch, images in zip(self.index, self.batches, strict=True):
            fused = cams.multiscale_flip_cams_batched(cam_fn, list(images), scales)
            per_image.update(zip(batch, fused, strict=True))
        sizes = {
            i: tuple(images.shape[-2:])
            for batch, images in zip(self.index, self.batches, strict=True)
            for i in batch
        }
        keys = {i: np.flatnonzero(labels[i]) for i in order}
        seeds = {i: cams.make_seed(per_image[i], sizes[i], keys[i]) for i in order}
        seed_dir = tmp / "components"
        seed_dir.mkdir(exist_ok=True)

        def global_cam():
            acc = cams.GlobalCAMAccumulator(self.tree.num_classes, GLOBAL_CAM_SIZE)
            for i in order:
                acc.add(per_image[i], labels[i])
            acc.save(seed_dir / "global_cam.npz")

        steps = {
            "load_image": lambda: [
                voc.load_image(self.tree.image_path(self.ids[i])) for i in order
            ],
            "make_seed": lambda: [cams.make_seed(per_image[i], sizes[i], keys[i]) for i in order],
            "save_seed": lambda: [
                cams.save_seed(seed_dir / f"{self.ids[i]}.npz", seeds[i]) for i in order
            ],
            "global_cam": global_cam,
        }
        out = {}
        for name, step in steps.items():
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                step()
                times.append(time.perf_counter() - start)
            out[name] = statistics.median(times)
        shutil.rmtree(seed_dir)
        return out


def run_make_seeds(run: Path, root: Path, out: Path, split: str, scales, gsize) -> dict:
    from c2am_bench.seeds import make_seeds

    if out.exists():
        shutil.rmtree(out)
    start, cpu = time.perf_counter(), time.process_time()
    summary = make_seeds(
        run,
        out,
        data_root=root,
        split=split,
        scales=scales,
        global_cam_size=gsize,
        batch_size=BATCH_SIZE,
        progress=False,
    )
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    shutil.rmtree(out)
    return {
        "wall": wall,
        "cpu": cpu,
        "loop": summary["seconds"],
        "forward": summary["forward_seconds"],
    }


# --------------------------------------------------------------------------- report


def fmt_s(x: float) -> str:
    return f"{x:.2f} s"


def readme_section(res: dict) -> str:
    m, s = res["machine"], res["summary"]
    ok = {True: "pass", False: "**FAIL**"}
    gpu = f", {m['gpu']}" if m["gpu"] else ""
    parts = s["components"]
    seed_steps = parts["load_image"] + parts["make_seed"] + parts["save_seed"]
    rows = [
        "| figure | median | goal | result |",
        "|---|---:|---:|---|",
        f"| t_a bare forwards | {fmt_s(s['t_a'])} | | |",
        f"| t_b seeds (`make_seeds`) | {fmt_s(s['t_b'])} | | |",
        f"| t_c seeds + Global CAM {GLOBAL_CAM_SIZE} | {fmt_s(s['t_c'])} | | |",
        f"| t_b / t_a | {s['ratio_b_a']:.3f} | <= {RATIO_GOAL} | {ok[s['ratio_pass']]} |",
        f"| (t_c - t_b) / t_b | {100 * s['overhead_c_b']:+.1f} % "
        f"| <= {100 * OVERHEAD_GOAL:.0f} % | {ok[s['overhead_pass']]} |",
        f"| throughput a / b / c | {s['images_per_s_a']:.1f} / {s['images_per_s_b']:.1f} / "
        f"{s['images_per_s_c']:.1f} img/s | | |",
    ]
    return "\n".join(
        [
            BEGIN,
            f"Last run {res['date']}: {res['n_images']} images ({res['data']}), scales "
            f"{res['scales']}, batch {BATCH_SIZE}, medians of {res['repeats']} repeats; "
            f"model: {res['model']}.",
            f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with "
            f"{m['torch_threads']} threads on {m['device']}{gpu}.",
            "",
            *rows,
            "",
            f"`make_seeds`' own split of t_b (loop without model load / size scan: "
            f"{fmt_s(s['t_b_loop'])}, of which forwards {fmt_s(s['t_b_forward'])}); "
            f"timed in isolation over the same images: JPEG decoding + seed fusion + `.npz` "
            f"writes {1000 * seed_steps:.0f} ms ({100 * s['seed_steps_share_of_t_b']:.1f} % of "
            f"t_b), Global CAM accumulation + save {1000 * parts['global_cam']:.0f} ms "
            f"({100 * s['global_cam_share_of_t_b']:.1f} % of t_b); "
            f"best of {res['repeats']}: b / a {s['min']['ratio_b_a']:.3f}, (c - b) / b "
            f"{100 * s['min']['overhead_c_b']:+.1f} %; "
            f"process CPU time b / a {s['cpu_ratio_b_a']:.3f}, (c - b) / b "
            f"{100 * s['cpu_overhead_c_b']:+.1f} %; raw figures: `benchmarks/results/seeds.json`.",
            END,
        ]
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA, help="SynthVOC/VOC data root")
    ap.add_argument("--run", type=Path, default=None, help="classifier run dir (default: random)")
    ap.add_argument("--n-images", type=int, default=200, help="first N train_aug images")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON results")
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = ap.parse_args(argv)
    if args.n_images < 1 or args.repeats < 1:
        ap.error("--n-images and --repeats must be >= 1")
    if args.run is None:  # a random model's all-zero class maps are expected, not news
        logging.getLogger("c2am_bench.cams").setLevel(logging.ERROR)

    from c2am_bench.datasets import synthvoc, voc
    from c2am_bench.seeds import REFERENCE_SCALES

    if not args.data.exists() and args.data.resolve() == DEFAULT_DATA:
        print(f"generating {args.data} ...", file=sys.stderr)
        synthvoc.ensure(synthvoc.make_config("default"), args.data)
    threads = torch.get_num_threads()
    torch.set_num_threads(threads)  # fixed for the whole run
    scales = list(REFERENCE_SCALES)
    machine = machine_info(with_torch=True, with_device=True)

    with tempfile.TemporaryDirectory(prefix="bench_seeds-") as tmp_name:
        tmp = Path(tmp_name)
        root, ids = bench_root(args.data, tmp, args.n_images)
        run = args.run or random_run(tmp, voc.open_tree(root).num_classes)
        out = tmp / "out"
        bare = BareForwards(run, root, ids)
        print(
            f"{len(ids)} images in {len(bare.batches)} batches, scales {scales}, "
            f"{threads} torch threads, {machine['device']}",
            file=sys.stderr,
        )
        # warm-up (allocator, page cache, first-call costs); not timed
        bare(scales)
        run_make_seeds(run, root, out, WARMUP_SPLIT, scales, GLOBAL_CAM_SIZE)

        variants = {
            "a": lambda: bare(scales),
            "b": lambda: run_make_seeds(run, root, out, SPLIT, scales, None),
            "c": lambda: run_make_seeds(run, root, out, SPLIT, scales, GLOBAL_CAM_SIZE),
        }
        order = list(variants)
        raw: dict[str, list[dict]] = {k: [] for k in order}
        for r in range(args.repeats):
            rotated = order[r % 3 :] + order[: r % 3]  # alternate, and rotate against drift
            for name in rotated:
                load = os.getloadavg()[0]
                raw[name].append({**variants[name](), "load_avg_before": load})
                print(f"repeat {r + 1}/{args.repeats} {name}: {raw[name][-1]}", file=sys.stderr)

        parts = bare.components(scales, tmp, max(args.repeats, 3))
        print(f"components: {parts}", file=sys.stderr)

    def med(name: str, key: str = "wall") -> float:
        return statistics.median(x[key] for x in raw[name])

    t_a, t_b, t_c = med("a"), med("b"), med("c")
    n = len(ids)
    summary = {
        "t_a": t_a,
        "t_b": t_b,
        "t_c": t_c,
        "t_b_loop": med("b", "loop"),
        "t_b_forward": med("b", "forward"),
        "t_c_loop": med("c", "loop"),
        "t_c_forward": med("c", "forward"),
        "ratio_b_a": t_b / t_a,
        "ratio_b_a_loop": med("b", "loop") / t_a,
        "overhead_c_b": (t_c - t_b) / t_b,
        "cpu_a": med("a", "cpu"),
        "cpu_b": med("b", "cpu"),
        "cpu_c": med("c", "cpu"),
        "cpu_ratio_b_a": med("b", "cpu") / med("a", "cpu"),
        "cpu_overhead_c_b": (med("c", "cpu") - med("b", "cpu")) / med("b", "cpu"),
        "ratio_goal": RATIO_GOAL,
        "overhead_goal": OVERHEAD_GOAL,
        "images_per_s_a": n / t_a,
        "images_per_s_b": n / t_b,
        "images_per_s_c": n / t_c,
    }
    best = {k: min(x["wall"] for x in raw[k]) for k in order}
    summary["min"] = {
        **{f"t_{k}": v for k, v in best.items()},
        "ratio_b_a": best["b"] / best["a"],
        "overhead_c_b": (best["c"] - best["b"]) / best["b"],
    }
    summary["components"] = parts
    summary["global_cam_share_of_t_b"] = parts["global_cam"] / t_b
    summary["seed_steps_share_of_t_b"] = (
        parts["load_image"] + parts["make_seed"] + parts["save_seed"]
    ) / t_b
    summary["ratio_pass"] = bool(summary["ratio_b_a"] <= RATIO_GOAL)
    summary["overhead_pass"] = bool(summary["overhead_c_b"] <= OVERHEAD_GOAL)
    machine["load_avg_end"] = list(os.getloadavg())
    res = {
        "benchmark": "seeds",
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "data": str(args.data),
        "split": f"first {n} of train_aug",
        "n_images": n,
        "n_batches": len(bare.batches),
        "batch_size": BATCH_SIZE,
        "scales": scales,
        "global_cam_size": GLOBAL_CAM_SIZE,
        "repeats": args.repeats,
        "model": str(args.run) if args.run else "CPU default r18lite, random init",
        "machine": machine,
        "summary": summary,
        "raw": raw,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=_jsonable) + "\n")
    if not args.no_readme:
        write_readme_section(README, BEGIN, END, readme_section(res), intro=README_INTRO)
    print(
        f"t_a {t_a:.2f} s  t_b {t_b:.2f} s  t_c {t_c:.2f} s  "
        f"b/a {summary['ratio_b_a']:.3f} (goal <= {RATIO_GOAL})  "
        f"(c-b)/b {100 * summary['overhead_c_b']:+.1f} % (goal <= {100 * OVERHEAD_GOAL:.0f} %)"
    )
    return 0


def _jsonable(x):
    if isinstance(x, np.generic):
        return x.item()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


if __name__ == "__main__":
    sys.exit(main())
