# IRN's boundary network: ImageNet ResNet-50 (strides 2,2,2,1 = mmseg (1,2,2,1)), entirely frozen,
# edge head over five stages. backbone_checkpoint: a LOCAL torchvision resnet50 state_dict.
model = dict(
    type='BoundaryNet',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size_divisor=16),
    backbone=dict(type='ResNet', depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1),
                  out_indices=(0, 1, 2, 3), norm_cfg=dict(type='BN', requires_grad=False),
                  norm_eval=True, style='pytorch', init_cfg=None),
    stage_channels=(64, 256, 512, 1024, 2048),
    backbone_checkpoint='checkpoints/resnet50-torchvision.pth',
    radius=10)
