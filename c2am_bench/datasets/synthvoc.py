"""SynthVOC: a confounded, VOC-layout synthetic dataset that makes CAM's failure modes appear.

Each class has a shape family, a fill texture and a small high-contrast *discriminative part* at a
class-specific place on the object (a classifier can shortcut to it, so CAMs cover only part of
the object). Each class also has a *context* band ("water", "grass", "sky", ...) that appears with
probability ``p_context`` when the class is present and rarely otherwise, and some class pairs
*co-occur* more often than chance. Context pixels are background in the ground truth, so a CAM that
leaks onto the context is wrong: this is the confounding that the front-door adjustment of Causal
CAM (Wang et al., "Causal Class Activation Maps for Weakly-Supervised Semantic Segmentation",
UAI 2022 CRL workshop) targets.

The tree written is the PASCAL VOC 2012 layout (with SBD's ``SegmentationClassAug``), so the same
readers serve it and real VOC. Same arguments => byte-identical files.
"""

from __future__ import annotations

import colorsys
import dataclasses
import io
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ConfigError
from . import synth_draw as draw
from .voc_meta import (
    AUG_MASK_DIR,
    IGNORE_INDEX,
    IMAGE_DIR,
    MASK_DIR,
    SPLIT_DIR,
    SYNTH_META,
    flat_palette,
    voc_palette,
)

logger = logging.getLogger(__name__)

FORMAT_VERSION = 3  # 2: SegmentationConfounders/; 3: the default's part_contrast 0.65
CONFOUNDER_DIR = "SegmentationConfounders"
# Region kinds of a confounder map (the high two bits of each pixel, see confounder_code).
ELSEWHERE, BODY, PART, CONTEXT = 0, 1, 2, 3
REGION_NAMES = ("elsewhere", "body", "part", "context")
_SPLIT_CODE = {"train_aug": 0, "val": 1}
_ID_YEAR = {"train_aug": 2026, "val": 2027}


