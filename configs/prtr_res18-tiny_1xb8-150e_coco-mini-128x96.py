# A CPU-sized PRTR for the quick start and the tests, trained on the bundled
# 55-image COCO sample (data/coco_persons_mini, 139 persons) and evaluated
# on the same images with ground-truth boxes: it shows the whole pipeline
# learns, it is no benchmark. ResNet-18 from scratch (trainable BN; no
# weights can be downloaded here) with its stride-16 layer3 output (more
# positions than layer4 at this input size), 3+3 transformer layers of
# width 128, 20 queries (fewer queries: faster query-joint
# specialisation), flip as the only augmentation (a small set to fit).
_base_ = ['./prtr_res50_4xb32-200e_coco-384x288.py']

train_cfg = dict(max_epochs=150, val_interval=50)
optim_wrapper = dict(
    optimizer=dict(lr=5e-4), paramwise_cfg=dict(_delete_=True))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=150,
        milestones=[120],
        gamma=0.5,
        by_epoch=True)
]
auto_scale_lr = dict(base_batch_size=8)

codec = dict(type='PRTRLabel', input_size=(96, 128))
attn = dict(embed_dims=128, num_heads=4, dropout=0.0)
ffn = dict(
    embed_dims=128,
    feedforward_channels=512,
    num_fcs=2,
    ffn_drop=0.0,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    backbone=dict(
        depth=18,
        num_stages=3,
        strides=(1, 2, 2),
        dilations=(1, 1, 1),
        out_indices=(2, ),
        frozen_stages=-1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=False,
        init_cfg=None),
    head=dict(
        in_channels=256,
        embed_dims=128,
        num_queries=20,
        positional_encoding=dict(num_feats=64, normalize=True),
        transformer=dict(
            encoder=dict(
                num_layers=3, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
            decoder=dict(
                num_layers=3,
                layer_cfg=dict(
                    self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn),
                return_intermediate=True)),
        decoder=codec))

data_root = 'data/coco_persons_mini/'
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
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
    batch_size=8,
    num_workers=2,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16,
    num_workers=2,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/person_keypoints_train2017.json',
        bbox_file=None,
        data_prefix=dict(img='train2017/'),
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=f'{data_root}annotations/person_keypoints_train2017.json')
test_evaluator = val_evaluator
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(
        type='AtomicCheckpointHook', interval=20, max_keep_ckpts=1))
