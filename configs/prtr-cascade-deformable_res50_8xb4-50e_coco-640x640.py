# End-to-end PRTR cascade with a Deformable-DETR person stage (Zhu et al.,
# ICLR 2021; mmdet's DeformableDETR layers), ResNet-50, COCO. Everything but
# the person stage, the backbone levels and the schedule is the DETR
# cascade's (the _base_ config): crop, keypoint transformer, data, metrics.
#
# Person stage: layer2-4 (512/1024/2048 ch) + one extra stride-2 level, 1x1
# conv + GN to 256, 6+6 deformable layers (8 heads, 4 levels, 4 points),
# 300 queries, focal loss (2) + L1 (5) + GIoU (2), as mmdet's Deformable
# DETR; set with_box_refine / as_two_stage for its two variants. The crop
# reads layer3 + layer4 of the same backbone outputs.
#
# Schedule for 8 GPUs x 4 images (mmdet's Deformable DETR): AdamW lr 2e-4,
# x0.1 for the backbone, the sampling offsets and the reference points,
# weight decay 1e-4, clip 0.1, 50 epochs, lr x0.1 at epoch 40.
#   tools/dist_train.sh \
#     configs/prtr-cascade-deformable_res50_8xb4-50e_coco-640x640.py 8
_base_ = [
    './prtr-cascade_res50_8xb4-150e_coco-640x640.py',
    './_base_/deformable_detr_person_bbox_head.py'
]

train_cfg = dict(max_epochs=50, val_interval=5)
optim_wrapper = dict(
    optimizer=dict(lr=2e-4),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1),
            'sampling_offsets': dict(lr_mult=0.1),
            'reference_points': dict(lr_mult=0.1)
        }))
param_scheduler = [
    dict(
        type='MultiStepLR',
        begin=0,
        end=50,
        milestones=[40],
        gamma=0.1,
        by_epoch=True)
]

# mmdet's Deformable DETR R-50 transformer
# (deformable-detr_r50_16xb2-50e_coco.py): FFN 1024, dropout 0.1 (PRTR's
# deformable keypoint transformer has FFN 2048, no dropout)
msda = dict(embed_dims=256, batch_first=True)  # 8 heads, 4 levels, 4 points
ffn = dict(embed_dims=256, feedforward_channels=1024, ffn_drop=0.1)
model = dict(
    # layer2, layer3, layer4
    backbone=dict(out_indices=(1, 2, 3)),
    person_head=dict(
        _delete_=True,
        type='DeformableDETRPersonHead',
        in_channels=(512, 1024, 2048),
        num_queries=300,
        num_feature_levels=4,
        with_box_refine=False,
        as_two_stage=False,
        # 1x1 conv + GN per level (mmdet's ChannelMapper)
        norm_cfg=dict(type='GN', num_groups=32),
        encoder=dict(
            num_layers=6, layer_cfg=dict(self_attn_cfg=msda, ffn_cfg=ffn)),
        decoder=dict(
            num_layers=6,
            return_intermediate=True,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=256, num_heads=8, dropout=0.1,
                    batch_first=True),
                cross_attn_cfg=msda,
                ffn_cfg=ffn),
            post_norm_cfg=None),
        positional_encoding=dict(num_feats=128, normalize=True, offset=-0.5),
        # focal loss (2) + L1 (5) + GIoU (2) and their match costs
        bbox_head=_base_.deformable_detr_person_bbox_head),
    # layer3 (1024 ch) + layer4 (2048 ch), as the DETR cascade
    crop=dict(in_levels=(1, 2)))
