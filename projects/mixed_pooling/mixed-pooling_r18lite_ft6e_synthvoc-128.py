# Example user method: fine-tune the baseline CAM with a mixed average/max pooling score
# (mixed_pooling_head.py beside this file), on the CPU default's fine-tuning schedule.
_base_ = ['../../mm_configs/cam/cam-constant_r18lite_ft6e_synthvoc-128.py']
custom_imports = dict(imports=_base_.custom_imports.imports + ['mixed_pooling_head'])
model = dict(head=dict(_delete_=True, type='MixedPoolingCAMHead', in_channels=256,
                       num_classes=_base_.num_classes, alpha=0.5))
# What the runner loads for this method: the baseline classifier of the same seed (load_from),
# no Global CAM.
c2am_method = dict(from_baseline=True, global_cam=False)
