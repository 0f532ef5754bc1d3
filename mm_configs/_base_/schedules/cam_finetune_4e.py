# C2AM / CAM+Constant fine-tuning (paper Table 2; ReCAM's schedule): start from the trained
# baseline classifier, 4 epochs, lr 5e-4 (classifier 5e-3), poly 0.9, wd 1e-4, same SGD quirk.
_base_ = ['./cam_baseline_5e.py']
optim_wrapper = dict(optimizer=dict(lr=5e-4))
max_epochs = 4
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(max_epochs=max_epochs)