@dataclass(frozen=True)
class SynthConfig:
    """Generator parameters. Every field is recorded in ``synthvoc.json``.

    Attributes:
        num_classes: K foreground classes (1..20, as VOC).
        image_size: S; each image is S on its long side and 0.75S..S on the other.
        n_train: images in ``train_aug`` (the classifier's training set, as SBD's 10,582).
        n_val: images in ``val``.
        seed: master seed; image i of a split is drawn from ``SeedSequence([seed, split, i])``.
        eval_fraction: share of ``train_aug`` also listed in ``train.txt`` (VOC: 1,464/10,582),
            the split seeds and pseudo-masks are evaluated on.
        p_context: P(class z's context band in the image | z present).
        p_context_absent: P(a context band | none of its classes present), per context.
        cooccur_strength: P(partner class joins | a paired class is drawn first).
        n_cooccur_pairs: number of partnered class pairs (0,1), (2,3), ...; default K // 3.
        part_size: radius of the discriminative part relative to the object's radius.
        class_imbalance: class k is drawn with weight (k + 1) ** -class_imbalance (VOC is skewed).
        object_scale: object radius range as a fraction of the image's short side.
        shared_appearance: classes come in groups of this size that share fill texture and
            colours (class i is in group i mod ceil(K / size)), so only the shape and the small
            part tell them apart -- as fur tells a dog from a cat no better than a face does.
            1 gives every class its own look.
        part_contrast: how far the part's colour departs from the body's: 1 paints it in its
            own saturated colour (the default; a strong edge), 0 leaves the body's texture (no
            part at all, like ``part_size`` 0), in between blends the two.
        max_objects: at most this many objects per image (1..3 drawn, VOC-like).
        jpeg_quality: JPEG quality of ``JPEGImages``.
    """

    num_classes: int = 6
    image_size: int = 128
    n_train: int = 800
    n_val: int = 200
    seed: int = 0
    eval_fraction: float = 0.25
    # p_context 0.4 and part_size 0.15 (format 1: 0.8 and 0.25) calibrate the default to VOC's
    # stage profile: seeds 51.3 (was 38.7) with the CAM still concentrated on the part and leaking
    # onto the context (README, "How the default was calibrated").
    p_context: float = 0.4
    p_context_absent: float = 0.04
    cooccur_strength: float = 0.6
    n_cooccur_pairs: int | None = None
    part_size: float = 0.15
    class_imbalance: float = 0.6
    object_scale: tuple[float, float] = (0.2, 0.4)
    shared_appearance: int = 2
    max_objects: int = 3
    jpeg_quality: int = 90
    # 0.65 (format 2: 1.0, the part in its own saturated colour): with that strong an edge the
    # boundary net drew a ring around the part of the classes whose CAM sits on it, and the walk
    # shrank them to it (README, "How the default was calibrated", runs G1-G3).
    part_contrast: float = 0.65

    def params(self) -> dict:
        """The generator's parameters as written to ``synthvoc.json`` and hashed into the stage
        cache: every field, less those added after format 2 while at the value that draws what
        format 2 drew, so a tree made before they existed keeps its meta and its cache keys."""
        out = dataclasses.asdict(self)
        for name, neutral in NEUTRAL_PARAMS.items():
            if out[name] == neutral:
                del out[name]
        return out

    def __post_init__(self) -> None:
        checks = [
            ("num_classes", 1 <= self.num_classes <= 20, "must be in 1..20"),
            ("image_size", 32 <= self.image_size <= 2048, "must be in 32..2048"),
            ("n_train", self.n_train >= 1, "must be >= 1"),
            ("n_val", self.n_val >= 1, "must be >= 1"),
            ("seed", 0 <= self.seed < 2**63, "must be a non-negative integer"),
            ("eval_fraction", 0 < self.eval_fraction <= 1, "must be in (0, 1]"),
            ("max_objects", 1 <= self.max_objects <= 6, "must be in 1..6"),
            ("shared_appearance", 1 <= self.shared_appearance <= self.num_classes,
             "must be in 1..num_classes"),
            ("jpeg_quality", 50 <= self.jpeg_quality <= 100, "must be in 50..100"),
            ("part_size", 0 <= self.part_size <= 0.6, "must be in [0, 0.6]"),
            ("class_imbalance", 0 <= self.class_imbalance <= 3, "must be in [0, 3]"),
            ("object_scale", 0.05 <= self.object_scale[0] <= self.object_scale[1] <= 0.6,
             "must be (lo, hi) with 0.05 <= lo <= hi <= 0.6"),
        ]  # fmt: skip
        for name in ("p_context", "p_context_absent", "cooccur_strength", "part_contrast"):
            checks.append((name, 0.0 <= getattr(self, name) <= 1.0, "must be in [0, 1]"))
        if self.n_cooccur_pairs is not None:
            ok = 0 <= self.n_cooccur_pairs <= self.num_classes // 2
            checks.append(("n_cooccur_pairs", ok, f"must be in 0..{self.num_classes // 2}"))
        for name, ok, why in checks:
            if not ok:
                raise ConfigError(f"synthvoc: {name}={getattr(self, name)!r} {why}")

    @property
    def pairs(self) -> int:
        return self.num_classes // 3 if self.n_cooccur_pairs is None else self.n_cooccur_pairs


PROFILES: dict[str, dict] = {
    # Tens of tiny images: for tests and the smoke pipeline. At 48 px a part of 0.15 is under two
    # pixels, so the smoke data keeps the stronger part and context of format 1.
    "smoke": dict(
        num_classes=4,
        image_size=48,
        n_train=48,
        n_val=16,
        p_context=0.8,
        part_size=0.25,
        part_contrast=1.0,
    ),
    # Sized so the full three-method CPU comparison fits its budget on 2 cores.
    "default": dict(num_classes=6, image_size=128, n_train=800, n_val=200),
}


