# Runtime of the CPU-default (SynthVOC, r18lite) configs: the shared runtime plus channels-last
# weights (c2am_bench.hooks.ChannelsLastHook; the inference of a run trained with it converts its
# model too, c2am_bench.runs.load_model). Measured on a 2-core AMD EPYC, 2026-12-07
# (benchmarks/README.md, "Channels-last weights"): a training step of the classifier / boundary
# net / DeepLabV2 takes 0.88 / 0.72 / 0.91x the NCHW time (0.88 / 0.69 / 0.92 in a first run);
# inference forwards (batch 16, 128 px) 0.75 / 0.73 / 0.76x. In a whole compare: -4 % (3,937 s
# against 4,118 s). The paper (GPU) configs keep NCHW: not measured there.
_base_ = ['./default_runtime.py']
custom_hooks = [dict(type='ReseedHook'), dict(type='ChannelsLastHook')]
