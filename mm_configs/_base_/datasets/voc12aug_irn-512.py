# IRN's affinity training data on VOC 2012 + SBD: crop 512, batch 32, train_aug.
_base_ = ['./synthvoc_irn-128.py']
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
mean_bgr = (104, 116, 124)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 1.5), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=1.0),
    dict(type='Pad', size=crop_size, pad_val=dict(img=mean_bgr, seg=255)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(batch_size=32, num_workers=4,
                        dataset=dict(data_root=data_root, pipeline=train_pipeline))
