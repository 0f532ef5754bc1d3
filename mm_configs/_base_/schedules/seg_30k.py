# deeplab-pytorch's DeepLabV2 schedule as C2AM/AdvCAM run it: 30k iterations, SGD lr 2.5e-4,
# momentum 0.9, wd 5e-4, poly 0.9 per iteration; the ASPP head at 10x lr, its biases at 20x with
# no weight decay (deeplab-pytorch's "10x"/"20x" parameter groups; keys longer than
# 'decode_head' win in mmengine's custom_keys). Validation once, at the end.
# The C2AM fork also accumulates ITER_SIZE=2 batches per step: to reproduce that, set
# optim_wrapper.accumulative_counts=2 and double max_iters (mmengine counts batches).
max_iters = 30000
head_bias = dict(lr_mult=20.0, decay_mult=0.0)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=2.5e-4, momentum=0.9, weight_decay=5e-4),
    paramwise_cfg=dict(custom_keys={
        'decode_head': dict(lr_mult=10.0),
        'decode_head.branches.0.bias': head_bias,
        'decode_head.branches.1.bias': head_bias,
        'decode_head.branches.2.bias': head_bias,
        'decode_head.branches.3.bias': head_bias,
    }))
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=False, begin=0, end=max_iters)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
