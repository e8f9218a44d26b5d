_base_ = ['./prtr_deform-res50_4xb16-100e_coco-384x288.py']

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
