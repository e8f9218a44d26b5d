# End-to-end PRTR cascade (Li et al., CVPR 2021, Sec. 3.2), ResNet-50, COCO.
# Upstream released only a notebook for it; every choice it left open is
# marked "choice" below and listed in the README ("End-to-end cascade").
#
# Schedule for 8 GPUs x 4 images (32 per step): AdamW lr 1e-4, weight decay
# 1e-4, backbone lr x0.1, gradient clip 0.1 (DETR and PRTR), 150 epochs with
# lr x0.1 at epoch 100 (DETR's short schedule).
#   tools/dist_train.sh configs/prtr-cascade_res50_8xb4-150e_coco-640x640.py 8
_base_ = ['mmpose::_base_/default_runtime.py', './_base_/prtr_head.py']

custom_imports = dict(imports=['prtr'], allow_failed_imports=False)
default_scope = 'mmpose'

train_cfg = dict(max_epochs=150, val_interval=10)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-4, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}),
    clip_grad=dict(max_norm=0.1, norm_type=2))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=150,
        milestones=[100],
        gamma=0.1,
        by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=32)
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook', save_best='coco/AP', rule='greater'))
# stop a step on NaN/inf images, targets or losses before any state changes
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='NonFiniteCheckHook')]

input_size = (640, 640)  # choice: a fixed canvas (w, h), see the pipeline
model = dict(
    type='PRTRCascade',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    # one backbone for both stages; DETR's: frozen BN, stem+layer1 frozen
    backbone=dict(
        type='ResNet',
        depth=50,
        out_indices=(2, 3),
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=False),
        norm_eval=True,
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    # stage 1: DETR person detector on layer4 (100 queries, DETR losses)
    person_head=dict(
        type='DETRPersonHead',
        in_channels=2048,
        num_queries=100,
        embed_dims=256,
        # DETR's transformer and sine encoding: _base_/prtr_head.py
        transformer=_base_.detr_transformer,
        positional_encoding=_base_.detr_positional_encoding,
        bbox_head=dict(
            type='mmdet.DETRHead',
            loss_cls=dict(
                type='mmdet.CrossEntropyLoss',
                bg_cls_weight=0.1,
                use_sigmoid=False,
                loss_weight=1.0,
                class_weight=1.0),
            loss_bbox=dict(type='mmdet.L1Loss', loss_weight=5.0),
            loss_iou=dict(type='mmdet.GIoULoss', loss_weight=2.0),
            train_cfg=dict(
                assigner=dict(
                    type='mmdet.HungarianAssigner',
                    match_costs=[
                        dict(type='mmdet.ClassificationCost', weight=1.),
                        dict(
                            type='mmdet.BBoxL1Cost',
                            weight=5.0,
                            box_format='xywh'),
                        dict(
                            type='mmdet.IoUCost', iou_mode='giou', weight=2.0)
                    ])))),
    # spatial-transformer crop: 10x10 grid over 125% of each box, sampled
    # from layer3 (1024 ch) and layer4 (2048 ch), concatenated (choice: the
    # levels); the keypoint loss trains the boxes too (detach_boxes=False)
    crop=dict(
        type='SpatialTransformerCrop',
        out_size=(10, 10),
        expand=1.25,
        in_levels=(0, 1),
        detach_boxes=False),
    # stage 2: PRTR's keypoint transformer on each crop, the two-stage head
    # of _base_/prtr_head.py (100 queries, 6+6 layers, CE + 5 x L1, its
    # matching); its sine encoding has embed_dims // 4 features per axis
    # plus learned row and column embeddings of the crop
    head=dict(
        _base_.prtr_head,
        type='CascadeKeypointHead',
        in_channels=1024 + 2048,
        positional_encoding=dict(temperature=10000, normalize=True)),
    # choice: crops of the predicted boxes of the matched queries (end to
    # end); 'gt' crops their ground-truth boxes instead
    train_cfg=dict(crop_boxes='pred', max_kpt_persons=None),
    # choice: the 20 most confident persons of each image go to stage 2;
    # flip test: the mirrored image through both stages, its persons matched
    # to the image's by box, boxes/scores/keypoints averaged
    test_cfg=dict(max_persons=20, score_thr=0.0, flip_test=True))

dataset_type = 'CocoDataset'
data_mode = 'bottomup'
data_root = 'data/coco/'
meta_keys = ('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
             'img_shape', 'input_size', 'input_center', 'input_scale', 'flip',
             'flip_direction', 'flip_indices', 'raw_ann_info', 'iscrowd')

# choice: DETR's multi-scale resize + random crop done as one random affine
# warp onto a fixed canvas (scale 0.5-1.25 of the long side, shift 10%), so
# a batch needs no padding masks (upstream PRTR uses none either)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_factor=0.1,
        scale_factor=(0.5, 1.25),
        scale_type='long',
        rotate_factor=0.0,
        distribution='uniform',
        bbox_keep_corner=False,
        clip_border=True),
    # person targets: no crowd regions, no boxes the warp cut away; boxes,
    # labels and canvas-normalised joints as tensors (gt_instance_labels)
    dict(type='FilterPersons'),
    dict(type='GenerateTarget', encoder=dict(type='CascadeLabel')),
    dict(type='PackPoseInputs', meta_keys=meta_keys)
]
# the whole image fits the canvas, padded to its size
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize',
        input_size=input_size,
        size_factor=32,
        resize_mode='fit'),
    dict(type='PackPoseInputs', meta_keys=meta_keys)
]

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader

# keypoint AP (mmpose, bottom-up: rescoring + OKS-NMS) and person-box AP
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=f'{data_root}annotations/person_keypoints_val2017.json'),
    dict(
        type='PersonBoxCocoMetric',
        ann_file=f'{data_root}annotations/person_keypoints_val2017.json')
]
test_evaluator = val_evaluator
