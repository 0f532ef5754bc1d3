# Boundary network on SynthVOC (CPU default). Needs train_dataloader.dataset.data_prefix.seg_map_path
# = <cam run>/ir_labels and model.backbone_checkpoint = <baseline cam run>/classifier.pth.
# The schedule departs from IRN's (momentum 0.9, 5 epochs): see _base_/schedules/irn_cpu.py.
_base_ = [
    '../_base_/models/irn_r18lite.py', '../_base_/datasets/synthvoc_irn-128.py',
    '../_base_/schedules/irn_cpu.py', '../_base_/default_runtime.py'
]
