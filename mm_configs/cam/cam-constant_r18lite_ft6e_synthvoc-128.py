# CAM+Constant on SynthVOC: fine-tune the baseline with logits x 0.2 before the loss
# (c2am train_c3am.py / cfg/cam_constant.yml). Start weights: load_from=<baseline>/classifier.pth.
_base_ = [
    '../_base_/models/cam_r18lite.py', '../_base_/datasets/synthvoc_cls-128.py',
    '../_base_/schedules/cam_finetune_cpu.py', '../_base_/cpu_runtime.py'
]
model = dict(head=dict(type='ConstantCAMHead', constant=0.2))
