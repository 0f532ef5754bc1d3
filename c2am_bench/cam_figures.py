"""Figures of CAMs, pseudo-masks, the Global CAM and the C2AM logit scale (paper Figs. 1/5, 4/8,
7, 10).

Every ``plot_*``/``save_*`` function that takes ``out`` renders on a pyplot-free Agg
:class:`~matplotlib.figure.Figure` (no global backend switch, nothing left open in pyplot) and
writes the PNG atomically (temp file, then ``os.replace``). Functions taking ``ax`` draw on it and
return it.

C2AM as executed scales each class logit by ``c_z = gamma * mean(G_z)`` before
BCE-with-logits (design notes, algorithms a.4); :func:`logit_gradient` and
:func:`plot_gradient_curves` show why a small ``c`` forces larger logits.

Paper: Wang et al., "Causal Class Activation Maps for Weakly-Supervised Semantic Segmentation",
UAI 2022 CRL workshop; code: https://github.com/yiping-wang/c2am.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from .atomic import write_file
from .cams import load_global_cam, load_seed
from .datasets import voc
from .datasets.show import colourise
from .datasets.voc_meta import IGNORE_INDEX, voc_palette
from .errors import DataError

__all__ = [
    "draw_seed_curves", "global_cam_frame", "logit_gradient", "new_figure", "plot_cam_overlays",
    "plot_class_constants", "plot_global_cam", "plot_gradient_curves", "plot_seed_curves",
    "save_class_constants", "save_figure", "seed_curve_frame",
]  # fmt: skip

CURVE_COLUMNS = ("threshold", "mIoU")


def new_figure(**kwargs) -> Figure:
    """A constrained-layout Agg :class:`~matplotlib.figure.Figure`, not registered in pyplot."""
    fig = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out: str | os.PathLike, dpi: int = 110, **metadata: str) -> Path:
    """Write ``fig`` as PNG to ``out`` atomically (parents created) and return the path."""
    out = Path(out)
    try:
        write_file(out, lambda f: fig.savefig(f, format="png", dpi=dpi, metadata=metadata))
    except OSError as err:
        raise DataError(out, f"cannot write figure ({err})") from None
    finally:
        fig.clear()
    return out


# --------------------------------------------------------------------------- CAM overlays


def _overlay_rows(
    tree: voc.VOCTree,
    ids: Sequence[str],
    dirs: Sequence[Path],
    n: int,
    mask_dirs: Sequence[Path] = (),
) -> list:
    """The first ``n`` ids with a seed in every dir (and a pseudo-mask in every ``mask_dirs``)
    and a GT mask with a foreground class.

    Returns ``(id, mask, z)`` triples, ``z`` the 0-based class with the most GT pixels.
    """
    rows = []
    for id_ in ids:
        if len(rows) == n:
            break
        if not all((d / f"{id_}.npz").is_file() for d in dirs):
            continue
        if not all((d / f"{id_}.png").is_file() for d in mask_dirs):
            continue
        mask_path = tree.mask_path(id_)
        if mask_path is None:
            continue
        mask = voc.load_mask(mask_path, tree.num_classes)
        counts = np.bincount(mask.ravel(), minlength=256)[1 : tree.num_classes + 1]
        if counts.any():
            rows.append((id_, mask, int(counts.argmax())))
    return rows


def _load_label_png(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A label-map PNG (palette or grey) as ``(H, W)`` uint8, checked against the image size."""
    try:
        with Image.open(path) as im:
            labels = np.asarray(im)
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(path, f"unreadable pseudo-mask ({err})") from None
    if labels.shape != shape:
        raise DataError(path, f"pseudo-mask is {labels.shape} but the image is {shape}")
    return labels.astype(np.uint8)


