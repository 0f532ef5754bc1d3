# Boundary network on SynthVOC (CPU default). Needs train_dataloader.dataset.data_prefix.seg_map_path
# = <cam run>/ir_labels and model.backbone_checkpoint = <baseline cam run>/classifier.pth.
_base_ = [
    '../_base_/models/irn_r18lite.py', '../_base_/datasets/synthvoc_irn-128.py',
    '../_base_/schedules/irn_3e.py', '../_base_/default_runtime.py'
]
