# DeepLabV2-ResNet-101 trained on a run's train_aug pseudo-masks, evaluated on VOC 2012 val: the
# final stage of the WSSS pipeline (IRN / AdvCAM / C2AM recipe, single-scale, no CRF). Set
# train_dataloader.dataset.data_prefix.seg_map_path=<run>/pseudo_masks.
_base_ = [
    '../_base_/models/deeplabv2_r101-d8.py', '../_base_/datasets/voc12aug_seg-321.py',
    '../_base_/schedules/seg_30k.py', '../_base_/default_runtime.py'
]
custom_imports = dict(
    imports=_base_.custom_imports.imports + ['c2am_bench.models.deeplabv2',
                                             'c2am_bench.seg_metric'])
# Iteration-based logging and checkpoints (the runtime's defaults are per epoch).
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5000, max_keep_ckpts=2,
                    save_last=True))
log_processor = dict(by_epoch=False)
