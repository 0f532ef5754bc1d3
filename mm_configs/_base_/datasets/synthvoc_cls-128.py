# SynthVOC image-level classification (the CPU default). Geometry mirrors IRN's recipe scaled
# to 128 px images: random long side in [0.5, 1.0] x 2 crop (IRN: 320-640 for crop 512), flip,
# random crop with padding, batch 16.
dataset_type = 'VOCClsDataset'
data_root = 'data/synthvoc-default-v3'
crop_size = (128, 128)
# Pad with the ImageNet mean (BGR) so padding is 0 after normalisation, as IRN pads after it.
mean_bgr = (104, 116, 124)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResize', scale=(256, 256), ratio_range=(0.5, 1.0), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='Pad', size=crop_size, pad_val=dict(img=mean_bgr, seg=255)),
    dict(type='PackCAMInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='PackCAMInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=True, drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train_aug',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', test_mode=True,
                 pipeline=test_pipeline))
val_evaluator = dict(type='MultiLabelMetric')
