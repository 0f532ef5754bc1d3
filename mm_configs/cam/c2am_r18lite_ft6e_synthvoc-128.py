# C2AM on SynthVOC: fine-tune the baseline with the front-door adjustment as the reference code
# trains it (formulation='code': pooled gamma * s_z * G_z, BCE-with-logits), G^all and gamma 1
# (the final code's choice; the paper-era config used aggregation='class', gamma=2).
# Needs model.head.global_cam=<baseline seeds>/global_cam.npz and load_from=<baseline>/classifier.pth.
_base_ = [
    '../_base_/models/cam_r18lite.py', '../_base_/datasets/synthvoc_cls-128.py',
    '../_base_/schedules/cam_finetune_cpu.py', '../_base_/cpu_runtime.py'
]
model = dict(
    head=dict(type='C2AMHead', global_cam=None, aggregation='all', gamma=1.0, pooling='mean',
              formulation='code'))