def plot_cam_overlays(
    data_root: str | os.PathLike,
    cams_dirs: Mapping[str, str | os.PathLike],
    out: str | os.PathLike,
    *,
    split: str = "train",
    n: int = 6,
    masks_dirs: Mapping[str, str | os.PathLike] | None = None,
) -> Path:
    """Qualitative comparison (paper Figs. 1 and 5): image | GT | each method's CAM of the main
    class | (optionally) each method's pseudo-mask.

    Rows are the first ``n`` ids of ``split`` that have a seed (``<id>.npz``) in every cams dir
    (and a pseudo-mask ``<id>.png`` in every masks dir) and a GT mask with a foreground class; the
    class shown is the one with the most GT pixels. Each CAM column overlays that class's
    ``high_res`` CAM (jet, colour scale fixed to ``[0, 1]``) on the image; each mask column shows
    the label map in the VOC palette, like the GT, with a legend of the classes present. The ids
    shown are stored in the PNG's ``Description`` text chunk.

    Args:
        data_root: VOC-layout root.
        cams_dirs: ``{method: folder of <id>.npz seeds}``; columns follow the dict order.
        out: PNG path.
        split: Split whose ids are scanned in file order.
        n: Maximum number of rows.
        masks_dirs: ``{method: folder of <id>.png pseudo-masks}`` (a subset of the methods is
            fine); their columns follow the CAM columns.

    Raises:
        DataError: A cams or masks dir is missing, no id qualifies, or a seed or pseudo-mask does
            not match its image.
    """
    if not cams_dirs:
        raise ValueError("cams_dirs must name at least one method")
    dirs = {m: Path(d) for m, d in cams_dirs.items()}
    mdirs = {m: Path(d) for m, d in (masks_dirs or {}).items()}
    for d in (*dirs.values(), *mdirs.values()):
        if not d.is_dir():
            raise DataError(d, "cams dir does not exist" if d in dirs.values() else
                            "masks dir does not exist")  # fmt: skip
    tree = voc.open_tree(data_root)
    ids = tree.read_split(split)
    rows = _overlay_rows(tree, ids, list(dirs.values()), n, list(mdirs.values()))
    if not rows:
        what = "a seed in every cams dir" + (" and a pseudo-mask in every masks dir" if mdirs
                                             else "")  # fmt: skip
        raise DataError(
            next(iter(dirs.values())), f"no id of split {split!r} has a GT mask and {what}"
        )
    ncols = 2 + len(dirs) + len(mdirs)
    fig = new_figure(figsize=(2.3 * ncols + 0.8, 2.3 * len(rows) + (1.0 if mdirs else 0.4)))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    seen: set[int] = set()
    for r, (id_, mask, z) in enumerate(rows):
        image = voc.load_image(tree.image_path(id_), split)
        name = tree.class_names[z]
        present = [tree.class_names[v - 1] for v in np.unique(mask) if 0 < v <= tree.num_classes]
        seen.update(int(v) for v in np.unique(mask))
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(id_, fontsize=9)
        axes[r, 1].imshow(colourise(mask), interpolation="nearest")
        axes[r, 1].set_title(textwrap.fill("GT: " + ", ".join(present), 30), fontsize=9)
        for c, (method, d) in enumerate(dirs.items(), start=2):
            seed = load_seed(d / f"{id_}.npz")
            if seed["high_res"].shape[1:] != image.shape[:2]:
                raise DataError(
                    d / f"{id_}.npz",
                    f"high_res is {seed['high_res'].shape[1:]} but the image is {image.shape[:2]}",
                )
            hit = np.flatnonzero(seed["keys"] == z)
            cam = seed["high_res"][hit[0]] if hit.size else np.zeros(image.shape[:2], np.float32)
            axes[r, c].imshow(image)
            axes[r, c].imshow(cam, cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
            title = f"{method}: {name}" + ("" if hit.size else " (no CAM)")
            axes[r, c].set_title(textwrap.fill(title, 28), fontsize=9)
        for c, (method, d) in enumerate(mdirs.items(), start=2 + len(dirs)):
            labels = _load_label_png(d / f"{id_}.png", image.shape[:2])
            seen.update(int(v) for v in np.unique(labels))
            axes[r, c].imshow(colourise(labels), interpolation="nearest")
            axes[r, c].set_title(textwrap.fill(f"{method}: pseudo-mask", 28), fontsize=9)
    for ax in axes.flat:
        ax.set_axis_off()
    sm = ScalarMappable(Normalize(0.0, 1.0), cmap="jet")
    fig.colorbar(sm, ax=axes, shrink=0.6, label="CAM (max-normalised)")
    if mdirs:
        pal = np.asarray(voc_palette(256), float) / 255.0
        names = {0: "background", IGNORE_INDEX: "void / ignored"}
        names.update({i + 1: c for i, c in enumerate(tree.class_names)})
        handles = [Patch(color=pal[v], label=names.get(v, str(v))) for v in sorted(seen)]
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8),
                   fontsize=8, frameon=False)  # fmt: skip
    what = "CAMs of the largest GT class" + (" and pseudo-masks" if mdirs else "")
    fig.suptitle(f"{what} ({split})", fontsize=11)
    ids = ", ".join(r[0] for r in rows)
    return save_figure(fig, out, Description=f"ids: {ids}")


# --------------------------------------------------------------------------- Global CAM


