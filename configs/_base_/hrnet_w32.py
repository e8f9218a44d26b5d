# HRNet-W32 with the HRNetV2 classification neck (2048 channels at stride
# 32), as the official two_stage code builds it: RGB input, trainable BN,
# the HRNetV2-W32 ImageNet classifier as initial weights. HRNet configs put
# it in place of a ResNet config's backbone with `model = _base_.hrnet_w32`.
hrnet_w32 = dict(
    data_preprocessor=dict(bgr_to_rgb=True),
    backbone=dict(
        _delete_=True,
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(4, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(32, 64)),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(32, 64, 128)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(32, 64, 128, 256),
                multiscale_output=True)),
        init_cfg=None),
    neck=dict(type='HRNetV2ClsNeck', in_channels=(32, 64, 128, 256)),
    # HRNetV2-W32 ImageNet classifier (backbone + neck), i.e. the official
    # hrnetv2_w32_imagenet_pretrained.pth converted by
    # tools/convert_prtr_checkpoint.py (README, "Pretrained weights")
    init_cfg=dict(
        type='Pretrained',
        checkpoint='checkpoints/hrnetv2_w32_imagenet_prtr.pth'))
