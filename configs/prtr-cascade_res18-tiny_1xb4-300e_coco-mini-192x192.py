# A CPU-sized end-to-end PRTR cascade: trained on the bundled 55-image COCO
# sample (data/coco_persons_mini) and evaluated on the same images; it shows
# both stages learn, it is no benchmark (tests/test_real_data.py trains it on
# 8 of the images, for 450 epochs). ResNet-18 of half width (base_channels
# 32) from scratch (no weights can be downloaded here): the person
# transformer on its stride-16 layer3, crops from layer1 + layer2; 2+2-layer
# transformers of width 128, 20 person and 20 keypoint queries, a 192x192
# canvas, flip as the only augmentation.
_base_ = ['./prtr-cascade_res50_8xb4-150e_coco-640x640.py']

train_cfg = dict(max_epochs=300, val_interval=100)
optim_wrapper = dict(
    optimizer=dict(lr=5e-4), paramwise_cfg=dict(_delete_=True))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=300,
        milestones=[280],
        gamma=0.1,
        by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(
        type='AtomicCheckpointHook',
        interval=50,
        max_keep_ckpts=1,
        save_best=None))

input_size = (192, 192)
attn = dict(embed_dims=128, num_heads=4, dropout=0.0, batch_first=True)
ffn = dict(
    embed_dims=128,
    feedforward_channels=512,
    num_fcs=2,
    ffn_drop=0.0,
    act_cfg=dict(type='ReLU', inplace=True))
transformer = dict(
    encoder=dict(
        num_layers=2, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
    decoder=dict(
        num_layers=2,
        layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn),
        return_intermediate=True))
model = dict(
    backbone=dict(
        depth=18,
        base_channels=32,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(0, 1, 2),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    person_head=dict(
        in_channels=128,
        num_queries=20,
        embed_dims=128,
        positional_encoding=dict(num_feats=64, normalize=True),
        transformer=transformer),
    # crops from the stride-4 and stride-8 levels (layer1 + layer2, 32 + 64
    # ch): persons are small on this canvas
    crop=dict(out_size=(8, 8), in_levels=(0, 1)),
    head=dict(
        in_channels=32 + 64,
        num_queries=20,
        embed_dims=128,
        transformer=transformer),
    train_cfg=dict(crop_boxes='gt'),
    # a quick CPU check: no flip test (the README's figures are without)
    test_cfg=dict(flip_test=False))

data_root = 'data/coco_persons_mini/'
meta_keys = {{_base_.meta_keys}}
# flip only (a small set to fit): the affine warp only letterboxes the
# image onto the canvas, as BottomupResize does at test time
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_prob=0.0,
        scale_prob=0.0,
        rotate_prob=0.0,
        scale_type='long',
        bbox_keep_corner=False,
        clip_border=True),
    # person targets: no crowd regions, no boxes the warp cut away; boxes,
    # labels and canvas-normalised joints as tensors (gt_instance_labels)
    dict(type='FilterPersons'),
    dict(type='GenerateTarget', encoder=dict(type='CascadeLabel')),
    dict(type='PackPoseInputs', meta_keys=meta_keys)
]
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
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = [
    dict(
        type='CocoMetric',
        ann_file=f'{data_root}annotations/person_keypoints_train2017.json'),
    dict(
        type='PersonBoxCocoMetric',
        ann_file=f'{data_root}annotations/person_keypoints_train2017.json')
]
test_evaluator = val_evaluator
