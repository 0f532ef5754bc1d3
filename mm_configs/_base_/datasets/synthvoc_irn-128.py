# Boundary-network training data (IRN VOC12AffinityDataset): image + IR label, random rescale
# 0.5-1.5 (IRN rescales relative to the image; mmcv's RandomResize scales relative to `scale`,
# the same for images of about that size), flip, random crop (image padded with the mean, label
# with 255), IRN batch 32 -> 16 here. Set ir_label_dir (<cam run>/ir_labels) to use it.
dataset_type = 'BaseSegDataset'
data_root = 'data/synthvoc-default-v3'
ir_label_dir = None
crop_size = (128, 128)
mean_bgr = (104, 116, 124)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.5, 1.5), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='Pad', size=crop_size, pad_val=dict(img=mean_bgr, seg=255)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(img_path='JPEGImages', seg_map_path=ir_label_dir),
                 ann_file='ImageSets/Segmentation/train_aug.txt', img_suffix='.jpg',
                 seg_map_suffix='.png', reduce_zero_label=False, pipeline=train_pipeline))
val_dataloader = None
val_evaluator = None
val_cfg = None
