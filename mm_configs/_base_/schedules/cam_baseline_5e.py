# IRN's CAM recipe (step/train_cam.py): 5 epochs, lr 0.1 (classifier 10x), poly 0.9, wd 1e-4.
# Reference optimiser quirk (algorithms.md b.9): PolyOptimizer passes weight_decay positionally
# as SGD's momentum, so the faithful momentum is 1e-4 (effectively plain SGD). Set
# optim_wrapper.optimizer.momentum=0.9 for the conventional choice.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)}))
max_epochs = 5
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
