"""IR-label benchmark: dense-CRF time per image and ``make_ir_labels`` throughput.

Measured in one process, variants alternated each repeat, medians reported:

* (a) ``ir_label`` (two CRF passes) per image on the first ``--n-images`` ``train_aug`` images of
  SynthVOC with their CAM seeds (images and seeds preloaded; only ``ir_label`` is timed);
* (b) ``ir_label`` on one VOC-sized synthetic input: a 375x500 (H x W) image of smooth blobs plus
  noise and a seed with 2 classes (blurred blob indicators);
* (c) ``make_ir_labels`` wall time over the same ``--n-images`` images with 1 and with 2 workers
  (fresh output folder per call: JPEG/seed decoding, CRF, PNG writing, process start-up);
* the quality of (c)'s labels on the ``train`` ids among them (``ir_label_quality``).

Writes the ``crf`` section of ``benchmarks/README.md`` (and ``--out`` JSON when given).
Usage: ``python benchmarks/bench_crf.py [--data DIR] [--cams DIR] [--n-images N] [--repeats R]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # _common, from any working dir
from _common import machine_info, write_readme_section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO / "data" / "synthvoc-default-v3"
DEFAULT_CACHE = REPO / "work_dirs" / "cache"  # make compare's stage cache
README = REPO / "benchmarks" / "README.md"
BEGIN, END = "<!-- crf:begin -->", "<!-- crf:end -->"
SPLIT = "bench"


def crf_machine_info() -> dict:
    import pydensecrf

    return machine_info(numpy=np.__version__, pydensecrf=getattr(pydensecrf, "__version__", "?"))


def default_seeds() -> Path:
    """The baseline CAM seeds of the default SynthVOC: reused from ``make compare``'s stage cache,
    or computed into it (classifier + seeds, about 2 minutes on 2 cores) on a fresh machine."""
    from c2am_bench.datasets import synthvoc
    from c2am_bench.pipeline import BASELINE, Pipeline
    from c2am_bench.stage_cache import StageCache
    from c2am_bench.stages.seeds import seeds

    synthvoc.ensure(synthvoc.make_config("default"), DEFAULT_DATA, progress=False)
    runner = Pipeline(DEFAULT_DATA, StageCache(DEFAULT_CACHE), profile="default")
    return seeds(runner, BASELINE, 0) / "cams"


def cpu_seconds() -> float:
    """User + system CPU time of this process and its reaped children (pool workers)."""
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _spin(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def pool_control(n_tasks: int = 4, n: int = 5_000_000) -> float:
    """Speed-up of 2 forked processes over 1 on a pure-Python loop: the parallelism the machine
    actually offers right now (other jobs on a shared machine lower it)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    t0 = time.perf_counter()
    for _ in range(n_tasks):
        _spin(n)
    serial = time.perf_counter() - t0
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as ex:
        ex.submit(_spin, 1).result()  # start-up outside the timing
        t0 = time.perf_counter()
        list(ex.map(_spin, [n] * n_tasks))
        pooled = time.perf_counter() - t0
    return serial / pooled


def bench_root(data: Path, tmp: Path, n_images: int) -> tuple[Path, list[str]]:
    """A data root under ``tmp`` symlinking ``data``'s folders, with a ``bench`` split and a
    ``train`` split restricted to the benchmarked ids."""
    from c2am_bench.datasets import voc

    tree = voc.open_tree(data)
    ids = tree.read_split("train_aug")[:n_images]
    train = [i for i in tree.read_split("train") if i in set(ids)]
    root = tmp / "data"
    root.mkdir()
    for entry in data.iterdir():
        if entry.name != "ImageSets":
            (root / entry.name).symlink_to(entry.resolve())
    splits = root / "ImageSets" / "Segmentation"
    splits.mkdir(parents=True)
    (splits / f"{SPLIT}.txt").write_text("\n".join(ids) + "\n")
    (splits / "train.txt").write_text("\n".join(train or ids[:1]) + "\n")
    return root, ids


def _blur(x: np.ndarray, r: int) -> np.ndarray:
    """Separable box mean of width 2r+1 along both axes (cumulative sums, edge padding)."""
    for axis in (0, 1):
        x = np.pad(x, [(r, r) if a == axis else (0, 0) for a in range(x.ndim)], mode="edge")
        c = np.cumsum(x, axis=axis, dtype=np.float64)
        c = np.concatenate([np.zeros_like(c.take([0], axis=axis)), c], axis=axis)
        n = x.shape[axis] - 2 * r
        x = (c.take(range(2 * r + 1, 2 * r + 1 + n), axis=axis) - c.take(range(n), axis=axis)) / (
            2 * r + 1
        )
    return x


