# DeepLabV2 training data on SynthVOC (CPU default): train_aug images with a run's pseudo-masks,
# validated on val against the ground truth. The reference geometry scaled to 128 px images:
# random scale of the image in {0.5, 0.75, ..., 2.0} (RandomChoiceResize keeps the aspect ratio
# and fits the long side to 128 x s), flip, random 128 crop with no class-ratio constraint
# (batches are padded to the crop by the data preprocessor: image 0 = mean, label 255).
# seg_map_path MUST be overridden with the pseudo-mask folder of a run
# (train_dataloader.dataset.data_prefix.seg_map_path=<run>/pseudo_masks); 'SegmentationClassAug'
# trains on the ground truth (an upper bound). classes: K + 1 names from synthvoc.json
# (background first); the lead's stage sets them and num_classes from the dataset.
dataset_type = 'BaseSegDataset'
data_root = 'data/synthvoc-default-v3'
pseudo_mask_dir = None
crop_size = (128, 128)
classes = ('background', 'stripes_disc', 'checker_box', 'dots_triangle', 'stripes_cross',
           'checker_ring', 'dots_diamond')
metainfo = dict(classes=classes)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomChoiceResize',
         scales=[(64, 64), (96, 96), (128, 128), (160, 160), (192, 192), (224, 224),
                 (256, 256)],
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackSegInputs'),
]
# Full image, no resize (batch 1), as the reference evaluates whole images.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# Multi-scale + flip test-time augmentation, used by `c2am-bench seg test --tta` exactly as
# mmseg's tools/test.py --tta uses it (tta_pipeline as the test pipeline, the model wrapped in
# tta_model): every scale x {no flip, flip} is predicted, mmseg's SegTTAModel averages the
# softmax of all of them at the original size, then takes the arg-max. The WSSS references report
# "multi-scale & flip" inference (IRN maintainer, irn #26); deeplab-pytorch's own MSC is scales
# {0.5, 0.75, 1} with a max over the logits and no flip.
tta_scales = [0.5, 0.75, 1.0, 1.25, 1.5]
tta_model = dict(type='SegTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='TestTimeAug',
         transforms=[
             [dict(type='Resize', scale_factor=s, keep_ratio=True) for s in tta_scales],
             [dict(type='RandomFlip', prob=0.0, direction='horizontal'),
              dict(type='RandomFlip', prob=1.0, direction='horizontal')],
             [dict(type='LoadAnnotations')],
             [dict(type='PackSegInputs')],
         ]),
]
train_dataloader = dict(
    batch_size=8, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_mask_dir),
                 ann_file='ImageSets/Segmentation/train_aug.txt', img_suffix='.jpg',
                 seg_map_suffix='.png', reduce_zero_label=False, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
                 ann_file='ImageSets/Segmentation/val.txt', img_suffix='.jpg',
                 seg_map_suffix='.png', reduce_zero_label=False, pipeline=test_pipeline))
test_dataloader = val_dataloader
# Keys seg/mIoU, seg/aAcc, seg/mAcc and seg/IoU.<class>, all in percent as mmseg's IoUMetric.
val_evaluator = dict(type='PerClassIoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
