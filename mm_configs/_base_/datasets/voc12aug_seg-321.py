# DeepLabV2 training data on PASCAL VOC 2012 + SBD, the WSSS recipe (deeplab-pytorch as IRN /
# AdvCAM / C2AM run it): train_aug (10,582) images with a run's pseudo-masks; random scale of the
# image in {0.5, 0.75, ..., 2.0} (VOC images are 500 px on the long side, so fitting the long side
# to 500 x s is that scale), flip, random 321 crop, batch 10; no photometric distortion. Val on
# the 1,449 val images against SegmentationClass, whole image, batch 1.
# seg_map_path MUST be overridden with the pseudo-mask folder of a run
# (train_dataloader.dataset.data_prefix.seg_map_path=<run>/pseudo_masks); 'SegmentationClassAug'
# trains on the full ground truth (the fully supervised upper bound).
_base_ = ['./synthvoc_seg-128.py']
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (321, 321)
classes = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
           'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant',
           'sheep', 'sofa', 'train', 'tvmonitor')
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomChoiceResize',
         scales=[(250, 250), (375, 375), (500, 500), (625, 625), (750, 750), (875, 875),
                 (1000, 1000)],
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=10, num_workers=4,
    dataset=dict(data_root=data_root, metainfo=metainfo, pipeline=train_pipeline))
val_dataloader = dict(num_workers=4, dataset=dict(data_root=data_root, metainfo=metainfo))
test_dataloader = val_dataloader
