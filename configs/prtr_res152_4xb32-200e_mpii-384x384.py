_base_ = ['./prtr_res50_4xb32-200e_mpii-384x384.py']

model = dict(
    backbone=dict(
        depth=152,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet152')))
