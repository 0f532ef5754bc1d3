# Boundary network on the CPU-default backbone. With no ImageNet weights here, the frozen
# backbone is initialised from the baseline CAM classifier (set backbone_checkpoint to its
# classifier.pth); IRN itself uses ImageNet weights and not the CAM net.
model = dict(
    type='BoundaryNet',
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255, size_divisor=16),
    backbone=dict(type='ResNet', depth=18, stem_channels=32, base_channels=32,
                  strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1), out_indices=(0, 1, 2, 3),
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True,
                  style='pytorch', init_cfg=None),
    stage_channels=(32, 32, 64, 128, 256),
    backbone_checkpoint=None,
    radius=10)
