"""Read and validate a PASCAL VOC 2012 tree (optionally with SBD's ``SegmentationClassAug``).

SynthVOC trees use the same layout, so one reader serves both. Pure numpy/PIL: ``c2am-bench data
check`` must run without torch. Masks hold class indices (0 background, 1..K classes, 255 void);
image-level labels are 0-based multi-hot vectors over the K foreground classes, as the WSSS
references' ``cls_labels.npy``.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError
from .voc_meta import (
    AUG_MASK_DIR,
    IGNORE_INDEX,
    IMAGE_DIR,
    IMAGE_LABELS,
    MASK_DIR,
    SPLIT_DIR,
    SYNTH_META,
    VOC_CLASSES,
)
from .voc_summary import (
    DatasetSummary,
    SplitSummary,
    format_summary,
    summarise_split,
    summary_to_dict,
)

__all__ = [
    "DEFAULT_SPLITS", "DatasetSummary", "SplitSummary", "VOCTree", "check_tree", "format_summary",
    "image_labels", "labels_from_mask", "load_image", "load_mask", "open_tree",
    "read_image_labels", "summary_to_dict",
]  # fmt: skip

DEFAULT_SPLITS = ("train", "val", "train_aug")
# mmseg's converter writes the SBD split as ``trainaug.txt``; the WSSS references say ``train_aug``.
_ALIASES = {"train_aug": ("train_aug", "trainaug"), "trainaug": ("trainaug", "train_aug")}
# Errors PIL raises on bad files: OSError (incl. truncated/unidentified), SyntaxError (bad PNG
# chunks), ValueError, and DecompressionBombError (not an OSError).
_PIL_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclass(frozen=True)
class VOCTree:
    """A VOC-layout root and its class names (``class_names[i]`` is mask label ``i + 1``)."""

    root: Path
    class_names: tuple[str, ...]

    @property
    def num_classes(self) -> int:
        """K, the number of foreground classes."""
        return len(self.class_names)

    def split_file(self, split: str) -> Path:
        """Path of ``ImageSets/Segmentation/<split>.txt`` (``train_aug``/``trainaug`` are aliases).

        Returns the first alias that exists, else the path under the name asked for.
        """
        names = _ALIASES.get(split, (split,))
        for name in names:
            path = self.root / SPLIT_DIR / f"{name}.txt"
            if path.is_file():
                return path
        return self.root / SPLIT_DIR / f"{names[0]}.txt"

    def existing_splits(self) -> list[str]:
        """Names of the split files present, sorted."""
        folder = self.root / SPLIT_DIR
        return sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []

    def image_path(self, id_: str) -> Path:
        """``JPEGImages/<id>.jpg`` (whether or not it exists)."""
        return self.root / IMAGE_DIR / f"{id_}.jpg"

    def mask_path(self, id_: str, prefer_aug: bool = False) -> Path | None:
        """The mask of ``id_``: ``SegmentationClass`` first (``SegmentationClassAug`` first if
        ``prefer_aug``), falling back to the other; ``None`` if neither holds one."""
        folders = (AUG_MASK_DIR, MASK_DIR) if prefer_aug else (MASK_DIR, AUG_MASK_DIR)
        for folder in folders:
            path = self.root / folder / f"{id_}.png"
            if path.is_file():
                return path
        return None

    def read_split(self, split: str) -> list[str]:
        """Image ids of ``split``, in file order, as strings (``2007_000032``, never ints).

        Raises:
            DataError: The split file is missing (the message lists the splits present), empty,
                unreadable, or lists an id twice.
        """
        path = self.split_file(split)
        if not path.is_file():
            have = ", ".join(self.existing_splits()) or "none"
            raise DataError(path, f"split file missing; splits present: {have}")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise DataError(path, f"unreadable split file ({err})") from None
        ids: list[str] = []
        seen: dict[str, int] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            id_ = line.strip()
            if not id_:
                continue
            if len(id_.split()) > 1:
                raise DataError(path, f"line {lineno}: expected one image id, got {id_!r}")
            if id_ in seen:
                raise DataError(path, f"duplicate id {id_!r} (lines {seen[id_]} and {lineno})")
            seen[id_] = lineno
            ids.append(id_)
        if not ids:
            raise DataError(path, f"split {split!r} is empty")
        return ids


def open_tree(root: str | os.PathLike) -> VOCTree:
    """Open a VOC-layout root; class names come from ``synthvoc.json`` if present, else VOC's 20.

    Raises:
        DataError: ``root`` or its ``JPEGImages/`` is missing, or ``synthvoc.json`` is malformed.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(root, "data root does not exist")
    if not root.is_dir():
        raise DataError(root, "data root is not a directory")
    if not (root / IMAGE_DIR).is_dir():
        raise DataError(root / IMAGE_DIR, f"missing; expected the VOC layout ({SPLIT_DIR}/ etc.)")
    return VOCTree(root, _class_names(root / SYNTH_META))


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"unreadable JSON ({err})") from None


