# The CPU-sized cascade (prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192)
# with a Deformable-DETR person stage: layer2 + layer3 of the half-width
# ResNet-18 (64 + 128 ch, stride 8 and 16) and one extra stride-2 level,
# 2+2 deformable layers of width 128 (4 heads, 4 points), 20 queries, box
# refinement. Crops, keypoint transformer, data and schedule are the small
# DETR cascade's.
_base_ = [
    './prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py',
    './_base_/deformable_detr_person_bbox_head.py'
]

msda = dict(
    embed_dims=128, num_heads=4, num_levels=3, num_points=4, batch_first=True)
ffn = dict(
    embed_dims=128,
    feedforward_channels=512,
    num_fcs=2,
    ffn_drop=0.0,
    act_cfg=dict(type='ReLU', inplace=True))
model = dict(
    person_head=dict(
        _delete_=True,
        type='DeformableDETRPersonHead',
        in_channels=(64, 128),
        num_queries=20,
        num_feature_levels=3,
        with_box_refine=True,
        as_two_stage=False,
        encoder=dict(
            num_layers=2, layer_cfg=dict(self_attn_cfg=msda, ffn_cfg=ffn)),
        decoder=dict(
            num_layers=2,
            layer_cfg=dict(
                self_attn_cfg=dict(
                    embed_dims=128, num_heads=4, dropout=0.0,
                    batch_first=True),
                cross_attn_cfg=msda,
                ffn_cfg=ffn),
            post_norm_cfg=None,
            return_intermediate=True),
        positional_encoding=dict(num_feats=64, normalize=True, offset=-0.5),
        norm_cfg=dict(type='GN', num_groups=32),
        bbox_head=_base_.deformable_detr_person_bbox_head))
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'sampling_offsets': dict(lr_mult=0.1),
            'reference_points': dict(lr_mult=0.1)
        }))
