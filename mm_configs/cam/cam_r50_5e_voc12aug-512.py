# Baseline CAM on PASCAL VOC 2012 + SBD, IRN's recipe (the paper's baseline).
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/voc12aug_cls-512.py',
    '../_base_/schedules/cam_baseline_5e.py', '../_base_/default_runtime.py'
]