def _class_names(path: Path) -> tuple[str, ...]:
    if not path.is_file():
        return VOC_CLASSES
    meta = _read_json(path)
    if not isinstance(meta, dict) or "class_names" not in meta:
        raise DataError(path, "missing key 'class_names'")
    names = meta["class_names"]
    ok = isinstance(names, list) and 0 < len(names) < IGNORE_INDEX
    if not ok or not all(isinstance(n, str) and n for n in names):
        raise DataError(
            path,
            f"key 'class_names' must be a list of 1..{IGNORE_INDEX - 1} "
            f"non-empty strings, got {names!r:.80}",
        )
    if len(set(names)) != len(names):
        raise DataError(path, "key 'class_names' lists a name twice")
    return tuple(names)


def read_image_labels(tree: VOCTree) -> dict[str, np.ndarray] | None:
    """Labels from ``image_labels.json`` (``{"<id>": [0-based class indices]}``), if present.

    Returns:
        ``{id: (K,) uint8 multi-hot}``, or ``None`` when the file is absent.

    Raises:
        DataError: The file is not such an object or an index is not an int in ``[0, K)``.
    """
    path = tree.root / IMAGE_LABELS
    if not path.is_file():
        return None
    data = _read_json(path)
    if not isinstance(data, dict):  # JSON object keys are always strings
        raise DataError(path, 'expected an object {"<id>": [0-based class indices]}')
    k = tree.num_classes
    out = {}
    for id_, idx in data.items():
        if not isinstance(idx, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and 0 <= i < k for i in idx
        ):
            raise DataError(
                path, f"id {id_!r}: expected a list of class indices in [0, {k}), got {idx!r:.80}"
            )
        vec = np.zeros(k, np.uint8)
        vec[idx] = 1
        out[id_] = vec
    return out


def load_mask(path: str | os.PathLike, num_classes: int) -> np.ndarray:
    """Decode an index mask (PNG mode ``P`` as VOC, or ``L`` as SBD aug).

    Returns:
        (H, W) uint8 labels in ``0..K`` or 255.

    Raises:
        DataError: Unreadable PNG, another mode (e.g. RGB colour masks), or a label > K and != 255.
    """
    try:
        with Image.open(path) as im:
            im.load()
            mode = im.mode
            mask = np.array(im, dtype=np.uint8) if mode in ("P", "L") else None
    except _PIL_ERRORS as err:
        raise DataError(path, f"unreadable PNG mask ({err})") from None
    if mask is None:
        raise DataError(
            path,
            f"mask has mode {mode!r}; convert colour masks to index masks "
            "(mode 'P' or 'L', pixel value = class index, 255 = void)",
        )
    counts = np.bincount(mask.ravel(), minlength=256)
    bad = [v for v in np.flatnonzero(counts).tolist() if num_classes < v != IGNORE_INDEX]
    if bad:
        shown = ", ".join(map(str, bad[:8])) + (" ..." if len(bad) > 8 else "")
        raise DataError(
            path, f"label value(s) {shown} outside 0..{num_classes} and not {IGNORE_INDEX} (void)"
        )
    return mask


