# The paper's settings on real PASCAL VOC 2012 + SBD (needs --data VOCdevkit/VOC2012): ResNet-50
# classifiers, IRN's boundary net and every IRN setting as published, DeepLabV2-ResNet101 from
# ImageNet with multi-scale/flip TTA and dense CRF (algorithms.md (a), (b), (c)).
synthvoc = None

classifier = dict(
    configs=dict(
        cam='cam/cam_r50_5e_voc12aug-512.py',
        cam_constant='cam/cam-constant_r50_ft4e_voc12aug-512.py',
        c2am='cam/c2am_r50_ft4e_voc12aug-512.py'),
    options={},
    finetune_epochs=None)

boundary_net = dict(config='irn/irn_r50_3e_voc12aug-512.py', options={})

segmentor = dict(
    config='seg/deeplabv2_r101-d8_30k_voc12aug-321.py',
    options={},
    backbone_from_classifier=False,
    eval_modes=['tta', 'crf'])

irn = {}

# Three seeds, as the default: on VOC the gaps the paper reports (a few mIoU) are the size of the
# seed-to-seed spread, so one seed cannot tell them apart. `compare --seeds 0` runs one.
compare_seeds = (0, 1, 2)