def default_root(profile: str) -> Path:
    """Where ``make compare`` keeps the SynthVOC of ``profile``: ``data/synthvoc-<profile>-v3``.

    The folder is named after the format version, so a tree made by an older version (other
    defaults, no confounder maps) is left untouched beside the new one instead of refused.
    """
    return Path("data") / f"synthvoc-{profile}-v{FORMAT_VERSION}"


def make_config(profile: str = "default", **overrides) -> SynthConfig:
    """A :class:`SynthConfig` from a named profile plus non-``None`` overrides."""
    if profile not in PROFILES:
        raise ConfigError(f"synthvoc: unknown profile {profile!r}; choose from {sorted(PROFILES)}")
    params = {**PROFILES[profile], **{k: v for k, v in overrides.items() if v is not None}}
    return SynthConfig(**params)


# parameters added after format 2, at the value that draws format 2's images (SynthConfig.params)
NEUTRAL_PARAMS = {"part_contrast": 1.0}


@dataclass(frozen=True)
class ClassSpec:
    """How class ``index`` (label ``index + 1``) looks and what it is confounded with."""

    index: int
    name: str
    shape: str
    texture: str
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    part_colour: tuple[int, int, int]
    part_position: tuple[float, float]
    context: str
    partner: int | None
    weight: float


def _rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
    return tuple(int(round(255 * c)) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))  # type: ignore[return-value]


