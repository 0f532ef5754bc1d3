# CPU-default fine-tuning of CAM+Constant / C2AM from the SynthVOC baseline: the paper's recipe
# (lr 5e-4, classifier 10x, poly) with momentum 0.9 like the from-scratch baseline it starts from.
_base_ = ['./cam_finetune_4e.py']
# bfloat16 autocast where the CPU computes it natively (AVX512-BF16 / AMX; float32 elsewhere):
# c2am_bench.precision, measured in benchmarks/README.md ("bfloat16 autocast").
optim_wrapper = dict(
    type='CpuAutocastOptimWrapper', dtype='bfloat16', optimizer=dict(momentum=0.9))
max_epochs = 6
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs, val_interval=3)
