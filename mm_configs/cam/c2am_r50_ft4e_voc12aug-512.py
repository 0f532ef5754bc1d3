# C2AM on VOC as the final reference code ran it (c2am_reproduce.yml / HEAD): G^all
# (global_cam.npy), gamma 1, mean pooling, BCE-with-logits; 4 epochs from the IRN baseline.
# Paper-era variant (cfg/c2am.yml @7cb39df, the 69.6% run): aggregation='class', gamma=2.0.
_base_ = [
    '../_base_/models/cam_r50.py', '../_base_/datasets/voc12aug_cls-512.py',
    '../_base_/schedules/cam_finetune_4e.py', '../_base_/default_runtime.py'
]
model = dict(
    detach_after=None, backbone=dict(init_cfg=None),
    head=dict(type='C2AMHead', global_cam=None, aggregation='all', gamma=1.0, pooling='mean',
              formulation='code'))
