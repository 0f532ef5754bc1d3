# IRN (step/train_irn.py): 3 epochs, lr 0.1 on the edge head, poly 0.9, wd 1e-4, PolyOptimizer's
# momentum quirk (momentum = 1e-4, algorithms.md b.9).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=1e-4, weight_decay=1e-4))
max_epochs = 3
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
