"""PASCAL VOC 2012 metadata: class names, palette and folder layout names."""

from __future__ import annotations

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
"""The 20 foreground classes; label ``i + 1`` in a mask is ``VOC_CLASSES[i]``, 0 is background."""

IGNORE_INDEX = 255
IMAGE_DIR = "JPEGImages"
MASK_DIR = "SegmentationClass"
AUG_MASK_DIR = "SegmentationClassAug"
SPLIT_DIR = "ImageSets/Segmentation"
SYNTH_META = "synthvoc.json"
IMAGE_LABELS = "image_labels.json"
"""Optional ``{"<id>": [0-based class indices]}`` at the root; overrides mask-derived labels."""


def voc_palette(n: int = 256) -> list[tuple[int, int, int]]:
    """The standard VOC colour map (bit-interleaved label -> RGB), as the devkit's.

    Returns:
        ``n`` RGB triples; entry 0 is black (background), entry 255 is (224, 224, 192) (void).
    """
    palette = []
    for label in range(n):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette.append((r, g, b))
    return palette


def flat_palette() -> list[int]:
    """The VOC palette flattened to the 768-int list PIL's ``Image.putpalette`` expects."""
    return [v for rgb in voc_palette(256) for v in rgb]
