# PRTR HRNet-W32, MPII, 256x256 (official: 4 GPUs x 16, backbone lr 1e-4,
# x0.5 at epoch 60, RGB input).
_base_ = ['./prtr_res50_4xb32-200e_mpii-256x256.py']

optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=200,
        milestones=[60],
        gamma=0.5,
        by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=64)

model = dict(
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

train_dataloader = dict(batch_size=16)
