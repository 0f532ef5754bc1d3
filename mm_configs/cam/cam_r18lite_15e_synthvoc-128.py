# Baseline CAM on SynthVOC (CPU default): GAP + 1x1 classifier, BCE-with-logits.
_base_ = [
    '../_base_/models/cam_r18lite.py', '../_base_/datasets/synthvoc_cls-128.py',
    '../_base_/schedules/cam_scratch_cpu.py', '../_base_/cpu_runtime.py'
]
