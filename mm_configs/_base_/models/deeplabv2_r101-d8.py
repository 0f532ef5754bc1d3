# DeepLabV2 (ASPP-L) on ResNet-101 at output stride 8, the segmentation model of the WSSS
# recipe (IRN / AdvCAM / C2AM use kazuto1011/deeplab-pytorch). mmseg's ResNet V1b (7x7 stem) is
# the layout torchvision weights load into (ResNetV1c's deep stem would not match); stride 8 =
# strides (1,2,1,1) + dilations (1,1,2,4), grid-free via contract_dilation. BN is frozen entirely
# (statistics and affine), as in deeplab-pytorch. ImageNet init from torchvision's resnet101
# weights as a LOCAL file (no download): put it at checkpoints/resnet101-torchvision.pth or
# override model.backbone.init_cfg.checkpoint. (deeplab-pytorch's own ImageNet init is a
# caffe-converted ResNet-101; torchvision's differs in stem and normalisation.)
num_classes = 21
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    # Training batches are padded to the crop after normalisation: pad 0 = the mean, as
    # deeplab-pytorch pads the image with its mean, and labels with 255 (ignored).
    bgr_to_rgb=True, size=(321, 321), pad_val=0, seg_pad_val=255)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='ResNet', depth=101, strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4),
                  contract_dilation=True, out_indices=(3,),
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True,
                  style='pytorch',
                  init_cfg=dict(type='Pretrained',
                                checkpoint='checkpoints/resnet101-torchvision.pth')),
    # channels is a required BaseDecodeHead argument that DeepLabV2Head does not use.
    decode_head=dict(type='DeepLabV2Head', in_channels=2048, channels=2048, in_index=-1,
                     dilations=(6, 12, 18, 24), num_classes=num_classes, ignore_index=255,
                     align_corners=False,
                     loss_decode=dict(type='BalancedCrossEntropyLoss', loss_weight=1.0)),
    train_cfg=dict(),
    # Whole-image single-scale inference; the reference adds multi-scale (MSC) and a dense CRF.
    test_cfg=dict(mode='whole'))
