# PRTR two-stage, common COCO settings (official recipe of the ResNet models:
# AdamW 1e-4, wd 1e-4, backbone lr 1e-5, clip 0.1, x0.5 at 120/140 of 200).
_base_ = ['mmpose::_base_/default_runtime.py', './prtr_head.py']

custom_imports = dict(imports=['prtr'], allow_failed_imports=False)
default_scope = 'mmpose'

# runtime
train_cfg = dict(max_epochs=200, val_interval=10)

# fused=True: one kernel for all parameters instead of a loop over them
# (same update; on a 2-core CPU the step took 238 ms instead of 577 ms)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4, fused=True),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))

param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=200,
        milestones=[120, 140],
        gamma=0.5,
        by_epoch=True)
]

# official: 4 GPUs x 32
auto_scale_lr = dict(base_batch_size=128)

# codec settings
codec = dict(type='PRTRLabel', input_size=(288, 384))

# model settings
model = dict(
    type='TopdownPoseEstimator',
    # The official ResNet configs feed BGR images to an RGB-normalised
    # network (matters when loading official checkpoints).
    # mmpose's PoseDataPreprocessor, left eager under mmengine's `compile`
    data_preprocessor=dict(
        type='EagerPoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=False),
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(3, ),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    # the keypoint transformer, its losses and matching: _base_/prtr_head.py
    head=dict(_base_.prtr_head, decoder=codec),
    test_cfg=dict(flip_test=True, shift_coords=False))

# base dataset settings
dataset_type = 'CocoDataset'
data_mode = 'topdown'
data_root = 'data/coco/'

# pipelines: flip 0.5, scale 0.3, rotation 40 deg with p 0.6, no half body
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='RandomBBoxTransform',
        shift_prob=0.,
        scale_factor=(0.7, 1.3),
        rotate_factor=40.,
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

# data loaders
train_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val2017.json',
        # DETR person boxes, as the official results (upstream's
        # COCO_val2017_detr_detections.json); any mmpose detection file
        # works, and `bbox_file=None` uses ground-truth boxes
        bbox_file=f'{data_root}person_detection_results/'
        'COCO_val2017_detr_detections.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# cuDNN picks the fastest kernels for the fixed input size (upstream sets
# cudnn.benchmark too)
env_cfg = dict(cudnn_benchmark=True)

# hooks
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook', save_best='coco/AP', rule='greater'))
# stop a step on NaN/inf images, targets or losses before any state changes
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='NonFiniteCheckHook')]

# evaluators (defaults = PRTR's: keypoint score thr 0.2, OKS-NMS 0.9)
val_evaluator = dict(
    type='CocoMetric',
    ann_file=f'{data_root}annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
