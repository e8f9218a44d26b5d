# PRTR HRNet-W32, MPII, 384x384 (official: 4 GPUs x 16, backbone lr 1e-4,
# x0.5 at epoch 60, RGB input).
_base_ = ['./prtr_res50_4xb32-200e_mpii-384x384.py', './_base_/hrnet_w32.py']

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

model = _base_.hrnet_w32
train_dataloader = dict(batch_size=16)
