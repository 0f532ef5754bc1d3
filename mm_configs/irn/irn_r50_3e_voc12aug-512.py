# IRN boundary network on VOC 2012 + SBD (the reference recipe): crop 512, batch 32, 3 epochs.
_base_ = [
    '../_base_/models/irn_r50.py', '../_base_/datasets/voc12aug_irn-512.py',
    '../_base_/schedules/irn_3e.py', '../_base_/default_runtime.py'
]
