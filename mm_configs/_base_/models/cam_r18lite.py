# CPU default: half-width ResNet-18 at output stride 16, trained from scratch (ordinary BN).
num_classes = 6
data_preprocessor = dict(
    type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_size_divisor=16)
model = dict(
    type='CAMClassifier',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='ResNet', depth=18, stem_channels=32, base_channels=32,
                  strides=(1, 2, 2, 1), dilations=(1, 1, 1, 1), out_indices=(3,),
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  style='pytorch', init_cfg=None),
    head=dict(type='CAMHead', in_channels=256, num_classes=num_classes),
    detach_after=None)
