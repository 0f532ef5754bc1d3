"""Image-level classification dataset and transforms, registered into mmseg's registries.

The CAM classifier trains on (image, multi-hot label) pairs from a VOC-layout tree; the labels are
derived from the masks (or read from ``image_labels.json``), exactly as the WSSS references derive
``cls_labels.npy``. Configs import them with
``custom_imports=dict(imports=['c2am_bench.datasets.cls_dataset'])``.
Loading, resizing, flipping and cropping use mmcv/mmseg transforms (``LoadImageFromFile``,
``RandomResize``, ``RandomFlip``, mmseg ``RandomCrop``, ``Pad``); only packing is ours, because
mmseg's ``PackSegInputs`` has no slot for an image-level label.
"""

from __future__ import annotations

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.structures import BaseDataElement
from mmseg.registry import DATASETS, TRANSFORMS

from . import voc


@DATASETS.register_module()
class VOCClsDataset(BaseDataset):
    """Multi-label classification view of a PASCAL VOC / SynthVOC tree.

    Args:
        data_root: Root holding ``JPEGImages/`` and ``ImageSets/Segmentation/``.
        split: Split name (``train_aug``, ``train``, ``val``, ...).
        **kwargs: Passed to :class:`mmengine.dataset.BaseDataset` (``pipeline``, ``test_mode``...).

    Each item (before the pipeline) is a dict with ``img_path``, ``img_id``, ``gt_label`` (K,)
    uint8 multi-hot and ``seg_map_path`` (``None`` when the image has no mask).
    """

    def __init__(self, data_root: str, split: str = "train_aug", **kwargs) -> None:
        self.split = split
        self._tree = voc.open_tree(data_root)
        metainfo = {"classes": self._tree.class_names, **(kwargs.pop("metainfo", None) or {})}
        super().__init__(data_root=data_root, metainfo=metainfo, **kwargs)

    def load_data_list(self) -> list[dict]:
        tree = self._tree
        ids = tree.read_split(self.split)
        labels = voc.image_labels(tree, ids)
        items = []
        for id_, label in zip(ids, labels, strict=True):
            mask = tree.mask_path(id_)
            items.append(
                dict(
                    img_path=str(tree.image_path(id_)),
                    img_id=id_,
                    gt_label=label,
                    seg_map_path=None if mask is None else str(mask),
                )
            )
        return items


@TRANSFORMS.register_module()
class PackCAMInputs(BaseTransform):
    """Pack an image and its image-level label for the CAM classifier.

    Output: ``inputs`` (3, H, W) uint8 tensor in the loader's channel order (BGR from
    ``LoadImageFromFile``; the model's data preprocessor converts and normalises) and
    ``data_samples``, a :class:`BaseDataElement` with ``gt_label`` (K,) float tensor and metainfo
    ``img_id``, ``img_path``, ``ori_shape``, ``img_shape``, ``flip``.
    """

    META_KEYS = ("img_id", "img_path", "ori_shape", "img_shape", "flip", "scale_factor")

    def transform(self, results: dict) -> dict:
        img = results["img"]
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        sample = BaseDataElement(metainfo={k: results[k] for k in self.META_KEYS if k in results})
        sample.gt_label = torch.as_tensor(np.asarray(results["gt_label"]), dtype=torch.float32)
        return {"inputs": inputs, "data_samples": sample}
