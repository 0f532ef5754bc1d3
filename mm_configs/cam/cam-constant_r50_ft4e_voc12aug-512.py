# CAM+Constant on VOC (cfg/cam_constant.yml): fine-tune the IRN baseline 4 epochs with logits x 0.2.
# load_from=<baseline>/classifier.pth. No stage-2 detach when fine-tuning (as C2AM/ReCAM).
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/voc12aug_cls-512.py',
    '../_base_/schedules/cam_finetune_4e.py', '../_base_/default_runtime.py'
]
model = dict(detach_after=None, head=dict(type='ConstantCAMHead', constant=0.2),
             backbone=dict(init_cfg=None))
