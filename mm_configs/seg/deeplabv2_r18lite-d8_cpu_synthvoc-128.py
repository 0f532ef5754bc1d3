# DeepLabV2 on the half-width ResNet-18 trained from scratch on SynthVOC pseudo-masks (CPU
# default). Set train_dataloader.dataset.data_prefix.seg_map_path=<run>/pseudo_masks, and
# dataset classes / model.decode_head.num_classes for a SynthVOC with K != 6.
_base_ = [
    '../_base_/models/deeplabv2_r18lite-d8.py', '../_base_/datasets/synthvoc_seg-128.py',
    '../_base_/schedules/seg_cpu.py', '../_base_/cpu_runtime.py'
]
custom_imports = dict(
    imports=_base_.custom_imports.imports + ['c2am_bench.models.deeplabv2',
                                             'c2am_bench.seg_metric'])
# Iteration-based logging; one checkpoint, at the end (the runtime's defaults are per epoch).
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=20, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=-1, max_keep_ckpts=1,
                    save_last=True))
log_processor = dict(by_epoch=False)