def voc_sized_input(seed: int = 0) -> tuple[np.ndarray, dict]:
    """A 375x500 image of two coloured blobs on a textured background, and a 2-class seed."""
    rng = np.random.default_rng(seed)
    h, w = 375, 500
    yy, xx = np.mgrid[:h, :w]
    blobs = [((yy - 150) / 90) ** 2 + ((xx - 160) / 110) ** 2 < 1,
             ((yy - 240) / 80) ** 2 + ((xx - 360) / 70) ** 2 < 1]  # fmt: skip
    img = _blur(rng.normal(110, 40, (h, w, 3)), 3)
    for blob, colour in zip(blobs, ((200, 60, 50), (40, 90, 210)), strict=True):
        img[blob] = np.asarray(colour) + rng.normal(0, 15, (int(blob.sum()), 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    high = np.stack([_blur(b.astype(np.float64), 15) for b in blobs])
    high = (high / high.max(axis=(1, 2), keepdims=True)).astype(np.float32)
    return img, {"keys": np.array([2, 7]), "cam": high[:, ::4, ::4], "high_res": high}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="data root (default SynthVOC)")
    ap.add_argument("--cams", type=Path, default=None, help="seeds folder <id>.npz")
    ap.add_argument("--n-images", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    ap.add_argument("--no-readme", action="store_true", help="do not update benchmarks/README.md")
    args = ap.parse_args(argv)
    if args.n_images < 1 or args.repeats < 1:
        ap.error("--n-images and --repeats must be >= 1")
    data, cams_dir = args.data, args.cams
    if data is None:
        data, cams_dir = DEFAULT_DATA, cams_dir or default_seeds()
    if cams_dir is None:
        ap.error("--cams is required with --data")

    from c2am_bench.cams import load_seed
    from c2am_bench.datasets import voc
    from c2am_bench.ir_labels import ir_label, ir_label_quality, make_ir_labels

    machine = crf_machine_info()
    res: dict = {"machine": machine, "date": dt.date.today().isoformat(),
                 "data": str(data), "cams": str(cams_dir)}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench_crf-") as tmp_name:
        tmp = Path(tmp_name)
        root, ids = bench_root(data, tmp, args.n_images)
        tree = voc.open_tree(root)
        inputs = [(voc.load_image(tree.image_path(i)), load_seed(cams_dir / f"{i}.npz"))
                  for i in ids]  # fmt: skip
        sizes = sorted({im.shape[:2] for im, _ in inputs})
        big = voc_sized_input()
        ir_label(*inputs[0])  # warm-up (imports)
        per_image, voc_times, make, make_cpu = [], [], {1: [], 2: []}, {1: [], 2: []}
        control = []
        summaries = {}
        for r in range(args.repeats):
            t0 = time.perf_counter()
            for img, seed in inputs:
                ir_label(img, seed)
            per_image.append((time.perf_counter() - t0) / len(inputs))
            t0 = time.perf_counter()
            ir_label(*big)
            voc_times.append(time.perf_counter() - t0)
            for workers in (1, 2) if r % 2 == 0 else (2, 1):
                out = tmp / f"out-{r}-{workers}"
                t0, c0 = time.perf_counter(), cpu_seconds()
                summaries[workers] = make_ir_labels(
                    root, cams_dir, out, split=SPLIT, workers=workers, progress=False
                )
                make[workers].append(time.perf_counter() - t0)
                make_cpu[workers].append(cpu_seconds() - c0)
            control.append(pool_control())
            print(f"repeat {r + 1}/{args.repeats} done", file=sys.stderr)
        quality = ir_label_quality(root, tmp / "out-0-1", split="train")
    n = len(ids)
    res.update(
        n_images=n,
        image_sizes=[list(s) for s in sizes],
        mean_pixels=float(np.mean([im.shape[0] * im.shape[1] for im, _ in inputs])),
        repeats=args.repeats,
        ir_label_ms_per_image=[t * 1e3 for t in per_image],
        voc_sized_ms=[t * 1e3 for t in voc_times],
        make_seconds={str(k): v for k, v in make.items()},
        make_cpu_seconds={str(k): v for k, v in make_cpu.items()},
        pool_control_speedup=control,
        quality=quality,
        load_avg_end=list(os.getloadavg()),
    )
    print(json.dumps(res, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1) + "\n")
    if not args.no_readme:
        write_readme_section(README, BEGIN, END, section(res))
    return 0


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def table_rows(res: dict) -> list[tuple[str, str]]:
    n = res["n_images"]
    med = {int(k): statistics.median(v) for k, v in res["make_seconds"].items()}
    cpu = {int(k): statistics.median(v) for k, v in res["make_cpu_seconds"].items()}
    ms = statistics.median(res["ir_label_ms_per_image"])
    voc_ms = statistics.median(res["voc_sized_ms"])
    control = statistics.median(res["pool_control_speedup"])
    rows = [
        ("`ir_label`, SynthVOC image", f"{ms:.1f} ms / image"),
        ("`ir_label`, 375x500, 2 classes", f"{voc_ms:.0f} ms / image"),
        (f"`make_ir_labels`, {n} images, 1 worker",
         f"{med[1]:.2f} s ({n / med[1]:.0f} img/s; CPU {cpu[1]:.2f} s)"),
        (f"`make_ir_labels`, {n} images, 2 workers",
         f"{med[2]:.2f} s ({n / med[2]:.0f} img/s, x{med[1] / med[2]:.2f}; CPU {cpu[2]:.2f} s)"),
        ("control: pure-Python loop, 2 processes vs 1",
         f"x{control:.2f} (the parallelism the machine offered during the run)"),
    ]  # fmt: skip
    return rows


def section(res: dict) -> str:
    rows = table_rows(res)
    m, q = res["machine"], res["quality"]
    data = Path(res["data"])
    data = data.relative_to(REPO) if data.is_relative_to(REPO) else data
    hs, ws = zip(*res["image_sizes"], strict=True)
    sizes = f"H {min(hs)}..{max(hs)}, W {min(ws)}..{max(ws)}"
    cams = Path(res["cams"])
    cams = cams.relative_to(REPO) if cams.is_relative_to(REPO) else cams
    us_small = statistics.median(res["ir_label_ms_per_image"]) * 1e3 / res["mean_pixels"]
    us_voc = statistics.median(res["voc_sized_ms"]) * 1e3 / (375 * 500)
    lines = [
        BEGIN,
        "## IR labels: dense CRF (`bench_crf.py`)",
        "",
        "`ir_label` = two dense-CRF passes (pydensecrf, 10 mean-field iterations, Gaussian + "
        "bilateral kernels) per image, thresholds 0.30 / 0.05; timed on preloaded inputs. "
        "`make_ir_labels` is the whole call (decode JPEG + seed, CRF, write PNG, worker start-up), "
        "fresh output folder each time; CPU = user + system time of the process and its workers. "
        "Medians over "
        f"{res['repeats']} alternated repeats; {res['n_images']} `train_aug` images of "
        f"`{data}` ({sizes}) with the CAM seeds of `{cams}`.",
        "",
        f"Measured {res['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"numpy {m['numpy']}; load average at start {m['load_avg_start'][0]:.2f}.",
        "",
        "| what | time |",
        "|---|---|",
        *[f"| {a} | {b} |" for a, b in rows],
        "",
        f"Quality of those labels on their {q['n_images']} `train` images (non-void GT pixels): "
        f"confident fg {_pct(q['fg_share'])}, confident bg {_pct(q['bg_share'])}, ignored "
        f"{_pct(q['ignore_share'])}; precision {_pct(q['precision'])} (fg "
        f"{_pct(q['fg_precision'])}, bg {_pct(q['bg_precision'])}); recall fg "
        f"{_pct(q['fg_recall'])}, bg {_pct(q['bg_recall'])}.",
        "",
        f"Reading: `ir_label` costs ~{us_small:.1f} us per pixel on the small images and "
        f"~{us_voc:.1f} us per pixel at 375x500, so a VOC `train_aug` pass (10,582 images of "
        f"about that size) needs ~{10582 * statistics.median(res['voc_sized_ms']) / 1e3 / 60:.0f}"
        " CPU-minutes (divide by the free cores). Workers are separate processes sharing "
        "nothing, so "
        "the 2-worker speed-up should match the control row; when the control is ~x1 (other "
        "jobs on the machine), the 2-worker row says nothing about scaling.",
        END,
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
