# CPU default for SynthVOC: the backbone is trained from scratch, so unlike IRN's recipe (which
# fine-tunes ImageNet weights) it uses conventional SGD momentum 0.9 and more epochs; the head
# keeps IRN's 10x lr multiplier and poly decay.
_base_ = ['./cam_baseline_5e.py']
# bfloat16 autocast where the CPU computes it natively (AVX512-BF16 / AMX; float32 elsewhere):
# c2am_bench.precision, measured in benchmarks/README.md ("bfloat16 autocast").
optim_wrapper = dict(
    type='CpuAutocastOptimWrapper', dtype='bfloat16',
    optimizer=dict(lr=0.05, momentum=0.9))
max_epochs = 15
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
