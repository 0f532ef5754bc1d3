# Runtime shared by every c2am-bench config (mmseg scope, our registered modules).
default_scope = 'mmseg'
custom_imports = dict(
    imports=['c2am_bench.models', 'c2am_bench.datasets.cls_dataset', 'c2am_bench.cls_metric',
             'c2am_bench.hooks', 'c2am_bench.precision'],
    allow_failed_imports=False)
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # c2am-bench switches this to 'gloo' when no GPU is visible.
    dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=True, window_size=10)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))
# A resumed run draws the same random numbers as an uninterrupted one (c2am_bench.hooks).
custom_hooks = [dict(type='ReseedHook')]
