# PRTR two-stage, MPII (official: 4 GPUs x 32, AdamW 1e-4, backbone 1e-5,
# x0.5 at epoch 130 of 200; scale 0.25, rotation 30 deg with p 0.6).
_base_ = ['./prtr_coco.py']

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=200,
        milestones=[130],
        gamma=0.5,
        by_epoch=True)
]

codec = dict(type='PRTRLabel', input_size=(256, 256))
model = dict(head=dict(num_keypoints=16, decoder=codec))

dataset_type = 'MpiiDataset'
data_mode = 'topdown'
data_root = 'data/mpii/'

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0.,
        scale_factor=(0.75, 1.25),
        rotate_factor=30.,
        rotate_prob=0.6),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/mpii_train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/mpii_val.json',
        headbox_file=f'{data_root}annotations/mpii_gt_val.mat',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook', save_best='PCKh', rule='greater'))
val_evaluator = dict(_delete_=True, type='MpiiPCKAccuracy')
test_evaluator = val_evaluator