def global_cam_frame(
    global_cam: Mapping, class_names: Sequence[str], gamma: float = 1.0
) -> pd.DataFrame:
    """Tidy per-class constants of a Global CAM (from :func:`~c2am_bench.cams.load_global_cam`).

    Returns:
        One row per class x aggregation (``'all'``, ``'by_class'``): ``class``, ``aggregation``,
        ``M`` (spatial mean of ``G_z``), ``c = gamma * M`` (C2AM's logit scale), ``count``
        (images with a non-zero CAM of the class).
    """
    k = np.asarray(global_cam["all"]).shape[0]
    if len(class_names) != k:
        raise ValueError(f"class_names has {len(class_names)} names, the Global CAM has {k}")
    counts = np.asarray(global_cam["counts"], np.int64)
    parts = []
    for agg in ("all", "by_class"):
        m = np.asarray(global_cam[agg], np.float64).mean(axis=(1, 2))
        cols = {"class": list(class_names), "aggregation": agg, "M": m, "c": gamma * m}
        parts.append(pd.DataFrame({**cols, "count": counts}))
    return pd.concat(parts, ignore_index=True)


def plot_global_cam(
    global_cam_path: str | os.PathLike,
    class_names: Sequence[str],
    out: str | os.PathLike,
    *,
    max_cols: int = 10,
) -> Path:
    """Heat maps of ``G^all`` (top) and ``G^cls`` (bottom) per class (paper Fig. 10).

    With more than ``max_cols`` classes each aggregation wraps onto several rows (VOC's 20
    classes: 2 x 10 per aggregation). Each aggregation shares one colour scale and colorbar;
    titles give the class and its ``M_z``.
    """
    g = load_global_cam(global_cam_path)
    frame = global_cam_frame(g, class_names).set_index(["aggregation", "class"])["M"]
    k = len(class_names)
    ncols = min(k, max_cols)
    nblk = -(-k // ncols)
    fig = new_figure(figsize=(1.5 * ncols + 1.2, 1.95 * 2 * nblk + 0.3))
    axes = fig.subplots(2 * nblk, ncols, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for r, (agg, label) in enumerate((("all", "$G^{all}$"), ("by_class", "$G^{cls}$"))):
        block = axes[r * nblk : (r + 1) * nblk]
        vmax = float(g[agg].max()) or 1.0
        for z, name in enumerate(class_names):
            ax = block[z // ncols, z % ncols]
            ax.set_axis_on()
            im = ax.imshow(g[agg][z], cmap="viridis", vmin=0.0, vmax=vmax)
            ax.set_title(f"{name}\n$M$={frame[(agg, name)]:.3f}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            if z % ncols == 0:
                ax.set_ylabel(label, fontsize=11)
        fig.colorbar(im, ax=block, shrink=0.8)
    fig.suptitle(f"Global CAM ({g['n_images']} images)", fontsize=11)
    return save_figure(fig, out)


def plot_class_constants(frame: pd.DataFrame, ax: Axes | None = None) -> Axes:
    """Bar plot of ``M_z`` per class of a :func:`global_cam_frame`, hue = aggregation (Fig. 7)."""
    if ax is None:
        ax = new_figure(figsize=(max(6.5, 0.45 * frame["class"].nunique() + 3), 3.6)).subplots()
    sns.barplot(data=frame, x="class", y="M", hue="aggregation", ax=ax)
    ax.set_xlabel("")
    ax.set_ylabel(r"$M_z$ = spatial mean of $G_z$")
    ax.set_title(r"Global CAM means (C2AM logit scale $c_z = \gamma M_z$)")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1.0, 1.0), title="aggregation")
    ax.tick_params(axis="x", labelrotation=45)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    return ax


def save_class_constants(
    global_cam_path: str | os.PathLike, class_names: Sequence[str], out: str | os.PathLike
) -> Path:
    """:func:`plot_class_constants` of a saved Global CAM, written to ``out``."""
    frame = global_cam_frame(load_global_cam(global_cam_path), class_names)
    ax = plot_class_constants(frame)
    return save_figure(ax.figure, out)


# --------------------------------------------------------------------------- logit scale


def logit_gradient(s, c, positive: bool):
    """``dL/ds`` of BCE-with-logits on ``ŝ = c·s`` for one element (paper Eqs. 7/8).

    Positive label: ``-c·(1 - σ(c·s))``; negative label: ``c·σ(c·s)``. Broadcasts over arrays.
    """
    s = np.asarray(s, np.float64)
    sig = 0.5 * (1.0 + np.tanh(0.5 * c * s))  # σ without overflow for large |c·s|
    return -c * (1.0 - sig) if positive else c * sig


def plot_gradient_curves(
    constants: Mapping[str, float],
    out: str | os.PathLike,
    s_range: tuple[float, float] = (-10, 10),
) -> Path:
    """``dL/ds`` against the raw logit ``s`` over ``s_range`` per logit scale (paper Figs. 4/8).

    ``constants`` maps legend labels to ``c``, e.g. ``{'CAM (c=1)': 1.0, 'CAM+Constant': 0.2}``.
    """
    s = np.linspace(float(s_range[0]), float(s_range[1]), 401)
    parts = [
        pd.DataFrame({"s": s, "grad": logit_gradient(s, c, pos), "method": name, "label": pos})
        for name, c in constants.items()
        for pos in (True, False)
    ]
    frame = pd.concat(parts, ignore_index=True)
    fig = new_figure(figsize=(11, 4.2))
    axes = fig.subplots(1, 2)
    for ax, pos in zip(axes, (True, False), strict=True):
        sns.lineplot(data=frame[frame["label"] == pos], x="s", y="grad", hue="method", ax=ax)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_xlabel("raw logit $s$")
        ax.set_ylabel(r"$\partial L / \partial s$")
        ax.set_title(f"{'positive' if pos else 'negative'} label (y={int(pos)})")
        handles, labels = ax.get_legend_handles_labels()
        ax.get_legend().remove()
    longest = max(len(label) for label in labels)
    ncol = min(len(labels), 3 if longest <= 36 else 2 if longest <= 56 else 1)
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=9)
    fig.suptitle(r"BCE-with-logits gradient on $\hat s = c\,s$: smaller $c$ decays later")
    return save_figure(fig, out)


# --------------------------------------------------------------------------- seed curves


def seed_curve_frame(curves: Mapping[str, str | os.PathLike | pd.DataFrame]) -> pd.DataFrame:
    """Stack threshold curves (``curve.csv`` paths or frames) into one frame with ``method``.

    Raises:
        DataError: A file is missing or unreadable, or lacks ``threshold``/``mIoU``.
    """
    parts = []
    for method, curve in curves.items():
        where = "<DataFrame>" if isinstance(curve, pd.DataFrame) else Path(curve)
        if not isinstance(curve, pd.DataFrame):
            try:
                curve = pd.read_csv(where)
            except (OSError, ValueError) as err:
                raise DataError(where, f"unreadable curve CSV ({err})") from None
        missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
        if missing or curve.empty:
            raise DataError(where, f"curve of {method!r} lacks rows or columns {missing}")
        parts.append(curve.assign(method=method))
    if not parts:
        raise ValueError("curves must name at least one method")
    return pd.concat(parts, ignore_index=True)


def draw_seed_curves(frame: pd.DataFrame, ax: Axes | None = None, fixed: float = 0.15) -> Axes:
    """mIoU against background threshold per ``method``, best points marked, ``fixed`` dashed."""
    if ax is None:
        ax = new_figure(figsize=(6.5, 4.2)).subplots()
    best = frame.loc[frame.groupby("method", sort=False)["mIoU"].idxmax()]  # dict order kept
    labels = {
        b.method: f"{b.method} (best {b.mIoU:.3f} @ {b.threshold:.2f})"
        for b in best.itertuples(index=False)
    }
    frame = frame.assign(legend=frame["method"].map(labels)).sort_values("threshold")
    palette = dict(zip(labels.values(), sns.color_palette(n_colors=len(labels)), strict=True))
    style = dict(hue="legend", hue_order=list(palette), palette=palette, errorbar=None)
    sns.lineplot(data=frame, x="threshold", y="mIoU", ax=ax, **style)
    for b in best.itertuples(index=False):
        ax.plot(b.threshold, b.mIoU, "o", color=palette[labels[b.method]], ms=7, mec="black")
    ax.axvline(fixed, ls="--", color="grey", label=f"fixed t={fixed:g}")
    ax.set_xlabel("background threshold $t$")
    ax.set_ylabel("seed mIoU")
    ax.set_title("Seed mIoU vs background threshold")
    ax.legend(fontsize=8, title=None)
    return ax


def plot_seed_curves(
    curves: Mapping[str, str | os.PathLike | pd.DataFrame],
    out: str | os.PathLike,
    fixed: float = 0.15,
) -> Path:
    """:func:`draw_seed_curves` of :func:`seed_curve_frame` ``(curves)``, written to ``out``."""
    ax = draw_seed_curves(seed_curve_frame(curves), fixed=fixed)
    return save_figure(ax.figure, out)
