# CPU default: DeepLabV2 head on the half-width ResNet-18 (BasicBlock) at output stride 8,
# trained from scratch, so BN is ordinary trainable BN in train mode (there are no ImageNet
# statistics to freeze). Same head and balanced CE as the paper recipe.
num_classes = 7
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, size=(128, 128), pad_val=0, seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='ResNet', depth=18, stem_channels=32, base_channels=32,
                  strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4), contract_dilation=True,
                  out_indices=(3,), norm_cfg=dict(type='BN', requires_grad=True),
                  norm_eval=False, style='pytorch', init_cfg=None),
    # channels is a required BaseDecodeHead argument that DeepLabV2Head does not use.
    decode_head=dict(type='DeepLabV2Head', in_channels=256, channels=256, in_index=-1,
                     dilations=(6, 12, 18, 24), num_classes=num_classes, ignore_index=255,
                     align_corners=False,
                     loss_decode=dict(type='BalancedCrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
