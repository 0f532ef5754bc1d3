"""Statistics of a validated VOC-layout tree and their text and JSON forms.

Split from :mod:`c2am_bench.datasets.voc` (which re-exports everything here) so that reading and
validation stay in one short module and reporting in another.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .voc_meta import IGNORE_INDEX


@dataclass
class SplitSummary:
    """Statistics of one validated split.

    Attributes:
        name: Split name.
        n_images: Ids listed.
        n_with_mask: Ids with a mask.
        label_hist: (K,) images containing each class.
        cooccurrence: (K, K) images containing both i and j; the diagonal is ``label_hist``.
        mean_labels: Mean number of classes per image.
        min_size: (H, W), the smallest height and width over images (taken separately).
        max_size: (H, W), the largest height and width.
        pixel_fraction: (K + 2,) fraction of mask pixels that are background, class 1..K, void
            (last), over images with a mask; zeros if none has one.
    """

    name: str
    n_images: int
    n_with_mask: int
    label_hist: np.ndarray
    cooccurrence: np.ndarray
    mean_labels: float
    min_size: tuple[int, int]
    max_size: tuple[int, int]
    pixel_fraction: np.ndarray


@dataclass
class DatasetSummary:
    """A validated tree: its root, class names and per-split statistics."""

    root: Path
    class_names: tuple[str, ...]
    splits: dict[str, SplitSummary]

    @property
    def main_split(self) -> SplitSummary:
        """The split with the most masks (ties: the first); the largest if none has masks."""
        return max(self.splits.values(), key=lambda s: (s.n_with_mask, s.n_images))


def summarise_split(
    name: str, results: Sequence[tuple[np.ndarray, tuple[int, int], np.ndarray | None]], k: int
) -> SplitSummary:
    """Summarise a split from its per-image ``(labels (K,), (H, W), pixel counts (K + 2,))``.

    Pixel counts are background, classes 1..K, void; ``None`` for an image without a mask.
    """
    labels = [r[0] for r in results]
    sizes = [r[1] for r in results]
    pixel_counts = [r[2] for r in results if r[2] is not None]
    onehot = np.stack(labels).astype(np.int64)
    cooc = onehot.T @ onehot
    hw = np.array(sizes)
    total = np.sum(pixel_counts, axis=0) if pixel_counts else np.zeros(k + 2, np.int64)
    return SplitSummary(
        name=name,
        n_images=len(onehot),
        n_with_mask=len(pixel_counts),
        label_hist=np.diag(cooc).copy(),
        cooccurrence=cooc,
        mean_labels=float(onehot.sum(1).mean()),
        min_size=tuple(int(v) for v in hw.min(0)),
        max_size=tuple(int(v) for v in hw.max(0)),
        pixel_fraction=total / max(int(total.sum()), 1),
    )


def format_summary(summary: DatasetSummary, top_pairs: int = 5) -> str:
    """Human-readable report: split counts, images per class, co-occurrence of the main split."""
    names, k = summary.class_names, len(summary.class_names)
    main = summary.main_split
    lines = [
        f"{summary.root}: {k} classes",
        "",
        f"{'split':<10} {'images':>7} {'masks':>7} {'labels/img':>10}  size HxW (min..max)",
    ]
    for s in summary.splits.values():
        lines.append(
            f"{s.name:<10} {s.n_images:>7} {s.n_with_mask:>7} {s.mean_labels:>10.2f}  "
            f"{s.min_size[0]}x{s.min_size[1]}..{s.max_size[0]}x{s.max_size[1]}"
        )
    w = max(len(n) for n in (*names, "background", "void"))
    cols = [max(len(n), 7) for n in summary.splits]
    px = f"px% {main.name}"
    lines += [
        "",
        f"images per class (px%: share of {main.name}'s mask pixels)",
        f"{'#':>3} {'class':<{w}}"
        + "".join(f" {n:>{c}}" for n, c in zip(summary.splits, cols, strict=True))
        + f" {px:>{len(px)}}",
    ]
    frac = main.pixel_fraction * 100
    rows = [
        (0, "background", None),
        *((i + 1, n, i) for i, n in enumerate(names)),
        (255, "void", None),
    ]
    for label, name, i in rows:
        per = "".join(
            f" {'' if i is None else int(s.label_hist[i]):>{c}}"
            for s, c in zip(summary.splits.values(), cols, strict=True)
        )
        share = frac[-1] if label == IGNORE_INDEX else frac[label]
        lines.append(f"{label:>3} {name:<{w}}{per} {share:>{len(px)}.2f}")
    cooc = main.cooccurrence
    cw = max(len(str(int(cooc.max()))), len(str(k))) + 1
    lines += [
        "",
        f"co-occurrence in {main.name} (images containing both; columns are class #)",
        f"{'':>3} {'':<{w}}" + "".join(f"{j + 1:>{cw}}" for j in range(k)),
    ]
    for i, name in enumerate(names):
        lines.append(f"{i + 1:>3} {name:<{w}}" + "".join(f"{int(v):>{cw}}" for v in cooc[i]))
    iu, ju = np.triu_indices(k, 1)
    order = np.argsort(-cooc[iu, ju], kind="stable")[:top_pairs]
    pairs = [(iu[o], ju[o]) for o in order if cooc[iu[o], ju[o]] > 0]
    lines += ["", f"top co-occurring pairs in {main.name}:"]
    for i, j in pairs:
        rarer = max(min(cooc[i, i], cooc[j, j]), 1)
        lines.append(
            f"  {names[i]} + {names[j]}: {int(cooc[i, j])} images "
            f"({100 * cooc[i, j] / rarer:.0f}% of the rarer class's)"
        )
    if not pairs:
        lines.append("  none")
    return "\n".join(lines)


def summary_to_dict(summary: DatasetSummary) -> dict:
    """A JSON-serialisable copy of ``summary`` (arrays become lists)."""
    labels = ["background", *summary.class_names, "void"]
    return {
        "root": str(summary.root),
        "class_names": list(summary.class_names),
        "splits": {
            name: {
                "n_images": s.n_images,
                "n_with_mask": s.n_with_mask,
                "label_hist": s.label_hist.tolist(),
                "cooccurrence": s.cooccurrence.tolist(),
                "mean_labels": s.mean_labels,
                "min_size": list(s.min_size),
                "max_size": list(s.max_size),
                "pixel_fraction": dict(zip(labels, s.pixel_fraction.tolist(), strict=True)),
            }
            for name, s in summary.splits.items()
        },
    }