def class_table(cfg: SynthConfig) -> list[ClassSpec]:
    """The deterministic per-class appearance and confounder table."""
    k = cfg.num_classes
    ns, nt = len(draw.SHAPES), len(draw.TEXTURES)
    weights = np.array([(i + 1) ** -cfg.class_imbalance for i in range(k)])
    weights = weights / weights.sum()
    candidates = [(0.5, 0.0), (0.0, -0.5), (-0.5, 0.0), (0.0, 0.5), (0.45, -0.45), (-0.45, 0.45),
                  (0.75, 0.0), (0.0, -0.75), (-0.7, -0.2), (0.3, 0.3)]  # fmt: skip
    specs = []
    for i in range(k):
        shape = draw.SHAPES[i % ns]
        n_groups = -(-k // cfg.shared_appearance)
        look = i % n_groups  # classes i, i + n_groups, ... share texture and colours
        tex = draw.TEXTURES[(look + look // ns) % nt]
        # The part sits at the first candidate spot (rotating per class) that lies inside the shape.
        pos = next(
            p
            for j in range(len(candidates))
            for p in [candidates[(i + j) % len(candidates)]]
            if draw.shape_mask(shape, np.float32(p[0]), np.float32(p[1]), 1.0)
        )
        partner = None
        if i < 2 * cfg.pairs:
            partner = i + 1 if i % 2 == 0 else i - 1
        hue = look / n_groups
        specs.append(
            ClassSpec(
                index=i,
                name=f"{tex}_{shape}",  # unique: shapes differ within a group
                shape=shape,
                texture=tex,
                colours=(_rgb(hue, 0.7, 0.85), _rgb(hue + 0.04, 0.55, 0.45)),
                part_colour=_rgb(hue + 0.5 + 0.13 * (i // n_groups), 1.0, 1.0),
                part_position=pos,
                context=draw.CONTEXTS[i % len(draw.CONTEXTS)],
                partner=partner,
                weight=float(weights[i]),
            )
        )
    return specs


@dataclass
class SynthImage:
    """One generated sample: (H, W, 3) uint8 RGB image, (H, W) uint8 mask, and what is in it."""

    image: np.ndarray
    mask: np.ndarray
    classes: list[int] = field(default_factory=list)  # 0-based, visible in the mask
    contexts: list[str] = field(default_factory=list)
    drawn: list[int] = field(default_factory=list)  # 0-based class of every object drawn
    confounders: np.ndarray | None = None  # (H, W) uint8, see :func:`confounder_code`


def confounder_code(kind: int, index: int) -> int:
    """One pixel of a ``SegmentationConfounders/<id>.png`` map: ``64 * kind + index``.

    ``kind`` is :data:`BODY` or :data:`PART` with ``index`` = the class label (1..K), or
    :data:`CONTEXT` with ``index`` = 1 + the context's position in
    :data:`~c2am_bench.datasets.synth_draw.CONTEXTS` (several classes may share a context when
    K > 8); 0 is plain background. The body excludes the part; occluded pixels belong to the
    object in front; the void band of the ground truth is not marked (the geometry is exact).
    """
    if kind not in (BODY, PART, CONTEXT) or not 1 <= index <= 63:
        raise ValueError(f"confounder_code: kind={kind}, index={index} out of range")
    return 64 * kind + index


def decode_confounders(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(kind, index)`` arrays of a confounder map (any shape, uint8); see
    :func:`confounder_code`."""
    code = np.asarray(code, np.uint8)
    return code >> 6, code & 63


def _draw_classes(cfg: SynthConfig, specs: list[ClassSpec], rng: np.random.Generator) -> list[int]:
    weights = np.array([s.weight for s in specs])
    n = int(rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15]))
    first = int(rng.choice(cfg.num_classes, p=weights))
    classes = [first]
    partner = specs[first].partner
    if partner is not None and rng.random() < cfg.cooccur_strength:
        classes.append(partner)
    while len(classes) < min(max(n, len(classes)), cfg.max_objects):
        classes.append(int(rng.choice(cfg.num_classes, p=weights)))
    return classes[: cfg.max_objects]


def render_image(cfg: SynthConfig, specs: list[ClassSpec], rng: np.random.Generator) -> SynthImage:
    """Draw one image and its mask. Retries (with the same generator) until every object placed
    keeps a visible, non-void area of at least 0.5% of the image, so image labels = mask labels."""
    s = cfg.image_size
    for _ in range(50):
        short = int(round(s * rng.uniform(0.75, 1.0)))
        h, w = (s, short) if rng.random() < 0.5 else (short, s)
        yy, xx = draw.grid(h, w)
        classes = _draw_classes(cfg, specs, rng)
        present = set(classes)
        contexts = [specs[c].context for c in sorted(present) if rng.random() < cfg.p_context]
        for ctx in draw.CONTEXTS:
            owners = [sp.index for sp in specs if sp.context == ctx]
            if owners and ctx not in contexts and not present & set(owners):
                if rng.random() < cfg.p_context_absent:
                    contexts.append(ctx)
        contexts = list(dict.fromkeys(contexts))

        # Neutral, low-saturation background so the coloured context bands stand out from it.
        tint = (rng.uniform(90, 170) + rng.uniform(-15, 15, size=3)).astype(np.float32)
        bg = draw.blend(
            draw.smooth_noise(rng, (h, w), cells=4), tint * 0.75, np.minimum(tint * 1.25, 255)
        )
        img = bg
        regions = [draw.context_region(ctx, yy, xx, rng) for ctx in contexts]
        for region, rgb in regions:
            img[region] = rgb[region]

        # What each pixel shows, for the CAM-mass shares (written as SegmentationConfounders/):
        # drawn in the same order as the image, so later layers win exactly as they do there.
        confounders = np.zeros((h, w), np.uint8)
        for ctx, (region, _) in zip(contexts, regions, strict=True):
            confounders[region] = confounder_code(CONTEXT, draw.CONTEXTS.index(ctx) + 1)
        label = np.zeros((h, w), np.uint8)
        instance = np.full((h, w), -1, np.int16)
        for n, c in enumerate(classes):
            sp = specs[c]
            radius = rng.uniform(*cfg.object_scale) * min(h, w)
            cy = float(np.clip(rng.normal(0.5, 0.17), 0.15, 0.85)) * h
            cx = float(np.clip(rng.normal(0.5, 0.17), 0.15, 0.85)) * w
            u, v = draw.local_coords(yy, xx, cy, cx, radius, rng.uniform(-0.5, 0.5))
            obj = draw.shape_mask(sp.shape, u, v, rng.uniform(0.75, 1.0))
            fill = draw.texture(sp.texture, u, v, rng, radius)
            c1, c2 = (np.asarray(col, np.float32) for col in sp.colours)
            rgb = draw.blend(fill, c1, c2) * rng.uniform(0.9, 1.1)
            part = obj & (
                np.hypot(u - sp.part_position[0], v - sp.part_position[1]) <= cfg.part_size
            )
            img[obj] = rgb[obj]
            # at part_contrast 1 this is exactly the part colour (0 * x + 1 * c): format 2's images
            a = np.float32(cfg.part_contrast)
            img[part] = (1 - a) * img[part] + a * np.asarray(sp.part_colour, np.float32)
            label[obj] = c + 1
            instance[obj] = n
            confounders[obj] = confounder_code(BODY, c + 1)
            confounders[part] = confounder_code(PART, c + 1)

        mask = draw.void_band(label, width=int(rng.integers(1, 3)), ignore_index=IGNORE_INDEX)
        visible = [
            np.count_nonzero((instance == n) & (mask != IGNORE_INDEX)) for n in range(len(classes))
        ]
        if min(visible) >= 0.005 * h * w:
            img = np.clip(img + rng.normal(0.0, 4.0, img.shape), 0, 255).astype(np.uint8)
            vis = sorted({int(v) - 1 for v in np.unique(mask) if 0 < v <= cfg.num_classes})
            return SynthImage(img, mask, vis, contexts, drawn=list(classes),
                              confounders=confounders)  # fmt: skip
    raise RuntimeError("SynthVOC could not place visible objects in 50 tries; raise image_size")


def split_ids(cfg: SynthConfig) -> dict[str, list[str]]:
    """VOC-style ids (``2026_000000``) of each split; ``train`` is a prefix of ``train_aug``."""
    ids = {
        split: [f"{_ID_YEAR[split]}_{i:06d}" for i in range(n)]
        for split, n in (("train_aug", cfg.n_train), ("val", cfg.n_val))
    }
    ids["train"] = ids["train_aug"][: max(1, int(round(cfg.eval_fraction * cfg.n_train)))]
    return ids


def generate(cfg: SynthConfig, out: str | os.PathLike, *, progress: bool = True) -> dict:
    """Write a SynthVOC tree to ``out`` atomically (temp dir beside it, then rename).

    ``out`` must not exist or be an empty directory; nothing already there is ever overwritten.

    Returns:
        The metadata written to ``synthvoc.json``.
    """
    from tqdm import tqdm

    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"{out}: already exists and is not empty; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    specs = class_table(cfg)
    ids = split_ids(cfg)
    eval_ids = set(ids["train"]) | set(ids["val"])
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        for d in (IMAGE_DIR, MASK_DIR, AUG_MASK_DIR, SPLIT_DIR, CONFOUNDER_DIR):
            (tmp / d).mkdir(parents=True)
        palette = flat_palette()
        stats = _Stats(cfg.num_classes, specs)
        jobs = [
            (split, i, id_) for split in ("train_aug", "val") for i, id_ in enumerate(ids[split])
        ]
        for split, i, id_ in tqdm(jobs, desc="SynthVOC", disable=not progress, unit="img"):
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _SPLIT_CODE[split], i]))
            sample = render_image(cfg, specs, rng)
            stats.add(split, sample)
            _save_jpeg(sample.image, tmp / IMAGE_DIR / f"{id_}.jpg", cfg.jpeg_quality)
            Image.fromarray(sample.mask, mode="L").save(tmp / AUG_MASK_DIR / f"{id_}.png")
            Image.fromarray(sample.confounders, mode="L").save(tmp / CONFOUNDER_DIR / f"{id_}.png")
            if id_ in eval_ids:
                pimg = Image.fromarray(sample.mask, mode="P")
                pimg.putpalette(palette)
                pimg.save(tmp / MASK_DIR / f"{id_}.png")
        for split, names in ids.items():
            (tmp / SPLIT_DIR / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
        meta = {
            "format": "synthvoc",
            "format_version": FORMAT_VERSION,
            "class_names": [sp.name for sp in specs],
            "palette": [list(rgb) for rgb in voc_palette(cfg.num_classes + 1)],
            "ignore_index": IGNORE_INDEX,
            "generator": cfg.params(),
            "seed": cfg.seed,
            "splits": {k: len(v) for k, v in ids.items()},
            "confounders": [dataclasses.asdict(sp) for sp in specs],
            "confounder_maps": {
                "folder": CONFOUNDER_DIR,
                "encoding": "64 * kind + index; kind 0 elsewhere, 1 body (index = class label), "
                "2 part (index = class label), 3 context (index = 1 + position in contexts)",
                "contexts": list(draw.CONTEXTS),
            },
            "realised": stats.summary(),
        }
        (tmp / SYNTH_META).write_text(json.dumps(meta, indent=1) + "\n")
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def _save_jpeg(image: np.ndarray, path: Path, quality: int) -> None:
    buf = io.BytesIO()
    Image.fromarray(image, mode="RGB").save(buf, format="JPEG", quality=quality)
    path.write_bytes(buf.getvalue())


class _Stats:
    """Realised confounding statistics, recorded so a study can relate them to CAM->C2AM gains."""

    def __init__(self, k: int, specs: list[ClassSpec]) -> None:
        self.k, self.specs = k, specs
        self.images = {"train_aug": 0, "val": 0}
        self.present = np.zeros((2, k), np.int64)
        self.ctx_given_present = np.zeros((2, k), np.int64)
        self.ctx_given_absent = np.zeros((2, k), np.int64)
        self.cooc = np.zeros((k, k), np.int64)

    def add(self, split: str, sample: SynthImage) -> None:
        s = _SPLIT_CODE[split]
        self.images[split] += 1
        for sp in self.specs:
            here = sp.index in sample.classes
            has_ctx = sp.context in sample.contexts
            self.present[s, sp.index] += here
            self.ctx_given_present[s, sp.index] += here and has_ctx
            self.ctx_given_absent[s, sp.index] += (not here) and has_ctx
        if split == "train_aug":
            onehot = np.zeros(self.k, np.int64)
            onehot[sample.classes] = 1
            self.cooc += np.outer(onehot, onehot)

    def summary(self) -> dict:
        n = self.images["train_aug"]
        p = self.present[0]
        return {
            "train_aug_images": n,
            "images_per_class": p.tolist(),
            "p_context_given_present": (self.ctx_given_present[0] / np.maximum(p, 1))
            .round(4)
            .tolist(),
            "p_context_given_absent": (self.ctx_given_absent[0] / np.maximum(n - p, 1))
            .round(4)
            .tolist(),
            "cooccurrence": self.cooc.tolist(),
        }


def ensure(cfg: SynthConfig, out: str | os.PathLike, *, progress: bool = True) -> str:
    """Generate ``out`` unless it already holds a SynthVOC made with exactly ``cfg``.

    Returns:
        ``"generated"`` or ``"reused"``.

    Raises:
        ConfigError: ``out`` holds something else (another SynthVOC or a user's files); it is left
            untouched.
    """
    out = Path(out)
    meta_path = out / SYNTH_META
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        generate(cfg, out, progress=progress)
        return "generated"
    if not meta_path.is_file():
        raise ConfigError(
            f"{out}: exists but is not a SynthVOC tree (no {SYNTH_META}); "
            "move it away or pass another folder"
        )
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{meta_path}: unreadable ({err})") from None
    want = json.loads(json.dumps(cfg.params()))
    have = meta.get("generator", {})
    diff = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
    if meta.get("format_version") != FORMAT_VERSION or diff:
        what = ", ".join(f"{k}={have.get(k)!r} (want {want.get(k)!r})" for k in diff) or "format"
        raise ConfigError(
            f"{out}: holds a different SynthVOC ({what}); delete it or pass another folder"
        )
    return "reused"
