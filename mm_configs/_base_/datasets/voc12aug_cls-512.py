# PASCAL VOC 2012 + SBD image-level classification, IRN's recipe: random long side 320-640
# (bicubic), flip, random 512 crop (padding 0 after normalisation), batch 16, train_aug.
_base_ = ['./synthvoc_cls-128.py']
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
mean_bgr = (104, 116, 124)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResize', scale=(640, 640), ratio_range=(0.5, 1.0), keep_ratio=True,
         interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='Pad', size=crop_size, pad_val=dict(img=mean_bgr, seg=255)),
    dict(type='PackCAMInputs'),
]
train_dataloader = dict(
    num_workers=4,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(num_workers=4, dataset=dict(data_root=data_root))