def load_image(path: str | os.PathLike, split: str | None = None) -> np.ndarray:
    """Fully decode a JPEG (a lazy ``Image.open`` would miss corrupt or truncated data).

    Args:
        path: The image file.
        split: Named in the message when the file is absent.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        DataError: The file is absent, or unreadable, corrupt or truncated.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, f"listed in split {split!r} but absent" if split else "image absent")
    try:
        with Image.open(path) as im:
            im.load()  # raises on truncation unless ImageFile.LOAD_TRUNCATED_IMAGES is set
            return np.asarray(im.convert("RGB"))
    except _PIL_ERRORS as err:
        raise DataError(path, f"unreadable or corrupt image ({err})") from None


def labels_from_mask(mask: np.ndarray, num_classes: int) -> np.ndarray:
    """Multi-hot of the classes present in an (H, W) mask: (K,) uint8, entry i for label i + 1."""
    counts = np.bincount(mask.ravel(), minlength=256)
    return (counts[1 : num_classes + 1] > 0).astype(np.uint8)


def image_labels(tree: VOCTree, ids: Sequence[str]) -> np.ndarray:
    """Image-level labels: from ``image_labels.json`` where it lists the id, else from the mask.

    Returns:
        (N, K) uint8 multi-hot.

    Raises:
        DataError: An id has neither an entry in ``image_labels.json`` nor a mask.
    """
    given = read_image_labels(tree) or {}
    out = np.zeros((len(ids), tree.num_classes), np.uint8)
    for n, id_ in enumerate(ids):
        if id_ in given:
            out[n] = given[id_]
            continue
        path = tree.mask_path(id_)
        if path is None:
            raise DataError(tree.root / MASK_DIR / f"{id_}.png", f"no mask, not in {IMAGE_LABELS}")
        out[n] = labels_from_mask(load_mask(path, tree.num_classes), tree.num_classes)
    return out


def _check_one(
    tree: VOCTree,
    split: str,
    id_: str,
    *,
    prefer_aug: bool,
    need_mask: bool,
    given: dict[str, np.ndarray] | None,
) -> tuple:
    """Validate one id; returns (labels (K,), (H, W), pixel counts (K + 2,) or None)."""
    k = tree.num_classes
    image_path = tree.image_path(id_)
    hw = load_image(image_path, split).shape[:2]
    labels = given.get(id_) if given else None
    mask_path = tree.mask_path(id_, prefer_aug)
    if mask_path is None:
        if need_mask:
            expected = tree.root / (AUG_MASK_DIR if prefer_aug else MASK_DIR) / f"{id_}.png"
            raise DataError(expected, f"mask missing (in both mask folders) for split {split!r}")
        if labels is None:
            raise DataError(tree.root / IMAGE_LABELS, f"no labels for {id_!r} (split {split!r})")
        return labels, hw, None
    mask = load_mask(mask_path, k)
    if mask.shape != hw:
        raise DataError(
            mask_path,
            f"mask is {mask.shape[0]}x{mask.shape[1]} but image "
            f"{image_path.name} is {hw[0]}x{hw[1]} (HxW)",
        )
    c = np.bincount(mask.ravel(), minlength=256)
    counts = np.concatenate([c[: k + 1], c[IGNORE_INDEX : IGNORE_INDEX + 1]])
    if labels is None:
        labels = (c[1 : k + 1] > 0).astype(np.uint8)
    return labels, hw, counts


def _check_split(
    tree: VOCTree,
    split: str,
    executor: Executor,
    given: dict[str, np.ndarray] | None,
    progress: bool,
) -> SplitSummary:
    from tqdm import tqdm

    ids = tree.read_split(split)
    prefer_aug = split in _ALIASES
    has_masks = any(tree.mask_path(i, prefer_aug) is not None for i in ids)
    if not has_masks and given is None:
        raise DataError(
            tree.root / MASK_DIR,
            f"no mask for any id of split {split!r} (looked in "
            f"{MASK_DIR}/ and {AUG_MASK_DIR}/) and no {IMAGE_LABELS} to label them",
        )
    fn = functools.partial(
        _check_one, tree, split, prefer_aug=prefer_aug, need_mask=has_masks, given=given
    )
    # map() yields in id order, so the error reported is the earliest id's, whatever finished first.
    results = list(tqdm(executor.map(fn, ids), total=len(ids), desc=split, disable=not progress))
    return summarise_split(split, results, tree.num_classes)


def check_tree(
    root: str | os.PathLike,
    splits: Sequence[str] | None = None,
    *,
    workers: int = 4,
    progress: bool = True,
) -> DatasetSummary:
    """Validate every image and mask of the given splits and summarise them.

    Each listed image must exist and decode; each id needs a mask (in either mask folder) of the
    image's size with labels in ``0..K`` or 255, unless the split has no masks at all and
    ``image_labels.json`` labels it. Decoding runs on a thread pool (PIL releases the GIL).

    Args:
        root: VOC-layout root.
        splits: Split names; default: those of train, val, train_aug (or trainaug) present.
        workers: Decoding threads.
        progress: Show a tqdm bar per split.

    Raises:
        DataError: The first problem found (for the earliest id, in split-file order).
    """
    tree = open_tree(root)
    if splits is None:
        splits = [s for s in DEFAULT_SPLITS if tree.split_file(s).is_file()]
        if not splits:
            have = ", ".join(tree.existing_splits()) or "none"
            raise DataError(
                tree.root / SPLIT_DIR,
                "no split file among train.txt, val.txt, "
                f"train_aug.txt (or trainaug.txt); splits present: {have}",
            )
    given = read_image_labels(tree)
    executor = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="voc-check")
    try:
        out = {s: _check_split(tree, s, executor, given, progress) for s in splits}
    finally:
        executor.shutdown(wait=True, cancel_futures=True)  # stop at the first error
    return DatasetSummary(tree.root, tree.class_names, out)
