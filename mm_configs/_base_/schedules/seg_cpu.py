# CPU default for SynthVOC. The backbone is trained from scratch, so the base lr is much larger
# than the recipe's 2.5e-4 (which fine-tunes ImageNet weights); head multipliers, momentum,
# weight decay and poly decay are the recipe's. Sized for ~2 minutes on 2 CPU cores.
_base_ = ['./seg_30k.py']
max_iters = 800
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
