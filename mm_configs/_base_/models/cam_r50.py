# The paper's classifier (IRN resnet50_cam): ResNet-50, strides (2,2,2,1) in IRN's notation =
# mmseg stage strides (1,2,2,1) -> output stride 16; frozen-statistics BN (norm_eval=True, affine
# trained, = IRN's FixedBatchNorm); stem frozen (frozen_stages=0); GAP + bias-free 1x1 classifier.
# ImageNet init from torchvision's resnet50 weights as a LOCAL file (no download): put it at
# checkpoints/resnet50-torchvision.pth or override model.backbone.init_cfg.checkpoint.
num_classes = 20
data_preprocessor = dict(
    type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_size_divisor=16)
model = dict(
    type='CAMClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='ResNet', depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1),
                  out_indices=(3,), norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=True, frozen_stages=0, style='pytorch',
                  init_cfg=dict(type='Pretrained',
                                checkpoint='checkpoints/resnet50-torchvision.pth')),
    head=dict(type='CAMHead', in_channels=2048, num_classes=num_classes),
    # IRN's baseline CAM net detaches after stage 2; C2AM/ReCAM fine-tuning does not.
    detach_after='layer2')
