"""Render a grid of dataset images with their ground-truth masks (``c2am-bench data show``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import voc
from .voc_meta import IGNORE_INDEX, voc_palette


def colourise(mask: np.ndarray) -> np.ndarray:
    """(H, W) label map -> (H, W, 3) uint8 RGB in the VOC palette (255 = void is cream)."""
    return np.asarray(voc_palette(256), np.uint8)[mask]


def render_grid(
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    split: str = "val",
    n: int = 12,
    cols: int = 4,
) -> Path:
    """Save a PNG of the first ``n`` images of ``split``, each beside its titled mask.

    The first ``n`` ids of the split are shown (deterministic). Images without a mask show only
    the image. Written atomically; returns the output path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    tree = voc.open_tree(root)
    ids = tree.read_split(split)[:n]
    rows = (len(ids) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, 2 * cols, figsize=(2.0 * 2 * cols, 2.3 * rows + 0.8), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    seen: set[int] = set()
    for i, id_ in enumerate(ids):
        ax_img, ax_mask = axes[i // cols, 2 * (i % cols)], axes[i // cols, 2 * (i % cols) + 1]
        ax_img.imshow(voc.load_image(tree.image_path(id_)))
        mask_path = tree.mask_path(id_)
        if mask_path is None:
            ax_img.set_title(id_, fontsize=7)
            continue
        mask = voc.load_mask(mask_path, tree.num_classes)
        labels = [int(v) for v in np.unique(mask) if 0 < v <= tree.num_classes]
        seen.update(labels)
        ax_mask.imshow(colourise(mask), interpolation="nearest")
        names = ", ".join(tree.class_names[v - 1] for v in labels) or "background only"
        ax_img.set_title(id_, fontsize=7)
        ax_mask.set_title(names, fontsize=6)
    pal = np.asarray(voc_palette(256), float) / 255.0
    handles = [Patch(color=pal[v], label=f"{v} {tree.class_names[v - 1]}") for v in sorted(seen)]
    handles.append(Patch(color=pal[IGNORE_INDEX], label="255 void"))
    fig.legend(
        handles=handles, loc="lower center", ncol=min(len(handles), 7), fontsize=7, frameon=False
    )
    fig.suptitle(f"{Path(root).name} / {split}: first {len(ids)} images and masks", fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110)
    except OSError as err:
        raise DataError(out, f"cannot write figure ({err})") from None
    finally:
        plt.close(fig)
    tmp.replace(out)
    return out
